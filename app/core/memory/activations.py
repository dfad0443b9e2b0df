"""Activation memory of a training step, measured and fitted.

:class:`SavedTensorTracker` counts the bytes autograd holds for backward while a real
training forward/backward runs (:func:`measure_activations`): unique storages, parameters and
buffers excluded, each from the moment it is saved until autograd drops it, including what
checkpointed blocks save again when they are recomputed in backward. The peak of that count
is the activation term of a memory estimate.

Measuring a large batch directly is slow, so :func:`profile_activations` measures seven small
(B, T) points and fits the model's exact shape dependence (:func:`_frame_features`:
linear in the batch; linear in frames apart from time attention, quadratic in the
bottleneck's frames; Swin window padding); the resulting :class:`ActivationProfile` answers
for any size at once. On a CUDA device the allocator's own peak
(``torch.cuda.max_memory_allocated``) is recorded and fitted the same way.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..checkpoint import ModelBundle
from ..config import AudioConfig, default_audio
from ..devices import resolve_device
from ..jobs import CancelToken, ProgressFn, UserError, ensure_token, no_progress
from ..model import build_model
from ..model.waveform import PRECISIONS, separate_waveforms, waveform_l1
from .checkpointing import (GradientCheckpointWrapper, disable_gradient_checkpointing,
                            enable_gradient_checkpointing)


def _storage_key(t: torch.Tensor) -> Optional[tuple]:
    if t.layout != torch.strided or t.device.type == "meta":
        return None
    try:
        storage = t.untyped_storage()
    except (RuntimeError, NotImplementedError):
        return None
    ptr = storage.data_ptr()
    if ptr == 0:
        return None
    return (t.device.type, t.device.index, ptr), storage.nbytes()


class _Packed:
    """What autograd holds instead of a saved tensor while a tracker counts it."""

    __slots__ = ("tensor", "tracker", "key", "__weakref__")

    def __init__(self, tensor: torch.Tensor, tracker: "SavedTensorTracker", key: tuple):
        self.tensor = tensor
        self.tracker = tracker
        self.key = key

    def __del__(self) -> None:
        self.tracker._release(self.key)


class SavedTensorTracker:
    """Counts the bytes autograd keeps for backward, over time, with their peak.

    While active (``with tracker:``), every tensor autograd saves passes through a
    ``saved_tensors_hooks`` pack hook. A tensor is counted by its *storage*, once however
    many views of it are saved, from the moment it is saved until autograd drops it (after
    the backward of the last node that needs it). Storages of ``exclude`` (the parameters and
    buffers) are not activations and are skipped; casts of parameters made by autocast are
    new storages and are counted, as they are real memory held for backward.

    Inside a checkpointed block autograd saves nothing in forward (only the block's inputs,
    which are counted here); in backward the block is recomputed and its saved tensors live
    until they are used. :class:`GradientCheckpointWrapper` reports those through
    :meth:`recompute_tap`, so :attr:`peak` covers the recomputation too.
    """

    def __init__(self, exclude: Iterable[torch.Tensor] = ()):
        self._exclude = set()
        for t in exclude:
            found = _storage_key(t)
            if found is not None:
                self._exclude.add(found[0])
        self._refs: dict[tuple, int] = {}
        self._sizes: dict[tuple, int] = {}
        self._lock = threading.Lock()
        self.live = 0
        self.peak = 0
        self.forward_bytes = 0
        # Bytes held at the end of forward and at the end of each recomputation: the only
        # moments a new maximum can be reached, since between them backward only frees.
        self.phases: list[int] = []
        self.recomputed_bytes = 0
        self._hooks = None

    # -- counting
    def _acquire(self, t: torch.Tensor) -> Optional[tuple]:
        found = _storage_key(t)
        if found is None or found[0] in self._exclude:
            return None
        key, nbytes = found
        with self._lock:
            count = self._refs.get(key, 0)
            self._refs[key] = count + 1
            if count == 0:
                self._sizes[key] = nbytes
                self.live += nbytes
                self.peak = max(self.peak, self.live)
        return key

    def _release(self, key: tuple) -> None:
        with self._lock:
            count = self._refs.get(key, 0) - 1
            if count > 0:
                self._refs[key] = count
                return
            self._refs.pop(key, None)
            self.live -= self._sizes.pop(key, 0)

    def _pack(self, t: torch.Tensor) -> Any:
        key = self._acquire(t)
        return t if key is None else _Packed(t, self, key)

    @staticmethod
    def _unpack(packed: Any) -> torch.Tensor:
        return packed.tensor if isinstance(packed, _Packed) else packed

    # -- context
    def __enter__(self) -> "SavedTensorTracker":
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._hooks.__exit__(*exc)
        self._hooks = None

    def mark_forward_end(self) -> None:
        """Record what is held at the end of forward (before backward starts freeing)."""
        self.forward_bytes = self.live
        self.phases.append(self.live)

    @contextlib.contextmanager
    def recompute_tap(self) -> Iterator[None]:
        """Count the tensors a checkpoint recomputation saves, without taking them over.

        Entered inside checkpoint's own recomputation hook: the tap forwards every tensor to
        that hook (which keeps it for the original graph) and follows the kept tensor's
        lifetime with a weak reference.
        """
        top = _top_saved_tensors_hooks()
        if top is None:  # an older torch without the accessor: recomputation not counted
            yield
            return
        inner_pack, inner_unpack = top

        def pack(t: torch.Tensor) -> Any:
            kept = inner_pack(t)
            key = self._acquire(t)
            if key is not None:
                with self._lock:
                    self.recomputed_bytes += self._sizes.get(key, 0) if self._refs[key] == 1 else 0
                try:
                    weakref.finalize(kept, self._release, key)
                except TypeError:
                    self._release(key)
            return kept

        try:
            with torch.autograd.graph.saved_tensors_hooks(pack, inner_unpack):
                yield
        finally:
            self.phases.append(self.live)


def _top_saved_tensors_hooks():
    get = getattr(torch._C._autograd, "_top_saved_tensors_default_hooks", None)
    if get is None:
        return None
    try:
        return get(False)
    except (TypeError, RuntimeError):
        return None



def check_precision(precision: str) -> str:
    p = str(precision).lower()
    if p not in PRECISIONS:
        raise UserError(f"unknown precision '{precision}'; choose one of {', '.join(PRECISIONS)}")
    return p


@dataclass
class ActivationSample:
    """One measured training forward/backward at ``batch`` x ``frames``.

    peak_bytes: peak of the bytes held for backward (the activation term).
    forward_bytes: what was held when forward ended (what checkpointing shrinks).
    phase_bytes: what was held when forward ended and when each recomputation ended, in
        order; the peak is their maximum.
    recomputed_bytes: bytes saved again by checkpoint recomputation during backward.
    allocator_peak_bytes: CUDA only: ``max_memory_allocated`` during forward/backward above
        what was allocated before (activations, gradients and temporaries), else None.
    """

    batch: int
    frames: int
    peak_bytes: int
    forward_bytes: int
    phase_bytes: list[int]
    recomputed_bytes: int
    allocator_peak_bytes: Optional[int]
    seconds: float


def measure_activations(model: nn.Module, audio: AudioConfig, batch: int, frames: int,
                        precision: str = "fp32", device: Optional[torch.device] = None,
                        seed: int = 0, backward: Optional[bool] = None,
                        cancel: Optional[CancelToken] = None) -> ActivationSample:
    """Run one training forward/backward of ``model`` and measure what it keeps for backward.

    ``model`` is used as given (wrap it with :func:`enable_gradient_checkpointing` first to
    measure checkpointing) and is put in train mode; its gradients are cleared afterwards and
    its BatchNorm running statistics restored, so measuring leaves it as it was. The step is
    the trainer's (app.core.training): STFT of a mixture (no grad), the model's masks on its
    magnitude (under autocast for bf16/fp16), masked complex spectra, inverse STFT with the
    mixture phase, L1 against the sources on the waveform. ``frames`` are STFT frames.

    ``backward=None`` runs backward only where it can change the answer: with checkpointed
    blocks (their recomputation saves tensors during backward) and on CUDA (the allocator
    peak includes gradients). Without checkpointing nothing is saved during backward, so the
    peak is what forward left, and skipping backward saves two thirds of the time.

    ``cancel`` is checked before every module runs (in forward and in recomputation), so a
    large measurement stops within one layer's time.
    """
    precision = check_precision(precision)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    gen = torch.Generator(device="cpu").manual_seed(seed)
    length = (int(frames) - 1) * audio.hop_length        # exactly ``frames`` STFT frames
    mixture = (torch.rand((batch, audio.channels, length), generator=gen) * 2 - 1).to(device)
    sources = torch.rand((batch, len(audio.sources), audio.channels, length),
                         generator=gen).to(device)
    state = [b.detach().clone() for b in model.buffers()]
    was_training = model.training
    model.train()
    model.zero_grad(set_to_none=True)
    wrappers = [m for m in model.modules() if isinstance(m, GradientCheckpointWrapper)]
    tracker = SavedTensorTracker(exclude=list(model.parameters()) + list(model.buffers()))
    cuda = device.type == "cuda"
    if backward is None:
        backward = cuda or bool(wrappers)
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
    start = time.perf_counter()
    for w in wrappers:
        w._tracker = tracker
    hooks = []
    if cancel is not None:
        hooks = [m.register_forward_pre_hook(lambda _m, _i: cancel.check())
                 for m in model.modules()]
    try:
        with tracker:
            # the trainer's own forward pass and loss (app.core.training.step)
            estimate = separate_waveforms(model, mixture, audio, precision)
            loss = waveform_l1(estimate, sources)
            tracker.mark_forward_end()
            if backward:
                loss.backward()
            del estimate, loss
    finally:
        for h in hooks:
            h.remove()
        for w in wrappers:
            w._tracker = None
        model.zero_grad(set_to_none=True)
        with torch.no_grad():
            for b, saved in zip(model.buffers(), state):
                b.copy_(saved)
        model.train(was_training)
    allocator = None
    if cuda:
        torch.cuda.synchronize(device)
        allocator = int(torch.cuda.max_memory_allocated(device) - before)
    return ActivationSample(batch, frames, int(tracker.peak), int(tracker.forward_bytes),
                            [int(p) for p in tracker.phases],
                            int(tracker.recomputed_bytes), allocator,
                            time.perf_counter() - start)


# ============================================================================ fitting

FEATURES = ("batch*frames", "batch*bottleneck_frames^2", "batch*window_frames", "batch",
            "frames", "1")
# Sample points use at least this many frames, so that what dominates the peak at small sizes
# is what dominates it at training sizes too.
MIN_SAMPLE_FRAMES = 32


def _frame_features(config, batch: int, frames: int) -> list[float]:
    """The terms activation bytes are a combination of, for a batch of ``frames`` frames.

    Frames are padded to the model's multiple (``Tp``); the bottleneck has ``Tb = Tp / 2**(L-1)``
    frames; time attention stores scores quadratic in ``Tb``; Swin layers pad ``Tb`` up to a
    whole number of windows (``Tw``); everything else is linear in ``Tp``. All these scale
    with the batch; what does not is the inverse STFT's window envelope (linear in frames) and
    constants (BatchNorm statistics, autocast's casts of the weights).
    """
    multiple = config.time_multiple
    tp = -(-frames // multiple) * multiple
    tb = tp // multiple
    wt = config.window[1]
    tw = -(-tb // wt) * wt
    return [batch * tp, batch * tb * tb, batch * tw, batch, frames, 1.0]


def _sample_points(config) -> list[tuple[int, int]]:
    """Seven small (batch, frames) points whose features determine every coefficient, with
    one to spare: four bottleneck lengths around a whole number of Swin windows (so window
    padding, linear and quadratic terms separate) at batch 1, three of them again at batch 2."""
    multiple, wt = config.time_multiple, config.window[1]
    n0 = max(1, -(-MIN_SAMPLE_FRAMES // (multiple * wt))) * wt
    bottleneck = [n0 - 1, n0, n0 + 1, n0 + wt] if wt > 1 else [n0, n0 + 1, n0 + 2, n0 + 3]
    bottleneck = [max(1, b) for b in bottleneck]
    frames = [tb * multiple for tb in bottleneck]
    return [(1, t) for t in frames] + [(2, frames[0]), (2, frames[1]), (2, frames[3])]


def _fit(design: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, float]:
    """Least squares on the independent columns; returns coefficients and the worst relative
    residual on the samples (0 when the model describes the measurements exactly)."""
    scale = np.abs(design).max(axis=0)
    scale[scale == 0] = 1.0
    keep: list[int] = []
    for j in range(design.shape[1]):
        trial = keep + [j]
        if np.linalg.matrix_rank(design[:, trial] / scale[trial], tol=1e-9) == len(trial):
            keep = trial
    coef = np.zeros(design.shape[1])
    sol, *_ = np.linalg.lstsq(design[:, keep] / scale[keep], values, rcond=None)
    coef[keep] = sol / scale[keep]
    fitted = design @ coef
    error = float(np.max(np.abs(fitted - values) / np.maximum(np.abs(values), 1.0)))
    return coef, error


@dataclass
class ActivationProfile:
    """Activation bytes of one training mode as a function of batch and frames, fitted from
    measurements (``samples``). ``fit_error`` is the worst relative residual on them.

    With checkpointing the peak is the largest of several moments (end of forward, end of
    each block's recomputation) and which one wins can change with the size, so each moment
    is fitted on its own (``phase_coefficients``) and the peak predicted as their maximum.
    """

    precision: str
    measured_precision: str
    checkpointing: bool
    checkpoint_attention: bool
    device: str
    time_multiple: int
    window_frames: int
    peak_coefficients: list[float]
    forward_coefficients: list[float]
    allocator_coefficients: Optional[list[float]]
    samples: list[ActivationSample]
    fit_error: float
    seconds: float
    features: tuple[str, ...] = FEATURES
    phase_coefficients: list[list[float]] = field(default_factory=list)

    def _features(self, batch: int, frames: int) -> np.ndarray:
        cfg = _FeatureConfig(self.time_multiple, (1, self.window_frames))
        return np.asarray(_frame_features(cfg, batch, frames))

    def _predict(self, coef: Sequence[float], batch: int, frames: int) -> int:
        return max(0, int(round(float(self._features(batch, frames) @ np.asarray(coef)))))

    def peak(self, batch: int, frames: int) -> int:
        if self.phase_coefficients:
            return max(self._predict(c, batch, frames) for c in self.phase_coefficients)
        return self._predict(self.peak_coefficients, batch, frames)

    def forward(self, batch: int, frames: int) -> int:
        return self._predict(self.forward_coefficients, batch, frames)

    def allocator(self, batch: int, frames: int) -> Optional[int]:
        if self.allocator_coefficients is None:
            return None
        return self._predict(self.allocator_coefficients, batch, frames)


@dataclass(frozen=True)
class _FeatureConfig:
    time_multiple: int
    window: tuple[int, int]


def measured_precision(precision: str, device: torch.device) -> str:
    # CPU fp16 autocast runs but is very slow; bf16 has the same element size and the same
    # autocast op lists, so it measures the same bytes (checked by a test).
    return "bf16" if precision == "fp16" and device.type == "cpu" else precision


def resolve_model(model_or_bundle, audio: Optional[AudioConfig]) -> tuple[nn.Module, AudioConfig, str]:
    if isinstance(model_or_bundle, ModelBundle):
        bundle = model_or_bundle
        if audio is None or (audio.subbands, audio.sources, audio.channels) == (
                bundle.audio.subbands, bundle.audio.sources, bundle.audio.channels):
            return bundle.build(), audio or bundle.audio, bundle.name
        # other sub-bands or sources change the network's inputs and outputs: the bundle's
        # sizes built for that audio config (the weights do not matter for memory)
        return build_model(bundle.model_config, audio), audio, bundle.name
    if isinstance(model_or_bundle, nn.Module):
        model = model_or_bundle
        if audio is None:
            audio = default_audio(model)
        model = disable_gradient_checkpointing(copy.deepcopy(model))
        return model, audio, type(model).__name__
    raise UserError(f"cannot estimate memory for a {type(model_or_bundle).__name__}; "
                    "give a model bundle or a TFSWA-UNet module")


def profile_activations(model_or_bundle, precision: str = "fp32", checkpointing: bool = False,
                        checkpoint_attention: bool = True, *, audio: Optional[AudioConfig] = None,
                        device=None, progress: Optional[ProgressFn] = None,
                        cancel: Optional[CancelToken] = None) -> ActivationProfile:
    """Measure activations at a few small sizes and fit them (see :func:`_frame_features`)."""
    precision = check_precision(precision)
    cancel = ensure_token(cancel)
    report = progress or no_progress
    device = resolve_device(device)
    model, audio, _ = resolve_model(model_or_bundle, audio)
    model = model.to(device).train()
    if checkpointing:
        model = enable_gradient_checkpointing(model, True, checkpoint_attention, inplace=True)
    measured = measured_precision(precision, device)
    points = _sample_points(model.config)
    start = time.perf_counter()
    samples = []
    for i, (batch, frames) in enumerate(points):
        cancel.check()
        report(i / len(points), f"{i + 1}/{len(points)}, batch {batch} x {frames} frames")
        samples.append(measure_activations(model, audio, batch, frames, measured, device,
                                           cancel=cancel))
    report(1.0, "fitted")
    design = np.asarray([_frame_features(model.config, s.batch, s.frames) for s in samples])
    peak, err = _fit(design, np.asarray([s.peak_bytes for s in samples], dtype=float))
    phases: list[list[float]] = []
    if len({len(s.phase_bytes) for s in samples}) == 1:
        for k in range(len(samples[0].phase_bytes)):
            coef, _ = _fit(design, np.asarray([s.phase_bytes[k] for s in samples], dtype=float))
            phases.append(coef.tolist())
    fwd, _ = _fit(design, np.asarray([s.forward_bytes for s in samples], dtype=float))
    alloc = None
    if all(s.allocator_peak_bytes is not None for s in samples):
        alloc, _ = _fit(design, np.asarray([s.allocator_peak_bytes for s in samples], dtype=float))
    profile = ActivationProfile(
        precision=precision, measured_precision=measured, checkpointing=checkpointing,
        checkpoint_attention=checkpoint_attention and checkpointing, device=str(device),
        time_multiple=model.config.time_multiple, window_frames=model.config.window[1],
        peak_coefficients=peak.tolist(), forward_coefficients=fwd.tolist(),
        allocator_coefficients=None if alloc is None else alloc.tolist(),
        samples=samples, fit_error=err, seconds=time.perf_counter() - start,
        phase_coefficients=phases)
    if phases:   # the residual of what is actually predicted: the maximum over the moments
        profile.fit_error = max(abs(profile.peak(s.batch, s.frames) - s.peak_bytes) /
                                max(s.peak_bytes, 1) for s in samples)
    return profile
