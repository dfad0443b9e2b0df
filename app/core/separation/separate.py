"""Chunked overlap-add separation over any backend, streamed for long files.

The mixture is cut into segments of ``segment`` seconds that overlap by ``overlap`` (a
fraction of a segment). Each segment goes through STFT, the backend's masks and the inverse
STFT with the mixture phase; the stems of consecutive segments are blended with a trapezoid
weight (linear ramps over the overlap) and divided by the summed weight, which is checked to
cover every sample. Only one segment and one hop of output are held at a time, so memory does
not grow with the file's length.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from ..audio.io import AudioInfo, AudioReader, AudioWriter, probe, resolve_format
from ..audio.spectral import Spectrogram
from ..backends.registry import Backend
from ..config import AudioConfig
from ..files import check_free_space, check_writable, removing_new_folders
from ..jobs import CancelToken, ProgressFn, UserError, ensure_token, no_progress
from .naming import DEFAULT_NAME, output_paths

READ_BLOCK = 1 << 16


@dataclass(frozen=True)
class SeparationOptions:
    segment: Optional[float] = None   # seconds; None: the model's training segment
    overlap: float = 0.25             # fraction of a segment shared with the next one
    exact_sum: bool = False           # the last stem takes the residual: stems sum to the mix

    def segment_samples(self, audio: AudioConfig) -> int:
        seconds = self.segment if self.segment is not None else audio.segment_seconds
        return max(1, int(round(seconds * audio.sample_rate)))

    def validate(self) -> None:
        if self.segment is not None and not 0.05 <= self.segment <= 600:
            raise UserError(f"segment {self.segment} s is out of range (0.05 .. 600 s)")
        if not 0.0 <= self.overlap < 1.0:
            raise UserError(f"overlap {self.overlap} must be in [0, 1)")


def crossfade_weight(length: int, overlap: int) -> np.ndarray:
    """Trapezoid weights, strictly positive: ramps of ``overlap`` samples at both ends."""
    i = np.arange(length, dtype=np.float64)
    ramp = float(overlap + 1)
    return np.minimum(1.0, np.minimum((i + 1) / ramp, (length - i) / ramp)).astype(np.float32)


class OverlapAdd:
    """Streaming separation engine: :meth:`feed` mixture blocks, get finished stem blocks.

    Blocks are ``(C, L)`` mixtures in; outputs are ``(mixture (C, L), stems (S, C, L))``.
    """

    def __init__(self, backend: Backend, options: SeparationOptions = SeparationOptions()):
        options.validate()
        self.backend = backend
        self.audio = backend.audio
        self.options = options
        self.length = options.segment_samples(self.audio)
        if backend.fixed_dims:     # an export for one shape: refuse before anything is read
            backend.check_input((1, 2, self.audio.n_bins, self.audio.frames_for(self.length)))
        overlap = int(round(self.length * options.overlap))
        self.hop = max(1, self.length - overlap)
        self.weight = crossfade_weight(self.length, self.length - self.hop)
        self.spec = Spectrogram(self.audio)
        self.n_sources = len(self.audio.sources)
        self._buffer = np.zeros((2, 0), dtype=np.float32)   # input from the segment start on
        self._acc = np.zeros((self.n_sources, 2, self.length), dtype=np.float32)
        self._wsum = np.zeros(self.length, dtype=np.float32)
        self.segments_done = 0

    def separate_segment(self, chunk: np.ndarray) -> np.ndarray:
        """``(C, L)`` with L <= segment -> stems ``(S, C, L)``: STFT, masks, inverse STFT."""
        n = chunk.shape[1]
        padded = np.zeros((2, self.length), dtype=np.float32)
        padded[:, :n] = chunk
        spec = self.spec.stft(padded)                                  # (C, F, T)
        masks = self.backend.run(np.abs(spec)[None])[0]               # (S, C, F, T)
        if masks.shape != (self.n_sources,) + spec.shape:
            raise UserError(f"the model returned masks of shape {masks.shape}, expected "
                            f"{(self.n_sources,) + spec.shape}")
        if not np.isfinite(masks).all():
            raise UserError(f"the model returned NaN or infinite masks for segment "
                            f"{self.segments_done + 1}; no stems were written",
                            self.backend.path, "The model is broken (diverged training or "
                                               "a damaged file).")
        stems = self.spec.istft(masks * spec[None], self.length)      # (S, C, L)
        return stems[:, :, :n]

    def _accumulate(self, chunk: np.ndarray) -> None:
        n = chunk.shape[1]
        stems = self.separate_segment(chunk)
        self._acc[:, :, :n] += stems * self.weight[:n]
        self._wsum[:n] += self.weight[:n]
        self.segments_done += 1

    def _emit(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        wsum = self._wsum[:count]
        if count and not np.all(wsum > 0):
            raise AssertionError("overlap-add weights do not cover every sample")
        stems = self._acc[:, :, :count] / wsum
        mixture = self._buffer[:, :count]
        if self.options.exact_sum and self.n_sources > 1:
            stems[-1] = mixture - stems[:-1].sum(axis=0)
        self._acc = np.concatenate(
            [self._acc[:, :, count:], np.zeros((self.n_sources, 2, count), np.float32)], axis=2)
        self._wsum = np.concatenate([self._wsum[count:], np.zeros(count, np.float32)])
        self._buffer = self._buffer[:, count:]
        return mixture.copy(), stems

    def feed(self, block: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Add input; yield the output blocks that are final. Segments are only processed
        when input beyond them exists, so the last segment is handled by :meth:`finish`."""
        self._buffer = np.concatenate([self._buffer, block.astype(np.float32, copy=False)], axis=1)
        while self._buffer.shape[1] > self.length:
            self._accumulate(self._buffer[:, :self.length])
            yield self._emit(self.hop)

    def finish(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Process what is left at the end of the input."""
        while self._buffer.shape[1] > self.length:
            self._accumulate(self._buffer[:, :self.length])
            yield self._emit(self.hop)
        remaining = self._buffer.shape[1]
        if remaining:
            self._accumulate(self._buffer)
            yield self._emit(remaining)

    def segments_for(self, samples: int) -> int:
        """How many segments the network runs on for ``samples`` of audio (the benchmark's
        end-to-end figures count them)."""
        if samples <= self.length:
            return 1 if samples else 0
        return 1 + -(-(samples - self.length) // self.hop)


def separate_array(mixture: np.ndarray, backend: Backend,
                   options: SeparationOptions = SeparationOptions(), *,
                   progress: Optional[ProgressFn] = None,
                   cancel: Optional[CancelToken] = None) -> np.ndarray:
    """Separate an in-memory ``(C, L)`` mixture at the backend's rate -> ``(S, C, L)``."""
    progress = progress or no_progress
    cancel = ensure_token(cancel)
    mixture = np.asarray(mixture, dtype=np.float32)
    if mixture.ndim != 2 or mixture.shape[0] != 2:
        raise UserError(f"expected a stereo (2, samples) mixture, got shape {mixture.shape}")
    engine = OverlapAdd(backend, options)
    total = mixture.shape[1]
    out, done = [], 0

    def collect(blocks):
        nonlocal done
        for _, stems in blocks:
            out.append(stems)
            done += stems.shape[2]
            progress(done / max(total, 1), f"{done / backend.audio.sample_rate:.1f} s separated")
            cancel.check()

    for start in range(0, total, READ_BLOCK):
        cancel.check()
        collect(engine.feed(mixture[:, start:start + READ_BLOCK]))
    collect(engine.finish())
    if not out:
        return np.zeros((len(backend.sources), 2, 0), dtype=np.float32)
    return np.concatenate(out, axis=2)


@dataclass
class SeparationResult:
    input: Path
    outputs: dict[str, Path]
    backend: str
    sample_rate: int
    duration_s: float
    elapsed_s: float
    segment_s: float
    overlap: float
    warnings: list[str] = field(default_factory=list)

    @property
    def speed(self) -> float:
        """Seconds of audio separated per second of compute ("x real time")."""
        return self.duration_s / self.elapsed_s if self.elapsed_s > 0 else float("inf")

    @property
    def realtime_factor(self) -> float:
        """Compute time over audio time (below 1 is faster than real time)."""
        return self.elapsed_s / self.duration_s if self.duration_s > 0 else 0.0


def separate_file(input_path: Path | str, backend: Backend, out_dir: Path | str,
                  options: SeparationOptions = SeparationOptions(), *, fmt: str = "wav",
                  subtype: Optional[str] = None, overwrite: bool = False,
                  output_rate: str = "input", nonfinite: str = "error",
                  name: str = DEFAULT_NAME, track: Optional[str] = None,
                  progress: Optional[ProgressFn] = None,
                  cancel: Optional[CancelToken] = None) -> SeparationResult:
    """Separate an audio file into ``{out_dir}/{name}`` (``{track}/{stem}.{fmt}`` by
    default, see :mod:`.naming`), streamed.

    The model runs at its own rate (the input is resampled to it); the stems are written at
    the input file's rate (``output_rate="input"``, what a user expects of a 48 kHz song) or
    at the model's (``"model"``). A mono file gives mono stems (the model's two channels
    averaged). Stems are written through temporary names and renamed only when every stem
    is complete; on error or cancellation nothing is left behind, not even the track's new
    folder. Existing files are never replaced unless ``overwrite``. NaN or infinite input
    samples stop the job with the file and the time of the first (``nonfinite="error"``) or
    are silenced with a warning (``"zero"``); they never reach a stem.
    """
    progress = progress or no_progress
    cancel = ensure_token(cancel)
    input_path = Path(input_path)
    fmt, subtype = resolve_format(fmt, subtype)
    options.validate()
    if output_rate not in ("input", "model"):
        raise UserError(f"output rate '{output_rate}' must be 'input' or 'model'")
    info = probe(input_path)
    targets = output_paths(input_path, Path(out_dir), backend.sources, fmt, name, track)
    folders = sorted({t.parent for t in targets.values()}, key=lambda p: -len(p.parts))
    with contextlib.ExitStack() as stack:
        for folder in folders:
            stack.enter_context(removing_new_folders(folder))
        for target in targets.values():
            check_writable(target, overwrite)
        return _separate_to(input_path, info, backend, targets, options, fmt, subtype,
                            overwrite, output_rate, nonfinite, progress, cancel)


def _separate_to(input_path: Path, info: AudioInfo, backend: Backend,
                 targets: dict[str, Path], options: SeparationOptions, fmt: str, subtype: str,
                 overwrite: bool, output_rate: str, nonfinite: str, progress: ProgressFn,
                 cancel: CancelToken) -> SeparationResult:
    rate = backend.audio.sample_rate
    out_rate = info.sample_rate if output_rate == "input" else rate
    channels = 1 if info.channels == 1 else 2
    _check_space(targets, info, out_rate, channels, fmt, subtype)
    warnings: list[str] = []
    start = time.perf_counter()
    writers: dict[str, AudioWriter] = {}
    try:
        with AudioReader(input_path, rate, on_warning=warnings.append,
                         nonfinite=nonfinite) as reader:
            for stem, target in targets.items():
                writers[stem] = AudioWriter(
                    target, out_rate, fmt, subtype, overwrite, channels=channels,
                    source_rate=rate, length=info.frames if out_rate != rate else None)
            progress(0.0, f"separating {input_path.name}")
            written = _stream(reader, OverlapAdd(backend, options), list(writers.values()),
                              channels, progress, cancel)
        outputs = {stem: w.commit() for stem, w in writers.items()}
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    elapsed = time.perf_counter() - start
    progress(1.0, "done")
    return SeparationResult(input_path, outputs, backend.name, out_rate, written / rate, elapsed,
                            options.segment_samples(backend.audio) / rate, options.overlap,
                            warnings)


SAMPLE_BYTES = {"PCM_16": 2, "PCM_24": 3, "FLOAT": 4}


def _check_space(targets: dict[str, Path], info: AudioInfo, out_rate: int, channels: int,
                 fmt: str, subtype: str) -> None:
    """Refuse before writing when the stems will not fit: a WAV's size is known; a FLAC is
    counted at half of it (lossless compression rarely does better on music)."""
    frames = info.frames * out_rate / info.sample_rate
    size = frames * channels * SAMPLE_BYTES.get(subtype, 4) * (0.5 if fmt == "flac" else 1.0)
    folders: dict[Path, int] = {}
    for target in targets.values():
        folders[target.parent] = folders.get(target.parent, 0) + int(size) + 4096
    for folder, needed in folders.items():
        check_free_space(folder / "stem", needed, f"{len(targets)} stems")


def _stream(reader: AudioReader, engine: OverlapAdd, writers: list[AudioWriter], channels: int,
            progress: ProgressFn, cancel: CancelToken) -> int:
    """Read, separate and write block by block; returns the frames written (model rate)."""
    rate = engine.audio.sample_rate
    total = max(reader.total_frames, 1)
    written = 0

    def drain(blocks) -> None:
        nonlocal written
        for _, stems in blocks:                            # stems: (S, 2, n)
            if channels == 1:
                stems = stems.mean(axis=1, keepdims=True)  # mono in, mono out
            for writer, stem in zip(writers, stems):
                writer.write(stem)
            written += stems.shape[2]
            progress(min(written / total, 1.0), f"{written / rate:.1f} / {total / rate:.1f} s")
            cancel.check()

    while True:
        cancel.check()
        block = reader.read(READ_BLOCK)
        if block.shape[1]:
            drain(engine.feed(block))
        if reader.finished:
            break
    drain(engine.finish())
    return written
