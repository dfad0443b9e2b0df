"""Training and validation items drawn from a :class:`~app.core.audio.TrackSet`.

Training items are random segments drawn as a pure function of ``(seed, index)``: the same
index gives the same item in any process, thread or order, so resuming at step ``k`` is exact
and loader workers need no coordination. Only the segment's frames are read from each file
(random access), so memory does not grow with the dataset.

Shapes: a mixture is ``(C, L)``; sources are ``(S, C, L)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..audio.tracks import TrackSet
from ..jobs import UserError

# ----------------------------------------------------------------------------- training items

@dataclass(frozen=True)
class Augmentation:
    """The paper's augmentation: ``remix`` is the probability that each component comes from
    its own random track and offset (the mix augmentation; otherwise all components share one
    track and offset); ``gain`` a uniform range per component; ``swap`` the probability of
    swapping left and right, per component."""

    remix: float = 1.0
    gain: tuple[float, float] = (0.25, 1.25)
    swap: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.remix <= 1.0 or not 0.0 <= self.swap <= 1.0:
            raise UserError("augmentation probabilities must be in [0, 1]")
        if not 0.0 <= self.gain[0] <= self.gain[1]:
            raise UserError(f"gain range {self.gain} must be 0 <= low <= high")


NO_AUGMENTATION = Augmentation(remix=0.0, gain=(1.0, 1.0), swap=0.0)


class TrainingSegments:
    """Random training segments: ``dataset[index] -> (mixture (C, L), sources (S, C, L))``.

    An item is a pure function of ``(seed, index)``. ``len()`` is ``epoch_items``, the
    number of segments in one epoch; any index >= 0 is valid (later epochs continue the
    index sequence), so a loader never repeats an epoch's items. The mixture is the sum of
    all components after augmentation; only the model sources are returned as targets.
    """

    def __init__(self, tracks: TrackSet, segment_frames: int, seed: int = 0,
                 augmentation: Augmentation = Augmentation(),
                 epoch_items: Optional[int] = None):
        if segment_frames < 1:
            raise UserError("the training segment must be at least one sample long")
        self.tracks = tracks
        self.length = int(segment_frames)
        self.seed = int(seed)
        self.augmentation = augmentation
        covered = int(tracks.total_seconds * tracks.sample_rate) // self.length
        self.epoch_items = int(epoch_items) if epoch_items else max(1, covered)

    def __len__(self) -> int:
        return self.epoch_items

    def _offset(self, rng: np.random.Generator, track: int) -> int:
        spare = self.tracks.tracks[track].frames - self.length
        return int(rng.integers(0, spare + 1)) if spare > 0 else 0

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        mixture = np.empty((2, self.length), np.float32)
        sources = np.empty((len(self.tracks.sources), 2, self.length), np.float32)
        self.fill(index, mixture, sources)
        return mixture, sources

    def fill(self, index: int, mixture: np.ndarray, sources: np.ndarray) -> None:
        """Write item ``index`` into ``mixture`` ``(C, L)`` and ``sources`` ``(S, C, L)``."""
        if index < 0:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, int(index)])
        aug = self.augmentation
        n_tracks = len(self.tracks)
        comps = self.tracks.components
        if rng.random() < aug.remix:
            picks = rng.integers(0, n_tracks, size=len(comps))
            offsets = [self._offset(rng, int(t)) for t in picks]
        else:
            t = int(rng.integers(0, n_tracks))
            picks = np.full(len(comps), t)
            offsets = [self._offset(rng, t)] * len(comps)
        gains = rng.uniform(aug.gain[0], aug.gain[1], size=len(comps)).astype(np.float32)
        swaps = rng.random(len(comps)) < aug.swap
        n_sources = len(self.tracks.sources)
        mixture[:] = 0.0
        for i, name in enumerate(comps):
            part = self.tracks.read(int(picks[i]), name, offsets[i], self.length)
            part *= gains[i]
            if swaps[i]:
                part = part[::-1]
            if i < n_sources:
                sources[i] = part
            mixture += part

    def batch(self, step: int, batch_size: int, rank: int = 0,
              world_size: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Rank ``rank``'s items of optimizer step ``step``: ``(B, C, L)`` and
        ``(B, S, C, L)``. The step's global batch is ``batch_size * world_size`` items from
        ``step * batch_size * world_size`` on, and each rank takes its own consecutive
        ``batch_size`` of them: together the ranks draw exactly the items one process draws
        with a ``world_size`` times larger batch."""
        mixture = np.empty((batch_size, 2, self.length), np.float32)
        sources = np.empty((batch_size, len(self.tracks.sources), 2, self.length), np.float32)
        first = (step * world_size + rank) * batch_size
        for i in range(batch_size):
            self.fill(first + i, mixture[i], sources[i])
        return mixture, sources


# ----------------------------------------------------------------------------- validation

@dataclass(frozen=True)
class Window:
    track: int
    start: int
    frames: int


class ValidationSegments:
    """Fixed, unaugmented validation windows: up to ``seconds`` per track, taken from the
    middle of the track as consecutive segments of ``segment_frames``. The same windows
    every epoch, so validation SDRs are comparable from epoch to epoch."""

    def __init__(self, tracks: TrackSet, segment_frames: int, seconds: Optional[float] = 12.0):
        self.tracks = tracks
        self.length = int(segment_frames)
        self.windows: list[list[Window]] = []
        rate = tracks.sample_rate
        for i, t in enumerate(tracks.tracks):
            want = t.frames if seconds is None else min(t.frames, int(seconds * rate))
            count = max(1, want // self.length)
            start = max(0, (t.frames - count * self.length) // 2)
            self.windows.append([Window(i, start + k * self.length, self.length)
                                 for k in range(count)])

    def __len__(self) -> int:
        return len(self.windows)

    @property
    def seconds(self) -> float:
        return sum(len(w) for w in self.windows) * self.length / self.tracks.sample_rate

    def track(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Track ``i``'s windows: mixtures ``(W, C, L)`` and sources ``(W, S, C, L)``; the
        mixture is the sum of all components, as in training."""
        mixes, sources = [], []
        n = len(self.tracks.sources)
        for w in self.windows[i]:
            parts = self.tracks.read_sources(w.track, w.start, w.frames)
            mixes.append(parts.sum(axis=0))
            sources.append(parts[:n])
        return np.stack(mixes), np.stack(sources)

    def names(self) -> list[str]:
        return [t.name for t in self.tracks.tracks]


