"""Reading what libsndfile cannot (M4A/AAC, and other FFmpeg formats) through PyAV, which
ships FFmpeg in its wheels. :class:`AvFile` offers the part of ``soundfile.SoundFile`` that
:class:`~app.core.audio.io.AudioReader` uses, so both paths stream the same way."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


class AvFile:
    """A decoded audio stream read as ``(frames, channels)`` float32 blocks."""

    def __init__(self, path: Path | str):
        import av

        self.path = Path(path)
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
        block, self._pending = self._pending[:frames], self._pending[frames:]
        return np.ascontiguousarray(block, dtype=np.float32)

    def close(self) -> None:
        if not self.closed:
            self._container.close()
            self.closed = True


def av_info(path: Path | str) -> AvInfo:
    """Describe a file PyAV can decode; its length is counted by decoding it once (a
    compressed stream's header only estimates it, and stems must match the input)."""
    source = AvFile(path)
    try:
        frames = 0
        while block := source.read(1 << 16).shape[0]:
            frames += block
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
