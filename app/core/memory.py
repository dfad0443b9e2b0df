"""Training memory: gradient checkpointing, and measured estimates of what a training step needs.

Gradient checkpointing (:func:`enable_gradient_checkpointing`) wraps the network's blocks in
:class:`GradientCheckpointWrapper`, which runs them under ``torch.utils.checkpoint``
(non-reentrant): a wrapped block keeps only its inputs for backward and recomputes the rest
there. State-dict keys are unchanged, dropout draws the same random numbers in the
recomputation, and BatchNorm running statistics are updated exactly once per step.

Estimates (:func:`estimate_memory`) add four terms: parameters, gradients, optimizer state
(counted from the parameter sizes) and activations, which are *measured*: a real
forward/backward runs while :class:`SavedTensorTracker` counts the bytes autograd holds for
backward (unique storages, parameters and buffers excluded), as they come and go, including
what checkpointed blocks recompute during backward. The peak of that count is the activation
term. Measuring a large batch directly would be slow, so :func:`profile_activations` measures
a few small (batch, frames) points and fits the model's exact shape dependence (linear in the
batch; linear in frames except time attention, quadratic in the bottleneck's frames; the Swin
window padding); the fit then answers for any size in microseconds. On a CUDA device the
allocator's own peak (``torch.cuda.max_memory_allocated``) is recorded and fitted as well.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import threading
import time
import weakref
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint as _torch_checkpoint

from .checkpoint import ModelBundle
from .config import AudioConfig
from .files import atomic_path
from .jobs import CancelToken, ProgressFn, UserError, ensure_token, scaled_progress
from .model.blocks import Down, ResBlock, Up
from .model.tfswa import SequenceAttention, SwinLayer, TFSWABlock
from .spectral import istft_torch, stft_torch

GiB = 1024 ** 3

# ============================================================================ checkpointing


class _FrozenBatchNorm:
    """While active, BatchNorm layers under ``module`` normalise with batch statistics as
    usual but leave their running statistics as they were.

    Used for the recomputation in backward: the forward pass already updated the running
    mean/variance once; a second update would move them twice as far per step (and count
    the batch twice in ``num_batches_tracked``). Momentum 0 makes the in-place update an exact
    no-op (``r * 1 + m * 0``) while every saved tensor stays the same as in the forward, which
    checkpoint's consistency check requires.
    """

    def __init__(self, module: nn.Module):
        self.norms = [m for m in module.modules()
                      if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
        self.saved: list[tuple[Any, Optional[torch.Tensor]]] = []

    def __enter__(self) -> "_FrozenBatchNorm":
        for bn in self.norms:
            count = bn.num_batches_tracked.clone() if bn.num_batches_tracked is not None else None
            self.saved.append((bn.momentum, count))
            bn.momentum = 0.0
        return self

    def __exit__(self, *exc) -> None:
        with torch.no_grad():
            for bn, (momentum, count) in zip(self.norms, self.saved):
                bn.momentum = momentum
                if count is not None:
                    bn.num_batches_tracked.copy_(count)
        self.saved.clear()


class _RecomputeContext:
    """Entered by torch.utils.checkpoint around the recomputation of one wrapped block."""

    def __init__(self, wrapper: "GradientCheckpointWrapper"):
        self.wrapper = wrapper
        self.frozen = _FrozenBatchNorm(wrapper.module)
        self.tap = None

    def __enter__(self) -> "_RecomputeContext":
        self.frozen.__enter__()
        tracker = self.wrapper._tracker
        if tracker is not None:
            self.tap = tracker.recompute_tap()
            self.tap.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.tap is not None:
            self.tap.__exit__(*exc)
            self.tap = None
        self.frozen.__exit__(*exc)


class GradientCheckpointWrapper(nn.Module):
    """Runs ``module`` under non-reentrant ``torch.utils.checkpoint`` while training.

    In eval mode, without grad, and while tracing or scripting it simply calls the module, so
    inference and export see the plain network. The wrapper is invisible in ``state_dict()``
    and ``load_state_dict()``: keys are the wrapped module's own (no ``module.`` level).
    """

    def __init__(self, module: nn.Module, preserve_rng_state: bool = True):
        super().__init__()
        self.module = module
        self.preserve_rng_state = preserve_rng_state
        self._tracker: Optional["SavedTensorTracker"] = None
        self._register_state_dict_hook(_strip_wrapper_keys)
        self._register_load_state_dict_pre_hook(_add_wrapper_keys, with_module=True)

    def _contexts(self):
        return contextlib.nullcontext(), _RecomputeContext(self)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if (not self.training or not torch.is_grad_enabled() or torch.jit.is_scripting()
                or torch.jit.is_tracing() or _is_exporting()):
            return self.module(*args, **kwargs)
        return _torch_checkpoint(self.module, *args, use_reentrant=False,
                                 preserve_rng_state=self.preserve_rng_state,
                                 context_fn=self._contexts, **kwargs)

    def extra_repr(self) -> str:
        return "non-reentrant torch.utils.checkpoint"


def _is_exporting() -> bool:
    onnx = getattr(torch, "onnx", None)
    check = getattr(onnx, "is_in_onnx_export", None)
    return bool(check and check())


_WRAPPED = "module."


def _strip_wrapper_keys(module, state_dict, prefix, local_metadata):
    """state_dict hook: ``prefix + 'module.' + k`` -> ``prefix + k``, order kept."""
    inner = prefix + _WRAPPED
    if not any(k.startswith(inner) for k in state_dict):
        return state_dict
    items = list(state_dict.items())
    state_dict.clear()
    for key, value in items:
        state_dict[prefix + key[len(inner):] if key.startswith(inner) else key] = value
    meta = getattr(state_dict, "_metadata", None)
    if meta is not None:
        for key in [k for k in meta if k == inner[:-1] or k.startswith(inner)]:
            meta[prefix + key[len(inner):]] = meta.pop(key)
    return state_dict


def _add_wrapper_keys(module, state_dict, prefix, local_metadata, strict, missing_keys,
                      unexpected_keys, error_msgs):
    """load_state_dict pre-hook: accept the plain keys a wrapped module's state_dict has."""
    inner = prefix + _WRAPPED
    for key in [k for k in state_dict if k.startswith(prefix) and not k.startswith(inner)]:
        state_dict[inner + key[len(prefix):]] = state_dict.pop(key)


def checkpoint_targets(model: nn.Module, checkpoint_blocks: bool = True,
                       checkpoint_attention: bool = True) -> list[nn.Module]:
    """The modules :func:`enable_gradient_checkpointing` wraps.

    ``checkpoint_blocks``: the residual conv stages of the encoder and decoder, each whole:
    the stem block, every ``Down`` (pooling + block) and every ``Up`` (1x1 reduce, upsampling,
    skip concatenation + block), so only each stage's output is kept for backward.
    ``checkpoint_attention``: every TFSWA block of the bottleneck, whole (its position conv
    and its four attention sublayers, TSA, FSA, W-MSA, SW-MSA, each with its feed-forward
    network).

    The two are independent and nothing is nested: measured on the medium preset, wrapping the
    attention sublayers again inside checkpointed TFSWA blocks recomputes them twice in
    backward (+14% step time) and saves nothing, since the peak comes from the full-resolution
    decoder stage (see docs/benchmarks.md). Modules inside an existing
    :class:`GradientCheckpointWrapper` are left alone.
    """
    found: list[nn.Module] = []

    def visit(module: nn.Module) -> None:
        for child in module.children():
            if isinstance(child, GradientCheckpointWrapper):
                continue
            if checkpoint_blocks and isinstance(child, (Down, Up, ResBlock)):
                found.append(child)
            elif checkpoint_attention and isinstance(child, TFSWABlock):
                found.append(child)
            else:
                visit(child)

    visit(model)
    return found


def enable_gradient_checkpointing(model: nn.Module, checkpoint_blocks: bool = True,
                                  checkpoint_attention: bool = True,
                                  inplace: bool = False) -> nn.Module:
    """Run the model's conv stages and/or TFSWA blocks under gradient checkpointing while
    training (see :func:`checkpoint_targets` for exactly which).

    Returns the model with those modules wrapped in :class:`GradientCheckpointWrapper`. With
    ``inplace=False`` (the default) a deep copy is wrapped and ``model`` is left untouched.
    Parameters, state-dict keys, the loss and every gradient are unchanged; eval mode and
    export see the plain network. :func:`disable_gradient_checkpointing` undoes it.
    """
    if not inplace:
        model = copy.deepcopy(model)
    targets = {id(m) for m in checkpoint_targets(model, checkpoint_blocks, checkpoint_attention)}
    if targets:
        _wrap_children(model, targets)
    return model


def _wrap_children(parent: nn.Module, targets: set[int]) -> None:
    for name, child in list(parent.named_children()):
        if isinstance(child, GradientCheckpointWrapper):
            _wrap_children(child.module, targets)
            continue
        _wrap_children(child, targets)
        if id(child) in targets:
            setattr(parent, name, GradientCheckpointWrapper(child))


def disable_gradient_checkpointing(model: nn.Module, inplace: bool = True) -> nn.Module:
    """Undo :func:`enable_gradient_checkpointing`: every wrapper is replaced by its module."""
    if not inplace:
        model = copy.deepcopy(model)
    _unwrap_children(model)
    return model


def _unwrap_children(parent: nn.Module) -> None:
    for name, child in list(parent.named_children()):
        while isinstance(child, GradientCheckpointWrapper):
            child = child.module
            setattr(parent, name, child)
        _unwrap_children(child)


def is_checkpointed(model: nn.Module) -> bool:
    return any(isinstance(m, GradientCheckpointWrapper) for m in model.modules())


def checkpoint_sequential(layers: Sequence[nn.Module] | nn.Sequential, segments: int,
                          input: torch.Tensor, **kwargs: Any) -> torch.Tensor:
    """Run ``layers`` one after another in ``segments`` checkpointed chunks.

    Each chunk keeps only its input for backward; the last chunk is not checkpointed, since
    backward needs its tensors at once anyway. Without grad the layers simply run.
    """
    layers = list(layers.children()) if isinstance(layers, nn.Sequential) else list(layers)
    if segments < 1:
        raise ValueError(f"segments must be >= 1, not {segments}")
    if not layers:
        return input
    segments = min(segments, len(layers))
    size = math.ceil(len(layers) / segments)
    chunks = [layers[i:i + size] for i in range(0, len(layers), size)]

    def run(chunk):
        def forward(x):
            for layer in chunk:
                x = layer(x)
            return x
        return forward

    x = input
    for i, chunk in enumerate(chunks):
        if i < len(chunks) - 1 and torch.is_grad_enabled():
            frozen = _FrozenBatchNorm(nn.ModuleList(chunk))
            x = _torch_checkpoint(run(chunk), x, use_reentrant=False,
                                  context_fn=lambda f=frozen: (contextlib.nullcontext(), f),
                                  **kwargs)
        else:
            x = run(chunk)(x)
    return x


# ============================================================================ measuring


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

        with torch.autograd.graph.saved_tensors_hooks(pack, inner_unpack):
            yield


def _top_saved_tensors_hooks():
    get = getattr(torch._C._autograd, "_top_saved_tensors_default_hooks", None)
    if get is None:
        return None
    try:
        return get(False)
    except (TypeError, RuntimeError):
        return None


PRECISIONS = ("fp32", "bf16", "fp16")
_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# Optimizer state per parameter element, in fp32 values: Adam/AdamW keep two moments,
# SGD with momentum one buffer, plain SGD none.
OPTIMIZER_STATES = {"adam": 2, "adamw": 2, "sgd": 1, "none": 0}


def check_precision(precision: str) -> str:
    p = str(precision).lower()
    if p not in PRECISIONS:
        raise UserError(f"unknown precision '{precision}'; choose one of {', '.join(PRECISIONS)}")
    return p


def check_optimizer(optimizer: str) -> str:
    o = str(optimizer).lower()
    if o not in OPTIMIZER_STATES:
        raise UserError(f"unknown optimizer '{optimizer}'; choose one of "
                        f"{', '.join(OPTIMIZER_STATES)} (sgd means SGD with momentum)")
    return o


def _autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_AUTOCAST_DTYPES[precision])


@dataclass
class ActivationSample:
    """One measured training forward/backward at ``batch`` x ``frames``.

    peak_bytes: peak of the bytes held for backward (the activation term).
    forward_bytes: what was held when forward ended (what checkpointing shrinks).
    recomputed_bytes: bytes saved again by checkpoint recomputation during backward.
    allocator_peak_bytes: CUDA only: ``max_memory_allocated`` during forward/backward above
        what was allocated before (activations, gradients and temporaries), else None.
    """

    batch: int
    frames: int
    peak_bytes: int
    forward_bytes: int
    recomputed_bytes: int
    allocator_peak_bytes: Optional[int]
    seconds: float


def measure_activations(model: nn.Module, audio: AudioConfig, batch: int, frames: int,
                        precision: str = "fp32", device: Optional[torch.device] = None,
                        seed: int = 0, backward: Optional[bool] = None) -> ActivationSample:
    """Run one training forward/backward of ``model`` and measure what it keeps for backward.

    ``model`` is used as given (wrap it with :func:`enable_gradient_checkpointing` first to
    measure checkpointing) and is put in train mode; its gradients are cleared afterwards and
    its BatchNorm running statistics restored, so measuring leaves it as it was. The step is
    the trainer's (app.core.train): STFT of a mixture (no grad), the model's masks on its
    magnitude (under autocast for bf16/fp16), masked complex spectra, inverse STFT with the
    mixture phase, L1 against the sources on the waveform. ``frames`` are STFT frames.

    ``backward=None`` runs backward only where it can change the answer: with checkpointed
    blocks (their recomputation saves tensors during backward) and on CUDA (the allocator
    peak includes gradients). Without checkpointing nothing is saved during backward, so the
    peak is what forward left, and skipping backward saves two thirds of the time.
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
    try:
        with tracker:
            with torch.no_grad():
                spec = stft_torch(mixture, audio.n_fft, audio.hop_length)   # (B, 2, F, T)
                mag = spec.abs()
            with _autocast(device, precision):
                masks = model(mag)                                          # (B, S, 2, F, T)
            estimate = istft_torch(masks.float() * spec[:, None], audio.n_fft,
                                   audio.hop_length, length)
            loss = (estimate - sources).abs().mean()
            tracker.mark_forward_end()
            if backward:
                loss.backward()
            del masks, estimate, loss
    finally:
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
    measurements (``samples``). ``fit_error`` is the worst relative residual on them."""

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

    def _features(self, batch: int, frames: int) -> np.ndarray:
        cfg = _FeatureConfig(self.time_multiple, (1, self.window_frames))
        return np.asarray(_frame_features(cfg, batch, frames))

    def _predict(self, coef: Sequence[float], batch: int, frames: int) -> int:
        return max(0, int(round(float(self._features(batch, frames) @ np.asarray(coef)))))

    def peak(self, batch: int, frames: int) -> int:
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


def _measured_precision(precision: str, device: torch.device) -> str:
    # CPU fp16 autocast runs but is very slow; bf16 has the same element size and the same
    # autocast op lists, so it measures the same bytes (checked by a test).
    return "bf16" if precision == "fp16" and device.type == "cpu" else precision


def _resolve(model_or_bundle, audio: Optional[AudioConfig]) -> tuple[nn.Module, AudioConfig, str]:
    if isinstance(model_or_bundle, ModelBundle):
        bundle = model_or_bundle
        return bundle.build(), audio or bundle.audio, bundle.name
    if isinstance(model_or_bundle, nn.Module):
        model = model_or_bundle
        if audio is None:
            n = int(getattr(model, "n_sources", 2))
            default = AudioConfig()
            sources = default.sources if n == len(default.sources) else tuple(
                f"source{i + 1}" for i in range(n))
            audio = replace(default, sources=sources)
        model = disable_gradient_checkpointing(copy.deepcopy(model))
        return model, audio, type(model).__name__
    raise UserError(f"cannot estimate memory for a {type(model_or_bundle).__name__}; "
                    "give a model bundle or a TFSWA-UNet module")


def _pick_device(device) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("no CUDA device is available here", hint="Use --device cpu (or auto).")
    return device


def profile_activations(model_or_bundle, precision: str = "fp32", checkpointing: bool = False,
                        checkpoint_attention: bool = True, *, audio: Optional[AudioConfig] = None,
                        device=None, progress: Optional[ProgressFn] = None,
                        cancel: Optional[CancelToken] = None) -> ActivationProfile:
    """Measure activations at a few small sizes and fit them (see :func:`_frame_features`)."""
    precision = check_precision(precision)
    cancel = ensure_token(cancel)
    report = progress or (lambda f, m="": None)
    device = _pick_device(device)
    model, audio, _ = _resolve(model_or_bundle, audio)
    model = model.to(device).train()
    if checkpointing:
        model = enable_gradient_checkpointing(model, True, checkpoint_attention, inplace=True)
    measured = _measured_precision(precision, device)
    points = _sample_points(model.config)
    start = time.perf_counter()
    samples = []
    for i, (batch, frames) in enumerate(points):
        cancel.check()
        report(i / len(points), f"measuring batch {batch} x {frames} frames")
        samples.append(measure_activations(model, audio, batch, frames, measured, device))
    report(1.0, "fitted")
    design = np.asarray([_frame_features(model.config, s.batch, s.frames) for s in samples])
    peak, err = _fit(design, np.asarray([s.peak_bytes for s in samples], dtype=float))
    fwd, _ = _fit(design, np.asarray([s.forward_bytes for s in samples], dtype=float))
    alloc = None
    if all(s.allocator_peak_bytes is not None for s in samples):
        alloc, _ = _fit(design, np.asarray([s.allocator_peak_bytes for s in samples], dtype=float))
    return ActivationProfile(
        precision=precision, measured_precision=measured, checkpointing=checkpointing,
        checkpoint_attention=checkpoint_attention and checkpointing, device=str(device),
        time_multiple=model.config.time_multiple, window_frames=model.config.window[1],
        peak_coefficients=peak.tolist(), forward_coefficients=fwd.tolist(),
        allocator_coefficients=None if alloc is None else alloc.tolist(),
        samples=samples, fit_error=err, seconds=time.perf_counter() - start)


# ============================================================================ estimates

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
        sample = measure_activations(work, audio, int(batch_size), frames, measured, device)
        profile = ActivationProfile(
            precision, measured, checkpointing, checkpoint_attention and checkpointing,
            str(device), model.config.time_multiple, model.config.window[1], [], [], None,
            [sample], 0.0, sample.seconds)
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


def plan_memory(model_or_bundle, batches: Sequence[int] = (1, 2, 4, 8, 16),
                segment_seconds: Optional[float] = None, mixed_precision: str = "bf16",
                optimizer: str = "adam", budget_gb: Optional[float] = None, *,
                modes: Sequence[str] = MODES, checkpoint_attention: bool = True,
                reserve_gb: float = 0.0, audio: Optional[AudioConfig] = None, device=None,
                on_mode: Optional[Callable[[ModeResult], None]] = None,
                progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelToken] = None) -> MemoryPlan:
    """Estimate every mode (baseline, checkpointing, mixed precision, both) over ``batches``.

    Each mode is measured once (:func:`profile_activations`) and then answers for every batch;
    ``on_mode`` receives each mode's result as soon as it is ready (to draw it live).
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
