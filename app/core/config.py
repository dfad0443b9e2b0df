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
        problems = []
        if self.sample_rate < 8000:
            problems.append(f"sample_rate {self.sample_rate} is below 8000 Hz")
        if self.n_fft < 16 or self.n_fft % 2:
            problems.append(f"n_fft {self.n_fft} must be an even number >= 16")
        if not 0 < self.hop_length <= self.n_fft // 2:
            problems.append(f"hop_length {self.hop_length} must be in 1..n_fft/2")
        if self.window != "hann":
            problems.append(f"window '{self.window}' is not supported (only 'hann')")
        if self.subbands < 1:
            problems.append("subbands must be >= 1")
        if not self.sources or len(set(self.sources)) != len(self.sources):
            problems.append(f"sources {list(self.sources)} must be a non-empty list of distinct names")
        if self.segment_seconds <= 0:
            problems.append("segment_seconds must be positive")
        if self.channels != 2:
            problems.append("only stereo models (channels = 2) are supported")
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
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "window", tuple(int(w) for w in self.window))
        problems = []
        if not self.channels or any(c < 1 for c in self.channels):
            problems.append(f"channels {list(self.channels)} must be positive")
        if self.dim < 1 or self.heads < 1 or self.dim % self.heads:
            problems.append(f"dim {self.dim} must be a positive multiple of heads {self.heads}")
        if self.blocks < 0:
            problems.append("blocks must be >= 0")
        if len(self.window) != 2 or any(w < 1 for w in self.window):
            problems.append(f"window {list(self.window)} must be two positive sizes")
        if self.mlp_ratio <= 0:
            problems.append("mlp_ratio must be positive")
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
    except TypeError as exc:
        raise UserError(f"the {what} is malformed: {exc}") from exc


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
