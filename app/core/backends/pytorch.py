"""The PyTorch model itself as a backend (eager mode, float32, CPU), and the loader that builds
it from a checkpoint bundle. Imports no torch until a backend is built."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..config import AudioConfig
from .registry import Backend, BackendLoader, register_loader, set_torch_threads


class TorchBackend(Backend):
    """The PyTorch model itself (eager mode), in float32 on the CPU."""

    kind = "pytorch"
    provider = "torch-cpu"

    def __init__(self, model, audio: AudioConfig, path: Optional[Path] = None,
                 threads: Optional[int] = None, name: str = "PyTorch FP32"):
        import torch

        from ..model.optimize import fold_batchnorms

        super().__init__(audio, path, name)
        set_torch_threads(threads)
        # The backend owns ``model`` (callers pass a freshly built one): batch norms that
        # follow a convolution are folded into it (same outputs, fewer passes over memory),
        # and channels-last lets oneDNN pick faster convolution kernels on the CPU.
        model = model.eval()
        fold_batchnorms(model)
        self.model = model.to(memory_format=torch.channels_last)

    def run(self, mag: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(mag, dtype=np.float32))
            return self.model(x).numpy()



def _is_checkpoint(path: Path) -> bool:
    """A checkpoint suffix and not a TorchScript archive (both end in .pt; which loader is
    asked first depends on the order their modules were imported)."""
    from ..checkpoint import CHECKPOINT_SUFFIXES
    from .torchscript import is_torchscript

    return path.suffix.lower() in CHECKPOINT_SUFFIXES and not is_torchscript(path)


def _load_checkpoint(path: Path, threads: Optional[int]) -> Backend:
    from ..checkpoint import load_bundle

    bundle = load_bundle(path)
    backend = TorchBackend(bundle.build(), bundle.audio, path, threads)
    backend.metadata = dict(bundle.metadata)
    return backend


# The fallback: an exported variant with a checkpoint suffix (model-torchscript.pt) is
# recognised by its own loader first, whichever module was imported first.
register_loader(BackendLoader("checkpoint", _is_checkpoint, _load_checkpoint, fallback=True))


