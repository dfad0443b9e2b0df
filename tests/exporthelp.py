"""A tiny TFSWA-UNet bundle with non-trivial batch-norm statistics, and its ONNX and
TorchScript exports made once per test session (exports take seconds, the tests reuse them)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from app.core.checkpoint import ModelBundle, init_bundle, save_bundle
from app.core.config import AudioConfig, ModelConfig
from app.core.export.pipeline import ExportOptions, ExportResult, export_bundle
from app.core.userdata import record_export

TINY = ModelConfig(preset="custom", channels=(4, 8), dim=8, blocks=1, heads=2, window=(2, 2),
                   mlp_ratio=2.0)
AUDIO = AudioConfig(segment_seconds=1.0)
VERIFY_FRAMES = (1, 37, 100)


def tiny_bundle(seed: int = 0) -> ModelBundle:
    """Untrained tiny model whose batch norms have trained-looking statistics, so folding
    them into convolutions changes the weights (and a wrong fold would show)."""
    sizes = {k: getattr(TINY, k) for k in ("channels", "dim", "blocks", "heads", "window",
                                           "mlp_ratio")}
    bundle = init_bundle("small", audio=AUDIO, seed=seed, **sizes)
    gen = torch.Generator().manual_seed(seed + 1)
    for key, value in bundle.state_dict.items():
        if key.endswith("running_mean"):
            value.copy_(torch.rand(value.shape, generator=gen) - 0.5)
        elif key.endswith("running_var"):
            value.copy_(torch.rand(value.shape, generator=gen) * 1.5 + 0.5)
        elif ".norm" in key and key.endswith(".weight"):
            value.copy_(torch.rand(value.shape, generator=gen) + 0.5)
        elif ".norm" in key and key.endswith(".bias"):
            value.copy_(torch.rand(value.shape, generator=gen) * 0.4 - 0.2)
    return bundle


_folder = Path(tempfile.mkdtemp(prefix="tfswa-export-tests-"))
atexit.register(shutil.rmtree, _folder, True)
_cache: dict[str, tuple[ModelBundle, ExportResult]] = {}


def saved_tiny_bundle() -> ModelBundle:
    """The tiny bundle saved as a checkpoint (once per session)."""
    if "bundle" not in _cache:
        bundle = tiny_bundle()
        save_bundle(bundle, _folder / "tiny.pt")
        _cache["bundle"] = (bundle, None)
    return _cache["bundle"][0]


def exported(fmt: str) -> tuple[ModelBundle, ExportResult]:
    """The tiny bundle exported as ``fmt`` ("onnx" or "torchscript"), once per session."""
    if fmt not in _cache:
        bundle = saved_tiny_bundle()
        options = ExportOptions(format=fmt, frames=64, verify_frames=VERIFY_FRAMES)
        result = export_bundle(bundle, options.default_path(bundle.path), options, threads=1)
        _cache[fmt] = (bundle, result)
    bundle, result = _cache[fmt]
    if fmt == "torchscript":
        # This app exported the file; a test may run with another user data folder than the
        # one the export was recorded in (the GUI tests get one each).
        record_export(result.path)
    return bundle, result


def demo_onnx() -> Path:
    """The bundled demo model exported to ONNX, as the slim runtime ships it (once per
    session; verified on one extra shape to keep it quick)."""
    if "demo" not in _cache:
        from app.core.checkpoint import load_bundle
        from app.core.resources import DEMO_DIR

        options = ExportOptions(format="onnx", frames=87, verify_frames=(37,))
        bundle = load_bundle(DEMO_DIR / "demo-model.safetensors")
        (_folder / "demo").mkdir(exist_ok=True)
        result = export_bundle(bundle, _folder / "demo" / "demo-model.onnx", options, threads=1)
        _cache["demo"] = (bundle, result)
        _cache["demo-parameters"] = bundle.n_parameters
    return _cache["demo"][1].path


def demo_parameters() -> int:
    """The demo checkpoint's parameter count (read while exporting it)."""
    demo_onnx()
    return _cache["demo-parameters"]


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    noise = np.sum((reference.astype(np.float64) - estimate) ** 2)
    signal = np.sum(reference.astype(np.float64) ** 2)
    return float("inf") if noise == 0 else float(10 * np.log10(signal / noise))
