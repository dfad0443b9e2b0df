"""What can be benchmarked, and opening it as a backend.

A variant is a model file (a checkpoint for PyTorch eager, an ONNX file, a TorchScript
file), a backend that is already loaded, or anything shaped like the workspace's
``Variant`` (``name``, ``path``, ``figures``). Any ONNX file with the TFSWA-UNet input
contract runs, ours or a third party's: one input ``magnitude (B, 2, F, T)`` and the output
``masks (B, S, 2, F, T)``; its precision and mode come from its metadata properties
(:mod:`app.core.artifacts`), so INT8 and FP16 files need nothing special. A file without the
contract is refused with a message that names it and what was found.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from ..artifacts import AUDIO_KEY, INPUT_NAME, MODEL_KEY, OUTPUT_NAME
from ..backends import Backend, load_backend
from ..config import AudioConfig
from ..jobs import UserError
from .cuda import CUDA, CUDA_PRECISIONS, cuda_available, cuda_backend, is_onnx, why_no_cuda

CONTRACT = f"{INPUT_NAME} (B, 2, F, T) -> {OUTPUT_NAME} (B, S, 2, F, T)"
FLOAT_TYPES = ("tensor(float)", "tensor(float16)")


@dataclass
class BenchmarkVariant:
    """One thing to time. Give a ``path`` (loaded with the app's loaders), a ``loader``
    (``loader(threads) -> Backend``, for a model that has no file) or a ready ``backend``
    (timed as it is: its thread count cannot change)."""
    path: Optional[Path] = None
    name: str = ""
    figures: dict[str, Any] = field(default_factory=dict)   # measured elsewhere, e.g. SDR
    device: str = "cpu"                                       # "cpu", "cuda" or "cuda:N"
    precision: str = "fp32"         # a checkpoint on CUDA: "fp32" or "fp16" (autocast)
    trust_torchscript: bool = False
    loader: Optional[Callable[[Optional[int]], Backend]] = None
    backend: Optional[Backend] = None

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.backend is not None:
            return self.backend.name
        return Path(self.path).name if self.path is not None else "model"


def is_cuda(variant: BenchmarkVariant) -> bool:
    return variant.device.startswith(CUDA)


def cuda_variants(paths: Sequence[Path | str],
                  available: Optional[dict[str, bool]] = None) -> list[BenchmarkVariant]:
    """The CUDA variants of ``paths`` this machine can run, in the order of the files: an ONNX
    file on ONNX Runtime's CUDA provider (when ``onnxruntime-gpu`` provides it), a checkpoint
    as PyTorch on CUDA in FP32 and in FP16 autocast (when PyTorch sees a GPU). Without a GPU
    the list is empty; :func:`why_no_cuda_variants` says why."""
    from ..checkpoint import CHECKPOINT_SUFFIXES

    available = cuda_available() if available is None else available
    out = []
    for path in map(Path, paths):
        if is_onnx(path):
            if available.get("onnx"):
                out.append(BenchmarkVariant(path=path, name=f"{path.name} (CUDA)", device=CUDA))
        elif path.suffix.lower() in CHECKPOINT_SUFFIXES and available.get("pytorch"):
            out += [BenchmarkVariant(path=path, name=f"{path.name} (CUDA {p.upper()})",
                                     device=CUDA, precision=p) for p in CUDA_PRECISIONS]
    return out


def why_no_cuda_variants() -> str:
    """One line for a user who asked for CUDA variants where there are none."""
    reasons = [f"{who}: {why}" for who, why in (("PyTorch", why_no_cuda("pytorch")),
                                                ("ONNX Runtime", why_no_cuda("onnx"))) if why]
    return "; ".join(reasons)


def as_variant(item: Any) -> BenchmarkVariant:
    """A :class:`BenchmarkVariant` for a path, a backend, a workspace variant or itself."""
    if isinstance(item, BenchmarkVariant):
        return item
    if isinstance(item, Backend):
        return BenchmarkVariant(path=item.path, name=item.name, backend=item)
    if isinstance(item, (str, Path)):
        return BenchmarkVariant(path=Path(item))
    if hasattr(item, "path") and hasattr(item, "figures"):     # the workspace's Variant
        return BenchmarkVariant(path=item.path, name=getattr(item, "name", ""),
                                figures=dict(item.figures))
    raise TypeError(f"cannot benchmark {item!r}: give a file, a backend or a variant")


# ----------------------------------------------------------------------------- ONNX contract

@dataclass
class OnnxContract:
    """The graph's input and output as ONNX Runtime sees them."""
    inputs: list[tuple[str, str, list]]     # (name, type, shape); symbolic dims are strings
    outputs: list[tuple[str, str, list]]
    metadata: dict[str, str]

    @property
    def has_audio_config(self) -> bool:
        return AUDIO_KEY in self.metadata

    def problems(self) -> list[str]:
        found = []
        if len(self.inputs) != 1:
            found.append(f"{len(self.inputs)} inputs")
        elif not _matches(self.inputs[0], INPUT_NAME, 4, 1):
            found.append("input")
        if not self.outputs or not _matches(self.outputs[0], OUTPUT_NAME, 5, 2):
            found.append("output")
        return found

    def describe(self) -> str:
        def one(items):
            return ", ".join(f"{n} {_short(t)}[{','.join(map(str, s))}]" for n, t, s in items)
        return f"input {one(self.inputs) or 'none'} -> output {one(self.outputs) or 'none'}"


def _short(onnx_type: str) -> str:
    return onnx_type.replace("tensor(", "").rstrip(")")


def _matches(io: tuple[str, str, list], name: str, rank: int, channel_axis: int) -> bool:
    io_name, io_type, shape = io
    channels = shape[channel_axis] if len(shape) == rank else None
    return (io_name == name and io_type in FLOAT_TYPES and len(shape) == rank
            and (channels == 2 or not isinstance(channels, int)))


def read_contract(path: Path) -> OnnxContract:
    """Inputs, outputs and metadata of an ONNX file (a session without graph optimizations,
    so it opens quickly); unreadable files raise :class:`UserError`."""
    import onnxruntime as ort

    from ..backends.onnx_runtime import open_session

    path = Path(path)
    open_session(path)      # the app's checks and messages for missing, empty, corrupt files
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return OnnxContract(
        [(i.name, i.type, list(i.shape)) for i in session.get_inputs()],
        [(o.name, o.type, list(o.shape)) for o in session.get_outputs()],
        dict(session.get_modelmeta().custom_metadata_map))


def check_onnx_contract(path: Path | str) -> OnnxContract:
    """The file's contract if it is the TFSWA-UNet's, else :class:`UserError` (one line)."""
    contract = read_contract(Path(path))
    if contract.problems():
        raise UserError(f"does not have the TFSWA-UNet contract: expected {CONTRACT}, found "
                        f"{contract.describe()}", path)
    return contract


def assumed_audio(contract: OnnxContract) -> AudioConfig:
    """The audio config for a file that carries none: the defaults, with n_fft from a fixed
    number of frequency bins and as many sources as a fixed output says."""
    shape_in, shape_out = contract.inputs[0][2], contract.outputs[0][2]
    kwargs: dict[str, Any] = {}
    bins = shape_in[2]
    if isinstance(bins, int) and bins != AudioConfig().n_bins:
        kwargs["n_fft"] = 2 * (bins - 1)
        kwargs["hop_length"] = max(1, min(512, kwargs["n_fft"] // 4))
    sources = shape_out[1]
    if isinstance(sources, int) and sources != len(AudioConfig().sources):
        kwargs["sources"] = tuple(f"source{i + 1}" for i in range(sources))
    return AudioConfig(**kwargs)


# ----------------------------------------------------------------------------- opening

@dataclass
class OpenedVariant:
    variant: BenchmarkVariant
    backend: Backend
    load_seconds: float
    metadata: dict[str, str]
    fixed_dims: dict[int, int]          # input axes a file fixes (0 batch, 3 frames)
    notes: list[str]


def _load_file(variant: BenchmarkVariant, threads: Optional[int]) -> tuple[Backend, list[str], dict]:
    path = Path(variant.path)
    notes: list[str] = []
    fixed: dict[int, int] = {}
    if path.suffix.lower() == ".onnx":
        contract = check_onnx_contract(path)
        audio = None
        if not contract.has_audio_config:
            audio = assumed_audio(contract)
            notes.append(f"{path.name} carries no audio config: assumed n_fft "
                         f"{audio.n_fft}, {len(audio.sources)} sources")
        fixed = {axis: dim for axis, dim in enumerate(contract.inputs[0][2])
                 if axis in (0, 3) and isinstance(dim, int)}
        name = variant.name or ("" if contract.has_audio_config else f"{path.stem} (ONNX)")
        if is_cuda(variant):
            return (cuda_backend(path, threads, audio=audio, name=name, device=variant.device),
                    notes, fixed)
        from ..backends.onnx_runtime import OnnxRuntimeBackend

        return OnnxRuntimeBackend(path, threads, name=name, audio=audio), notes, fixed
    if is_cuda(variant):
        return (cuda_backend(path, threads, name=variant.name, device=variant.device,
                             precision=variant.precision), notes, fixed)
    return (load_backend(path, threads, trust_torchscript=variant.trust_torchscript), notes,
            fixed)


def preflight(variants: Sequence[BenchmarkVariant]) -> None:
    """Refuse a missing file, an ONNX file without the contract or a CUDA variant this machine
    cannot run (saying why) before any work starts."""
    for v in variants:
        if v.backend is not None or v.loader is not None or v.path is None:
            continue
        path = Path(v.path)
        if not path.exists():
            raise UserError("does not exist", path)
        if is_cuda(v):
            why = why_no_cuda("onnx" if is_onnx(path) else "pytorch")
            if why:
                raise UserError(f"its CUDA variant cannot run here: {why}", path)
        if path.suffix.lower() == ".onnx":
            check_onnx_contract(path)


def open_variant(variant: BenchmarkVariant, threads: Optional[int]) -> OpenedVariant:
    """Load the variant for ``threads`` CPU threads, timing the load."""
    start = time.perf_counter()
    notes: list[str] = []
    fixed: dict[int, int] = {}
    if variant.backend is not None:
        backend = variant.backend
    elif variant.loader is not None:
        backend = variant.loader(threads)
    elif variant.path is not None:
        backend, notes, fixed = _load_file(variant, threads)
    else:
        raise UserError(f"the variant '{variant.label}' has no file to load")
    seconds = time.perf_counter() - start
    if variant.name:
        backend.name = variant.name
    meta = {k: v for k, v in getattr(backend, "metadata", {}).items()
            if k not in (AUDIO_KEY, MODEL_KEY)}
    return OpenedVariant(variant, backend, seconds, meta, fixed, notes)


def variant_labels(variants: Sequence[BenchmarkVariant]) -> list[str]:
    """Unique labels: the same file entered twice becomes "name", "name #2"."""
    seen: dict[str, int] = {}
    labels = []
    for v in variants:
        base = v.label
        seen[base] = seen.get(base, 0) + 1
        labels.append(base if seen[base] == 1 else f"{base} #{seen[base]}")
    return labels
