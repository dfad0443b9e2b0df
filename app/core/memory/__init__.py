"""Training memory: what one training step needs, per batch size and mode, from measurement.

An estimate (:func:`estimate_memory`) adds parameters, gradients and optimizer state (counted
from the parameter sizes) to activations, which are measured on a real forward/backward and
fitted over batch and segment length (:mod:`app.core.memory.activations`). Modes combine gradient
checkpointing (:mod:`app.core.memory.checkpointing`) and mixed precision; :func:`plan_memory`
estimates all four over a range of batch sizes and finds the largest batch that fits a GPU
budget; :func:`save_training_config` writes the chosen settings for the trainer.

The code lives by concern in :mod:`app.core.memory.estimate` (one batch size and mode),
:mod:`app.core.memory.plan` (all modes over a range of batches) and
:mod:`app.core.memory.training_config`; with the checkpointing and measuring names it is re-exported
here, so ``app.core.memory`` is the one import for all of it.
"""

from __future__ import annotations

from .activations import (PRECISIONS, ActivationProfile, ActivationSample, SavedTensorTracker,
                          measure_activations, profile_activations)
from .checkpointing import (GradientCheckpointWrapper, checkpoint_sequential, checkpoint_targets,
                            disable_gradient_checkpointing, enable_gradient_checkpointing,
                            is_checkpointed)
from .estimate import (DEFAULT_RESERVE_GB, MODE_LABELS, MODES, OPTIMIZER_STATES, GiB, MiB, MemoryEstimate, MemorySavings,
                       check_optimizer, estimate_memory, estimate_memory_savings, largest_fitting,
                       max_batch_size, mode_of, mode_settings, static_memory)
from .plan import MemoryPlan, ModeResult, parse_batches, plan_memory, torch_threads
from .training_config import (TRAINING_CONFIG_NAME, TrainingConfig, load_training_config,
                              save_training_config)

__all__ = [
    "GradientCheckpointWrapper", "enable_gradient_checkpointing",
    "disable_gradient_checkpointing", "checkpoint_sequential", "checkpoint_targets",
    "is_checkpointed", "SavedTensorTracker", "ActivationSample", "ActivationProfile",
    "measure_activations", "profile_activations", "MemoryEstimate", "MemorySavings",
    "estimate_memory", "estimate_memory_savings", "max_batch_size", "static_memory",
    "ModeResult", "MemoryPlan", "plan_memory", "parse_batches", "MODES", "MODE_LABELS",
    "PRECISIONS", "OPTIMIZER_STATES", "TrainingConfig", "save_training_config",
    "load_training_config", "TRAINING_CONFIG_NAME", "GiB", "MiB", "DEFAULT_RESERVE_GB", "check_optimizer", "mode_of",
    "mode_settings", "largest_fitting", "torch_threads",
]
