"""An inference copy of a model: batch norms folded into the convolutions before them,
parameters frozen. Export folds before it traces; the outputs match the original's to float
rounding."""

from __future__ import annotations

import copy

from torch import nn

from .blocks import ResBlock

# conv -> batch norm pairs that are adjacent in a module's forward, foldable into the conv.
FOLDABLE: dict[type, tuple[tuple[str, str], ...]] = {ResBlock: (("conv1", "norm2"),)}


def fold_batchnorms(model: nn.Module) -> list[str]:
    """Fold each batch norm that directly follows a convolution into that convolution, in
    place (eval mode only); returns the names of the folded norms.

    In TFSWA-UNet's pre-activation residual blocks (BN, GELU, conv; BN, GELU, conv) only the
    second BN follows a conv directly; the first sits on the block's input ahead of a GELU,
    and a BN cannot move through a nonlinearity.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if model.training:
        raise ValueError("batch norms can only be folded in eval mode")
    folded = []
    for name, module in model.named_modules():
        for conv_name, bn_name in FOLDABLE.get(type(module), ()):
            conv, bn = getattr(module, conv_name), getattr(module, bn_name)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(module, conv_name, fuse_conv_bn_eval(conv, bn))
                setattr(module, bn_name, nn.Identity())
                folded.append(f"{name}.{bn_name}" if name else bn_name)
    return folded


def optimize_for_inference(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Eval mode, batch norms folded into convolutions, parameters frozen (no gradients).

    Returns a copy unless ``inplace``; its outputs match the original's (to float rounding).
    The names of the folded norms are in ``model.folded_batchnorms``.
    """
    out = model if inplace else copy.deepcopy(model)
    out.eval()
    folded = fold_batchnorms(out)
    for p in out.parameters():
        p.requires_grad_(False)
    out.folded_batchnorms = folded
    return out
