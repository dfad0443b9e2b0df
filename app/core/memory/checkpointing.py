"""Gradient checkpointing for TFSWA-UNet that changes nothing but memory and time.

:func:`enable_gradient_checkpointing` wraps the network's conv stages and TFSWA blocks in
:class:`GradientCheckpointWrapper`, which runs them under non-reentrant
``torch.utils.checkpoint`` while training: a wrapped module keeps only its inputs for
backward and recomputes the rest there. State-dict keys are unchanged (checkpoints stay
compatible both ways), dropout draws the same random numbers in the recomputation (the RNG
state is restored), and BatchNorm running statistics are updated exactly once per step.
In eval mode, without grad and during export the wrappers just call their module.
"""

from __future__ import annotations

import contextlib
import copy
import math
from typing import Any, Optional, Sequence

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint as _torch_checkpoint

from ..model.blocks import Down, ResBlock, Up
from ..model.tfswa import TFSWABlock


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
        # Set by app.core.memory.activations.measure_activations while it counts saved tensors.
        self._tracker = None
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
