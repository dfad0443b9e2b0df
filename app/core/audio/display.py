"""What the GUI draws for an audio file: a min/max waveform envelope and a dB spectrogram.

Both are computed from the file in blocks (numpy only, no Qt), so memory depends on the
display size and never on the file's length: a 60-minute song costs the same few megabytes
as a 3-second clip. The GUI calls :func:`track_display` in its worker thread and only hands
the arrays to its plots.

Arrays: audio blocks are ``(C, L)`` float32 as everywhere in core; the
envelope is ``(points,)`` per bound; the spectrogram is ``(bands, columns)`` in dB, rows from
low to high frequency, columns spanning ``0 .. duration`` seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

import numpy as np

from ..jobs import CancelToken, ProgressFn, ensure_token, no_progress, scaled_progress
from .io import AudioReader, probe
from .spectral import hann_window, windowed_rfft

READ_BLOCK = 1 << 16
FLOOR_DB = -120.0


@dataclass
class Envelope:
    """Min and max of the signal (over both channels) in consecutive buckets of samples."""
    times: np.ndarray   # (points,) seconds at each bucket's start
    lower: np.ndarray   # (points,) float32
    upper: np.ndarray   # (points,) float32
    samples_per_point: int


@dataclass
class SpectrogramImage:
    """A power spectrogram for display, pooled to a fixed number of columns and bands."""
    db: np.ndarray             # (bands, columns) float32, dB re a full-scale sine
    frequencies: np.ndarray    # (bands,) centre frequency of each row, Hz
    duration: float            # seconds spanned by the columns
    scale: str                 # "log" or "linear" frequency rows

    @property
    def peak_db(self) -> float:
        return float(self.db.max()) if self.db.size else FLOOR_DB


@dataclass
class TrackDisplay:
    path: Path
    sample_rate: int
    frames: int
    peak: float
    envelope: Envelope
    spectrogram: SpectrogramImage

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


# ----------------------------------------------------------------------------- envelope

class EnvelopeAccumulator:
    """Streamed min/max envelope of ``total_frames`` samples in at most ``points`` buckets.

    Samples beyond ``total_frames`` (a length estimate that was short) go to the last bucket.
    """

    def __init__(self, total_frames: int, sample_rate: int, points: int = 4000):
        total = max(int(total_frames), 1)
        self.sample_rate = int(sample_rate)
        self.step = max(1, math.ceil(total / max(int(points), 1)))
        self.points = math.ceil(total / self.step)
        self.lower = np.full(self.points, np.inf, dtype=np.float32)
        self.upper = np.full(self.points, -np.inf, dtype=np.float32)
        self.position = 0

    def add(self, block: np.ndarray) -> None:
        """``block``: ``(C, L)``."""
        n = block.shape[-1]
        if n == 0:
            return
        block = np.atleast_2d(block)
        lo, hi = block.min(axis=0), block.max(axis=0)
        index = np.minimum((self.position + np.arange(n)) // self.step, self.points - 1)
        starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
        buckets = index[starts]
        self.lower[buckets] = np.minimum(self.lower[buckets], np.minimum.reduceat(lo, starts))
        self.upper[buckets] = np.maximum(self.upper[buckets], np.maximum.reduceat(hi, starts))
        self.position += n

    def result(self) -> Envelope:
        used = min(self.points, max(1, math.ceil(self.position / self.step)))
        lower = np.where(np.isfinite(self.lower[:used]), self.lower[:used], 0).astype(np.float32)
        upper = np.where(np.isfinite(self.upper[:used]), self.upper[:used], 0).astype(np.float32)
        times = (np.arange(used) * self.step / self.sample_rate).astype(np.float64)
        return Envelope(times, lower, upper, self.step)


# ----------------------------------------------------------------------------- spectrogram

def band_matrix(n_fft: int, sample_rate: int, bands: int, scale: str = "log",
                fmin: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """``(bins, bands)`` averaging weights from FFT bins to display rows, and row centres (Hz).

    Log rows are spaced evenly in log frequency from ``fmin`` to Nyquist; a row narrower than
    one bin takes its nearest bin, so no row is empty.
    """
    n_bins = n_fft // 2 + 1
    freqs = np.arange(n_bins) * sample_rate / n_fft
    nyquist = sample_rate / 2
    if scale == "log":
        edges = np.geomspace(max(fmin, freqs[1]), nyquist, bands + 1)
        centres = np.sqrt(edges[:-1] * edges[1:])
    elif scale == "linear":
        edges = np.linspace(0.0, nyquist, bands + 1)
        centres = (edges[:-1] + edges[1:]) / 2
    else:
        raise ValueError(f"unknown frequency scale '{scale}' (log or linear)")
    weights = np.zeros((n_bins, bands), dtype=np.float32)
    for j in range(bands):
        inside = np.flatnonzero((freqs >= edges[j]) & (freqs < edges[j + 1]))
        if j == bands - 1:
            inside = np.flatnonzero((freqs >= edges[j]) & (freqs <= edges[j + 1]))
        if inside.size == 0:
            inside = np.array([int(np.argmin(np.abs(freqs - centres[j])))])
        weights[inside, j] = 1.0 / inside.size
    return weights, centres.astype(np.float32)


class SpectrogramAccumulator:
    """Streamed power spectrogram (mono mix, Hann window, hop ``n_fft/16 .. n_fft/4``),
    averaged into at most ``columns`` time columns and ``bands`` frequency rows.

    Frames are centred (the signal is padded by half a window at both ends), so column ``k``
    covers ``k * duration / columns`` seconds onwards.
    """

    def __init__(self, total_frames: int, sample_rate: int, columns: int = 1200,
                 bands: int = 256, n_fft: int = 2048, scale: str = "log"):
        self.sample_rate = int(sample_rate)
        self.total = max(int(total_frames), 1)
        self.n_fft = int(n_fft)
        # Short files get a finer hop (down to n_fft / 16) so that they still fill the columns.
        self.hop = int(np.clip(self.total // max(int(columns), 1), self.n_fft // 16, self.n_fft // 4))
        self.frame_count = self.total // self.hop + 1
        self.columns = max(1, min(int(columns), self.frame_count))
        bands = min(int(bands), self.n_fft // 2 + 1)
        self.weights, self.frequencies = band_matrix(self.n_fft, self.sample_rate, bands, scale)
        self.scale = scale
        # a full-scale sine peaks at 0 dB
        self.gain = (2.0 / float(hann_window(self.n_fft).sum(dtype=np.float64))) ** 2
        self.sums = np.zeros((self.columns, bands), dtype=np.float64)
        self.counts = np.zeros(self.columns, dtype=np.int64)
        self._carry = np.zeros(self.n_fft // 2, dtype=np.float32)   # centring pad
        self._next_frame = 0
        self.position = 0

    def add(self, block: np.ndarray) -> None:
        block = np.atleast_2d(block)
        if block.shape[-1] == 0:
            return
        self.position += block.shape[-1]
        self._consume(np.concatenate([self._carry, block.mean(axis=0, dtype=np.float32)]))

    def _consume(self, buffer: np.ndarray) -> None:
        count = 0 if buffer.size < self.n_fft else (buffer.size - self.n_fft) // self.hop + 1
        if count:
            frames = np.lib.stride_tricks.sliding_window_view(buffer, self.n_fft)[::self.hop][:count]
            spectrum = windowed_rfft(frames)
            power = (spectrum.real ** 2 + spectrum.imag ** 2) * self.gain
            self._pool(power @ self.weights)
        self._carry = buffer[count * self.hop:].copy()

    def _pool(self, rows: np.ndarray) -> None:
        index = self._next_frame + np.arange(rows.shape[0])
        cols = np.minimum(index * self.columns // self.frame_count, self.columns - 1)
        starts = np.flatnonzero(np.r_[True, cols[1:] != cols[:-1]])
        self.sums[cols[starts]] += np.add.reduceat(rows, starts, axis=0)
        self.counts[cols[starts]] += np.diff(np.r_[starts, rows.shape[0]])
        self._next_frame += rows.shape[0]

    def result(self) -> SpectrogramImage:
        """Finish (pad the end by half a window) and return the image; call once."""
        self._consume(np.concatenate([self._carry, np.zeros(self.n_fft // 2, np.float32)]))
        used = self.counts > 0
        mean = np.zeros_like(self.sums)
        mean[used] = self.sums[used] / self.counts[used, None]
        db = 10.0 * np.log10(np.maximum(mean, 10 ** (FLOOR_DB / 10)))
        if not used.all() and used.any():      # a short length estimate: repeat the last column
            last = np.flatnonzero(used)[-1]
            db[~used] = db[last]
        duration = max(self.position, 1) / self.sample_rate
        return SpectrogramImage(db.T.astype(np.float32), self.frequencies, duration, self.scale)


# ----------------------------------------------------------------------------- files

def track_display(path: Path | str, *, points: int = 4000, columns: int = 1200,
                  bands: int = 256, n_fft: int = 2048, scale: str = "log",
                  progress: Optional[ProgressFn] = None,
                  cancel: Optional[CancelToken] = None) -> TrackDisplay:
    """Envelope and spectrogram of an audio file at its own sample rate, read in blocks.

    Raises :class:`~app.core.jobs.UserError` naming the file if it cannot be read.
    """
    progress = progress or no_progress
    cancel = ensure_token(cancel)
    path = Path(path)
    info = probe(path)
    rate = info.sample_rate
    envelope = EnvelopeAccumulator(info.frames, rate, points)
    spectrogram = SpectrogramAccumulator(info.frames, rate, columns, bands, n_fft, scale)
    peak = 0.0
    with AudioReader(path, rate) as reader:
        while not reader.finished:
            cancel.check()
            block = reader.read(READ_BLOCK)
            if block.shape[1]:
                envelope.add(block)
                spectrogram.add(block)
                peak = max(peak, float(np.abs(block).max()))
            progress(min(envelope.position / max(info.frames, 1), 1.0),
                     f"{envelope.position / rate:.1f} / {info.duration:.1f} s")
    cancel.check()
    return TrackDisplay(path, rate, envelope.position, peak, envelope.result(),
                        spectrogram.result())


def track_displays(paths: Mapping[str, Path | str], *, progress: Optional[ProgressFn] = None,
                   cancel: Optional[CancelToken] = None, **options) -> dict[str, TrackDisplay]:
    """:func:`track_display` for several named files, progress spread evenly over them."""
    out: dict[str, TrackDisplay] = {}
    n = max(len(paths), 1)
    for i, (name, path) in enumerate(paths.items()):
        out[name] = track_display(path, progress=scaled_progress(progress, i / n, (i + 1) / n),
                                  cancel=cancel, **options)
    return out
