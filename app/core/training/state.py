"""What a training run saves in ``checkpoint.pt`` and how a resumed run takes it back: the
weights, the optimizer and loss-scaler state, the counters (step, running loss, best score,
history, time) and every random generator, so that a resumed run continues exactly.

A resumed run must have the same settings (only epochs, max minutes and threads may change)
and the same number of processes as the one that saved it.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from ..devices import describe_device
from ..jobs import UserError
from .distributed import check_world_size
from .options import STATE_FORMAT, STATE_VERSION, TrainOptions, option_differences
from .results import EpochRecord
from .runfiles import on_cpu
from .step import rng_state, set_rng_state

if TYPE_CHECKING:
    from .trainer import Trainer


def trainer_state(t: "Trainer") -> dict[str, Any]:
    """Everything a resumed run needs, on the CPU, as plain containers and tensors."""
    return {
        "format": STATE_FORMAT, "version": STATE_VERSION,
        "options": t.options.to_dict(),
        "model_config": t.model_config.to_dict(),
        "audio_config": t.audio.to_dict(),
        "model": {k: v.detach().cpu().clone() for k, v in t.model.state_dict().items()},
        "optimizer": on_cpu(t.optimizer.state_dict()),
        "scaler": t.scaler.state_dict() if t.scaler is not None else None,
        "step": t.step,
        "loss_sum": t.loss_sum, "loss_count": t.loss_count,
        "best_score": t.best_score, "best_sdr": t.best_sdr, "best_step": t.best_step,
        "history": [dataclasses.asdict(h) for h in t.history],
        "elapsed_s": t.elapsed_before + t._session_elapsed(),
        "valid_time_s": t.valid_time,
        "rng": rng_state(),
        "world_size": t.world_size,
        "device": describe_device(t.device).name,
    }


def restore_state(t: "Trainer", state: dict[str, Any]) -> None:
    """Put a saved run back into a freshly built trainer (model, optimizer and scaler made
    from the same options); refused with a message when the run cannot resume exactly."""
    check_world_size(int(state.get("world_size", 1)), t.world_size, t.checkpoint_path)
    saved = TrainOptions.from_dict(state["options"])
    diff = option_differences(t.options, saved)
    if diff:
        raise UserError("cannot resume with other settings: " + "; ".join(diff),
                        t.checkpoint_path,
                        "Resume with the saved settings (only epochs, max minutes and "
                        "threads may change), or start a new run in another folder.")
    t.model.load_state_dict(state["model"])
    t.optimizer.load_state_dict(state["optimizer"])
    if t.scaler is not None and state.get("scaler"):
        t.scaler.load_state_dict(state["scaler"])
    t.step = int(state["step"])
    t.loss_sum, t.loss_count = float(state["loss_sum"]), int(state["loss_count"])
    t.best_score = float(state["best_score"])
    t.best_sdr = dict(state["best_sdr"])
    t.best_step = int(state["best_step"])
    t.history = [EpochRecord(**h) for h in state["history"]]
    t.elapsed_before = float(state["elapsed_s"])
    t.valid_time = float(state.get("valid_time_s", 0.0))
    set_rng_state(state["rng"])
