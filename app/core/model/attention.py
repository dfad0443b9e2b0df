"""Multi-head self-attention over token sequences, written with plain matmuls.

Plain ``matmul``/``softmax`` (instead of a fused kernel) keeps the module traceable,
scriptable, exportable to any ONNX opset and quantizable by ONNX Runtime's MatMul rules.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

# Additive mask value for forbidden pairs: exp(-1e4) underflows to exactly 0 in float32 and
# float16, and unlike -inf it never produces NaN for a row whose keys are all forbidden.
MASK_VALUE = -1.0e4


def add_bias(scores: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
    """``(B, heads, N, N)`` attention scores plus ``bias``: broadcastable to the scores, or
    ``(1, windows, heads, N, N)`` for a batch of ``B / windows`` maps of ``windows`` windows
    (the scores are viewed as ``(maps, windows, heads, N, N)``, so the bias is never expanded
    over the batch)."""
    if bias is None:
        return scores
    if bias.dim() == 5:
        b, heads, n, _ = scores.shape
        return (scores.reshape(-1, bias.shape[1], heads, n, n) + bias).reshape(b, heads, n, n)
    return scores + bias


class MultiHeadSelfAttention(nn.Module):
    """Self-attention on ``x`` of shape ``(B, N, D)``.

    ``bias`` is an additive term broadcastable to ``(B, heads, N, N)`` (relative position
    bias, window masks), or a 5-D ``(1, windows, heads, N, N)`` term for a batch made of
    ``B / windows`` maps of ``windows`` windows each (Swin): the scores are viewed as
    ``(maps, windows, heads, N, N)`` for the addition, so the bias is never expanded over the
    batch (no Expand node in an exported graph).
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not a multiple of heads {heads}")
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.attn_drop = nn.Dropout(dropout)
        self.proj_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        # unbind, not qkv[0..2]: one Split in ONNX instead of three Gathers (which CoreML's
        # ML Program lacks).
        q, k, v = qkv.unbind(0)  # (B, heads, N, D/heads)
        scores = torch.matmul(q * self.scale, k.transpose(-2, -1))
        scores = add_bias(scores, bias)
        attn = self.attn_drop(torch.softmax(scores, dim=-1))
        out = torch.matmul(attn, v).transpose(1, 2).reshape(b, n, c)
        return self.proj_drop(self.proj(out))


class FeedForward(nn.Module):
    def __init__(self, dim: int, ratio: float, dropout: float = 0.0):
        super().__init__()
        hidden = max(1, int(round(dim * ratio)))
        self.net = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden, dim), nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
