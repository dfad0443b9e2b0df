"""The network applied to waveforms: STFT, the model's masks on the magnitude, the masked
complex spectra back through the inverse STFT (the mixture phase), and the waveform L1 loss.
The trainer's forward pass and loss, and what the memory measurement runs."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from ..audio.spectral import istft_torch, stft_torch
from ..config import AudioConfig

PRECISIONS = ("fp32", "bf16", "fp16")


def autocast_dtype(precision: str) -> Optional[torch.dtype]:
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def separate_waveforms(model: torch.nn.Module, mixture: torch.Tensor, audio: AudioConfig,
                       precision: str = "fp32", channels_last: bool = False) -> torch.Tensor:
    """``(B, C, L)`` mixtures -> ``(B, S, C, L)`` source estimates: STFT, the model's masks on
    the magnitude, masked complex spectra, inverse STFT (the mixture phase). The trainer's
    forward pass, and what the memory estimate measures."""
    length = mixture.shape[-1]
    with torch.no_grad():
        spec = stft_torch(mixture, audio.n_fft, audio.hop_length)          # (B, C, F, T)
        mag = spec.abs()
        if channels_last:
            mag = mag.contiguous(memory_format=torch.channels_last)
    dtype = autocast_dtype(precision)
    if dtype is None:
        masks = model(mag)
    else:
        with torch.autocast(mixture.device.type, dtype=dtype):
            masks = model(mag)
        masks = masks.float()
    est = masks * spec[:, None]                                              # (B, S, C, F, T)
    return istft_torch(est, audio.n_fft, audio.hop_length, length)


def waveform_l1(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(estimate, target)


