"""Runtime helpers of the training loop that change its speed, never its results:
:class:`ThreadTuner` (torch thread count chosen from the steps' timings) and
:class:`BatchLoader` (the next step's batch read in a background thread).
:mod:`app.core.training` uses these and re-exports them."""

from __future__ import annotations

import concurrent.futures
import math
from typing import Optional

import numpy as np
import torch

from .data import TrainingSegments


class ThreadTuner:
    """Chooses between torch thread counts from the training steps' own timings.

    On a machine shared with other work, OpenMP threads that spin while waiting for each
    other can make two threads several times slower than one (measured on the 2-core build
    machine under load: 12.6 s vs 5.5 s per step), while on an idle machine two threads are
    faster. Every ``interval`` steps, and as soon as three steps in a row take twice as long
    as the chosen count did in its trial (the load changed), each candidate runs ``trial``
    real training steps and the fastest (median of all but the first step after a switch) is
    kept.
    """

    def __init__(self, candidates: list[int], trial: int = 3, interval: int = 200):
        self.candidates = sorted(set(max(1, c) for c in candidates))
        self.trial = max(2, trial)
        self.interval = interval
        self.current = self.candidates[-1]
        self._plan: list[int] = []
        self._times: dict[int, list[float]] = {}
        self._next_check = 0
        self._baseline = math.inf
        self._slow = 0
        self.history: list[tuple[int, int]] = []      # (step, threads chosen)

    def before_step(self, step: int) -> None:
        if len(self.candidates) < 2:
            return
        if not self._plan and step >= self._next_check:
            self._plan = [c for c in self.candidates for _ in range(self.trial)]
            self._times = {c: [] for c in self.candidates}
        if self._plan:
            self._set(self._plan[0])

    def after_step(self, step: int, seconds: float) -> None:
        if not self._plan:
            self._slow = self._slow + 1 if seconds > 2.0 * self._baseline else 0
            if self._slow >= 3:
                self._next_check, self._slow = step, 0
            return
        self._times[self._plan.pop(0)].append(seconds)
        if not self._plan:
            medians = {c: float(np.median(self._times[c][1:])) for c in self.candidates}
            best = min(self.candidates, key=medians.__getitem__)
            self._set(best)
            self._baseline = medians[best]
            self._next_check = step + self.interval
            self.history.append((step, best))

    def _set(self, threads: int) -> None:
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
        self.current = threads


class BatchLoader:
    """Reads the batch of the next step in a background thread while this one trains.

    Batches are a pure function of the step, so prefetching changes nothing but speed.
    """

    def __init__(self, dataset: TrainingSegments, batch_size: int, rank: int = 0,
                 world_size: int = 1, device: Optional[torch.device] = None):
        self.dataset = dataset
        self.batch_size = batch_size
        self.rank, self.world_size = rank, world_size
        self.device = device or torch.device("cpu")
        self._pin = self.device.type == "cuda"
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tfswa-data")
        self._pending: dict[int, concurrent.futures.Future] = {}

    def _load(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        mixture, sources = self.dataset.batch(step, self.batch_size, self.rank, self.world_size)
        mixture, sources = torch.from_numpy(mixture), torch.from_numpy(sources)
        if self._pin:                   # page-locked: the copy to the GPU runs asynchronously
            mixture, sources = mixture.pin_memory(), sources.pin_memory()
        return mixture, sources

    def _submit(self, step: int) -> None:
        if step not in self._pending:
            self._pending[step] = self._pool.submit(self._load, step)

    def get(self, step: int, prefetch: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Step ``step``'s batch on the device: ``(B, C, L)`` and ``(B, S, C, L)``."""
        self._submit(step)
        future = self._pending.pop(step)
        if prefetch:
            self._submit(step + 1)
        mixture, sources = future.result()
        if self.device.type == "cpu":
            return mixture, sources
        return (mixture.to(self.device, non_blocking=self._pin),
                sources.to(self.device, non_blocking=self._pin))

    def close(self) -> None:
        for f in self._pending.values():
            f.cancel()
        self._pool.shutdown(wait=True)
