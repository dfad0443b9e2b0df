"""Verification of an exported artifact against the PyTorch model it came from.

The artifact (an ONNX Runtime session, or a TorchScript file loaded back) and the model run
on the same deterministic magnitude-like inputs, on several shapes including batch sizes and
frame counts other than the export's (:func:`verification_shapes`). Each shape gives a
:class:`ShapeCheck` (max abs error, MSE, SNR, finiteness, time); together they make a
:class:`VerificationReport`. A check passes when the output is finite and its MSE is at most
:data:`MSE_LIMIT`; :func:`check_verification` turns a failed report into
:class:`~app.core.export.errors.VerificationFailed`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..jobs import CancelToken, ProgressFn, ensure_token, no_progress
from ..jobs import first_line
from .errors import ExportError, VerificationFailed

MSE_LIMIT = 1e-5
VERIFY_FRAMES = (1, 37, 259, 1000)


@dataclass
class ShapeCheck:
    """The artifact against PyTorch on one input shape ``(B, C, F, T)``."""
    shape: list[int]
    max_abs_error: float
    mse: float
    snr_db: float            # mask energy over error energy; inf when identical
    finite: bool
    seconds: float           # time the artifact took for this input
    passed: bool

    @property
    def label(self) -> str:
        return f"{self.shape[0]}x{self.shape[3]}"   # batch x frames: what varies


@dataclass
class VerificationReport:
    runtime: str             # what ran the artifact, e.g. "onnxruntime 1.20 (CPUExecutionProvider)"
    mse_limit: float
    checks: list[ShapeCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def worst_mse(self) -> float:
        return max((c.mse for c in self.checks), default=float("nan"))

    @property
    def worst_max_abs_error(self) -> float:
        return max((c.max_abs_error for c in self.checks), default=float("nan"))

    @property
    def min_snr_db(self) -> float:
        return min((c.snr_db for c in self.checks), default=float("nan"))


def verification_shapes(channels: int, bins: int, export_frames: int,
                        frames: Sequence[int] = VERIFY_FRAMES) -> list[tuple[int, int, int, int]]:
    """Input shapes to verify on: every frame count in ``frames`` plus the export's, at
    batch 1, and batch 2 for two of them, so both dynamic axes move away from the export's
    values."""
    counts = list(dict.fromkeys([*frames, export_frames]))
    shapes = [(1, channels, bins, t) for t in counts]
    shapes += [(2, channels, bins, t) for t in counts[1:3]]
    return shapes


def test_magnitudes(shape: Sequence[int], seed: int = 0) -> np.ndarray:
    """Nonnegative, heavy-tailed values like a magnitude spectrogram (deterministic)."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(tuple(shape)) ** 2 * 4.0).astype(np.float32)


def compare_outputs(ref: np.ndarray, out: np.ndarray, shape, seconds: float,
                    mse_limit: float = MSE_LIMIT) -> ShapeCheck:
    """Measure ``out`` (the artifact's) against ``ref`` (PyTorch's) for one input shape."""
    finite = bool(np.isfinite(out).all())
    if out.shape != ref.shape:
        return ShapeCheck(list(shape), float("inf"), float("inf"), float("-inf"), finite,
                          seconds, False)
    err = out.astype(np.float64) - ref.astype(np.float64)
    if finite:
        max_abs = float(np.abs(err).max()) if err.size else 0.0
        mse = float(np.mean(err ** 2)) if err.size else 0.0
        noise = float(np.sum(err ** 2))
        signal = float(np.sum(ref.astype(np.float64) ** 2))
        snr = float("inf") if noise == 0 else 10.0 * np.log10(max(signal, 1e-30) / noise)
    else:
        max_abs, mse, snr = float("inf"), float("inf"), float("-inf")
    return ShapeCheck(list(shape), max_abs, mse, float(snr), finite, seconds,
                      finite and mse <= mse_limit)


def verify_artifact(run: Callable[[np.ndarray], np.ndarray], reference: nn.Module,
                    shapes: Iterable[Sequence[int]], runtime: str, *,
                    mse_limit: float = MSE_LIMIT, progress: Optional[ProgressFn] = None,
                    cancel: Optional[CancelToken] = None) -> VerificationReport:
    """Run ``run`` (the artifact) and ``reference`` (PyTorch) on each shape and compare."""
    progress = progress or no_progress
    cancel = ensure_token(cancel)
    shapes = [tuple(int(s) for s in shape) for shape in shapes]
    report = VerificationReport(runtime, mse_limit)
    reference = reference.eval()
    for i, shape in enumerate(shapes):
        cancel.check()
        progress(i / len(shapes), f"verify: input {'x'.join(map(str, shape))}")
        x = test_magnitudes(shape, seed=i)
        with torch.inference_mode():
            ref = reference(torch.from_numpy(x)).numpy()
        start = time.perf_counter()
        try:
            out = np.asarray(run(x))
        except Exception as exc:  # the runtime rejected this shape: a fixed axis, usually
            raise ExportError(
                f"the exported model fails on input shape {list(shape)}: "
                f"{first_line(str(exc))}", None,
                "An axis that should be dynamic was probably fixed during export. Try the "
                "other exporter or method, or report the model config.") from None
        report.checks.append(compare_outputs(ref, out, shape, time.perf_counter() - start,
                                             mse_limit))
    progress(1.0, "verify: done")
    return report


def _ort_runtime_label(session) -> str:
    import onnxruntime as ort

    return f"onnxruntime {ort.__version__} ({session.get_providers()[0]})"


def verify_onnx(path: Path, reference: nn.Module, shapes, threads: Optional[int] = None, *,
                progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelToken] = None) -> VerificationReport:
    """Verify an ONNX file with the same session options separation uses."""
    from ..backends.onnx_runtime import open_session

    session = open_session(path, threads)
    name = session.get_inputs()[0].name
    return verify_artifact(lambda x: session.run(None, {name: x})[0], reference, shapes,
                           _ort_runtime_label(session), progress=progress, cancel=cancel)


def verify_torchscript(path: Path, reference: nn.Module, shapes, *,
                       progress: Optional[ProgressFn] = None,
                       cancel: Optional[CancelToken] = None) -> VerificationReport:
    """Verify a TorchScript file loaded back from disk."""
    from ..backends.torchscript import load_torchscript

    module = load_torchscript(path)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(x)).numpy()

    return verify_artifact(run, reference, shapes, f"TorchScript (torch {torch.__version__})",
                           progress=progress, cancel=cancel)


def check_verification(report: VerificationReport, path: Path) -> None:
    """Raise :class:`VerificationFailed`, naming the failing shapes and the worst error,
    unless every check passed."""
    if report.passed:
        return
    bad = [c for c in report.checks if not c.passed]
    worst = max(bad, key=lambda c: c.mse)
    what = ("produced non-finite values (NaN or inf)" if not worst.finite else
            f"differs from PyTorch: MSE {worst.mse:.3g} > {report.mse_limit:g}, "
            f"max abs error {worst.max_abs_error:.3g}, SNR {worst.snr_db:.1f} dB")
    shapes = (f"all {len(bad)} input shapes tested" if len(bad) == len(report.checks) else
              "input " + ", ".join("x".join(map(str, c.shape)) for c in bad))
    raise VerificationFailed(
        f"verification failed: on {shapes} the exported model {what}; "
        "no file was written", path,
        "Try exporting without simplification, another opset or exporter, or TorchScript; "
        "if the PyTorch model itself gives NaN, check the checkpoint.", report)
