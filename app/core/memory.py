"""Training memory: what one training step needs, per batch size and mode, from measurement.

An estimate (:func:`estimate_memory`) adds parameters, gradients and optimizer state (counted
from the parameter sizes) to activations, which are measured on a real forward/backward and
fitted over batch and segment length (:mod:`app.core.activations`). Modes combine gradient
checkpointing (:mod:`app.core.grad_checkpoint`) and mixed precision; :func:`plan_memory`
estimates all four over a range of batch sizes and finds the largest batch that fits a GPU
budget; :func:`save_training_config` writes the chosen settings for the trainer.

The checkpointing and measuring names are re-exported here, so ``app.core.memory`` is the
one import for all of it.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import torch
from torch import nn

from .activations import (PRECISIONS, ActivationProfile, ActivationSample, SavedTensorTracker,
                          _measured_precision, _pick_device, _resolve,
                          check_precision, measure_activations, profile_activations)
from .config import AudioConfig
from .files import atomic_path
from .grad_checkpoint import (GradientCheckpointWrapper, checkpoint_sequential,
                              checkpoint_targets, disable_gradient_checkpointing,
                              enable_gradient_checkpointing, is_checkpointed)
from .jobs import CancelToken, ProgressFn, UserError, ensure_token, scaled_progress

__all__ = [
    "GradientCheckpointWrapper", "enable_gradient_checkpointing",
    "disable_gradient_checkpointing", "checkpoint_sequential", "checkpoint_targets",
    "is_checkpointed", "SavedTensorTracker", "ActivationSample", "ActivationProfile",
    "measure_activations", "profile_activations", "MemoryEstimate", "MemorySavings",
    "estimate_memory", "estimate_memory_savings", "max_batch_size", "static_memory",
    "ModeResult", "MemoryPlan", "plan_memory", "parse_batches", "MODES", "MODE_LABELS",
    "PRECISIONS", "OPTIMIZER_STATES", "TrainingConfig", "save_training_config",
    "load_training_config", "TRAINING_CONFIG_NAME", "GiB",
]

GiB = 1024 ** 3
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

    @property
    def total_gb(self) -> float:
        return self.total / GiB


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


def _segment_frames(audio: AudioConfig, segment_seconds: Optional[float]) -> tuple[float, int]:
    seconds = audio.segment_seconds if segment_seconds is None else float(segment_seconds)
    if not seconds > 0:
        raise UserError(f"the segment length must be positive (got {segment_seconds})")
    return seconds, audio.frames_for(int(round(seconds * audio.sample_rate)))


def _make_estimate(model, audio, profile: ActivationProfile, batch_size: int,
                   segment_seconds: Optional[float], optimizer: str, name_mode: str,
                   sample: Optional[ActivationSample] = None) -> MemoryEstimate:
    if int(batch_size) < 1:
        raise UserError(f"the batch size must be at least 1 (got {batch_size})")
    seconds, frames = _segment_frames(audio, segment_seconds)
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
    model, audio, _ = _resolve(model_or_bundle, audio)
    mode = mode_of(checkpointing, precision)
    if direct:
        device = _pick_device(device)
        _, frames = _segment_frames(audio, segment_seconds)
        work = model.to(device)
        if checkpointing:
            work = enable_gradient_checkpointing(work, True, checkpoint_attention, inplace=True)
        measured = _measured_precision(precision, device)
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
        return _make_estimate(model, audio, profile, batch_size, segment_seconds, optimizer,
                              mode, sample)
    if profile is None:
        profile = profile_activations(model, precision, checkpointing, checkpoint_attention,
                                      audio=audio, device=device, progress=progress,
                                      cancel=cancel)
    elif (profile.precision, profile.checkpointing) != (precision, bool(checkpointing)):
        raise ValueError("the profile was measured for another precision or checkpointing")
    return _make_estimate(model, audio, profile, batch_size, segment_seconds, optimizer, mode)


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
    model, audio, _ = _resolve(model_or_bundle, audio)
    if profile is None:
        profile = profile_activations(model, precision, checkpointing, checkpoint_attention,
                                      audio=audio, device=device, progress=progress,
                                      cancel=cancel)
    return _max_batch(model, audio, profile, memory_budget_gb, segment_seconds, optimizer,
                      reserve_gb, limit)


def _max_batch(model, audio, profile, budget_gb, segment_seconds, optimizer, reserve_gb=0.0,
               limit=1 << 16) -> int:
    static = sum(static_memory(model, optimizer))
    _, frames = _segment_frames(audio, segment_seconds)
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


# ============================================================================ a plan over modes


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


@contextlib.contextmanager
def torch_threads(threads: Optional[int]) -> Iterator[None]:
    """Run torch on ``threads`` CPU threads (None: leave it) in this thread, restored after."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(threads)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


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
    device = _pick_device(device)
    model, audio, name = _resolve(model_or_bundle, audio)
    seconds, frames = _segment_frames(audio, segment_seconds)
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
        estimates = [_make_estimate(model, audio, profile, b, seconds, optimizer, mode)
                     for b in batches]
        result = ModeResult(mode, label, precision, ckpt, estimates, None, static, frames,
                            profile)
        if budget_gb is not None:
            result.max_batch = result.max_batch_for(budget_gb, reserve_gb)
        plan.modes.append(result)
        if on_mode is not None:
            on_mode(result)
    plan.elapsed_s = time.perf_counter() - start
    if progress:
        progress(1.0, "done")
    return plan


# ============================================================================ training config

TRAINING_CONFIG_NAME = "training-config.json"
_TRAINING_KEYS = {"gradient_checkpointing": bool, "checkpoint_attention": bool,
                  "batch_size": int, "precision": str, "segment_seconds": float}


@dataclass
class TrainingConfig:
    """The memory-related training settings the trainer reads (``training-config.json``)."""

    gradient_checkpointing: bool = False
    checkpoint_attention: bool = True
    batch_size: int = 4
    precision: str = "fp32"
    segment_seconds: float = 3.0

    def __post_init__(self) -> None:
        problems = []
        for key, kind in _TRAINING_KEYS.items():
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
        if problems:
            raise UserError("invalid training config: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in _TRAINING_KEYS}


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
    missing = sorted(set(_TRAINING_KEYS) - set(raw))
    unknown = sorted(set(raw) - set(_TRAINING_KEYS))
    if missing or unknown:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
                ([f"unknown {', '.join(unknown)}"] if unknown else [])
        raise UserError("is not a training config: " + "; ".join(parts), path)
    try:
        return TrainingConfig(**raw)
    except UserError as exc:
        raise UserError(exc.message, path) from None
