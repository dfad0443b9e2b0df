"""Training options and saved-run bookkeeping: the file names in a run's folder, the checkpoint
format tag, :class:`TrainOptions` (everything that defines a run), applying a
``training-config.json`` to them, reading a run's checkpoint back and comparing a resumed
run's options with the saved ones. :mod:`app.core.training` uses these and re-exports them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from ..config import AudioConfig, ModelConfig, preset
from ..devices import check_device_spec
from ..jobs import UserError, first_line
from ..memory import TRAINING_CONFIG_NAME, TrainingConfig
from ..model.waveform import PRECISIONS
from .data import Augmentation

STATE_FORMAT = "tfswa-studio-training-state"
STATE_VERSION = 1
CHECKPOINT_NAME = "checkpoint.pt"
BEST_NAME = "best.safetensors"
LAST_NAME = "last.safetensors"
LOG_NAME = "log.jsonl"
OPTIONS_NAME = "options.json"
CONFIG_NAME = TRAINING_CONFIG_NAME
# Options that may change when a run is resumed; every other one must match the saved run.
RESUME_OVERRIDES = ("epochs", "max_minutes", "threads", "log_every", "checkpoint_minutes",
                    "resume", "config", "device")


# ----------------------------------------------------------------------------- options

@dataclass
class TrainOptions:
    """Everything that defines a training run. Paths are resolved when the run starts."""

    data: Path
    out: Path
    preset: str = "small"
    model_config: Optional[ModelConfig] = None   # explicit sizes instead of the preset
    sources: tuple[str, ...] = ("vocals", "accompaniment")
    valid_data: Optional[Path] = None
    valid_tracks: Optional[int] = None           # held out of ``data`` when no valid_data
    valid_seconds: float = 12.0                  # per validation track
    batch_size: int = 4                          # per process: a torchrun job's global
                                                 # batch is batch_size x world size
    segment_seconds: float = 3.0
    sample_rate: int = AudioConfig.sample_rate   # the training audio config
    n_fft: int = AudioConfig.n_fft
    hop_length: int = AudioConfig.hop_length
    subbands: int = AudioConfig.subbands
    lr: float = 1e-3
    lr_decay: float = 0.9
    lr_decay_epochs: float = 1.5
    epochs: int = 20
    steps_per_epoch: Optional[int] = None        # None: one pass over the training audio
    max_minutes: Optional[float] = None          # wall-clock limit of this invocation
    clip_grad: float = 5.0
    seed: int = 0
    threads: Optional[int] = None
    precision: str = "fp32"
    gradient_checkpointing: bool = False
    checkpoint_attention: bool = False
    remix: float = 1.0
    gain: tuple[float, float] = (0.25, 1.25)
    swap: float = 0.5
    channels_last: bool = True
    log_every: int = 25
    checkpoint_minutes: float = 10.0             # also save checkpoint.pt this often
    resume: bool = False
    config: Optional[Path] = None                # a training-config.json that was applied
    device: str = "auto"                         # auto | cpu | cuda[:N] | mps

    def __post_init__(self) -> None:
        self.data = Path(self.data)
        self.out = Path(self.out)
        self.sources = tuple(self.sources)
        self.gain = tuple(float(g) for g in self.gain)
        if self.valid_data is not None:
            self.valid_data = Path(self.valid_data)
        if self.config is not None:
            self.config = Path(self.config)

    def validate(self) -> None:
        problems = []
        if self.batch_size < 1:
            problems.append("batch size must be >= 1")
        if not 0.05 <= self.segment_seconds <= 60:
            problems.append(f"segment {self.segment_seconds} s is out of range (0.05 .. 60 s)")
        if self.lr <= 0 or not 0 < self.lr_decay <= 1 or self.lr_decay_epochs <= 0:
            problems.append("lr, lr decay and decay interval must be positive (decay <= 1)")
        if self.epochs < 1:
            problems.append("epochs must be >= 1")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            problems.append("steps per epoch must be >= 1")
        if self.max_minutes is not None and self.max_minutes <= 0:
            problems.append("max minutes must be positive")
        if self.checkpoint_minutes <= 0:
            problems.append("checkpoint interval must be positive")
        if self.precision not in PRECISIONS:
            problems.append(f"precision '{self.precision}' is not one of {', '.join(PRECISIONS)}")
        if self.clip_grad < 0:
            problems.append("gradient clipping must be >= 0 (0 turns it off)")
        if self.log_every < 1:
            problems.append("log interval must be >= 1")
        try:
            check_device_spec(self.device)
        except UserError as exc:
            problems.append(exc.message)
        if problems:
            raise UserError("invalid training options: " + "; ".join(problems))
        Augmentation(self.remix, self.gain, self.swap)
        self.audio_config()

    def audio_config(self) -> AudioConfig:
        """The audio config of the model trained (checked against its bounds)."""
        return AudioConfig(sample_rate=self.sample_rate, n_fft=self.n_fft,
                           hop_length=self.hop_length, subbands=self.subbands,
                           sources=self.sources, segment_seconds=self.segment_seconds)

    @property
    def augmentation(self) -> Augmentation:
        return Augmentation(self.remix, self.gain, self.swap)

    def resolved_model_config(self) -> ModelConfig:
        return self.model_config or preset(self.preset)

    def to_dict(self) -> dict[str, Any]:
        d = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Path):
                v = str(v)
            elif isinstance(v, ModelConfig):
                v = v.to_dict()
            elif isinstance(v, tuple):
                v = list(v)
            d[f.name] = v
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainOptions":
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        if d.get("model_config") is not None:
            d["model_config"] = ModelConfig.from_dict(d["model_config"])
        for key in ("sources", "gain"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


def apply_training_config(options: TrainOptions, config: TrainingConfig,
                          explicit: set[str] = frozenset()) -> list[str]:
    """Copy the settings of a ``training-config.json`` (saved by the Memory tab, read with
    :func:`app.core.memory.load_training_config`) onto ``options``, except those in
    ``explicit`` (given on the command line, which wins). Returns what was applied."""
    applied = []
    for name, value in config.to_dict().items():
        if name in explicit:
            continue
        setattr(options, name, value)
        applied.append(f"{name}={value}")
    return applied


# ----------------------------------------------------------------------------- saved runs

def read_state(path: Path) -> dict[str, Any]:
    """Load a training checkpoint (weights-only unpickling: no code runs from the file)."""
    if path.is_file() and path.stat().st_size == 0:
        raise UserError("is empty (0 bytes): the run that wrote it was cut off", path,
                        "Start again without --resume, or restore the file from a backup.")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError("does not exist", path) from None
    except Exception as exc:
        raise UserError(f"cannot be read as a training checkpoint ({first_line(exc)})",
                        path) from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise UserError("is not a TFSWA Studio training checkpoint", path)
    return state


def saved_options(out: Path | str) -> Optional[TrainOptions]:
    """The options of the run saved in ``out`` (None when there is none)."""
    path = Path(out) / CHECKPOINT_NAME
    if not path.exists():
        return None
    return TrainOptions.from_dict(read_state(path)["options"])


def option_differences(a: TrainOptions, b: TrainOptions) -> list[str]:
    da, db = a.to_dict(), b.to_dict()
    for d in (da, db):
        for key in ("data", "valid_data", "out"):
            if d[key] is not None:
                d[key] = str(Path(d[key]).resolve())
    return [f"{k} (saved {db[k]!r}, given {da[k]!r})" for k in da
            if k not in RESUME_OVERRIDES and da[k] != db[k]]
