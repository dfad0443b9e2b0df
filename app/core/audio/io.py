"""Reading, resampling and writing audio.

Reading goes through soundfile (WAV, FLAC, OGG, MP3 and everything libsndfile knows), and
through PyAV's FFmpeg for the rest (M4A/AAC);
resampling through soxr, streamed so that long files never sit in memory whole. Audio arrays
inside the app are ``(C, L)`` float32, always stereo: mono becomes two identical
channels, more than two channels are downmixed (with a warning).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np
import soundfile as sf
import soxr

from ..files import (atomic_path, check_writable, commit, partial_path, remove_quietly,
                     write_failure)
from ..jobs import UserError
from .decode import AV_HINT, AvFile, av_info, have_av, looks_like_text

READ_FORMATS = ("wav", "flac", "ogg", "mp3", "aiff", "aif", "m4a", "aac", "mp4")
WRITE_FORMATS = {"wav": "WAV", "flac": "FLAC"}
SUBTYPES = {"16": "PCM_16", "24": "PCM_24", "float": "FLOAT"}
DEFAULT_SUBTYPE = {"wav": "PCM_24", "flac": "PCM_24"}


# What a reader does with NaN or infinite samples: "error" stops with the file and the
# time of the first one; "zero" replaces them by silence (with a warning).
NONFINITE_CHOICES = ("error", "zero")


class ChannelWarning(UserWarning):
    """More than two channels were downmixed to stereo."""


def format_position(seconds: float) -> str:
    """A time in a file for a person: "0:01.250", "1:02:03.000"."""
    minutes, secs = divmod(max(0.0, seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    text = f"{minutes}:{secs:06.3f}"
    return f"{hours}:{minutes:02d}:{secs:06.3f}" if hours else text


class SampleCheck:
    """Looks at every block read from a file: NaN/Inf samples (an error, or silenced with a
    warning) and, in float files, samples above 0 dBFS (a warning: stems are clipped when
    written as integers). Positions are reported in the file's own time."""

    def __init__(self, path: Path, sample_rate: int, is_float: bool, nonfinite: str = "error",
                 warn: Optional[Callable[[str], None]] = None, warn_loud: bool = True):
        if nonfinite not in NONFINITE_CHOICES:
            raise UserError(f"unknown choice '{nonfinite}' for NaN/Inf samples; choose "
                            f"{' or '.join(NONFINITE_CHOICES)}")
        self.path, self.rate, self.is_float = path, sample_rate, is_float
        self.nonfinite = nonfinite
        self.warn = warn or (lambda m: warnings.warn(m, UserWarning, stacklevel=4))
        self.silenced = 0
        self._loud_warned = not warn_loud

    def __call__(self, raw: np.ndarray, start: int) -> np.ndarray:
        """``raw``: ``(frames, channels)`` starting at frame ``start``; returns it cleaned."""
        finite = np.isfinite(raw)
        if not finite.all():
            bad_frames = ~finite.all(axis=1)
            first = start + int(np.argmax(bad_frames))
            where = f"at {format_position(first / self.rate)} (frame {first})"
            if self.nonfinite == "error":
                raise UserError(f"has NaN or infinite samples {where}", self.path,
                                "The file is damaged. To separate it anyway with those "
                                "samples silenced, pass --nan zero.")
            if not self.silenced:
                self.warn(f"{self.path.name}: NaN or infinite samples {where} and any later "
                          "ones were replaced by silence")
            self.silenced += int(bad_frames.sum())
            raw = np.where(finite, raw, np.float32(0))
        if self.is_float and not self._loud_warned:
            peak = float(np.max(np.abs(raw))) if raw.size else 0.0
            if peak > 1.0:
                self._loud_warned = True
                first = start + int(np.argmax(np.any(np.abs(raw) > 1.0, axis=1)))
                self.warn(f"{self.path.name}: goes above 0 dBFS (from "
                          f"{format_position(first / self.rate)}, +{20 * np.log10(peak):.2f} dB "
                          "in this block); stems louder than that are clipped when written")
        return raw


@dataclass(frozen=True)
class AudioInfo:
    path: Path
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


_STDERR_LOCK = threading.Lock()
DECODER_NOTE = b"Note: "


@contextlib.contextmanager
def decoder_notes_dropped() -> Iterator[None]:
    """Drop what libsndfile's MP3 decoder (libmpg123) prints on the process's standard error
    while a file is probed ("Note: Illegal Audio-MPEG-Header ...", "Note: Trying to
    resync..."): a file that is not audio then gets only this app's message. Whatever else
    was written meanwhile (by another thread) is written back."""
    try:
        fd = sys.__stderr__.fileno() if sys.__stderr__ is not None else 2
        saved = os.dup(fd)
    except (OSError, ValueError, AttributeError):
        yield
        return
    with _STDERR_LOCK, tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().splitlines(keepends=True)
                    if not line.startswith(DECODER_NOTE)]
            if kept:
                with contextlib.suppress(OSError):
                    os.write(fd, b"".join(kept))


def _open_error(path: Path, exc: Exception) -> UserError:
    reason = str(exc).split(":")[-1].strip() or type(exc).__name__
    if "possibly a pipe" in reason or "not recognised" in reason.lower():
        reason = "not a format libsndfile or FFmpeg recognises"
    if not path.exists():
        return UserError("does not exist", path)
    if path.is_dir():
        return UserError("is a folder, not an audio file", path)
    if path.stat().st_size == 0:
        return UserError("is empty (0 bytes)", path)
    hint = "Supported formats: WAV, FLAC, OGG/Vorbis, MP3, M4A/AAC. The file may be corrupt " \
           "or in another format."
    return UserError(f"cannot be read as audio ({reason})", path,
                     hint if have_av() else f"{hint} {AV_HINT}.")


def probe(path: Path | str) -> AudioInfo:
    """Describe an audio file without reading its samples (a file only FFmpeg reads is
    decoded once to count its frames exactly)."""
    path = Path(path)
    if path.is_file() and looks_like_text(path):
        raise UserError("is a text file, not audio", path)
    try:
        with decoder_notes_dropped():
            info = sf.info(str(path))
    except Exception as exc:  # libsndfile reports every failure as a RuntimeError subclass
        if not (path.is_file() and path.stat().st_size and have_av()):
            raise _open_error(path, exc) from exc
        try:
            info = av_info(path)
        except UserError:
            raise _open_error(path, exc) from exc
        if info.frames <= 0 or info.sample_rate <= 0 or info.channels <= 0:
            raise UserError("contains no audio", path)
        return AudioInfo(path, info.sample_rate, info.channels, info.frames, info.format,
                         info.subtype)
    if info.frames <= 0 or info.samplerate <= 0 or info.channels <= 0:
        raise UserError("contains no audio", path)
    return AudioInfo(path, int(info.samplerate), int(info.channels), int(info.frames),
                     info.format, info.subtype)


def missing_wav_bytes(path: Path) -> int:
    """Bytes a WAV file's header promises beyond its end (0 when complete or not a WAV): a
    download cut short still reads, but the user should know the song is incomplete."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
            size = fh.seek(0, 2)
    except OSError:
        return 0
    at = head.find(b"data", 12) if head[:4] == b"RIFF" and head[8:12] == b"WAVE" else -1
    if at < 0 or len(head) < at + 8:
        return 0
    declared = int.from_bytes(head[at + 4:at + 8], "little")
    if declared == 0xFFFFFFFF:          # streamed WAVs leave the size open
        return 0
    return max(0, declared - (size - (at + 8)))


def open_samples(info: AudioInfo):
    """A reader of ``(frames, channels)`` float32 blocks: soundfile, or PyAV for what only
    FFmpeg reads."""
    if info.format.startswith("FFMPEG:"):
        return AvFile(info.path, info.frames)
    try:
        with decoder_notes_dropped():
            return sf.SoundFile(str(info.path))
    except Exception as exc:
        raise _open_error(info.path, exc) from exc


def downmix_matrix(channels: int) -> np.ndarray:
    """``(2, channels)`` gains that turn ``channels`` into stereo.

    Mono is copied to both sides; stereo is kept; 5.1 (L R C LFE Ls Rs) uses the ITU
    downmix without LFE; any other layout keeps channels 0/1 as left/right and mixes
    the rest into both at -3 dB. Each output row is normalized to unit total gain.
    """
    if channels == 1:
        return np.ones((2, 1), dtype=np.float32)
    if channels == 2:
        return np.eye(2, dtype=np.float32)
    m = np.zeros((2, channels), dtype=np.float32)
    m[0, 0] = m[1, 1] = 1.0
    if channels == 6:
        m[:, 2] = 0.7071          # centre
        m[0, 4] = m[1, 5] = 0.7071  # surrounds
    else:
        m[:, 2:] = 0.7071
    return m / m.sum(axis=1, keepdims=True)


def to_stereo(block: np.ndarray) -> np.ndarray:
    """``(L, C)`` as read by soundfile -> ``(C, L)`` float32."""
    block = np.asarray(block, dtype=np.float32)
    if block.ndim == 1:
        block = block[:, None]
    if block.shape[1] == 2:        # the usual case: no mixing, one transposing copy
        return np.ascontiguousarray(block.T)
    return np.ascontiguousarray(downmix_matrix(block.shape[1]) @ block.T)


class AudioReader:
    """Stream an audio file as stereo float32 blocks at ``sample_rate``.

    >>> with AudioReader(path, 44100) as r:
    ...     while (block := r.read(44100)).shape[1]:
    ...         ...
    """

    def __init__(self, path: Path | str, sample_rate: int,
                 on_warning: Optional[Callable[[str], None]] = None, nonfinite: str = "error",
                 warn_loud: bool = True):
        self.path = Path(path)
        self.info = probe(self.path)
        self.sample_rate = int(sample_rate)
        self.check = SampleCheck(self.path, self.info.sample_rate,
                                 self.info.subtype in ("FLOAT", "DOUBLE"), nonfinite, on_warning,
                                 warn_loud)
        warn = on_warning or (lambda m: warnings.warn(m, ChannelWarning, stacklevel=3))
        if self.info.channels > 2:
            warn(f"{self.path.name}: {self.info.channels} channels downmixed to stereo")
        if self.info.format == "WAV" and missing_wav_bytes(self.path):
            warn(f"{self.path.name}: the file is truncated (its header promises more audio "
                 f"than it holds); only the {self.info.duration:.1f} s present are used")
        self._file = open_samples(self.info)
        self._resampler = None
        if self.info.sample_rate != self.sample_rate:
            self._resampler = soxr.ResampleStream(self.info.sample_rate, self.sample_rate, 2,
                                                  dtype="float32", quality="HQ")
        self._done = False
        self.frames_read = 0

    @property
    def total_frames(self) -> int:
        """Expected length at the output sample rate."""
        return int(round(self.info.frames * self.sample_rate / self.info.sample_rate))

    def read(self, frames: int) -> np.ndarray:
        """Up to ``frames`` source frames, resampled: ``(C, L)``; ``L == 0`` at the end."""
        if self._done:
            return np.zeros((2, 0), dtype=np.float32)
        try:
            raw = self._file.read(frames, dtype="float32", always_2d=True)
        except UserError:
            raise
        except Exception as exc:
            raise UserError(f"reading failed after {self.frames_read} frames ({exc})",
                            self.path, "The file is probably truncated or corrupt.") from exc
        last = raw.shape[0] < frames
        raw = self.check(raw, self.frames_read)
        stereo = to_stereo(raw)
        self.frames_read += raw.shape[0]
        if self._resampler is not None:
            out = self._resampler.resample_chunk(np.ascontiguousarray(stereo.T), last=last)
            stereo = np.ascontiguousarray(out.T)
        if last:
            self._done = True
        return stereo

    @property
    def finished(self) -> bool:
        """True once the last block has been returned."""
        return self._done

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "AudioReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def load(path: Path | str, sample_rate: Optional[int] = None,
         on_warning: Optional[Callable[[str], None]] = None,
         nonfinite: str = "error") -> tuple[np.ndarray, int]:
    """Read a whole file as ``(C, L)`` float32, resampled to ``sample_rate`` if given.
    Nothing is written, so samples above 0 dBFS are kept as they are without a warning."""
    info = probe(path)
    rate = int(sample_rate or info.sample_rate)
    blocks = []
    with AudioReader(path, rate, on_warning, nonfinite, warn_loud=False) as reader:
        while True:
            block = reader.read(1 << 18)
            if block.shape[1]:
                blocks.append(block)
            if reader.finished:
                break
    audio = np.concatenate(blocks, axis=1) if blocks else np.zeros((2, 0), np.float32)
    return audio, rate


def resolve_format(fmt: str, subtype: Optional[str]) -> tuple[str, str]:
    fmt = fmt.lower().lstrip(".")
    if fmt not in WRITE_FORMATS:
        raise UserError(f"cannot write '{fmt}' files; choose one of {', '.join(WRITE_FORMATS)}")
    sub = SUBTYPES.get(str(subtype), subtype) if subtype else DEFAULT_SUBTYPE[fmt]
    if not sf.check_format(WRITE_FORMATS[fmt], sub):
        raise UserError(f"{fmt.upper()} cannot store {sub} samples")
    return fmt, sub


class AudioWriter:
    """Write a stereo file block by block through a temporary name.

    :meth:`commit` renames it into place; :meth:`abort` (or leaving a ``with`` block with an
    exception) deletes it, so an interrupted write leaves no file. With ``source_rate`` the
    blocks given to :meth:`write` are at that rate and are resampled (soxr, streamed) to the
    file's ``sample_rate``, the mirror of :class:`AudioReader`; ``length`` then makes the file
    exactly that many frames (resampling twice can be a sample off).
    """

    def __init__(self, path: Path | str, sample_rate: int, fmt: str = "wav",
                 subtype: Optional[str] = None, overwrite: bool = False, channels: int = 2,
                 source_rate: Optional[int] = None, length: Optional[int] = None):
        self.path = Path(path)
        self.channels = channels
        self.length = length
        self._resampler = None
        if source_rate is not None and int(source_rate) != int(sample_rate):
            self._resampler = soxr.ResampleStream(int(source_rate), int(sample_rate), channels,
                                                  dtype="float32", quality="HQ")
        self.overwrite = overwrite
        fmt, sub = resolve_format(fmt, subtype)
        check_writable(self.path, overwrite)
        self.tmp = partial_path(self.path)
        try:
            self._file = sf.SoundFile(str(self.tmp), "w", samplerate=int(sample_rate),
                                      channels=channels, format=WRITE_FORMATS[fmt], subtype=sub)
        except Exception as exc:
            remove_quietly(self.tmp)
            raise (write_failure(exc, self.path)
                   or UserError(f"cannot create the file ({exc})", self.path)) from exc
        self.frames = 0

    def write(self, block: np.ndarray, last: bool = False) -> None:
        """``block``: ``(C, L)``; ``last`` flushes the resampler's tail."""
        if self._resampler is not None:
            block = self._resampler.resample_chunk(
                np.ascontiguousarray(np.asarray(block, dtype=np.float32).T), last=last).T
        if self.length is not None:
            block = block[:, :max(0, self.length - self.frames)]
        try:
            self._file.write(np.ascontiguousarray(np.asarray(block, dtype=np.float32).T))
        except Exception as exc:  # libsndfile errors (e.g. disk full) are RuntimeErrors
            raise self._failed(exc) from exc
        self.frames += block.shape[-1]

    def _failed(self, exc: Exception) -> UserError:
        """Abort, and say why the write failed ("the disk is full" when it is)."""
        failure = write_failure(exc, self.path)
        self.abort()
        return failure or UserError(f"writing failed ({exc})", self.path)

    def commit(self) -> Path:
        if self._resampler is not None:
            self.write(np.zeros((self.channels, 0), np.float32), last=True)
        if self.length is not None and self.frames < self.length:
            self.write(np.zeros((self.channels, self.length - self.frames), np.float32))
        try:
            self._file.close()
        except Exception as exc:  # the last buffered bytes did not fit
            raise self._failed(exc) from exc
        commit(self.tmp, self.path, self.overwrite)
        return self.path

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        remove_quietly(self.tmp)

    def __enter__(self) -> "AudioWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def write(path: Path | str, audio: np.ndarray, sample_rate: int, fmt: Optional[str] = None,
          subtype: Optional[str] = None, overwrite: bool = False) -> Path:
    """Write a whole ``(C, L)`` array atomically."""
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".") or "wav"
    audio = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    with AudioWriter(path, sample_rate, fmt, subtype, overwrite, channels=audio.shape[0]) as w:
        w.write(audio)
    return path


__all__ = ["NONFINITE_CHOICES", "SampleCheck", "format_position", "AudioInfo", "AudioReader", "AudioWriter", "ChannelWarning", "load", "probe",
           "write", "to_stereo", "downmix_matrix", "resolve_format", "atomic_path",
           "READ_FORMATS", "WRITE_FORMATS", "SUBTYPES"]
