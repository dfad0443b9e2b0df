"""Fake quantization of a TFSWA-UNet that imitates ONNX Runtime's static QDQ INT8, for
quantization-aware training (:func:`prepare_qat`), and the plain model back out of it
(:func:`strip_qat`).

What ONNX Runtime quantizes (``quantize_static``, QDQ format, op types Conv/MatMul/Gemm,
per-channel weights) and therefore what is imitated here:

- weights of every Conv and MatMul: per output channel, symmetric int8 in [-127, 127]
  (scale = max |w| / 127, zero point 0), computed from the weights as they are;
- every activation tensor that is an input or an output of a Conv or MatMul: per tensor,
  asymmetric uint8 (the range widened to include 0, scale = (max - min) / 255). A tensor is
  quantized once, for all its consumers: the input of a residual block feeds its batch norm
  *and* its 1x1 shortcut convolution, so the quantized value feeds both;
- a ``Linear`` exports as MatMul + Add: its output is quantized before the bias is added;
- inside attention, both inputs and the output of each of the two matmuls (q * scale, k^T,
  scores before the bias; the softmax, v, their product).

Batch norms that directly follow a convolution are folded into it first, as the exporter
does, so the weights quantized in training are those ONNX Runtime sees. Ranges are observed
(min/max, like ONNX Runtime's MinMax calibration) on a few batches, then follow an
exponential moving average; the final ranges are what the export hands to ONNX Runtime
(:mod:`app.core.quantization.qat_onnx`).
"""

from __future__ import annotations

import copy
from typing import Iterator, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..model.attention import MultiHeadSelfAttention, add_bias
from ..model.blocks import ResBlock
from ..model.optimize import fold_batchnorms
from ..model.tfswa import TFSWABlock

# ONNX Runtime's integer ranges: uint8 activations (asymmetric), int8 weights (symmetric).
ACT_QMIN, ACT_QMAX = 0, 255
WEIGHT_QMAX = 127
EMA = 0.01          # moving-average weight of a new batch's range once calibrated
OBSERVERS = ("minmax", "ema", "off")


class FakeQuantize(nn.Module):
    """Per-tensor uint8 fake quantization with ONNX Runtime's scale and zero point.

    ``observer``: "minmax" grows the range to every value seen (ONNX Runtime's MinMax
    calibration), "ema" follows a moving average of each batch's range (training), "off"
    keeps it. ``enabled=False`` passes values through unchanged; ``record=True`` keeps the
    last input (to find the ONNX tensor it corresponds to)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("min_val", torch.tensor(float("inf")))
        self.register_buffer("max_val", torch.tensor(float("-inf")))
        self.observer = "minmax"
        self.enabled = True
        self.record = False
        self.last: Optional[torch.Tensor] = None

    @property
    def calibrated(self) -> bool:
        return bool(torch.isfinite(self.min_val)) and bool(torch.isfinite(self.max_val))

    def range(self) -> tuple[float, float]:
        """(rmin, rmax) as ONNX Runtime uses them: widened to include zero."""
        return min(float(self.min_val), 0.0), max(float(self.max_val), 0.0)

    def qparams(self) -> tuple[torch.Tensor, torch.Tensor]:
        rmin, rmax = self.range()
        scale = (rmax - rmin) / (ACT_QMAX - ACT_QMIN)
        if scale < torch.finfo(torch.float32).tiny:
            return torch.tensor([1.0]), torch.tensor([0], dtype=torch.int32)
        zero = min(max(round(ACT_QMIN - rmin / scale), ACT_QMIN), ACT_QMAX)
        return torch.tensor([scale]), torch.tensor([zero], dtype=torch.int32)

    @torch.no_grad()
    def observe(self, x: torch.Tensor) -> None:
        lo, hi = x.detach().float().aminmax()
        if self.observer == "minmax" or not self.calibrated:
            self.min_val.copy_(torch.minimum(self.min_val, lo))
            self.max_val.copy_(torch.maximum(self.max_val, hi))
        else:
            self.min_val.lerp_(lo, EMA)
            self.max_val.lerp_(hi, EMA)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.record:
            self.last = x.detach().clone()
        if self.observer != "off":
            self.observe(x)
        if not self.enabled or not self.calibrated:
            return x
        scale, zero = self.qparams()
        return torch.fake_quantize_per_tensor_affine(
            x, scale.to(x.device), zero.to(x.device), ACT_QMIN, ACT_QMAX)


def fake_quantize_weight(w: torch.Tensor) -> torch.Tensor:
    """Per-output-channel (axis 0) symmetric int8 fake quantization, as ONNX Runtime
    quantizes Conv and MatMul weights; gradients pass straight through."""
    amax = w.detach().abs().flatten(1).amax(dim=1)
    scale = torch.where(amax > 0, amax / WEIGHT_QMAX, torch.ones_like(amax)).float()
    zero = torch.zeros_like(scale, dtype=torch.int32)
    return torch.fake_quantize_per_channel_affine(w, scale, zero, 0, -WEIGHT_QMAX, WEIGHT_QMAX)


# ----------------------------------------------------------------------------- wrappers

class QatConv2d(nn.Module):
    """A convolution with fake-quantized weights and output (and input, unless the module
    that owns it quantizes that tensor for all its consumers)."""

    def __init__(self, inner: nn.Conv2d, quantize_input: bool = True):
        super().__init__()
        self.inner = inner
        self.fq_in = FakeQuantize() if quantize_input else None
        self.fq_out = FakeQuantize()
        self.quantize_weight = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fq_in is not None:
            x = self.fq_in(x)
        c = self.inner
        w = fake_quantize_weight(c.weight) if self.quantize_weight else c.weight
        y = F.conv2d(x, w, c.bias, c.stride, c.padding, c.dilation, c.groups)
        return self.fq_out(y)


class QatLinear(nn.Module):
    """A linear layer as ONNX Runtime sees it (MatMul, then Add of the bias): input,
    per-channel weights and the product before the bias fake-quantized."""

    def __init__(self, inner: nn.Linear):
        super().__init__()
        self.inner = inner
        self.fq_in = FakeQuantize()
        self.fq_out = FakeQuantize()
        self.quantize_weight = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.inner.weight
        y = self.fq_out(F.linear(self.fq_in(x), fake_quantize_weight(w) if self.quantize_weight
                                 else w))
        return y if self.inner.bias is None else y + self.inner.bias


class QatInput(nn.Module):
    """Quantizes a module's first input once for all its consumers (a residual block's
    input feeds both its batch norm and its shortcut convolution)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.fq_in = FakeQuantize()

    def forward(self, x: torch.Tensor, *rest):
        return self.inner(self.fq_in(x), *rest)


class QatSelfAttention(nn.Module):
    """:class:`MultiHeadSelfAttention` with both matmuls' inputs and outputs fake-quantized
    (its ``qkv`` and ``proj`` become :class:`QatLinear`). Same maths as the original: a test
    compares the two with quantization disabled."""

    def __init__(self, inner: MultiHeadSelfAttention):
        super().__init__()
        self.inner = inner
        for name in ("qkv", "proj"):
            if not isinstance(getattr(inner, name), QatLinear):
                setattr(inner, name, QatLinear(getattr(inner, name)))
        for name in ("fq_q", "fq_k", "fq_v", "fq_scores", "fq_attn", "fq_context"):
            setattr(self, name, FakeQuantize())

    def forward(self, x: torch.Tensor, bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        m = self.inner
        b, n, c = x.shape
        qkv = m.qkv(x).reshape(b, n, 3, m.heads, m.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        scores = self.fq_scores(torch.matmul(self.fq_q(q * m.scale),
                                             self.fq_k(k.transpose(-2, -1))))
        scores = add_bias(scores, bias)
        attn = self.fq_attn(m.attn_drop(torch.softmax(scores, dim=-1)))
        out = self.fq_context(torch.matmul(attn, self.fq_v(v)))
        return m.proj_drop(m.proj(out.transpose(1, 2).reshape(b, n, c)))


WRAPPERS = (QatConv2d, QatLinear, QatInput, QatSelfAttention)
# (owner type, child name): convolutions whose input the owner quantizes for all consumers.
SHARED_INPUT = {(ResBlock, "shortcut"), (TFSWABlock, "pos")}


# ----------------------------------------------------------------------------- prepare / strip

def prepare_qat(model: nn.Module, *, inplace: bool = False) -> nn.Module:
    """The model ready for quantization-aware training: batch norms folded into the
    convolutions before them (as the export does), then fake quantization inserted where
    ONNX Runtime's static QDQ INT8 quantizes. Returns a copy unless ``inplace``; the model
    is left in eval mode (batch norms keep their statistics) with gradients enabled.

    Its fake-quantizers start with the "minmax" observer: run a few batches (calibration),
    then switch to "ema" for training (:func:`set_fake_quant`); until a quantizer has seen
    data it passes values through.
    """
    out = model if inplace else copy.deepcopy(model)
    out.eval()
    fold_batchnorms(out)
    _wrap(out)
    for p in out.parameters():
        p.requires_grad_(True)
    return out


def _wrap(module: nn.Module) -> None:
    for name, child in list(module.named_children()):
        if isinstance(child, WRAPPERS):
            continue
        if isinstance(child, MultiHeadSelfAttention):
            setattr(module, name, QatSelfAttention(child))
            continue
        _wrap(child)
        if isinstance(child, nn.Conv2d):
            shared = any(isinstance(module, t) and name == n for t, n in SHARED_INPUT)
            setattr(module, name, QatConv2d(child, quantize_input=not shared))
        elif isinstance(child, nn.Linear):
            setattr(module, name, QatLinear(child))
        elif isinstance(child, (ResBlock, TFSWABlock)):
            setattr(module, name, QatInput(child))


def strip_qat(model: nn.Module) -> nn.Module:
    """A copy of a prepared model without fake quantization: the plain network (batch norms
    folded) with the trained weights, ready to export."""
    out = copy.deepcopy(model)
    return _unwrap(out)


def _unwrap(module: nn.Module) -> nn.Module:
    if isinstance(module, WRAPPERS):
        return _unwrap(module.inner)
    for name, child in list(module.named_children()):
        setattr(module, name, _unwrap(child))
    return module


def fake_quantizers(model: nn.Module) -> Iterator[tuple[str, FakeQuantize]]:
    """Every activation fake-quantizer of a prepared model, with its module path."""
    for name, m in model.named_modules():
        if isinstance(m, FakeQuantize):
            yield name, m


def set_fake_quant(model: nn.Module, *, enabled: Optional[bool] = None,
                   observer: Optional[str] = None, record: Optional[bool] = None) -> None:
    """Switch quantization (activations and weights), the range observer ("minmax", "ema",
    "off") or recording on every fake-quantizer of a prepared model."""
    if observer is not None and observer not in OBSERVERS:
        raise ValueError(f"observer must be one of {OBSERVERS}, not {observer!r}")
    if enabled is not None:
        for m in model.modules():
            if isinstance(m, (QatConv2d, QatLinear)):
                m.quantize_weight = enabled
    for _, fq in fake_quantizers(model):
        if enabled is not None:
            fq.enabled = enabled
        if observer is not None:
            fq.observer = observer
        if record is not None:
            fq.record = record
            if not record:
                fq.last = None


def is_prepared(model: nn.Module) -> bool:
    return any(True for _ in fake_quantizers(model))
