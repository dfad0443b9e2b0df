"""The PyTorch model itself as a backend (eager mode) on any device of :mod:`app.core.devices`,
and the loader that builds it from a checkpoint bundle. Imports no torch until a backend is
built."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..config import AudioConfig
from ..devices import resolve_device, synchronize
from ..jobs import UserError
from .registry import Backend, BackendLoader, register_loader, set_torch_threads

TORCH_PRECISIONS = ("fp32", "fp16")


def torch_backend_name(precision: str, device) -> str:
    """"PyTorch FP32" on the CPU, "PyTorch FP16 (cuda:0)" elsewhere."""
    name = f"PyTorch {precision.upper()}"
    return name if device.type == "cpu" else f"{name} ({_device_name(device)})"


def _device_name(device) -> str:
    return f"{device.type}:{device.index}" if device.index is not None else device.type


class TorchBackend(Backend):
    """The PyTorch model itself (eager mode) on ``device``: float32, or ``precision="fp16"``
    (float16 autocast, CUDA only). Batches go to the device and the masks come back as float32
    numpy arrays on the host; on the CPU nothing moves."""

    kind = "pytorch"

    def __init__(self, model, audio: AudioConfig, path: Optional[Path] = None,
                 threads: Optional[int] = None, name: str = "", device: Optional[str] = "cpu",
                 precision: str = "fp32"):
        import torch

        from ..model.optimize import fold_batchnorms

        self.torch_device = resolve_device(device)
        if precision not in TORCH_PRECISIONS:
            raise UserError(f"unknown PyTorch precision {precision!r}",
                            hint=f"Use one of {', '.join(TORCH_PRECISIONS)}.")
        if precision == "fp16" and self.torch_device.type != "cuda":
            raise UserError(f"FP16 autocast runs on a CUDA device only, not on "
                            f"{_device_name(self.torch_device)}",
                            hint="Use FP32 here, or an FP16 ONNX export on the CPU.")
        super().__init__(audio, path, name or torch_backend_name(precision, self.torch_device))
        set_torch_threads(threads)
        self.precision = precision
        self.device = _device_name(self.torch_device)
        self.provider = f"torch-{self.torch_device.type}"
        # The backend owns ``model`` (callers pass a freshly built one): batch norms that
        # follow a convolution are folded into it (same outputs, fewer passes over memory),
        # and channels-last lets oneDNN (and cuDNN's tensor cores) pick faster convolution
        # kernels.
        model = model.eval()
        fold_batchnorms(model)
        self.model = model.to(self.torch_device, memory_format=torch.channels_last)

    @property
    def on_cpu(self) -> bool:
        return self.torch_device.type == "cpu"

    def run(self, mag: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(mag, dtype=np.float32))
            if self.on_cpu:
                return self.model(x).numpy()
            if self.torch_device.type == "cuda":
                x = x.pin_memory()      # page-locked: the copy to the GPU runs asynchronously
            x = x.to(self.torch_device, non_blocking=True)
            with torch.autocast(self.torch_device.type, dtype=torch.float16,
                                enabled=self.precision == "fp16"):
                masks = self.model(x)
            return masks.float().cpu().numpy()     # .cpu() waits for the device

    def synchronize(self) -> None:
        synchronize(self.torch_device)

    def close(self) -> None:
        self.model = None


def _is_checkpoint(path: Path) -> bool:
    """A checkpoint suffix and not a TorchScript archive (both end in .pt; which loader is
    asked first depends on the order their modules were imported)."""
    from ..checkpoint import CHECKPOINT_SUFFIXES
    from .torchscript import is_torchscript

    return path.suffix.lower() in CHECKPOINT_SUFFIXES and not is_torchscript(path)


def _load_checkpoint(path: Path, threads: Optional[int], device: str = "cpu") -> Backend:
    from ..checkpoint import load_bundle

    torch_device = resolve_device(device)     # an absent device fails before the file is read
    bundle = load_bundle(path)
    backend = TorchBackend(bundle.build(), bundle.audio, path, threads, device=torch_device)
    backend.metadata = dict(bundle.metadata)
    return backend


# The fallback: an exported variant with a checkpoint suffix (model-torchscript.pt) is
# recognised by its own loader first, whichever module was imported first.
register_loader(BackendLoader("checkpoint", _is_checkpoint, _load_checkpoint, fallback=True))
