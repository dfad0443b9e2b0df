"""TFSWA-UNet: a residual conv U-Net over sub-band magnitude spectrograms with a
TFSWA attention bottleneck, predicting a magnitude mask per source and stereo channel."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from .blocks import Down, ResBlock, Up
from .tfswa import TFSWABlock, zero_pad_end


class TFSWAUNet(nn.Module):
    """``(B, C, F, T)`` mixture magnitude ->
    ``(B, S, C, F, T)`` masks in [0, 1].

    Any number of frames >= 1 and any bin count: the input is zero-padded internally
    (frequency to a multiple of ``subbands * 2**(levels-1)``, frames to ``2**(levels-1)``)
    and the masks are cropped back.
    """

    def __init__(self, config: ModelConfig, n_sources: int = 2, subbands: int = 4,
                 in_channels: int = 2):
        super().__init__()
        self.config = config
        self.n_sources = int(n_sources)
        self.subbands = int(subbands)
        self.in_channels = int(in_channels)
        ch = config.channels
        self.multiple = 2 ** (len(ch) - 1)
        self.stem = ResBlock(in_channels * subbands, ch[0])
        self.downs = nn.ModuleList(Down(ch[i - 1], ch[i]) for i in range(1, len(ch)))
        self.to_dim = nn.Conv2d(ch[-1], config.dim, 1) if config.dim != ch[-1] else nn.Identity()
        self.blocks = nn.ModuleList(
            TFSWABlock(config.dim, config.heads, config.window, config.mlp_ratio, config.dropout)
            for _ in range(config.blocks)
        )
        self.from_dim = nn.Conv2d(config.dim, ch[-1], 1) if config.dim != ch[-1] else nn.Identity()
        self.ups = nn.ModuleList(Up(ch[i], ch[i - 1], ch[i - 1]) for i in range(len(ch) - 1, 0, -1))
        self.head = nn.Conv2d(ch[0], n_sources * in_channels * subbands, 1)
        self.fixed_shapes = False      # see app.core.model.use_fixed_shapes

    def stages(self) -> list[tuple[str, nn.Module]]:
        """Named top-level stages, in execution order (for the per-stage summary)."""
        out: list[tuple[str, nn.Module]] = [("stem", self.stem)]
        out += [(f"down{i + 1}", m) for i, m in enumerate(self.downs)]
        out += [("to_dim", self.to_dim)] if not isinstance(self.to_dim, nn.Identity) else []
        out += [(f"tfswa{i + 1}", m) for i, m in enumerate(self.blocks)]
        out += [("from_dim", self.from_dim)] if not isinstance(self.from_dim, nn.Identity) else []
        out += [(f"up{len(self.ups) - i}", m) for i, m in enumerate(self.ups)]
        out.append(("head", self.head))
        return out

    def split_subbands(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, F, T)`` with F a multiple of the sub-band count K -> ``(B, C*K, F/K, T)``,
        channel index ``channel * k + band`` (the convention of
        :func:`app.core.audio.spectral.to_subbands`)."""
        b, c, nf, nt = x.shape
        return x.reshape(b, c * self.subbands, nf // self.subbands, nt)

    def forward(self, mag: torch.Tensor) -> torch.Tensor:
        b, c, nf, nt = mag.shape
        if self.fixed_shapes:
            b, nf, nt = int(mag.shape[0]), int(mag.shape[2]), int(mag.shape[3])
        k = self.subbands
        fm = k * self.multiple
        pad_f = (fm - nf % fm) % fm
        pad_t = (self.multiple - nt % self.multiple) % self.multiple
        if self.fixed_shapes:
            x = zero_pad_end(zero_pad_end(torch.log1p(mag), 2, pad_f), 3, pad_t)
        else:
            x = F.pad(torch.log1p(mag), (0, pad_t, 0, pad_f))
        x = self.split_subbands(x)                    # (B, C*K, F/K, T'): bands as channels

        x = self.stem(x)
        skips = [x]
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = self.to_dim(skips.pop())
        for block in self.blocks:
            x = block(x)
        x = self.from_dim(x)
        for up in self.ups:
            x = up(x, skips.pop())

        masks = torch.sigmoid(self.head(x))           # (B, S*C*K, F/K, T')
        band, pt = masks.shape[2], masks.shape[3]
        masks = masks.reshape(b, self.n_sources, c, k * band, pt)
        return masks[:, :, :, :nf, :nt]
