"""A memory plan: every mode (baseline, gradient checkpointing, mixed precision, both) over a
range of batch sizes, with the largest batch that fits a GPU budget, as one cancellable job
(what the Memory tab charts and ``tfswa-studio memory`` prints).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable, Optional, Sequence

from ..backends.registry import torch_threads
from ..config import AudioConfig
from ..devices import resolve_device
from ..jobs import CancelToken, ProgressFn, UserError, ensure_token, scaled_progress
from .activations import (ActivationProfile, check_precision, profile_activations,
                          resolve_model)
from .estimate import (MODE_LABELS, MODES, GiB, MemoryEstimate, check_optimizer, largest_fitting,
                       make_estimate, mode_settings, segment_frames, static_memory)
from .training_config import TrainingConfig


@dataclass
class ModeResult:
    """One mode's estimates over the plan's batch sizes, with what is needed to answer for
    other batches and budgets at once (``static_bytes`` + ``profile``)."""

    mode: str
    label: str
    precision: str
    checkpointing: bool
    estimates: list[MemoryEstimate]
    max_batch: Optional[int]
    static_bytes: int
    frames: int
    profile: ActivationProfile
    audio: Optional[AudioConfig] = None      # what was measured; its settings go to training

    def total(self, batch: int) -> int:
        return self.static_bytes + self.profile.peak(batch, self.frames)

    def estimate_at(self, batch: int) -> MemoryEstimate:
        """The estimate for any batch size (the static terms do not depend on it)."""
        for e in self.estimates:
            if e.batch_size == batch:
                return e
        first = self.estimates[0]
        peak = self.profile.peak(batch, self.frames)
        alloc = self.profile.allocator(batch, self.frames)
        return replace(first, batch_size=int(batch), activations=peak,
                       activations_forward=self.profile.forward(batch, self.frames),
                       total=first.parameters + first.gradients + first.optimizer_state + peak,
                       allocator_total=None if alloc is None
                       else first.parameters + first.optimizer_state + alloc)

    def max_batch_for(self, budget_gb: float, reserve_gb: float = 0.0) -> int:
        return largest_fitting(self.total, (float(budget_gb) - float(reserve_gb)) * GiB)

    def fits(self, batch: int, budget_gb: float, reserve_gb: float = 0.0) -> bool:
        """Whether ``batch`` fits the budget with ``reserve_gb`` kept free."""
        return self.total(batch) <= (float(budget_gb) - float(reserve_gb)) * GiB

    def training_config(self, batch: int, segment_seconds: float) -> TrainingConfig:
        """This mode's settings at ``batch``, as the trainer reads them, with the audio
        config that was measured."""
        return TrainingConfig.with_audio(
            self.audio or AudioConfig(), gradient_checkpointing=self.checkpointing,
            checkpoint_attention=self.profile.checkpoint_attention, batch_size=int(batch),
            precision=self.precision, segment_seconds=float(segment_seconds))


@dataclass
class MemoryPlan:
    """Estimates for each mode over a range of batch sizes, and the largest batch that fits
    the budget (``max_batch`` per mode, when a budget was given)."""

    model: str
    parameter_count: int
    segment_seconds: float
    frames: int
    mixed_precision: str
    optimizer: str
    checkpoint_attention: bool
    device: str
    batches: list[int]
    budget_gb: Optional[float]
    reserve_gb: float
    modes: list[ModeResult] = field(default_factory=list)
    elapsed_s: float = 0.0

    def mode(self, name: str) -> ModeResult:
        for m in self.modes:
            if m.mode == name:
                return m
        raise KeyError(name)


def parse_batches(text: str) -> list[int]:
    """``"1,2,4"`` or ``"1-16"`` (powers of two in range) or ``"2:16:2"`` -> sorted batches."""
    out: set[int] = set()
    try:
        for part in str(text).replace(" ", "").split(","):
            if not part:
                continue
            if ":" in part:
                a, b, *step = (int(x) for x in part.split(":"))
                out.update(range(a, b + 1, step[0] if step else 1))
            elif "-" in part:
                a, b = (int(x) for x in part.split("-"))
                k = 1
                while k <= b:
                    if k >= a:
                        out.add(k)
                    k *= 2
                out.update({a, b})
            else:
                out.add(int(part))
    except ValueError:
        raise UserError(f"cannot read batch sizes '{text}'",
                        hint="Write them like 1,2,4,8 or 1-16 (powers of two) or 2:16:2.") from None
    if not out or min(out) < 1:
        raise UserError(f"batch sizes must be whole numbers >= 1 (got '{text}')")
    return sorted(out)


def plan_memory(model_or_bundle, batches: Sequence[int] = (1, 2, 4, 8, 16),
                segment_seconds: Optional[float] = None, mixed_precision: str = "bf16",
                optimizer: str = "adam", budget_gb: Optional[float] = None, *,
                modes: Sequence[str] = MODES, checkpoint_attention: bool = True,
                reserve_gb: float = 0.0, audio: Optional[AudioConfig] = None, device=None,
                threads: Optional[int] = None,
                on_mode: Optional[Callable[[ModeResult], None]] = None,
                progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelToken] = None) -> MemoryPlan:
    """Estimate every mode (baseline, checkpointing, mixed precision, both) over ``batches``.

    Each mode is measured once (:func:`profile_activations`) and then answers for every batch;
    ``on_mode`` receives each mode's result as soon as it is ready (to draw it live).
    ``threads``: CPU threads for the measurements (this thread's setting, restored after).
    """
    cancel = ensure_token(cancel)
    batches = sorted({int(b) for b in batches})
    if not batches or batches[0] < 1:
        raise UserError("give at least one batch size >= 1")
    optimizer = check_optimizer(optimizer)
    settings = [(m,) + mode_settings(m, mixed_precision) for m in modes]
    device = resolve_device(device)
    model, audio, name = resolve_model(model_or_bundle, audio)
    seconds, frames = segment_frames(audio, segment_seconds)
    static = sum(static_memory(model, optimizer))
    plan = MemoryPlan(name, sum(p.numel() for p in model.parameters()), seconds, frames,
                      check_precision(mixed_precision), optimizer, checkpoint_attention,
                      str(device), batches, budget_gb, reserve_gb)
    start = time.perf_counter()
    for i, (mode, ckpt, precision) in enumerate(settings):
        cancel.check()
        step = scaled_progress(progress, i / len(settings), (i + 1) / len(settings))
        label = MODE_LABELS[mode]
        with torch_threads(threads):
            profile = profile_activations(
                model, precision, ckpt, checkpoint_attention, audio=audio, device=device,
                progress=lambda f, msg, label=label, step=step: step(f, f"{label}: {msg}"),
                cancel=cancel)
        estimates = [make_estimate(model, audio, profile, b, seconds, optimizer, mode)
                     for b in batches]
        result = ModeResult(mode, label, precision, ckpt, estimates, None, static, frames,
                            profile, audio)
        if budget_gb is not None:
            result.max_batch = result.max_batch_for(budget_gb, reserve_gb)
        plan.modes.append(result)
        if on_mode is not None:
            on_mode(result)
    plan.elapsed_s = time.perf_counter() - start
    if progress:
        progress(1.0, "done")
    return plan
