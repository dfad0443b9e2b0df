"""The training settings the Memory tab saves and the trainer reads
(``training-config.json``): one format, one writer, one reader. Besides the memory-related
settings it holds the training audio config (sample rate, STFT size and hop, sub-bands,
segment length), which the memory estimate depends on and the trainer trains with.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_type_hints

from ..config import AudioConfig
from ..files import atomic_path
from ..jobs import UserError
from ..model.waveform import PRECISIONS

TRAINING_CONFIG_NAME = "training-config.json"


@dataclass
class TrainingConfig:
    """The training settings the trainer reads (``training-config.json``): memory-related
    ones and the audio config (same names as :class:`~app.core.config.AudioConfig`'s)."""

    gradient_checkpointing: bool = False
    checkpoint_attention: bool = True
    batch_size: int = 4
    precision: str = "fp32"
    segment_seconds: float = 3.0
    sample_rate: int = AudioConfig.sample_rate
    n_fft: int = AudioConfig.n_fft
    hop_length: int = AudioConfig.hop_length
    subbands: int = AudioConfig.subbands

    def __post_init__(self) -> None:
        problems = []
        for key, kind in training_fields().items():
            value = getattr(self, key)
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
                setattr(self, key, value)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                problems.append(f"{key} must be a {kind.__name__} (got {value!r})")
        if not problems:
            if self.batch_size < 1:
                problems.append(f"batch_size must be >= 1 (got {self.batch_size})")
            if self.precision not in PRECISIONS:
                problems.append(f"precision must be one of {', '.join(PRECISIONS)} "
                                f"(got {self.precision!r})")
            if not (math.isfinite(self.segment_seconds) and self.segment_seconds > 0):
                problems.append(f"segment_seconds must be positive (got {self.segment_seconds})")
            else:
                try:
                    self.audio()
                except UserError as exc:
                    problems.append(exc.message.replace("invalid audio config: ", ""))
        if problems:
            raise UserError("invalid training config: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in training_fields()}

    def audio(self, sources: tuple[str, ...] = AudioConfig.sources) -> AudioConfig:
        """The audio config these settings train with (checked against its bounds)."""
        return AudioConfig(sample_rate=self.sample_rate, n_fft=self.n_fft,
                           hop_length=self.hop_length, subbands=self.subbands,
                           segment_seconds=self.segment_seconds, sources=sources)

    @classmethod
    def with_audio(cls, audio: AudioConfig, **settings: Any) -> "TrainingConfig":
        """Settings that train with ``audio`` (its sample rate, STFT, sub-bands and, unless
        given, segment length)."""
        values = {name: getattr(audio, name) for name in AUDIO_FIELDS}
        values.setdefault("segment_seconds", audio.segment_seconds)
        values.update(settings)
        return cls(**values)


# The audio fields; a file written before they existed lacks them and gets the defaults.
AUDIO_FIELDS = ("sample_rate", "n_fft", "hop_length", "subbands")


def training_fields() -> dict[str, type]:
    """The fields of :class:`TrainingConfig` and their types, in order: the one list that the
    file format, its checks and the trainer's options (same names) follow."""
    return get_type_hints(TrainingConfig)


def save_training_config(config: TrainingConfig, path: Path | str, overwrite: bool = False) -> Path:
    """Write ``config`` as JSON (temporary name, then rename; never replaces a file unless
    ``overwrite``). A folder as ``path`` gets ``training-config.json`` inside it."""
    path = Path(path)
    if path.is_dir():
        path = path / TRAINING_CONFIG_NAME
    text = json.dumps(config.to_dict(), indent=2) + "\n"
    with atomic_path(path, overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def load_training_config(path: Path | str) -> TrainingConfig:
    """Read and check a ``training-config.json``; every problem raises :class:`UserError`."""
    path = Path(path)
    if path.is_dir():
        path = path / TRAINING_CONFIG_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError("does not exist", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot be read ({exc})", path) from None
    except json.JSONDecodeError as exc:
        raise UserError(f"is not valid JSON (line {exc.lineno}: {exc.msg})", path) from None
    if not isinstance(raw, dict):
        raise UserError(f"must hold a JSON object, not {type(raw).__name__}", path)
    missing = sorted(set(training_fields()) - set(raw) - set(AUDIO_FIELDS))
    unknown = sorted(set(raw) - set(training_fields()))
    if missing or unknown:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
                ([f"unknown {', '.join(unknown)}"] if unknown else [])
        raise UserError("is not a training config: " + "; ".join(parts), path)
    try:
        return TrainingConfig(**raw)
    except UserError as exc:
        raise UserError(exc.message, path) from None
