"""A TorchScript file (written by :func:`app.core.export.export_to_torchscript`) as a
separation backend. Torch is imported only when such a file is loaded; telling the file
apart from a checkpoint bundle needs nothing but :mod:`zipfile`.
"""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from pathlib import Path
from typing import Optional

import numpy as np

from ..artifacts import TORCHSCRIPT_EXTRA_FILE, audio_config_from
from ..devices import resolve_device, synchronize
from ..jobs import UserError, first_line
from .registry import Backend, BackendLoader, register_loader, set_torch_threads


def is_torchscript(path: Path) -> bool:
    """True for a TorchScript archive (a zip with compiled code). A ``.safetensors`` file is
    never one: that name promises tensors only, so it is only ever read as a checkpoint."""
    if path.suffix.lower() == ".safetensors":
        return False
    try:
        with open(path, "rb") as fh:
            if fh.read(4) != b"PK\x03\x04":
                return False
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


def read_extra(path: Path) -> dict[str, str]:
    """The TFSWA Studio description stored among the archive's extra files ({} if none)."""
    try:
        with zipfile.ZipFile(path) as zf:
            name = next((n for n in zf.namelist()
                         if n.endswith(f"/extra/{TORCHSCRIPT_EXTRA_FILE}")), None)
            if name is None:
                return {}
            data = json.loads(zf.read(name).decode("utf-8"))
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise UserError(f"has an unreadable TFSWA Studio description ({exc})", path) from None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def load_torchscript(path: Path, device=None):
    """Load a TorchScript file for inference: eval mode, then
    ``torch.jit.optimize_for_inference`` (freezing, oneDNN convolution prepacking) on the CPU;
    on another ``device`` (a ``torch.device``) the module is only loaded there. Export
    verification loads files through this function too, so what is verified is what runs."""
    import torch

    where = device if device is not None else torch.device("cpu")
    try:
        module = torch.jit.load(str(path), map_location=where).eval()
    except (RuntimeError, OSError, ValueError) as exc:
        raise UserError(f"cannot be loaded as TorchScript ({first_line(exc)})", path) from None
    if where.type != "cpu":
        return module
    try:
        return torch.jit.optimize_for_inference(module)
    except RuntimeError:
        return module


def torchscript_operator_counts(module) -> Counter:
    """Operation count per kind in a TorchScript graph, constants and attribute reads aside."""
    graph = module.graph if hasattr(module, "graph") else module.forward.graph
    return Counter(node.kind() for node in graph.nodes()
                   if node.kind() not in ("prim::Constant", "prim::GetAttr"))


class TorchScriptBackend(Backend):
    """A TorchScript module run by the TorchScript interpreter on ``device`` (the CPU unless
    asked otherwise; inputs moved there, masks back as float32 host arrays).

    TorchScript holds compiled model code (run by the TorchScript interpreter, not as
    Python); load such files only from sources you trust, as with any program.
    """

    kind = "torchscript"
    provider = "torchscript-cpu"

    def __init__(self, path: Path | str, threads: Optional[int] = None, name: str = "",
                 device: Optional[str] = "cpu"):
        path = Path(path)
        self.torch_device = resolve_device(device)
        meta = read_extra(path)
        audio = audio_config_from(meta, path)
        self.precision = meta.get("precision", "fp32")
        super().__init__(audio, path, name or f"TorchScript {self.precision.upper()}")
        self.metadata = meta
        set_torch_threads(threads)
        cpu = self.torch_device.type == "cpu"
        self.device = "cpu" if cpu else str(self.torch_device)
        self.provider = f"torchscript-{self.torch_device.type}"
        self.module = load_torchscript(path, None if cpu else self.torch_device)

    def run(self, mag: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(mag, dtype=np.float32))
            if self.torch_device.type != "cpu":
                x = x.to(self.torch_device)
            return self.module(x).float().cpu().numpy()

    def synchronize(self) -> None:
        synchronize(self.torch_device)

    def close(self) -> None:
        self.module = None


def _load_torchscript(path: Path, threads: Optional[int], device: str = "cpu") -> Backend:
    return TorchScriptBackend(path, threads, device=device)


register_loader(BackendLoader("torchscript", is_torchscript, _load_torchscript, runs_code=True))
