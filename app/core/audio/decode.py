"""Reading what libsndfile cannot (M4A/AAC, and other FFmpeg formats) through PyAV, which
ships FFmpeg in its wheels. :class:`AvFile` offers the part of ``soundfile.SoundFile`` that
:class:`~app.core.audio.io.AudioReader` uses, so both paths stream the same way."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..jobs import UserError

AV_HINT = "M4A/AAC and other FFmpeg formats need PyAV: pip install av"


def have_av() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class AvInfo:
    sample_rate: int
    channels: int
    frames: int          # exact: counted by decoding
    format: str          # e.g. "FFMPEG:mov,mp4,m4a,3gp,3g2,mj2"
    subtype: str         # the codec, e.g. "AAC"


# An AAC stream decodes to whole frames of 1024 samples (2048 for HE-AAC): the encoder pads
# the last one, and the container's declared duration says where the audio really ends.
MAX_END_PADDING = 2 * 2048


class AvFile:
    """A decoded audio stream read as ``(frames, channels)`` float32 blocks. ``frames`` caps
    what is read (the exact length :func:`av_info` found)."""

    def __init__(self, path: Path | str, frames: Optional[int] = None):
        import av

        self.path = Path(path)
        self.limit = frames
        self.emitted = 0
        try:
            self._container = av.open(str(self.path))
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise UserError(f"cannot be read as audio ({exc})", self.path) from None
        streams = self._container.streams.audio
        if not streams:
            self._container.close()
            raise UserError("contains no audio stream", self.path)
        self.stream = streams[0]
        self.samplerate = int(self.stream.rate)
        self.channels = int(self.stream.layout.nb_channels)
        self._resampler = av.AudioResampler(format="flt", layout=self.stream.layout,
                                            rate=self.samplerate)
        self._frames = self._container.decode(self.stream)
        self._pending = np.zeros((0, self.channels), np.float32)
        self._ended = False
        self.closed = False

    def _decode_more(self) -> bool:
        import av

        try:
            frame = next(self._frames)
        except StopIteration:
            self._ended = True
            return False
        except av.FFmpegError as exc:
            raise UserError(f"decoding failed ({exc})", self.path,
                            "The file is probably truncated or corrupt.") from None
        for out in self._resampler.resample(frame):
            block = out.to_ndarray().reshape(-1, self.channels)   # packed float32
            self._pending = np.concatenate([self._pending, block])
        return True

    def read(self, frames: int, dtype: str = "float32", always_2d: bool = True) -> np.ndarray:
        """Up to ``frames`` frames ``(n, channels)``; fewer only at the end."""
        while self._pending.shape[0] < frames and not self._ended:
            self._decode_more()
        if self.limit is not None:
            frames = max(0, min(frames, self.limit - self.emitted))
        block, self._pending = self._pending[:frames], self._pending[frames:]
        self.emitted += block.shape[0]
        return np.ascontiguousarray(block, dtype=np.float32)

    def declared_frames(self) -> Optional[int]:
        """The stream's length as the container declares it (in samples), if it does."""
        duration, base = self.stream.duration, self.stream.time_base
        if not duration or base is None or duration <= 0:
            return None
        return int(round(float(duration * base) * self.samplerate))

    def close(self) -> None:
        if not self.closed:
            self._container.close()
            self.closed = True


def av_info(path: Path | str) -> AvInfo:
    """Describe a file PyAV can decode; its length is counted by decoding it once (a
    compressed stream's header only estimates it, and stems must match the input), less the
    encoder's padding of the last frame where the container declares the true length."""
    source = AvFile(path)
    try:
        frames = 0
        while block := source.read(1 << 16).shape[0]:
            frames += block
        declared = source.declared_frames()
        if declared is not None and 0 <= frames - declared <= MAX_END_PADDING:
            frames = declared
        return AvInfo(source.samplerate, source.channels, frames,
                      "FFMPEG:" + source._container.format.name,
                      source.stream.codec_context.name.upper())
    finally:
        source.close()


def looks_like_text(path: Path | str) -> bool:
    """True when the file starts like text (UTF-8, no control bytes): a lyrics sheet or a
    playlist renamed ``.mp3`` is not audio."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1024)
    except OSError:
        return False
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text)
