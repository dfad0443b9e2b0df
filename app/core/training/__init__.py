"""Training a TFSWA-UNet on MUSDB18-style folders: options (:mod:`.options`), random
segments and validation windows (:mod:`.data`), the step's maths (:mod:`.step`), threads and
batch loading (:mod:`.runtime`), torchrun jobs and the run-folder lock (:mod:`.distributed`)
and the trainer with exact resume (:mod:`.trainer`)."""

from .distributed import (LOCK_NAME, DistributedInfo, GlobalBatchNorm2d, RunLock,
                          detect_distributed)
from .data import NO_AUGMENTATION, Augmentation, TrainingSegments, ValidationSegments
from .options import (BEST_NAME, CHECKPOINT_NAME, CONFIG_NAME, LAST_NAME, LOG_NAME, OPTIONS_NAME,
                      RESUME_OVERRIDES, TrainOptions, apply_training_config, read_state,
                      saved_options)
from .step import lr_at, optimizer_step, rng_state, set_rng_state
from .trainer import EpochRecord, Trainer, TrainResult, train

__all__ = [
    "NO_AUGMENTATION", "Augmentation", "TrainingSegments", "ValidationSegments", "BEST_NAME",
    "CHECKPOINT_NAME", "CONFIG_NAME", "LAST_NAME", "LOG_NAME", "OPTIONS_NAME",
    "RESUME_OVERRIDES", "TrainOptions", "apply_training_config", "read_state",
    "saved_options", "lr_at", "optimizer_step", "rng_state", "set_rng_state", "EpochRecord",
    "Trainer", "TrainResult", "train", "LOCK_NAME", "DistributedInfo", "GlobalBatchNorm2d",
    "RunLock", "detect_distributed",
]
