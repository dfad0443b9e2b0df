"""Latency statistics of timed runs: percentiles, mean, spread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass
class LatencyStats:
    """Milliseconds per run over ``runs`` timed runs (after the warm-up)."""
    runs: int
    p50: float
    p95: float
    p99: float
    mean: float
    std: float
    min: float
    max: float

    @property
    def spread(self) -> float:
        """p95 over p50: 1.0 is perfectly steady."""
        return self.p95 / self.p50 if self.p50 > 0 else float("nan")


def latency_stats(seconds: Sequence[float]) -> LatencyStats:
    """Statistics of run times given in seconds, reported in milliseconds. Percentiles are
    linear interpolations between the sorted runs (numpy's default), so p99 of 20 runs lies
    between the two slowest."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    if ms.size == 0:
        raise ValueError("no timed runs")
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    std = float(ms.std(ddof=1)) if ms.size > 1 else 0.0
    return LatencyStats(int(ms.size), float(p50), float(p95), float(p99), float(ms.mean()),
                        std, float(ms.min()), float(ms.max()))
