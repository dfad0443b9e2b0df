"""CUDA variants: PyTorch on a CUDA device (FP32, and FP16 autocast) and ONNX Runtime's CUDA
execution provider. They are offered only where :func:`cuda_available` finds them, and built
by the same device code as every other backend (:mod:`app.core.devices`,
:class:`~app.core.backends.pytorch.TorchBackend`, the ONNX backend's ``device``), so a
variant asked for where it cannot run gets the same message as ``--device cuda``. Torch is
imported only to ask."""

from __future__ import annotations

import sys
from importlib import util
from pathlib import Path
from typing import Optional

from ..backends import Backend
from ..config import AudioConfig
from ..devices import torch_available, torch_built_without_cuda
from ..jobs import UserError

CUDA = "cuda"
ORT_CUDA = "CUDAExecutionProvider"
CUDA_PRECISIONS = ("fp32", "fp16")        # PyTorch on CUDA: float32, float16 autocast


def torch_cuda_available() -> bool:
    if not torch_available() or torch_built_without_cuda():
        return False
    from ..devices import cuda_count

    try:
        return cuda_count() > 0
    except Exception:    # a broken driver install: no CUDA, not a crash  # noqa: BLE001
        return False


def ort_cuda_available() -> bool:
    if util.find_spec("onnxruntime") is None:
        return False
    import onnxruntime as ort

    return ORT_CUDA in ort.get_available_providers()


def cuda_available() -> dict[str, bool]:
    """Which CUDA variants this machine can run: ``{"pytorch": ..., "onnx": ...}``."""
    return {"pytorch": torch_cuda_available(), "onnx": ort_cuda_available()}


def why_no_cuda(kind: str) -> str:
    """Why the CUDA variant of ``kind`` ("pytorch" or "onnx") cannot run here ("" if it can):
    the message ``--device cuda`` gives."""
    try:
        if kind == "onnx":
            from ..backends.onnx_runtime import providers_for

            if util.find_spec("onnxruntime") is None:
                return "ONNX Runtime is not installed"
            providers_for(CUDA)
        else:
            if util.find_spec("torch") is None:
                return "PyTorch is not installed"
            from ..devices import resolve_device

            resolve_device(CUDA)
    except UserError as exc:
        return exc.message
    return ""


def is_onnx(path: Path) -> bool:
    return Path(path).suffix.lower() == ".onnx"


def cuda_backend(path: Path, threads: Optional[int] = None, audio: Optional[AudioConfig] = None,
                 name: str = "", device: str = CUDA, precision: str = "fp32") -> Backend:
    """The CUDA variant of a file on ``device`` (``cuda`` or ``cuda:N``): an ONNX file with
    ONNX Runtime's CUDA provider, a checkpoint's PyTorch model in ``precision`` ("fp32", or
    "fp16" autocast). :class:`UserError` saying why where this machine cannot run it."""
    path = Path(path)
    if not device.startswith(CUDA):
        raise UserError(f"a CUDA variant runs on cuda or cuda:N, not {device!r}", path)
    if is_onnx(path):
        from ..backends.onnx_runtime import OnnxRuntimeBackend

        backend = OnnxRuntimeBackend(path, threads, name=name, audio=audio, device=device)
        backend.name = name or f"{backend.name} (CUDA)"
        return backend
    from ..backends.pytorch import TorchBackend
    from ..checkpoint import load_bundle
    from ..devices import resolve_device

    where = resolve_device(device)          # no GPU: the message before the file is read
    bundle = load_bundle(path)
    backend = TorchBackend(bundle.build(), bundle.audio, path, threads,
                           name=name or f"PyTorch {precision.upper()} (CUDA)", device=where,
                           precision=precision)
    backend.metadata = dict(bundle.metadata)
    return backend


def torch_loaded() -> bool:
    return "torch" in sys.modules
