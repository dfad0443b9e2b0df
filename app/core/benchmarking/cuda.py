"""CUDA variants: PyTorch on a CUDA device and ONNX Runtime's CUDA execution provider. They
are offered only where :func:`cuda_available` finds them; on a machine without a GPU this
code is never reached (and torch is imported only to ask)."""

from __future__ import annotations

import re
import sys
from importlib import util
from pathlib import Path
from typing import Optional

import numpy as np

from ..backends import Backend
from ..config import AudioConfig
from ..devices import torch_available
from ..jobs import UserError

CUDA = "cuda"
ORT_CUDA = "CUDAExecutionProvider"


def torch_cuda_available() -> bool:
    if not torch_available() or torch_built_without_cuda():
        return False
    import torch

    try:
        return bool(torch.cuda.is_available())
    except Exception:    # a broken driver install: no CUDA, not a crash  # noqa: BLE001
        return False


CUDA_LINE = re.compile(r"^cuda\s*(?::[^=]*)?=\s*None\s*$", re.MULTILINE)


def torch_built_without_cuda() -> bool:
    """True when the installed PyTorch is a CPU-only build, read from its ``version.py``
    (``cuda = None``) without importing it: the app's windows ask at start-up, and importing
    torch there would take a second or more. False when unsure (then torch is asked)."""
    if "torch" in sys.modules:
        return False
    try:
        spec = util.find_spec("torch")
        folders = list(spec.submodule_search_locations or []) if spec else []
        text = (Path(folders[0]) / "version.py").read_text(encoding="utf-8") if folders else ""
    except (ImportError, ValueError, OSError):
        return False
    return bool(CUDA_LINE.search(text))


def ort_cuda_available() -> bool:
    if util.find_spec("onnxruntime") is None:
        return False
    import onnxruntime as ort

    return ORT_CUDA in ort.get_available_providers()


def cuda_available() -> dict[str, bool]:
    """Which CUDA variants this machine can run: ``{"pytorch": ..., "onnx": ...}``."""
    return {"pytorch": torch_cuda_available(), "onnx": ort_cuda_available()}


def cuda_kinds_for(paths, available: Optional[dict[str, bool]] = None) -> list[tuple[Path, str]]:
    """(path, "cuda") for every file whose CUDA variant this machine can run: ONNX files with
    ONNX Runtime's CUDA provider, checkpoints with PyTorch on CUDA."""
    available = cuda_available() if available is None else available
    out = []
    for path in map(Path, paths):
        onnx = path.suffix.lower() == ".onnx"
        if (onnx and available.get("onnx")) or (not onnx and available.get("pytorch")):
            out.append((path, CUDA))
    return out


class TorchCudaBackend(Backend):
    """A checkpoint's PyTorch model on the first CUDA device (float32)."""

    kind = "pytorch"
    provider = "torch-cuda"

    def __init__(self, path: Path, name: str = "PyTorch FP32 (CUDA)"):
        import torch

        from ..checkpoint import load_bundle

        bundle = load_bundle(path)
        super().__init__(bundle.audio, path, name)
        self.device = torch.device(CUDA)
        self.model = bundle.build().eval().to(self.device)

    def run(self, mag: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(mag, dtype=np.float32)).to(self.device)
            return self.model(x).cpu().numpy()     # .cpu() waits for the device

    def close(self) -> None:
        self.model = None


def cuda_backend(path: Path, threads: Optional[int] = None, audio: Optional[AudioConfig] = None,
                 name: str = "") -> Backend:
    """The CUDA variant of a file; :class:`UserError` where this machine has none."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        if not ort_cuda_available():
            raise UserError("cannot run on CUDA: ONNX Runtime has no CUDA provider here", path)
        from ..backends.onnx_runtime import OnnxRuntimeBackend

        backend = OnnxRuntimeBackend(path, threads, name=name, audio=audio,
                                     providers=[ORT_CUDA, "CPUExecutionProvider"])
        backend.name = name or f"{backend.name} (CUDA)"
        return backend
    if not torch_cuda_available():
        raise UserError("cannot run on CUDA: PyTorch finds no CUDA device here", path)
    return TorchCudaBackend(path, name or "PyTorch FP32 (CUDA)")


def torch_loaded() -> bool:
    return "torch" in sys.modules
