"""What a training run reports: one record per epoch and the run's result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional


@dataclass
class EpochRecord:
    epoch: float
    step: int
    lr: float
    train_loss: float
    valid_sdr: dict[str, float]
    valid_score: float
    elapsed_s: float
    partial: bool = False


@dataclass
class TrainResult:
    out: Path
    best_model: Optional[Path]
    last_model: Path
    checkpoint: Path
    log: Path
    steps: int
    epochs: float
    stopped: str                        # "finished", "time limit"
    training_time_s: float              # all sessions of this run
    session_time_s: float
    best_sdr: dict[str, float]
    best_step: int
    steps_per_second: float
    audio_seconds_per_second: float
    history: list[EpochRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
