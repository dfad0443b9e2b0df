"""Latency statistics of timed runs: percentiles, mean, spread, and how well the median is
known (a distribution-free confidence interval from the order statistics)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Sequence

import numpy as np

CONFIDENCE = 0.95
# A median whose 95 % interval reaches further than this from it is "not settled": two
# entries of the same variant could then differ by more than the 5 % a user would call the
# same speed.
SETTLED_PCT = 2.5
SETTLE_FACTOR = 2.8
EXACT_UP_TO = 1000     # runs; beyond, the binomial is replaced by its normal approximation


@dataclass
class LatencyStats:
    """Milliseconds per run over ``runs`` timed runs (after the warm-up). ``p50_low`` ..
    ``p50_high`` is a 95 % confidence interval for the true median: it holds whatever the
    distribution of run times (order statistics; runs are assumed independent)."""
    runs: int
    p50: float
    p95: float
    p99: float
    mean: float
    std: float
    min: float
    max: float
    p50_low: float = float("nan")
    p50_high: float = float("nan")
    iqr: float = float("nan")        # p75 - p25

    @property
    def spread(self) -> float:
        """p95 over p50: 1.0 is perfectly steady."""
        return self.p95 / self.p50 if self.p50 > 0 else float("nan")

    @property
    def p50_uncertainty_pct(self) -> float:
        """How far the median's 95 % interval reaches from it, in percent of it (the larger
        side); infinite when too few runs bound it at all."""
        if not self.p50 > 0 or math.isnan(self.p50_low) or math.isnan(self.p50_high):
            return float("inf")
        return 100.0 * max(self.p50 - self.p50_low, self.p50_high - self.p50) / self.p50

    @property
    def settled(self) -> bool:
        return self.p50_uncertainty_pct <= SETTLED_PCT

    def runs_to_settle(self, limit: int) -> int:
        """About how many runs would bring the interval within :data:`SETTLED_PCT`, at most
        ``limit``. The interval spans about 1.96 sqrt(n) ranks around the middle one, and
        near the median run times climb by about 2 IQR per unit of rank / n, so its half-width
        shrinks as IQR / sqrt(n); the factor :data:`SETTLE_FACTOR` was chosen in simulations
        of skewed (log-normal) run times so that most benchmarks of the suggested length come
        out settled (55-95 %; 1.96 alone gave 15-30 %: the wider side of the interval
        decides)."""
        if self.settled:
            return self.runs
        if not self.p50 > 0 or math.isnan(self.iqr):
            return int(min(limit, max(20, self.runs * 4)))
        need = math.ceil((SETTLE_FACTOR * self.iqr / (SETTLED_PCT / 100 * self.p50)) ** 2)
        return int(min(limit, max(need, self.runs + 1)))


def median_rank_interval(n: int, confidence: float = CONFIDENCE) -> tuple[int, int] | None:
    """0-based ranks ``(j, k)`` of the sorted runs such that ``[x_j, x_k]`` covers the true
    median with at least ``confidence``; ``None`` when ``n`` runs are too few for that
    (fewer than 6 at 95 %). The number of runs below the median is Binomial(n, 1/2)."""
    if n < 1:
        return None
    alpha = 1.0 - confidence
    if n <= EXACT_UP_TO:
        # j = how many of the lowest ranks hold at most alpha/2 of P(B <= rank); then
        # [x_(j-1), x_(n-j)] misses the median with probability at most alpha
        cdf, j, term = 0.0, 0, 0.5 ** n
        while j < n and cdf + term <= alpha / 2:
            cdf += term
            term = term * (n - j) / (j + 1)
            j += 1
        return None if j < 1 else (j - 1, n - j)
    half = NormalDist().inv_cdf(1 - alpha / 2) * math.sqrt(n) / 2.0
    j = max(0, int(math.floor(n / 2.0 - half)))
    return j, n - 1 - j


def latency_stats(seconds: Sequence[float]) -> LatencyStats:
    """Statistics of run times given in seconds, reported in milliseconds. Percentiles are
    linear interpolations between the sorted runs (numpy's default), so p99 of 20 runs lies
    between the two slowest."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    if ms.size == 0:
        raise ValueError("no timed runs")
    p25, p50, p75, p95, p99 = np.percentile(ms, [25, 50, 75, 95, 99])
    std = float(ms.std(ddof=1)) if ms.size > 1 else 0.0
    ranks = median_rank_interval(int(ms.size))
    low = high = float("nan")
    if ranks is not None:
        ordered = np.sort(ms)
        low, high = float(ordered[ranks[0]]), float(ordered[ranks[1]])
    return LatencyStats(int(ms.size), float(p50), float(p95), float(p99), float(ms.mean()),
                        std, float(ms.min()), float(ms.max()), low, high, float(p75 - p25))
