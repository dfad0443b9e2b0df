"""SDR against cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.core.jobs import UserError
from app.core.evaluation.metrics import EPS, median, museval_available, sdr, stem_sdr


@pytest.fixture
def reference(rng):
    return rng.standard_normal((2, 44100)).astype(np.float32)


def test_half_amplitude_estimate_is_6_02_db(reference):
    # error = 0.5 s, so the ratio of energies is 1 / 0.25 = 4: 10 log10 4 = 6.0206 dB
    assert sdr(reference, 0.5 * reference) == pytest.approx(10 * math.log10(4), abs=1e-6)
    # and twice the amplitude is an error as large as the signal: 0 dB
    assert sdr(reference, 2.0 * reference) == pytest.approx(0.0, abs=1e-6)


def test_orthogonal_noise_at_a_known_power(reference, rng):
    noise = rng.standard_normal(reference.shape)
    ref64 = reference.astype(np.float64)
    noise -= ref64 * (np.sum(noise * ref64) / np.sum(ref64 * ref64))   # orthogonal to s
    noise *= math.sqrt(np.sum(ref64 ** 2) / np.sum(noise ** 2) / 100.0)  # 1/100 of its energy
    assert abs(np.sum(noise * ref64)) < 1e-6 * np.sum(ref64 ** 2)
    assert sdr(ref64, ref64 + noise) == pytest.approx(20.0, abs=1e-6)


def test_silent_reference_is_finite(reference):
    silent = np.zeros_like(reference)
    assert sdr(silent, silent) == 0.0                                  # eps / eps
    loud = sdr(silent, reference)
    energy = float(np.sum(reference.astype(np.float64) ** 2))
    assert math.isfinite(loud)
    assert loud == pytest.approx(10 * math.log10(EPS / (energy + EPS)), abs=1e-9)
    perfect = sdr(reference, reference)
    assert perfect == pytest.approx(10 * math.log10((energy + EPS) / EPS), abs=1e-6)


def test_per_source_over_channels_and_samples(reference):
    refs = np.stack([reference, reference])
    ests = np.stack([0.5 * reference, 1.1 * reference])
    values = stem_sdr(refs, ests)
    assert values.shape == (2,)
    assert values[0] == pytest.approx(6.0206, abs=1e-4)
    assert values[1] == pytest.approx(20.0, abs=1e-4)            # error 0.1 s: 1/0.01
    # both channels count: an error on one channel only is half the error energy
    one = reference.copy()
    one[1] = 0.0
    e_left = np.sum(reference[0].astype(np.float64) ** 2)
    e_all = np.sum(reference.astype(np.float64) ** 2)
    assert sdr(reference, one) == pytest.approx(10 * math.log10(e_all / (e_all - e_left)), abs=1e-5)
    with pytest.raises(ValueError):
        sdr(reference, reference[:, :100])


def test_median_ignores_nan():
    assert median([1.0, float("nan"), 3.0, 2.0]) == 2.0
    assert math.isnan(median([float("nan")]))


@pytest.mark.skipif(museval_available(), reason="museval is installed here")
def test_museval_missing_is_explained(reference):
    with pytest.raises(UserError, match="museval"):
        stem_sdr(reference[None], reference[None], "museval", 44100)


@pytest.mark.skipif(not museval_available(), reason="the optional museval package is not usable")
def test_museval_bsseval_v4(reference, rng):
    refs = np.stack([reference, np.roll(reference, 1000, axis=1)]).astype(np.float64)
    noise = 0.1 * rng.standard_normal(refs.shape)
    values = stem_sdr(refs, refs + noise, "museval", 44100)
    # BSSEval allows a short distortion filter, so it scores at least the plain SDR
    assert values.shape == (2,)
    assert np.all(values >= sdr(refs, refs + noise) - 0.5)
    assert np.all(values < 30)


@pytest.mark.skipif(not museval_available(), reason="the optional museval package is not usable")
def test_museval_scores_a_silent_reference_as_nan(reference, rng):
    """An instrumental track has silent vocals: BSSEval cannot score that source, but the
    other sources are still scored."""
    refs = np.stack([reference, np.zeros_like(reference)]).astype(np.float64)
    values = stem_sdr(refs, refs + 0.1 * rng.standard_normal(refs.shape), "museval", 44100)
    assert np.isfinite(values[0]) and np.isnan(values[1])
