"""One training step's memory for one batch size and mode: parameters, gradients and
optimizer state counted from the parameter sizes, plus activations measured on a real
forward/backward and fitted over batch and segment length (:mod:`app.core.memory.activations`);
the largest batch that fits a budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from torch import nn

from ..config import AudioConfig
from ..devices import resolve_device
from ..jobs import CancelToken, ProgressFn, UserError, ensure_token, scaled_progress
from .activations import (ActivationProfile, ActivationSample, check_precision, measure_activations,
                          measured_precision, profile_activations, resolve_model)
from .checkpointing import enable_gradient_checkpointing

GiB = 1024 ** 3
MiB = 1024 ** 2
# GiB of a GPU budget kept free for the CUDA context and allocator slack: the one default of
# the CLI's --keep-free and the Memory tab's "Keep free", so both find the same batch.
DEFAULT_RESERVE_GB = 0.5
# Optimizer state per parameter element, in fp32 values: Adam/AdamW keep two moments,
# SGD with momentum one buffer, plain SGD none.
OPTIMIZER_STATES = {"adam": 2, "adamw": 2, "sgd": 1, "none": 0}


def check_optimizer(optimizer: str) -> str:
    o = str(optimizer).lower()
    if o not in OPTIMIZER_STATES:
        raise UserError(f"unknown optimizer '{optimizer}'; choose one of "
                        f"{', '.join(OPTIMIZER_STATES)} (sgd means SGD with momentum)")
    return o



MODES = ("baseline", "checkpointing", "mixed", "both")
MODE_LABELS = {"baseline": "baseline", "checkpointing": "checkpointing",
               "mixed": "mixed precision", "both": "checkpointing + mixed precision"}


def mode_settings(mode: str, mixed_precision: str = "bf16") -> tuple[bool, str]:
    """``(checkpointing, precision)`` of a mode name (see :data:`MODES`)."""
    if mode not in MODES:
        raise UserError(f"unknown mode '{mode}'; choose from {', '.join(MODES)}")
    mixed_precision = check_precision(mixed_precision)
    if mixed_precision == "fp32":
        raise UserError("the mixed-precision dtype must be bf16 or fp16")
    return mode in ("checkpointing", "both"), mixed_precision if mode in ("mixed", "both") else "fp32"


def mode_of(checkpointing: bool, precision: str) -> str:
    mixed = check_precision(precision) != "fp32"
    return {(False, False): "baseline", (True, False): "checkpointing",
            (False, True): "mixed", (True, True): "both"}[(bool(checkpointing), mixed)]


@dataclass
class MemoryEstimate:
    """Memory of one training step (bytes). ``total`` = parameters + gradients +
    optimizer_state + activations. ``activations`` is the peak of what autograd holds for
    backward; ``activations_forward`` what it holds when forward ends (the two differ with
    checkpointing, whose recomputation in backward adds one block's tensors at a time).
    ``allocator_total``: on CUDA, parameters + optimizer state + the allocator's measured
    peak during forward/backward (activations, gradients and temporaries); None elsewhere.
    ``method``: "fit" (extrapolated from the profile's measurements) or "measured".
    """

    mode: str
    batch_size: int
    segment_seconds: float
    frames: int
    precision: str
    optimizer: str
    checkpointing: bool
    checkpoint_attention: bool
    parameter_count: int
    parameters: int
    gradients: int
    optimizer_state: int
    activations: int
    activations_forward: int
    total: int
    allocator_total: Optional[int]
    method: str
    device: str


def static_memory(model: nn.Module, optimizer: str) -> tuple[int, int, int]:
    """``(parameters, gradients, optimizer_state)`` bytes. Parameters and their gradients
    stay fp32 under mixed precision (autocast casts per operation); buffers count as
    parameters; optimizer state is fp32 per trainable element."""
    optimizer = check_optimizer(optimizer)
    trainable = [p for p in model.parameters() if p.requires_grad]
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    params += sum(b.numel() * b.element_size() for b in model.buffers())
    grads = sum(p.numel() * p.element_size() for p in trainable)
    state = OPTIMIZER_STATES[optimizer] * sum(p.numel() * 4 for p in trainable)
    return int(params), int(grads), int(state)


def segment_frames(audio: AudioConfig, segment_seconds: Optional[float]) -> tuple[float, int]:
    seconds = audio.segment_seconds if segment_seconds is None else float(segment_seconds)
    if not seconds > 0:
        raise UserError(f"the segment length must be positive (got {segment_seconds})")
    return seconds, audio.frames_for(int(round(seconds * audio.sample_rate)))


def make_estimate(model, audio, profile: ActivationProfile, batch_size: int,
                   segment_seconds: Optional[float], optimizer: str, name_mode: str,
                   sample: Optional[ActivationSample] = None) -> MemoryEstimate:
    if int(batch_size) < 1:
        raise UserError(f"the batch size must be at least 1 (got {batch_size})")
    seconds, frames = segment_frames(audio, segment_seconds)
    params, grads, state = static_memory(model, optimizer)
    if sample is None:
        peak, fwd = profile.peak(batch_size, frames), profile.forward(batch_size, frames)
        alloc = profile.allocator(batch_size, frames)
        method = "fit"
    else:
        peak, fwd, alloc, method = (sample.peak_bytes, sample.forward_bytes,
                                    sample.allocator_peak_bytes, "measured")
    return MemoryEstimate(
        mode=name_mode, batch_size=int(batch_size), segment_seconds=seconds, frames=frames,
        precision=profile.precision, optimizer=check_optimizer(optimizer),
        checkpointing=profile.checkpointing, checkpoint_attention=profile.checkpoint_attention,
        parameter_count=sum(p.numel() for p in model.parameters()),
        parameters=params, gradients=grads, optimizer_state=state, activations=peak,
        activations_forward=fwd, total=params + grads + state + peak,
        allocator_total=None if alloc is None else params + state + alloc,
        method=method, device=profile.device)


def estimate_memory(model_or_bundle, batch_size: int = 4, segment_seconds: Optional[float] = None,
                    precision: str = "fp32", optimizer: str = "adam",
                    checkpointing: bool = False, *, checkpoint_attention: bool = True,
                    audio: Optional[AudioConfig] = None, device=None,
                    profile: Optional[ActivationProfile] = None, direct: bool = False,
                    progress: Optional[ProgressFn] = None,
                    cancel: Optional[CancelToken] = None) -> MemoryEstimate:
    """Memory one training step needs: parameters, gradients, optimizer state, activations.

    ``model_or_bundle``: a :class:`ModelBundle` or a TFSWA-UNet (``audio`` then defaults to
    the standard audio config). ``segment_seconds`` defaults to the bundle's. ``precision``:
    fp32, or bf16/fp16 autocast. ``optimizer``: adam, adamw, sgd (with momentum) or none.

    Activations come from ``profile`` (fitted by :func:`profile_activations` for the same
    precision and checkpointing; made here when not given), which answers for any size at
    once. ``direct=True`` measures at the requested size instead (slow for large sizes; used
    to check the fit).
    """
    precision = check_precision(precision)
    model, audio, _ = resolve_model(model_or_bundle, audio)
    mode = mode_of(checkpointing, precision)
    if direct:
        device = resolve_device(device)
        _, frames = segment_frames(audio, segment_seconds)
        work = model.to(device)
        if checkpointing:
            work = enable_gradient_checkpointing(work, True, checkpoint_attention, inplace=True)
        measured = measured_precision(precision, device)
        cancel = ensure_token(cancel)
        cancel.check()
        sample = measure_activations(work, audio, int(batch_size), frames, measured, device,
                                     cancel=cancel)
        profile = ActivationProfile(     # describes this one measurement; nothing is fitted
            precision=precision, measured_precision=measured, checkpointing=checkpointing,
            checkpoint_attention=checkpoint_attention and checkpointing, device=str(device),
            time_multiple=model.config.time_multiple, window_frames=model.config.window[1],
            peak_coefficients=[], forward_coefficients=[], allocator_coefficients=None,
            samples=[sample], fit_error=0.0, seconds=sample.seconds)
        return make_estimate(model, audio, profile, batch_size, segment_seconds, optimizer,
                              mode, sample)
    if profile is None:
        profile = profile_activations(model, precision, checkpointing, checkpoint_attention,
                                      audio=audio, device=device, progress=progress,
                                      cancel=cancel)
    elif (profile.precision, profile.checkpointing) != (precision, bool(checkpointing)):
        raise ValueError("the profile was measured for another precision or checkpointing")
    return make_estimate(model, audio, profile, batch_size, segment_seconds, optimizer, mode)


@dataclass
class MemorySavings:
    """Checkpointing off (``baseline``) against on (``checkpointed``), same everything else."""

    baseline: MemoryEstimate
    checkpointed: MemoryEstimate
    activation_bytes_saved: int
    activation_reduction: float   # fraction of the baseline's activations saved
    total_reduction: float        # fraction of the baseline's total saved


def estimate_memory_savings(model_or_bundle, batch_size: int = 4,
                            segment_seconds: Optional[float] = None, precision: str = "fp32",
                            optimizer: str = "adam", *, checkpoint_attention: bool = True,
                            audio: Optional[AudioConfig] = None, device=None,
                            direct: bool = False, progress: Optional[ProgressFn] = None,
                            cancel: Optional[CancelToken] = None) -> MemorySavings:
    """What gradient checkpointing saves for this model, batch and segment."""
    kw = dict(checkpoint_attention=checkpoint_attention, audio=audio, device=device,
              direct=direct, cancel=cancel)
    off = estimate_memory(model_or_bundle, batch_size, segment_seconds, precision, optimizer,
                          False, progress=scaled_progress(progress, 0.0, 0.5), **kw)
    on = estimate_memory(model_or_bundle, batch_size, segment_seconds, precision, optimizer,
                         True, progress=scaled_progress(progress, 0.5, 1.0), **kw)
    saved = off.activations - on.activations
    return MemorySavings(off, on, saved, saved / max(off.activations, 1),
                         (off.total - on.total) / max(off.total, 1))


def max_batch_size(memory_budget_gb: float, model_or_bundle, segment_seconds: Optional[float] = None,
                   precision: str = "fp32", optimizer: str = "adam",
                   checkpointing: bool = False, *, checkpoint_attention: bool = True,
                   audio: Optional[AudioConfig] = None, device=None,
                   profile: Optional[ActivationProfile] = None, reserve_gb: float = 0.0,
                   limit: int = 1 << 16, progress: Optional[ProgressFn] = None,
                   cancel: Optional[CancelToken] = None) -> int:
    """The largest batch whose estimated total fits ``memory_budget_gb`` (GiB) less
    ``reserve_gb`` (CUDA context, allocator slack); 0 if not even one example fits."""
    precision = check_precision(precision)
    model, audio, _ = resolve_model(model_or_bundle, audio)
    if profile is None:
        profile = profile_activations(model, precision, checkpointing, checkpoint_attention,
                                      audio=audio, device=device, progress=progress,
                                      cancel=cancel)
    return _max_batch(model, audio, profile, memory_budget_gb, segment_seconds, optimizer,
                      reserve_gb, limit)


def _max_batch(model, audio, profile, budget_gb, segment_seconds, optimizer, reserve_gb=0.0,
               limit=1 << 16) -> int:
    static = sum(static_memory(model, optimizer))
    _, frames = segment_frames(audio, segment_seconds)
    return largest_fitting(lambda b: static + profile.peak(b, frames),
                           (float(budget_gb) - float(reserve_gb)) * GiB, limit)


def largest_fitting(total: Callable[[int], float], budget_bytes: float, limit: int = 1 << 16) -> int:
    """The largest batch ``b <= limit`` with ``total(b) <= budget_bytes`` (``total`` grows with
    ``b``); 0 if batch 1 does not fit."""
    if total(1) > budget_bytes:
        return 0
    lo, hi = 1, 2
    while hi <= limit and total(hi) <= budget_bytes:
        lo, hi = hi, hi * 2
    hi = min(hi, limit + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if total(mid) <= budget_bytes else (lo, mid)
    return lo
