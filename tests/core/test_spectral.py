"""STFT / ISTFT / sub-bands: numpy and torch agree; the round trip is exact for any length."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.core.audio import spectral as S

N_FFT, HOP = 2048, 512


@pytest.mark.parametrize("length", [1, 100, 511, 512, 513, 2047, 2048, 2049, 44100, 132300])
def test_numpy_round_trip_is_exact_for_any_length(rng, length):
    x = rng.uniform(-1, 1, (2, length)).astype(np.float32)
    spec = S.stft(x, N_FFT, HOP)
    assert spec.shape == (2, N_FFT // 2 + 1, S.n_frames(length, HOP))
    y = S.istft(spec, N_FFT, HOP, length)
    assert y.shape == x.shape
    assert np.sqrt(np.mean((y - x) ** 2)) < 1e-6


@pytest.mark.parametrize("length", [100, 2048, 5000, 44100])
def test_torch_round_trip_is_exact(rng, length):
    x = torch.from_numpy(rng.uniform(-1, 1, (3, 2, length)).astype(np.float32))
    y = S.istft_torch(S.stft_torch(x, N_FFT, HOP), N_FFT, HOP, length)
    assert torch.sqrt(torch.mean((y - x) ** 2)) < 1e-6


@pytest.mark.parametrize("length", [300, 4097, 44100])
def test_numpy_and_torch_stft_agree(rng, length):
    x = rng.uniform(-1, 1, (2, length)).astype(np.float32)
    a = S.stft(x, N_FFT, HOP)
    b = S.stft_torch(torch.from_numpy(x), N_FFT, HOP).numpy()
    assert a.shape == b.shape
    assert np.abs(a - b).max() / np.abs(b).max() < 1e-5


def test_numpy_and_torch_istft_agree(rng):
    spec = S.stft(rng.uniform(-1, 1, (2, 20000)).astype(np.float32), N_FFT, HOP)
    # a masked spectrum is no longer a consistent STFT: both inverses must still agree
    spec = spec * rng.uniform(0, 1, spec.shape).astype(np.float32)
    a = S.istft(spec, N_FFT, HOP, 20000)
    b = S.istft_torch(torch.from_numpy(spec), N_FFT, HOP, 20000).numpy()
    assert np.abs(a - b).max() < 1e-5


def test_other_fft_sizes_and_hops_round_trip(rng):
    x = rng.uniform(-1, 1, (2, 9999)).astype(np.float32)
    for n_fft, hop in [(1024, 256), (512, 200), (4096, 1024)]:
        y = S.istft(S.stft(x, n_fft, hop), n_fft, hop, 9999)
        assert np.sqrt(np.mean((y - x) ** 2)) < 1e-6, (n_fft, hop)


def test_stft_of_a_sine_peaks_at_its_bin():
    sr, f = 44100, 1000.0
    t = np.arange(sr) / sr
    spec = S.stft(np.sin(2 * np.pi * f * t)[None].astype(np.float32), N_FFT, HOP)
    peak_bin = np.abs(spec[0, :, 40]).argmax()
    assert abs(peak_bin - f * N_FFT / sr) <= 1


@pytest.mark.parametrize("bins", [1025, 1024, 7])
def test_subbands_round_trip_and_agree(rng, bins):
    x = rng.uniform(0, 1, (1, 2, bins, 10)).astype(np.float32)
    bands = S.to_subbands(x, 4)
    assert bands.shape == (1, 8, -(-bins // 4), 10)
    # band k of channel c holds bins [k*band, (k+1)*band)
    band = bands.shape[2]
    np.testing.assert_array_equal(bands[0, 1, :min(band, bins - band)], x[0, 0, band:2 * band][:min(band, bins - band)])
    np.testing.assert_array_equal(S.from_subbands(bands, 4, bins), x)
