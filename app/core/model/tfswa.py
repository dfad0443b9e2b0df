"""The TFSWA bottleneck: time-sequence, frequency-sequence and shifted-window attention.

All modules here take and return feature maps of shape ``(B, C, F, T)``.
Shapes are read from the input at run time and nothing branches on tensor values, so the
modules trace, script and export with dynamic batch and frame axes.

A module with ``fixed_shapes`` set (see :func:`app.core.model.use_fixed_shapes`) reads its
input's sizes as Python integers instead: a trace then records the Swin masks, the relative
position bias and the padding as constants (no shape arithmetic, no Pad node), which is what
an export for one fixed segment length wants (NNAPI and CoreML need static shapes). Such a
trace is valid for that input shape only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import MASK_VALUE, FeedForward, MultiHeadSelfAttention


class SequenceAttention(nn.Module):
    """A pre-norm transformer layer attending along one axis of the map.

    ``along="time"`` is TSA: every frequency bin is a sequence over frames.
    ``along="freq"`` is FSA: every frame is a sequence over frequency bins.
    Each position only ever sees positions on its own row (TSA) or column (FSA).
    """

    def __init__(self, dim: int, heads: int, along: str, mlp_ratio: float, dropout: float):
        super().__init__()
        if along not in ("time", "freq"):
            raise ValueError(f"along must be 'time' or 'freq', not {along!r}")
        self.along_time = along == "time"
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadSelfAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, mlp_ratio, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, nf, nt = x.shape
        if self.along_time:  # (B, C, F, T) -> (B*F, T, C)
            seq = x.permute(0, 2, 3, 1).reshape(b * nf, nt, c)
        else:                # (B, C, F, T) -> (B*T, F, C)
            seq = x.permute(0, 3, 2, 1).reshape(b * nt, nf, c)
        seq = seq + self.attn(self.norm1(seq))
        seq = seq + self.ffn(self.norm2(seq))
        if self.along_time:
            return seq.reshape(b, nf, nt, c).permute(0, 3, 1, 2)
        return seq.reshape(b, nt, nf, c).permute(0, 3, 2, 1)


def window_partition(x: torch.Tensor, wf: int, wt: int) -> torch.Tensor:
    """``(B, F, T, C)`` with F, T multiples of the window -> ``(B*windows, wf*wt, C)``.

    Batch and window rows stay merged in one axis (they are never permuted apart), so no
    tensor has more than 5 dimensions: CoreML handles rank <= 5 only.
    """
    b, nf, nt, c = x.shape
    x = x.reshape(b * (nf // wf), wf, nt // wt, wt, c).permute(0, 2, 1, 3, 4)
    return x.reshape(-1, wf * wt, c)


def window_reverse(w: torch.Tensor, wf: int, wt: int, b: int, nf: int, nt: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`."""
    c = w.shape[-1]
    x = w.reshape(b * (nf // wf), nt // wt, wf, wt, c).permute(0, 2, 1, 3, 4)
    return x.reshape(b, nf, nt, c)


def zero_pad_end(x: torch.Tensor, dim: int, amount: int) -> torch.Tensor:
    """``x`` with ``amount`` zeros appended along ``dim`` (Python sizes only): a Concat with a
    constant in an exported graph, for runtimes without Pad (CoreML's ML Program)."""
    if amount <= 0:
        return x
    shape = [int(s) for s in x.shape]
    shape[dim] = int(amount)
    return torch.cat([x, torch.zeros(shape, dtype=x.dtype, device=x.device)], dim)


def relative_position_index(wf: int, wt: int) -> torch.Tensor:
    """``(N, N)`` index into a ``((2wf-1)*(2wt-1), heads)`` relative position bias table.
    Made on the CPU even where the model is built on the meta device (to count its size):
    integer arithmetic on meta tensors first imports PyTorch's reference operators, which
    took 2 s of every checkpoint's loading."""
    cpu = torch.device("cpu")
    coords = torch.stack(torch.meshgrid(torch.arange(wf, device=cpu), torch.arange(wt, device=cpu),
                                        indexing="ij"))
    coords = coords.flatten(1)                                  # (2, N)
    rel = coords[:, :, None] - coords[:, None, :]               # (2, N, N)
    return (rel[0] + wf - 1) * (2 * wt - 1) + (rel[1] + wt - 1)


def shifted_window_mask(nf: int, nt: int, valid_f: int, valid_t: int, window: tuple[int, int],
                        shift: tuple[int, int], device: torch.device,
                        mask_value: float = MASK_VALUE) -> torch.Tensor:
    """Additive attention mask ``(windows, N, N)`` for a map cyclically shifted by ``-shift``.

    The padded map has ``nf x nt`` tokens, of which the first ``valid_f x valid_t`` (before the
    shift) are real. After ``roll(-shift)``, the token at shifted position p came from original
    position ``(p + s) % n``; the last ``s`` positions wrapped around from the start. Two tokens
    of one window may attend to each other only if both or neither wrapped (along each axis),
    so wrapped regions stay apart; padded tokens are never attended to. With zero shift this is
    plain window attention with padding masked.
    """
    wf, wt = window
    sf, st = shift
    f = torch.arange(nf, device=device)
    t = torch.arange(nt, device=device)
    wrapped_f = (f >= nf - sf).long()
    wrapped_t = (t >= nt - st).long()
    region = (wrapped_f[:, None] * 2 + wrapped_t[None, :]).to(torch.float32)
    real_f = ((f + sf) % nf) < valid_f
    real_t = ((t + st) % nt) < valid_t
    real = (real_f[:, None] & real_t[None, :]).to(torch.float32)
    ids = window_partition(torch.stack([region, real], dim=-1)[None], wf, wt)  # (nW, N, 2)
    same_region = ids[:, :, None, 0] == ids[:, None, :, 0]
    key_real = ids[:, None, :, 1] > 0.5
    allowed = same_region & key_real
    zero = torch.zeros((), dtype=torch.float32, device=device)
    return torch.where(allowed, zero, zero + mask_value)


class SwinLayer(nn.Module):
    """Window attention over local ``window`` regions (W-MSA), or shifted by half a window
    with the cyclic-shift mask (SW-MSA), followed by a feed-forward network."""

    def __init__(self, dim: int, heads: int, window: tuple[int, int], shifted: bool,
                 mlp_ratio: float, dropout: float):
        super().__init__()
        self.wf, self.wt = int(window[0]), int(window[1])
        self.sf = self.wf // 2 if shifted else 0
        self.st = self.wt // 2 if shifted else 0
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadSelfAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, mlp_ratio, dropout)
        n_rel = (2 * self.wf - 1) * (2 * self.wt - 1)
        self.rel_bias = nn.Parameter(torch.zeros(n_rel, heads))
        nn.init.trunc_normal_(self.rel_bias, std=0.02)
        self.register_buffer("rel_index", relative_position_index(self.wf, self.wt).flatten(),
                             persistent=False)
        self.fixed_shapes = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, nf, nt = x.shape
        if self.fixed_shapes:
            b, nf, nt = int(x.shape[0]), int(x.shape[2]), int(x.shape[3])
        wf, wt = self.wf, self.wt
        pad_f = (wf - nf % wf) % wf
        pad_t = (wt - nt % wt) % wt
        h = x.permute(0, 2, 3, 1)                                  # (B, F, T, C)
        if self.fixed_shapes:
            y = zero_pad_end(zero_pad_end(self.norm1(h), 1, pad_f), 2, pad_t)
        else:
            y = F.pad(self.norm1(h), (0, 0, 0, pad_t, 0, pad_f))
        pf, pt = nf + pad_f, nt + pad_t
        y = torch.roll(y, shifts=(-self.sf, -self.st), dims=(1, 2))
        windows = window_partition(y, wf, wt)                     # (B*nW, N, C)
        n = wf * wt
        mask = shifted_window_mask(pf, pt, nf, nt, (wf, wt), (self.sf, self.st), x.device)
        rel = self.rel_bias[self.rel_index].reshape(n, n, self.heads).permute(2, 0, 1)
        bias = rel[None, None] + mask[None, :, None]               # (1, nW, heads, N, N)
        windows = self.attn(windows, bias.to(windows.dtype))      # broadcast over the batch
        y = window_reverse(windows, wf, wt, b, pf, pt)
        y = torch.roll(y, shifts=(self.sf, self.st), dims=(1, 2))[:, :nf, :nt]
        h = h + y
        h = h + self.ffn(self.norm2(h))
        return h.permute(0, 3, 1, 2)


class TFSWABlock(nn.Module):
    """One bottleneck block: a depthwise-conv position encoding, TSA, FSA, then the Swin pair
    (W-MSA, SW-MSA). ``(B, C, F, T)`` in and out."""

    def __init__(self, dim: int, heads: int, window: tuple[int, int], mlp_ratio: float,
                 dropout: float):
        super().__init__()
        self.pos = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.tsa = SequenceAttention(dim, heads, "time", mlp_ratio, dropout)
        self.fsa = SequenceAttention(dim, heads, "freq", mlp_ratio, dropout)
        self.wmsa = SwinLayer(dim, heads, window, False, mlp_ratio, dropout)
        self.swmsa = SwinLayer(dim, heads, window, True, mlp_ratio, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.pos(x)
        x = self.tsa(x)
        x = self.fsa(x)
        x = self.wmsa(x)
        return self.swmsa(x)
