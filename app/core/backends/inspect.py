"""What an exported model file holds, without running it: a small Netron-like summary for
``tfswa-studio info model.onnx`` and the Model tab.

An ONNX file is read as a protobuf (no code in it): its TFSWA Studio metadata, inputs and
outputs with their dynamic axes, operator counts, opsets and the size of its weights. A
TorchScript file is a program: its description is read from the archive's extra file (a
JSON read, nothing runs); its graph is only counted when the file is trusted, because that
needs loading it. Torch-free unless a trusted TorchScript file is counted.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from ..artifacts import AUDIO_KEY, MODEL_KEY
from ..jobs import UserError
from ..userdata import is_app_export, untrusted_torchscript

Dim = Union[int, str]


@dataclass
class TensorInfo:
    name: str
    dtype: str
    shape: list[Dim]           # a name (e.g. "batch") where the axis is dynamic

    @property
    def dynamic_axes(self) -> dict[int, str]:
        return {i: d for i, d in enumerate(self.shape) if isinstance(d, str)}


@dataclass
class ArtifactInfo:
    path: Path
    format: str                               # "onnx" | "torchscript"
    file_size: int
    metadata: dict[str, str]                  # the file's own key/value description
    audio_config: Optional[dict]
    model_config: Optional[dict]
    sources: list[str]
    precision: str
    inputs: list[TensorInfo] = field(default_factory=list)
    outputs: list[TensorInfo] = field(default_factory=list)
    operators: dict[str, int] = field(default_factory=dict)   # most used first
    nodes: int = 0
    parameters: Optional[int] = None          # weight elements stored in the file (without
    # the onnx package: the count the export recorded in the metadata, if any)
    opsets: dict[str, int] = field(default_factory=dict)      # domain ("" = ONNX) -> version
    ir_version: Optional[int] = None
    producer: str = ""
    notes: list[str] = field(default_factory=list)


def is_exported_model(path: Path | str) -> bool:
    """An ``.onnx`` file, or a TorchScript archive not named as a checkpoint (``.safetensors``
    is only ever a checkpoint): what :func:`describe_model_file` describes."""
    from .torchscript import is_torchscript

    path = Path(path)
    return path.suffix.lower() == ".onnx" or (path.is_file() and is_torchscript(path))


def describe_model_file(path: Path | str, trust_torchscript: bool = False) -> ArtifactInfo:
    """Describe an exported ``.onnx`` or TorchScript file; :class:`UserError` otherwise."""
    from .torchscript import is_torchscript

    path = Path(path)
    if not path.is_file():
        raise UserError("does not exist" if not path.exists() else "is not a file", path)
    if path.stat().st_size == 0:
        raise UserError("is empty (0 bytes)", path)
    if path.suffix.lower() == ".onnx":
        return _describe_onnx(path)
    if is_torchscript(path):
        if not (trust_torchscript or is_app_export(path)):
            raise untrusted_torchscript(path)
        return _describe_torchscript(path)
    raise UserError("is not an exported model (ONNX or TorchScript)", path)


def _json_field(meta: dict[str, str], key: str) -> Optional[dict]:
    try:
        value = json.loads(meta[key]) if key in meta else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _base(path: Path, fmt: str, meta: dict[str, str]) -> ArtifactInfo:
    audio = _json_field(meta, AUDIO_KEY)
    sources = meta.get("sources", "")
    return ArtifactInfo(
        path=path, format=fmt, file_size=path.stat().st_size, metadata=dict(meta),
        audio_config=audio, model_config=_json_field(meta, MODEL_KEY),
        sources=[s for s in sources.split(",") if s] or list((audio or {}).get("sources", [])),
        precision=meta.get("precision", "fp32"))


def _onnx_tensor(value) -> TensorInfo:
    import onnx

    kind = value.type.tensor_type
    dtype = onnx.helper.tensor_dtype_to_np_dtype(kind.elem_type).name if kind.elem_type else "?"
    shape: list[Dim] = [d.dim_param if d.dim_param else int(d.dim_value)
                        for d in kind.shape.dim]
    return TensorInfo(value.name, dtype, shape)


def _describe_onnx(path: Path) -> ArtifactInfo:
    try:
        import onnx
    except ModuleNotFoundError:      # the slim runtime ships ONNX Runtime, not the onnx package
        return _describe_onnx_runtime(path)
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # DecodeError and friends: the file is not an ONNX model
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot be read as ONNX ({text})", path,
                        "The file may be truncated or not an ONNX model.") from None
    graph = proto.graph
    if not graph.node:
        raise UserError("is not an ONNX model (it holds no graph)", path)
    meta = {p.key: p.value for p in proto.metadata_props}
    info = _base(path, "onnx", meta)
    initializers = {i.name for i in graph.initializer}
    info.inputs = [_onnx_tensor(v) for v in graph.input if v.name not in initializers]
    info.outputs = [_onnx_tensor(v) for v in graph.output]
    counts = Counter(node.op_type for node in graph.node)
    info.operators = dict(counts.most_common())
    info.nodes = len(graph.node)
    info.parameters = sum(_elements(t.dims) for t in graph.initializer)
    info.opsets = {o.domain or "ai.onnx": int(o.version) for o in proto.opset_import}
    info.ir_version = int(proto.ir_version)
    info.producer = " ".join(p for p in (proto.producer_name, proto.producer_version) if p)
    if AUDIO_KEY not in meta:
        info.notes.append("no TFSWA Studio audio config: it cannot separate audio as it is")
    return info


ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16",
             "tensor(double)": "float64", "tensor(int64)": "int64", "tensor(int32)": "int32",
             "tensor(int8)": "int8", "tensor(uint8)": "uint8"}
NO_ONNX_NOTE = ("operator counts, opsets and weights are not shown: they need the onnx "
                "package, which this install (the slim runtime) leaves out")


def _describe_onnx_runtime(path: Path) -> ArtifactInfo:
    """What ONNX Runtime tells about the file (metadata, inputs, outputs) where the onnx
    package is missing; the graph's operators are not counted."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ONNX Runtime's errors have no common base class
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot be read as ONNX ({text})", path,
                        "The file may be truncated or not an ONNX model.") from None
    model = session.get_modelmeta()
    meta = dict(model.custom_metadata_map)
    info = _base(path, "onnx", meta)
    info.inputs = [_ort_tensor(v) for v in session.get_inputs()]
    info.outputs = [_ort_tensor(v) for v in session.get_outputs()]
    info.producer = model.producer_name or ""
    info.parameters = recorded_parameters(meta)
    info.notes.append(NO_ONNX_NOTE)
    if AUDIO_KEY not in meta:
        info.notes.append("no TFSWA Studio audio config: it cannot separate audio as it is")
    return info


def recorded_parameters(meta: dict[str, str]) -> Optional[int]:
    """The parameter count TFSWA Studio's export records in the metadata, if it is a sane
    whole number (the file may come from anywhere)."""
    raw = meta.get("parameters", "")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 13):
        return None
    return int(raw)


def _ort_tensor(value) -> TensorInfo:
    shape: list[Dim] = [d if isinstance(d, (int, str)) else "?" for d in value.shape]
    return TensorInfo(value.name, ORT_TYPES.get(value.type, value.type), shape)


def _elements(dims) -> int:
    n = 1
    for d in dims:
        n *= int(d)
    return n


def _describe_torchscript(path: Path) -> ArtifactInfo:
    """A trusted TorchScript file: its description, and its graph's operations (loading it
    is what runs its code, hence the trust)."""
    from .torchscript import load_torchscript, read_extra, torchscript_operator_counts

    meta = read_extra(path)
    info = _base(path, "torchscript", meta)
    info.producer = meta.get("producer", "")
    n_fft = (info.audio_config or {}).get("n_fft")
    bins: Dim = n_fft // 2 + 1 if isinstance(n_fft, int) else "bins"
    info.inputs = [TensorInfo("magnitude", "float32", ["batch", 2, bins, "frames"])]
    info.outputs = [TensorInfo("masks", "float32", ["batch", len(info.sources), 2, bins,
                                                    "frames"])]
    module = load_torchscript(path)
    counts = torchscript_operator_counts(module)
    info.operators = dict(counts.most_common())
    info.nodes = sum(counts.values())
    return info
