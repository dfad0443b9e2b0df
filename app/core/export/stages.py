"""The bookkeeping of one export: each stage gets a slice of the progress bar and a timing
(:class:`StageTime`), the exporter's warnings worth keeping are collected, and the verify
stage that ends both formats' exports runs here. :mod:`app.core.export` drives it."""

from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch

from ..jobs import ProgressFn, scaled_progress
from ..jobs import first_line
from .verify import VerificationReport, check_verification, verification_shapes


@dataclass
class StageTime:
    name: str
    seconds: float
    note: str = ""


class ExportRun:
    """One export in progress: its stages so far, its warnings and its elapsed time."""

    def __init__(self, progress: ProgressFn):
        self.progress = progress
        self.stages: list[StageTime] = []
        self.notes: list[str] = []
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    @contextlib.contextmanager
    def stage(self, name: str, start: float, end: float):
        """Time one stage and give it the progress bar from ``start`` to ``end``; yields the
        stage's progress callable and its :class:`StageTime` (for a note)."""
        sub = scaled_progress(self.progress, start, end)
        t0 = time.perf_counter()
        record = StageTime(name, 0.0)
        yield sub, record
        record.seconds = time.perf_counter() - t0
        self.stages.append(record)
        sub(1.0, f"{name}: done")

    @contextlib.contextmanager
    def collect_warnings(self):
        """Keep tracer warnings (they flag shape-dependent code); drop deprecation notices."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        for w in caught:
            if issubclass(w.category, (DeprecationWarning, FutureWarning, UserWarning)) and \
                    not issubclass(w.category, torch.jit.TracerWarning):
                continue
            text = first_line(str(w.message))
            if text not in self.notes:
                self.notes.append(text)

    def verify(self, start: float, enabled: bool, dummy: torch.Tensor,
               frames: Sequence[int], output_path: Path,
               check: Callable[[list, ProgressFn], VerificationReport]
               ) -> Optional[VerificationReport]:
        """The verify stage, from ``start`` to the end of the bar: ``check(shapes, progress)``
        runs the artifact on the shapes made from the example input ``dummy`` and
        ``frames``; a failing report raises
        :class:`~app.core.export.errors.VerificationFailed`. None when not ``enabled``."""
        report = None
        with self.stage("verify", start, 1.0) as (sub, rec):
            if enabled:
                shapes = verification_shapes(dummy.shape[1], dummy.shape[2], dummy.shape[3],
                                             frames)
                report = check(shapes, sub)
                check_verification(report, output_path)
                rec.note = f"{len(report.checks)} shapes, worst MSE {report.worst_mse:.2g}"
            else:
                rec.note = "skipped"
        return report
