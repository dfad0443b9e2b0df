"""The training step's maths, free of any run state: the learning-rate schedule, one optimizer
step, and saving/restoring the RNG states. The forward pass and loss it trains
(:func:`~app.core.model.separate_waveforms`, :func:`~app.core.model.waveform_l1`) live with
the model, where the memory measurement uses them too."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import torch

from ..config import AudioConfig
from ..model.waveform import separate_waveforms, waveform_l1

if TYPE_CHECKING:
    from .options import TrainOptions

# ----------------------------------------------------------------------------- the step

def lr_at(step: int, options: "TrainOptions", steps_per_epoch: int) -> float:
    """The paper's schedule: ``lr * decay ** floor(step / (decay_epochs * steps_per_epoch))``."""
    interval = max(1, int(round(options.lr_decay_epochs * steps_per_epoch)))
    return options.lr * options.lr_decay ** (step // interval)


def optimizer_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                   mixture: torch.Tensor, sources: torch.Tensor, audio: AudioConfig, *,
                   lr: float, precision: str = "fp32", channels_last: bool = False,
                   clip_grad: float = 0.0, scaler: Optional["torch.amp.GradScaler"] = None) -> float:
    """One training step: ``(B, C, L)`` mixtures and ``(B, S, C, L)`` true sources; returns
    the L1 loss before the update."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    estimate = separate_waveforms(model, mixture, audio, precision, channels_last)
    loss = waveform_l1(estimate, sources)
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
    else:
        loss.backward()
    if clip_grad > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return float(loss.detach())


# ----------------------------------------------------------------------------- state

def rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"python": random.getstate(), "torch": torch.get_rng_state(),
            "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)]}


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
