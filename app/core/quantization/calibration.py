"""Calibration audio for static INT8: segments of real music, checked, fed to ONNX Runtime.

Where the audio comes from: the bundled demo song by default, any audio files, a folder of
audio files, or a MUSDB-style folder of track folders (:class:`~app.core.audio.TrackSet`,
whose mixtures are read). Every file is checked before calibration starts, and a bad one
stops the run with one line naming it: missing or unreadable, too short for one segment,
silent, or holding NaN/Inf samples. A file at another sample rate is resampled (soxr) and
the result says so.

:class:`CalibrationReader` is ONNX Runtime's pull-based data reader: ``get_next()`` returns
the next ``{input name: magnitude (1, channels, bins, frames)}`` or None; the STFT of each
segment is computed when it is pulled, and the cancel token is checked between segments, so
Cancel works between calibration batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from ..artifacts import INPUT_NAME
from ..audio import AUDIO_SUFFIXES, READ_FORMATS, Spectrogram, TrackSet, load, probe
from ..config import AudioConfig
from ..jobs import CancelToken, ProgressFn, UserError, ensure_token, no_progress
from ..resources import demo_song

SILENCE_PEAK = 1e-4          # -80 dBFS: a file quieter than this everywhere is silent
QUIET_RMS = 1e-3             # segments below -60 dBFS RMS are skipped when louder ones exist
AUDIO_EXTENSIONS = tuple(f".{ext}" for ext in READ_FORMATS)


@dataclass
class CalibrationSummary:
    """What a static quantization was calibrated on (also written into the file)."""
    files: list[str]                 # file names (tracks: folder/mixture.wav)
    method: str                      # minmax | entropy | percentile
    segments: int                    # magnitude segments fed to the calibrator
    segment_seconds: float
    resampled: list[str] = field(default_factory=list)   # files read at another rate


@dataclass
class _Source:
    """One file (or track mixture) to cut segments from."""
    label: str
    path: Path
    frames: int                      # at the model's rate
    read_all: Callable[[], np.ndarray]          # (2, frames) float32 at the model's rate
    resampled: bool = False


def _file_source(path: Path, audio: AudioConfig, segment: int) -> _Source:
    info = probe(path)                                    # missing / unreadable / empty
    rate = audio.sample_rate
    frames = int(round(info.frames * rate / info.sample_rate))
    if frames < segment:
        raise UserError(f"is too short for calibration ({info.duration:.2f} s; one segment "
                        f"is {segment / rate:.2f} s)", path,
                        "Use longer songs, or drop this file from the calibration set.")
    return _Source(path.name, path, frames, lambda: load(path, rate)[0],
                   info.sample_rate != rate)


def _track_sources(folder: Path, audio: AudioConfig, segment: int) -> list[_Source]:
    tracks = TrackSet.from_folder(folder, audio.sources, audio.sample_rate)
    out = []
    for i, track in enumerate(tracks.tracks):
        label = f"{track.name}/mixture"
        where = track.files.get("mixture", track.folder)
        if track.frames < segment:
            raise UserError(f"is too short for calibration ({track.seconds:.2f} s)", where)
        out.append(_Source(label, where, track.frames,
                           lambda i=i: tracks.read_mixture(i)))
    return out


def _folder_sources(folder: Path, audio: AudioConfig, segment: int) -> list[_Source]:
    subfolders = [p for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    if any(any(q.suffix.lower() in AUDIO_SUFFIXES for q in sub.iterdir()) for sub in subfolders):
        return _track_sources(folder, audio, segment)
    files = [p for p in sorted(folder.iterdir())
             if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".")]
    if not files:
        raise UserError("holds no audio files for calibration", folder,
                        "Pass audio files, a folder of them, or a MUSDB-style folder of tracks.")
    return [_file_source(p, audio, segment) for p in files]


def calibration_sources(items: Sequence[Path | str], audio: AudioConfig,
                        segment: int) -> list[_Source]:
    """Every file or track to calibrate on, each checked (existence, format, length)."""
    if not items:
        song = demo_song()
        if song is None:
            raise UserError("no calibration audio given and this install has no demo song",
                            hint="Pass --calibration with songs or a folder.")
        items = [song]
    out: list[_Source] = []
    for item in items:
        path = Path(item).expanduser()
        if not path.exists():
            raise UserError("does not exist", path)
        out.extend(_folder_sources(path, audio, segment) if path.is_dir()
                   else [_file_source(path, audio, segment)])
    return out


def _checked(source: _Source, audio_data: np.ndarray) -> np.ndarray:
    if not np.isfinite(audio_data).all():
        bad = int(np.count_nonzero(~np.isfinite(audio_data)))
        raise UserError(f"holds {bad} NaN or infinite samples; it cannot calibrate a model",
                        source.path, "Re-export the audio, or drop it from the calibration set.")
    if audio_data.size == 0 or float(np.abs(audio_data).max()) < SILENCE_PEAK:
        raise UserError("is silent (peak below -80 dBFS); it cannot calibrate a model",
                        source.path, "Use songs with music in them.")
    return audio_data


def _offsets(x: np.ndarray, count: int, segment: int) -> list[int]:
    """``count`` segment starts spread over ``x``, preferring segments that are not quiet."""
    total = x.shape[1]
    candidates = np.linspace(0, total - segment, max(count * 3, 1)).astype(int)
    loud = [int(s) for s in candidates
            if float(np.sqrt(np.mean(x[:, s:s + segment] ** 2))) >= QUIET_RMS]
    pool = loud if len(loud) >= count else [int(s) for s in candidates]
    picks = np.linspace(0, len(pool) - 1, count).round().astype(int)
    return [pool[i] for i in picks]


def _shares(n_sources: int, count: int) -> list[int]:
    """Segments per source: every source gets its share when there are enough segments,
    otherwise ``count`` sources spread over the list get one each."""
    if count >= n_sources:
        return [count // n_sources + (1 if i < count % n_sources else 0) for i in range(n_sources)]
    chosen = set(np.linspace(0, n_sources - 1, count).round().astype(int).tolist())
    return [1 if i in chosen else 0 for i in range(n_sources)]


class CalibrationReader:
    """ONNX Runtime's ``CalibrationDataReader`` protocol over audio segments (pull-based).

    ``get_next()`` returns ``{input_name: (1, channels, bins, frames) float32}`` or None when
    done; ``rewind()`` starts again (the entropy and percentile calibrators read twice).
    """

    def __init__(self, segments: Sequence[np.ndarray], audio: AudioConfig,
                 input_name: str = INPUT_NAME, *, progress: Optional[ProgressFn] = None,
                 cancel: Optional[CancelToken] = None):
        self.segments = list(segments)             # (2, samples) waveforms
        self.spectrogram = Spectrogram(audio)
        self.input_name = input_name
        self.progress = progress or no_progress
        self.cancel = ensure_token(cancel)
        self.index = 0
        self.pulled = 0

    def __len__(self) -> int:
        return len(self.segments)

    def magnitude(self, i: int) -> np.ndarray:
        spec = self.spectrogram.stft(self.segments[i])
        return np.abs(spec)[None].astype(np.float32)

    def get_next(self) -> Optional[dict[str, np.ndarray]]:
        self.cancel.check()
        if self.index >= len(self.segments):
            return None
        x = self.magnitude(self.index)
        self.index += 1
        self.pulled += 1
        self.progress(min(self.index / len(self.segments), 1.0),
                      f"calibrating: segment {self.index} of {len(self.segments)}")
        return {self.input_name: x}

    def rewind(self) -> None:
        self.index = 0

    def set_range(self, start_index: int, end_index: int) -> None:  # ORT's optional API
        self.segments = self.segments[start_index:end_index]
        self.index = 0


def load_calibration(items: Sequence[Path | str], audio: AudioConfig, count: int,
                     segment_seconds: Optional[float] = None, method: str = "minmax", *,
                     cancel: Optional[CancelToken] = None
                     ) -> tuple[list[np.ndarray], CalibrationSummary]:
    """``count`` checked waveform segments ``(2, samples)`` from ``items`` (default: the demo
    song), spread over the files, and a summary of where they came from."""
    cancel = ensure_token(cancel)
    seconds = segment_seconds or audio.segment_seconds
    segment = int(round(seconds * audio.sample_rate))
    sources = calibration_sources(items, audio, segment)
    segments: list[np.ndarray] = []
    used: list[_Source] = []
    for source, share in zip(sources, _shares(len(sources), count)):
        if not share:
            continue
        cancel.check()
        x = _checked(source, source.read_all())
        segments += [np.ascontiguousarray(x[:, s:s + segment]) for s in _offsets(x, share, segment)]
        used.append(source)
    summary = CalibrationSummary([s.label for s in used], method, len(segments), seconds,
                                 [s.label for s in used if s.resampled])
    return segments, summary
