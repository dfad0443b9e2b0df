"""STFT, inverse STFT and the sub-band split, in numpy and in torch, agreeing.

Conventions (both implementations): periodic Hann window, centered frames with zero padding
of ``n_fft // 2`` on both sides, no normalization; a signal of ``L`` samples has
``1 + L // hop`` frames. Spectra have shape ``(..., F, T)`` with
``F = n_fft // 2 + 1`` bins. The numpy path is what separation uses (so the ONNX backend runs
without torch); the torch path is differentiable, for training. The numpy path's FFTs are
scipy.fft's, which transform float32 frames in float32 (3.5x faster than numpy.fft's forward
transform on a 3 s stereo segment here).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from scipy import fft as sp_fft

from ..config import AudioConfig

if TYPE_CHECKING:  # torch is optional at run time for the ONNX path
    import torch


# ----------------------------------------------------------------------------- numpy

@lru_cache(maxsize=16)
def hann_window(n_fft: int) -> np.ndarray:
    """Periodic Hann window (the one torch.hann_window returns), float32."""
    n = np.arange(n_fft, dtype=np.float64)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_fft)).astype(np.float32)


def windowed_rfft(frames: np.ndarray) -> np.ndarray:
    """The spectrum of each frame under the periodic Hann window: ``(..., n_fft)`` real ->
    ``(..., n_fft // 2 + 1)`` complex. The STFT here and the streamed display spectrogram
    (:mod:`app.core.audio.display`) both use it."""
    return sp_fft.rfft(frames * hann_window(frames.shape[-1]), axis=-1)


def n_frames(length: int, hop: int) -> int:
    return 1 + length // hop


def stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """``(..., L)`` real -> ``(..., F, T)`` complex64."""
    x = np.asarray(x, dtype=np.float32)
    pad = [(0, 0)] * (x.ndim - 1) + [(n_fft // 2, n_fft // 2)]
    xp = np.pad(x, pad)
    frames = np.lib.stride_tricks.sliding_window_view(xp, n_fft, axis=-1)[..., ::hop, :]
    spec = windowed_rfft(frames)                                   # (..., T, F)
    return np.swapaxes(spec, -1, -2).astype(np.complex64, copy=False)


@lru_cache(maxsize=64)
def _window_envelope(n_fft: int, hop: int, frames: int) -> np.ndarray:
    w2 = hann_window(n_fft).astype(np.float64) ** 2
    env = _overlap_add(np.broadcast_to(w2, (frames, n_fft)), hop)
    return env


def _overlap_add(frames: np.ndarray, hop: int) -> np.ndarray:
    """``(..., T, n_fft)`` -> ``(..., n_fft + hop * (T - 1))``."""
    *lead, count, n_fft = frames.shape
    total = n_fft + hop * (count - 1)
    if n_fft % hop == 0:
        r = n_fft // hop
        out = np.zeros((*lead, count + r - 1, hop), dtype=frames.dtype)
        blocks = frames.reshape(*lead, count, r, hop)
        for j in range(r):
            out[..., j:j + count, :] += blocks[..., :, j, :]
        return out.reshape(*lead, total)
    out = np.zeros((*lead, total), dtype=frames.dtype)
    for i in range(count):
        out[..., i * hop:i * hop + n_fft] += frames[..., i, :]
    return out


def istft(spec: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    """``(..., F, T)`` complex -> ``(..., length)`` float32 (inverse of :func:`stft`)."""
    count = spec.shape[-1]
    frames = sp_fft.irfft(np.swapaxes(spec, -1, -2), n=n_fft, axis=-1)   # (..., T, n_fft)
    frames = frames * hann_window(n_fft)
    y = _overlap_add(frames, hop)
    env = _window_envelope(n_fft, hop, count)
    start = n_fft // 2
    y = y[..., start:start + length]
    env = env[start:start + length]
    y = y / np.where(env > 1e-11, env, 1.0)
    if y.shape[-1] < length:  # the frames did not cover the requested length
        pad = [(0, 0)] * (y.ndim - 1) + [(0, length - y.shape[-1])]
        y = np.pad(y, pad)
    return y.astype(np.float32, copy=False)


def to_subbands(x: np.ndarray, subbands: int) -> np.ndarray:
    """``(B, C, F, T)`` -> ``(B, C*K, F/K, T)`` with ``K = subbands``, zero-padding F to a
    multiple of K; channel index is ``channel * K + band``."""
    b, c, nf, nt = x.shape
    pad = (-nf) % subbands
    x = np.pad(x, [(0, 0), (0, 0), (0, pad), (0, 0)])
    return x.reshape(b, c * subbands, (nf + pad) // subbands, nt)


def from_subbands(x: np.ndarray, subbands: int, bins: int) -> np.ndarray:
    """Inverse of :func:`to_subbands`, cropping back to ``bins``."""
    b, ck, band, nt = x.shape
    return x.reshape(b, ck // subbands, subbands * band, nt)[:, :, :bins]


# ----------------------------------------------------------------------------- torch

def stft_torch(x: "torch.Tensor", n_fft: int, hop: int) -> "torch.Tensor":
    """``(..., L)`` -> ``(..., F, T)`` complex, same convention as :func:`stft`."""
    import torch

    lead = x.shape[:-1]
    flat = x.reshape(-1, x.shape[-1])
    window = torch.hann_window(n_fft, dtype=flat.dtype, device=flat.device)
    spec = torch.stft(flat, n_fft, hop, window=window, center=True, pad_mode="constant",
                      return_complex=True)
    return spec.reshape(*lead, spec.shape[-2], spec.shape[-1])


def istft_torch(spec: "torch.Tensor", n_fft: int, hop: int, length: int) -> "torch.Tensor":
    """Inverse of :func:`stft_torch`: ``(..., F, T)`` -> ``(..., length)``."""
    import torch

    lead = spec.shape[:-2]
    flat = spec.reshape(-1, spec.shape[-2], spec.shape[-1])
    window = torch.hann_window(n_fft, dtype=flat.real.dtype, device=flat.device)
    y = torch.istft(flat, n_fft, hop, window=window, center=True, length=length)
    return y.reshape(*lead, length)


# ----------------------------------------------------------------------------- per config

class Spectrogram:
    """The STFT pair of one audio config (numpy)."""

    def __init__(self, audio: AudioConfig):
        self.n_fft = audio.n_fft
        self.hop = audio.hop_length

    def stft(self, x: np.ndarray) -> np.ndarray:
        return stft(x, self.n_fft, self.hop)

    def istft(self, spec: np.ndarray, length: int) -> np.ndarray:
        return istft(spec, self.n_fft, self.hop, length)
