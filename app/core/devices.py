"""Which device a model runs on: one vocabulary for the CLI's ``--device``, the GUI's setting,
training, separation, memory measurement and benchmarking.

``auto`` picks the first CUDA GPU when one is present, else Apple's MPS, else the CPU. A device
that is asked for but absent is a :class:`UserError` that says what is here instead. PyTorch is
imported only when a device is resolved, so the slim runtime (no PyTorch) can import this
module.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from .jobs import UserError

if TYPE_CHECKING:  # pragma: no cover
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
# What a user without PyTorch (the slim runtime) installs to get the features that need it.
TORCH_INSTALL = ("install the full TFSWA Studio (its .deb or .tar.gz), or, in a Python "
                 "environment, `pip install torch`")
_SPEC = re.compile(r"^(auto|cpu|mps|cuda)(?::(\d+))?$")


def check_device_spec(spec: Optional[str]) -> str:
    """Normalise and check the form of a device name (``auto``, ``cpu``, ``cuda``, ``cuda:1``,
    ``mps``) without importing PyTorch; raise :class:`UserError` for anything else."""
    text = "auto" if spec is None or str(spec).strip() == "" else str(spec).strip().lower()
    match = _SPEC.match(text)
    if match is None or (match.group(2) is not None and match.group(1) != "cuda"):
        raise UserError(f"unknown device {spec!r}",
                        hint="Use auto, cpu, cuda, cuda:N (N = GPU index) or mps.")
    return text


def torch_available() -> bool:
    """Whether ``import torch`` can work, without importing it (that takes a second or more):
    False in the slim runtime, which ships ONNX Runtime only."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):     # sys.modules["torch"] = None blocks it
        return False


CUDA_LINE = re.compile(r"^cuda\s*(?::[^=]*)?=\s*None\s*$", re.MULTILINE)


def torch_built_without_cuda() -> bool:
    """True when the installed PyTorch is a CPU-only build, read from its ``version.py``
    (``cuda = None``) without importing it: the app's windows ask at start-up, and importing
    torch there would take a second or more. False when unsure (then torch is asked)."""
    if "torch" in sys.modules:
        return False
    try:
        spec = importlib.util.find_spec("torch")
        folders = list(spec.submodule_search_locations or []) if spec else []
        text = (Path(folders[0]) / "version.py").read_text(encoding="utf-8") if folders else ""
    except (ImportError, ValueError, OSError):
        return False
    return bool(CUDA_LINE.search(text))


def cuda_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """The devices this machine can run on, CPU first: ``["cpu", "cuda:0", ...]``."""
    found = ["cpu"]
    if not torch_available() or (sys.platform != "darwin" and torch_built_without_cuda()):
        return found                # nothing else to find, and torch stays unimported
    found += [f"cuda:{i}" for i in range(cuda_count())]
    if mps_available():
        found.append("mps")
    return found


def resolve_device(spec: Optional[str] = "auto") -> "torch.device":
    """The ``torch.device`` for a device name; ``auto`` prefers CUDA, then MPS, then the CPU."""
    import torch

    text = check_device_spec(spec)
    if text == "auto":
        if cuda_count():
            return torch.device("cuda", torch.cuda.current_device())
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    here = ", ".join(available_devices())
    if text == "mps":
        if not mps_available():
            raise UserError("Apple's MPS device is not available here",
                            hint=f"Devices here: {here}. Use --device cpu (or auto).")
        return torch.device("mps")
    count = cuda_count()
    if count == 0:
        why = ("this PyTorch is a CPU-only build" if torch.version.cuda is None
               else "no NVIDIA GPU is visible (check the driver and CUDA_VISIBLE_DEVICES)")
        raise UserError(f"no CUDA device is available here: {why}",
                        hint=f"Devices here: {here}. Use --device cpu (or auto).")
    index = int(text.split(":")[1]) if ":" in text else torch.cuda.current_device()
    if index >= count:
        raise UserError(f"there is no CUDA device {index}: this machine has {count} "
                        f"(cuda:0 to cuda:{count - 1})", hint=f"Devices here: {here}.")
    return torch.device("cuda", index)


def supports_bf16(device: "torch.device") -> bool:
    import torch

    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return device.type == "cpu"


@dataclass(frozen=True)
class DeviceInfo:
    """What a run records about its device (logs, benchmark results, training bundles)."""

    name: str          # "cpu", "cuda:0", "mps"
    description: str   # "NVIDIA H200 (139.8 GiB)", "CPU"
    total_bytes: Optional[int] = None


def describe_device(device: "torch.device") -> DeviceInfo:
    import torch

    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        return DeviceInfo(f"cuda:{index}", f"{props.name} ({props.total_memory / 2**30:.1f} GiB)",
                          int(props.total_memory))
    if device.type == "mps":
        return DeviceInfo("mps", "Apple GPU (MPS)")
    return DeviceInfo("cpu", "CPU")


def synchronize(device: "torch.device") -> None:
    """Wait for queued work on ``device`` (for timing); nothing to do on the CPU."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
