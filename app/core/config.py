"""Configuration records carried by every model bundle and exported artifact.

Everything downstream (separation, export, benchmarks) reads these values from the bundle or
the artifact, never from module constants. The defaults are DESIGN.md's: 44.1 kHz stereo,
n_fft 2048, hop 512, Hann window, 4 sub-bands, 3 s segments, so one segment is a
``(1, 2, 1025, 259)`` magnitude.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Mapping

from .jobs import UserError

# Sane upper bounds, checked before anything is built: a crafted config must not ask for a
# terabyte. They are generous (the largest preset uses a fraction of each).
MAX_SAMPLE_RATE = 384_000
MAX_N_FFT = 1 << 16
MAX_SUBBANDS = 64
MAX_SOURCES = 16
MAX_SOURCE_NAME = 64
MAX_SEGMENT_SECONDS = 60.0
# bins x frames of one segment's spectrogram (the default is 1025 x 259 = 265 k).
MAX_SEGMENT_VALUES = 1 << 23
MAX_LEVELS = 8
MAX_CHANNELS = 4096
MAX_DIM = 4096
MAX_BLOCKS = 64
MAX_HEADS = 64
MAX_WINDOW = 64
MAX_MLP_RATIO = 16.0


def _bounded(problems: list[str], name: str, value, low, high) -> None:
    if not low <= value <= high:
        problems.append(f"{name} {value} is out of range ({low} .. {high})")


@dataclass(frozen=True)
class AudioConfig:
    sample_rate: int = 44100
    n_fft: int = 2048
    hop_length: int = 512
    window: str = "hann"
    subbands: int = 4
    sources: tuple[str, ...] = ("vocals", "accompaniment")
    segment_seconds: float = 3.0
    channels: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(self.sources))
        for name in ("sample_rate", "n_fft", "hop_length", "subbands", "channels"):
            object.__setattr__(self, name, _whole(getattr(self, name), name))
        object.__setattr__(self, "segment_seconds", float(self.segment_seconds))
        problems: list[str] = []
        _bounded(problems, "sample_rate", self.sample_rate, 8000, MAX_SAMPLE_RATE)
        _bounded(problems, "n_fft", self.n_fft, 16, MAX_N_FFT)
        if self.n_fft % 2:
            problems.append(f"n_fft {self.n_fft} must be even")
        if not 0 < self.hop_length <= self.n_fft // 2:
            problems.append(f"hop_length {self.hop_length} must be in 1..n_fft/2")
        if self.window != "hann":
            problems.append(f"window '{self.window}' is not supported (only 'hann')")
        _bounded(problems, "subbands", self.subbands, 1, MAX_SUBBANDS)
        if not self.sources or len(set(self.sources)) != len(self.sources) or not all(
                isinstance(n, str) and 0 < len(n) <= MAX_SOURCE_NAME and "/" not in n
                and "\\" not in n and n not in (".", "..") for n in self.sources):
            problems.append(f"sources must be a non-empty list of distinct short names "
                            f"(no slashes), got {list(self.sources)[:MAX_SOURCES + 1]}")
        elif len(self.sources) > MAX_SOURCES:
            problems.append(f"{len(self.sources)} sources is more than {MAX_SOURCES}")
        if not 0 < self.segment_seconds <= MAX_SEGMENT_SECONDS:
            problems.append(f"segment_seconds {self.segment_seconds:g} is out of range "
                            f"(0 .. {MAX_SEGMENT_SECONDS:g})")
        if self.channels != 2:
            problems.append("only stereo models (channels = 2) are supported")
        if not problems and self.n_bins * self.segment_frames > MAX_SEGMENT_VALUES:
            problems.append(f"one segment's spectrogram would be {self.n_bins} x "
                            f"{self.segment_frames} values, more than {MAX_SEGMENT_VALUES:,}")
        if problems:
            raise UserError("invalid audio config: " + "; ".join(problems))

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def segment_samples(self) -> int:
        return int(round(self.segment_seconds * self.sample_rate))

    def frames_for(self, samples: int) -> int:
        """Number of STFT frames (centered) for a signal of ``samples`` samples."""
        return 1 + samples // self.hop_length

    def seconds_for(self, frames: int) -> float:
        """The audio a run of ``frames`` STFT frames spans (the inverse of :meth:`frames_for`
        for a whole number of hops)."""
        return (frames - 1) * self.hop_length / self.sample_rate

    @property
    def segment_frames(self) -> int:
        return self.frames_for(self.segment_samples)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["sources"] = list(self.sources)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "AudioConfig":
        return _from_dict(cls, d, "audio config")


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of a TFSWA-UNet. ``preset`` names the preset the sizes came from ("custom" if none).

    channels: encoder widths, one per level; the first level runs at full (sub-band) resolution
        and every later level halves frequency and time.
    dim: width of the attention bottleneck; blocks: number of TFSWA blocks there.
    heads: attention heads; window: Swin window (freq, time) at the bottleneck.
    """

    preset: str = "custom"
    channels: tuple[int, ...] = (16, 32, 64, 128)
    dim: int = 128
    blocks: int = 1
    heads: int = 4
    window: tuple[int, int] = (4, 4)
    mlp_ratio: float = 2.0
    dropout: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(_whole(c, "channels") for c in self.channels))
        object.__setattr__(self, "window", tuple(_whole(w, "window") for w in self.window))
        for name in ("dim", "blocks", "heads"):
            object.__setattr__(self, name, _whole(getattr(self, name), name))
        object.__setattr__(self, "mlp_ratio", float(self.mlp_ratio))
        problems: list[str] = []
        if not 1 <= len(self.channels) <= MAX_LEVELS:
            problems.append(f"{len(self.channels)} levels of channels; give 1 .. {MAX_LEVELS}")
        if any(not 1 <= c <= MAX_CHANNELS for c in self.channels):
            problems.append(f"channels {list(self.channels)[:MAX_LEVELS]} must each be in "
                            f"1 .. {MAX_CHANNELS}")
        _bounded(problems, "dim", self.dim, 1, MAX_DIM)
        _bounded(problems, "heads", self.heads, 1, MAX_HEADS)
        if not problems and self.dim % self.heads:
            problems.append(f"dim {self.dim} must be a multiple of heads {self.heads}")
        _bounded(problems, "blocks", self.blocks, 0, MAX_BLOCKS)
        if len(self.window) != 2 or any(not 1 <= w <= MAX_WINDOW for w in self.window):
            problems.append(f"window {list(self.window)} must be two sizes in 1 .. {MAX_WINDOW}")
        if not 0 < self.mlp_ratio <= MAX_MLP_RATIO:
            problems.append(f"mlp_ratio {self.mlp_ratio:g} is out of range (0 .. {MAX_MLP_RATIO:g})")
        if not 0 <= self.dropout < 1:
            problems.append("dropout must be in [0, 1)")
        if problems:
            raise UserError("invalid model config: " + "; ".join(problems))

    @property
    def levels(self) -> int:
        return len(self.channels)

    @property
    def time_multiple(self) -> int:
        """Frames are padded internally to a multiple of this."""
        return 2 ** (self.levels - 1)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["channels"] = list(self.channels)
        d["window"] = list(self.window)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ModelConfig":
        return _from_dict(cls, d, "model config")


def _from_dict(cls, d: Mapping[str, Any], what: str):
    if not isinstance(d, Mapping):
        raise UserError(f"the {what} is not a mapping (got {type(d).__name__})")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise UserError(f"the {what} has unknown fields: {', '.join(unknown)}")
    try:
        return cls(**dict(d))
    except (TypeError, ValueError, OverflowError) as exc:
        raise UserError(f"the {what} is malformed: {exc}") from None


def _whole(value: Any, name: str) -> int:
    """``value`` as an int when it is a whole number (3 or 3.0); TypeError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise TypeError(f"{name} must be a whole number, got {value!r}")
    return int(value)


# Presets: parameter counts (2 sources) are checked by tests against these targets (+-10%).
PRESETS: dict[str, ModelConfig] = {
    # 3 downsamplings: the bottleneck is at 1/8 resolution (33 x 33 tokens for 3 s).
    "small": ModelConfig(preset="small", channels=(16, 32, 64, 128), dim=128, blocks=1,
                         heads=4, window=(4, 4), mlp_ratio=2.0),
    # 4 downsamplings: attention at 1/16 resolution (17 x 17 tokens) costs a quarter of what
    # it would at 1/8, and the narrow full-resolution level keeps the convolutions cheap:
    # 23 GFLOP per 3 s segment instead of 51 for a 4-level model of the same size.
    "medium": ModelConfig(preset="medium", channels=(24, 48, 96, 192, 320), dim=320, blocks=3,
                          heads=8, window=(4, 4), mlp_ratio=2.75),
    "large": ModelConfig(preset="large", channels=(32, 64, 128, 256, 512), dim=512, blocks=3,
                         heads=8, window=(4, 4), mlp_ratio=3.75),
}
PRESET_TARGETS = {"small": 1.0e6, "medium": 15.4e6, "large": 44.3e6}


def preset(name: str, **overrides: Any) -> ModelConfig:
    try:
        base = PRESETS[name]
    except KeyError:
        raise UserError(f"unknown preset '{name}'; choose one of {', '.join(PRESETS)}") from None
    return dataclasses.replace(base, **overrides) if overrides else base


def dumps(d: Mapping[str, Any]) -> str:
    return json.dumps(d, sort_keys=True)


def default_audio(model: Any) -> AudioConfig:
    """The default audio config for a bare network (no bundle): its number of sources
    (``n_sources``, named like the defaults when it has as many) and sub-bands."""
    n = int(getattr(model, "n_sources", 2))
    base = AudioConfig()
    sources = base.sources if n == len(base.sources) else tuple(f"source{i + 1}" for i in range(n))
    return AudioConfig(subbands=int(getattr(model, "subbands", base.subbands)), sources=sources)
