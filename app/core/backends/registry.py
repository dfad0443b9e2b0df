"""One small interface over every runnable variant of a model.

A backend maps mixture magnitudes ``(B, C, F, T)`` float32 to masks
``(B, S, C, F, T)`` float32, both numpy arrays, and describes itself
(name, precision, file size, provider) and the audio config it expects. Separation, comparison
and benchmarking take any backend, so every variant is treated alike.

This module imports no torch at import time: the ONNX path must run without it.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import numpy as np

from ..config import AudioConfig
from ..devices import check_device_spec
from ..jobs import UserError
from ..userdata import is_app_export, untrusted_torchscript


class Backend(ABC):
    kind: str = "abstract"       # "pytorch", "torchscript", "onnx", ...
    precision: str = "fp32"
    provider: str = "cpu"
    device: str = "cpu"          # where it runs: "cpu", "cuda:0", "mps"

    def __init__(self, audio: AudioConfig, path: Optional[Path] = None, name: str = ""):
        self.audio = audio
        self.path = Path(path) if path is not None else None
        self.name = name or self.kind
        self.metadata: dict = {}     # what the file says about itself (bundle or artifact)
        # input axes the file fixes (0: batch, 3: frames), for an export made for one shape
        self.fixed_dims: dict[int, int] = {}

    @property
    def trained(self) -> Optional[bool]:
        """False when the file says the model was never trained (``tfswa-studio init``),
        True when it says it was, None when it does not say."""
        value = self.metadata.get("trained")
        if isinstance(value, str):
            value = {"true": True, "false": False}.get(value.strip().lower())
        return value if isinstance(value, bool) else None

    @property
    def sources(self) -> tuple[str, ...]:
        return self.audio.sources

    @property
    def file_size(self) -> Optional[int]:
        return self.path.stat().st_size if self.path is not None and self.path.exists() else None

    @abstractmethod
    def run(self, mag: np.ndarray) -> np.ndarray:
        """``(B, C, F, T)`` magnitudes -> ``(B, S, C, F, T)`` masks."""

    def __call__(self, mag: np.ndarray) -> np.ndarray:
        return self.run(mag)

    def check_input(self, shape: Sequence[int]) -> None:
        """A :class:`UserError` naming the file when ``shape`` is not one it can run."""
        wrong = [axis for axis, size in self.fixed_dims.items()
                 if axis < len(shape) and shape[axis] != size]
        if not wrong:
            return
        takes = []
        if 0 in self.fixed_dims:
            takes.append(f"batch {self.fixed_dims[0]}")
        hint = ("For other lengths and batch sizes export the checkpoint with dynamic axes "
                "(without --fixed; in the Export tab, Input: any length)")
        if 3 in self.fixed_dims:
            seconds = self.audio.seconds_for(self.fixed_dims[3])
            takes.append(f"{self.fixed_dims[3]} frames = {seconds:.2f} s")
            hint += f", or keep the segment at {seconds:.2f} s"
        got = " x ".join(str(n) for n in shape)
        raise UserError(f"was exported for one input shape only ({', '.join(takes)}) and "
                        f"cannot run {got}", self.path, hint + ".")

    def synchronize(self) -> None:
        """Wait for work queued on the device (timing); ``run`` already returns host arrays,
        so only a backend that queues work asynchronously has anything to wait for."""

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "precision": self.precision,
                "provider": self.provider, "device": self.device,
                "path": str(self.path) if self.path else None,
                "file_size": self.file_size, "sources": list(self.sources)}

    def close(self) -> None:
        """Release resources (sessions, threads); the backend is unusable afterwards."""


def check_threads(threads: Optional[int]) -> None:
    """A thread count must be 1..1024 (0 or None: the default)."""
    if threads is not None and not 0 <= int(threads) <= 1024:
        raise UserError(f"--threads {threads} is not a number of CPU threads; give 1 to 1024 "
                        "(or leave it out to use every core)")


def set_torch_threads(threads: Optional[int]) -> None:
    check_threads(threads)
    if threads:
        import torch

        torch.set_num_threads(int(threads))


@contextlib.contextmanager
def torch_threads(threads: Optional[int]) -> Iterator[None]:
    """Run torch on ``threads`` CPU threads (None or 0: leave the count as it is) in this
    thread; the count from before is restored afterwards whatever the body set."""
    import torch

    check_threads(threads)
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(max(1, int(threads)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class FunctionBackend(Backend):
    """A backend over a plain function: for tests and tools (e.g. an ideal-mask oracle)."""

    kind = "function"

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], audio: AudioConfig,
                 name: str = "function"):
        super().__init__(audio, None, name)
        self.fn = fn

    def run(self, mag: np.ndarray) -> np.ndarray:
        return self.fn(mag)


def identity_backend(audio: AudioConfig) -> FunctionBackend:
    """Masks of one for every source: each stem equals the mixture."""
    n = len(audio.sources)

    def ones(mag: np.ndarray) -> np.ndarray:
        return np.ones((mag.shape[0], n) + mag.shape[1:], dtype=np.float32)

    return FunctionBackend(ones, audio, "identity")


# ----------------------------------------------------------------------------- loading

@dataclass
class BackendLoader:
    """``accepts(path)`` decides from the file; ``load(path, threads, device)`` builds the
    backend on ``device`` (a checked name from :mod:`app.core.devices`: ``auto``, ``cpu``,
    ``cuda``, ``cuda:N``, ``mps``), or raises :class:`UserError` when it cannot run there.

    ``runs_code``: the file is a program (TorchScript). Such a loader is used only when the
    caller trusts the file (``trust_torchscript``) or this app exported that very file
    (its SHA-256 is in the user's trusted exports); otherwise the file is refused unopened.
    """
    name: str
    accepts: Callable[[Path], bool]
    load: Callable[[Path, Optional[int], str], Backend]
    runs_code: bool = False
    fallback: bool = False     # asked last, whatever the order loaders were registered in


LOADERS: list[BackendLoader] = []

# The modules that register loaders, imported by name the first time a file is loaded (they
# import this module, so importing them here would close a cycle). Exported variants are
# recognised first; the checkpoint loader is the fallback, asked last.
LOADER_MODULES = ("app.core.backends.pytorch", "app.core.backends.torchscript",
                  "app.core.backends.onnx_runtime")
_discovered = False


def register_loader(loader: BackendLoader) -> None:
    """Add ``loader``, ahead of those registered before it but never ahead of a non-fallback
    one when it is a fallback (the order does not depend on which module was imported
    first)."""
    LOADERS.insert(0, loader)
    LOADERS.sort(key=lambda entry: entry.fallback)      # stable: keeps the rest in order


def discover_loaders() -> list[BackendLoader]:
    """Every registered loader, after importing the modules that register the built-in ones."""
    global _discovered
    if not _discovered:
        _discovered = True
        for name in LOADER_MODULES:
            importlib.import_module(name)
    return LOADERS


def load_backend(path: Path | str, threads: Optional[int] = None, *,
                 trust_torchscript: bool = False, device: Optional[str] = "cpu") -> Backend:
    """The backend for any model file: a checkpoint bundle or an exported variant, run on
    ``device`` (``auto`` picks a GPU when there is one; a device asked for by name that is not
    here is a :class:`UserError` saying what is).

    A checkpoint suffix (``.pt``, ``.pth``, ``.safetensors``) is read as a checkpoint,
    never run: a TorchScript file (whatever its name) is loaded only when
    ``trust_torchscript`` is given or this app exported exactly that file.
    """
    path = Path(path)
    check_threads(threads)
    device = check_device_spec(device)
    if not path.exists():
        raise UserError("does not exist", path)
    if path.is_dir():
        raise UserError("is a folder, not a model file", path)
    for loader in discover_loaders():
        if loader.accepts(path):
            if loader.runs_code and not (trust_torchscript or is_app_export(path)):
                raise untrusted_torchscript(path)
            return loader.load(path, threads, device)
    known = ", ".join(sorted({l.name for l in LOADERS}))
    raise UserError(f"is not a model file TFSWA Studio can run (known kinds: {known})", path)


def default_threads() -> int:
    return max(1, os.cpu_count() or 1)
