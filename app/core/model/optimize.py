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


# ----------------------------------------------------------------------------- mobile graphs
# Module swaps for an export to mobile runtimes (NNAPI, CoreML) whose ONNX operator sets lack
# some of the model's operators. Each swap computes the same function (float rounding aside).

class ChannelAffine(nn.Module):
    """An eval-mode BatchNorm2d as ``x * scale + shift`` (Mul, Add): CoreML's ML Program has
    no BatchNormalization."""

    def __init__(self, bn: nn.BatchNorm2d):
        super().__init__()
        import torch

        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        self.register_buffer("scale", scale.detach().reshape(1, -1, 1, 1).clone())
        self.register_buffer("shift", (bn.bias - bn.running_mean * scale).detach()
                             .reshape(1, -1, 1, 1).clone())

    def forward(self, x):
        return x * self.scale + self.shift


class DecomposedLayerNorm(nn.Module):
    """LayerNorm over the last axis as ReduceMean/Sub/Mul/Add/Sqrt/Div/Mul/Add (NNAPI has
    no LayerNormalization)."""

    def __init__(self, ln: nn.LayerNorm):
        super().__init__()
        self.eps = ln.eps
        self.weight, self.bias = ln.weight, ln.bias

    def forward(self, x):
        import torch

        d = x - x.mean(-1, keepdim=True)
        # d * d rather than d ** 2: ONNX Runtime fuses the Pow form back into a
        # LayerNormalization node, which is what NNAPI lacks.
        return d / torch.sqrt((d * d).mean(-1, keepdim=True) + self.eps) * self.weight + self.bias


# erf(a) for a >= 0 as 1 - t (c1 + c2 t + ... + c5 t^4) exp(-a^2) with t = 1 / (1 + p a):
# Abramowitz & Stegun, Handbook of Mathematical Functions, 7.1.26 (absolute error <= 1.5e-7).
_AS_P = 0.3275911
_AS_C = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


class RationalGELU(nn.Module):
    """Exact-erf GELU written with Abs, Exp, Mul, Add and Div only (NNAPI has no Erf):
    ``0.5 (x + |x| erf(|x| / sqrt 2))``, erf from Abramowitz & Stegun 7.1.26. Within 1e-6 of
    nn.GELU; ONNX Runtime's CPU optimizer does not fuse it, so use it only for NNAPI graphs."""

    def forward(self, x):
        import torch

        ax = torch.abs(x)
        a = ax * 0.7071067811865476
        # t (c1 + c2 t + ... + c5 t^4) with t = 1/u is (c1 u^4 + ... + c5) / u^5: one Div of
        # two tensors (a Reciprocal node would be one more operator NNAPI lacks).
        u = 1.0 + _AS_P * a
        num = u * _AS_C[0] + _AS_C[1]
        for c in _AS_C[2:]:
            num = num * u + c
        u2 = u * u
        erf = 1.0 - num / (u2 * u2 * u) * torch.exp(-a * a)
        return 0.5 * (x + ax * erf)


def prepare_for_mobile(model: nn.Module, nnapi: bool = True) -> nn.Module:
    """Swap, in place, the modules whose ONNX operators mobile runtimes lack: batch norms
    become Mul+Add (CoreML), and with ``nnapi`` layer norms and GELUs are decomposed into
    operators NNAPI has. Returns ``model``."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(parent, name, ChannelAffine(child))
            elif nnapi and isinstance(child, nn.LayerNorm):
                setattr(parent, name, DecomposedLayerNorm(child))
            elif nnapi and isinstance(child, nn.GELU) and child.approximate == "none":
                setattr(parent, name, RationalGELU())
    return model
