"""The FP32 ONNX model a quantization starts from, its description, and its layer groups.

A source may be an exported ``.onnx`` (it must carry TFSWA Studio's audio config) or a
checkpoint, which is exported to ONNX first (:func:`app.core.export.export_bundle`, verified
against PyTorch) into a working folder. Quantized files get the source's metadata plus what
the quantization did (:func:`write_metadata`).

Layer groups: the quantizable nodes (Conv, MatMul, Gemm) grouped by the module that made them,
so that the sensitivity analysis and the FP32 fallback talk about ``downs.1`` or
``blocks.0/tsa`` rather than 50 node names. The exporters name nodes after the module path
(``/blocks.0/tsa/attn/qkv/MatMul``): the group is the first path component, or the first two
for the attention blocks (``blocks.N/<attention>``).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

from ..artifacts import audio_config_from
from ..config import AudioConfig
from ..jobs import CancelToken, ProgressFn, UserError
from .options import DYNAMIC_OPS, QUANTIZE_OPSET, STATIC_OPS

ONNX_SUFFIX = ".onnx"
QUANTIZABLE = tuple(dict.fromkeys(STATIC_OPS + DYNAMIC_OPS))


@dataclass
class SourceModel:
    """An FP32 ONNX file ready to quantize."""
    path: Path                       # the FP32 ONNX file
    origin: Path                     # what the user gave (checkpoint or .onnx)
    audio: AudioConfig
    metadata: dict[str, str]
    exported: bool                   # True when made from a checkpoint by this run


def read_onnx_metadata(path: Path) -> dict[str, str]:
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise UserError(f"cannot be read as an ONNX model ({str(exc).splitlines()[0][:200]})",
                        path, "The file may be truncated; export it again.") from None
    return {p.key: p.value for p in proto.metadata_props}


def onnx_source(path: Path) -> SourceModel:
    if not path.exists():
        raise UserError("does not exist", path)
    meta = read_onnx_metadata(path)
    audio = audio_config_from(meta, path)
    precision = meta.get("precision", "fp32")
    if precision != "fp32":
        article = "an" if precision.upper()[:1] in "AEFHILMNORSX" else "a"    # an INT8, an FP16
        raise UserError(f"is already {article} {precision.upper()} model; quantize its FP32 export "
                        "or checkpoint instead", path)
    return SourceModel(path, path, audio, meta, False)


def checkpoint_source(path: Path, workdir: Path, threads: Optional[int],
                      progress: ProgressFn, cancel: CancelToken) -> SourceModel:
    """Export a checkpoint to a verified FP32 ONNX in ``workdir`` (torch is imported here)."""
    from ..checkpoint import load_bundle
    from ..export import ExportOptions, export_bundle

    bundle = load_bundle(path)
    out = workdir / f"{path.stem}.onnx"
    result = export_bundle(bundle, out, ExportOptions(opset=QUANTIZE_OPSET), overwrite=True,
                           threads=threads, progress=lambda f, m: progress(f, f"export: {m}"), cancel=cancel)
    return SourceModel(result.path, path, bundle.audio, dict(result.metadata), True)


def load_source(model: Path | str, workdir: Path, threads: Optional[int],
                progress: ProgressFn, cancel: CancelToken) -> SourceModel:
    path = Path(model).expanduser()
    if path.suffix.lower() == ONNX_SUFFIX:
        return onnx_source(path)
    if not path.exists():
        raise UserError("does not exist", path)
    if path.is_dir():
        raise UserError("is a folder: give a checkpoint (.pt, .pth, .safetensors) or an "
                        "exported .onnx file", path)
    return checkpoint_source(path, workdir, threads, progress, cancel)


def group_of(node_name: str) -> str:
    """The layer group of a node: ``/downs.1/block/conv1/Conv`` -> ``downs.1``,
    ``/blocks.0/tsa/attn/qkv/MatMul`` -> ``blocks.0/tsa``; unnamed nodes -> their name."""
    parts = [p for p in node_name.strip("/").split("/") if p]
    if len(parts) < 2:
        return node_name or "(unnamed)"
    if parts[0].startswith("blocks.") and len(parts) > 2:
        return f"{parts[0]}/{parts[1]}"
    return parts[0]


def layer_groups(path: Path, op_types=QUANTIZABLE) -> "OrderedDict[str, list[str]]":
    """Quantizable node names by layer group, in graph order."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    groups: OrderedDict[str, list[str]] = OrderedDict()
    for node in proto.graph.node:
        if node.op_type in op_types:
            groups.setdefault(group_of(node.name), []).append(node.name)
    return groups


def quantization_metadata(source: SourceModel, precision: str, mode: str,
                          extra: Mapping[str, Any]) -> dict[str, str]:
    """The source's description with the precision and what the quantization did."""
    meta = dict(source.metadata)
    meta.pop("onnx.quant.pre_process", None)
    meta.pop("onnx.infer", None)
    meta["precision"] = precision
    meta["quantization"] = mode
    meta["quantized_from"] = source.origin.name
    for key, value in extra.items():
        if value is not None:
            meta[key] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return meta


def write_metadata(path: Path, meta: Mapping[str, str]) -> None:
    """Replace the metadata properties of the ONNX file at ``path`` (in place; the caller
    writes to a temporary name)."""
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(proto, str(path))
