"""Display data (waveform envelope, spectrogram image) computed in bounded memory."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.audio.io import write
from app.core.audio.display import (EnvelopeAccumulator, SpectrogramAccumulator, band_matrix,
                                    track_display, track_displays)
from app.core.jobs import CancelToken, Cancelled, UserError

RATE = 8000


def feed(acc, audio, block):
    for start in range(0, audio.shape[1], block):
        acc.add(audio[:, start:start + block])
    return acc.result()


def test_envelope_matches_brute_force_for_any_block_size(rng):
    audio = rng.standard_normal((2, 10_007)).astype(np.float32)
    step = int(np.ceil(10_007 / 100))
    ref_lo = [audio[:, i:i + step].min() for i in range(0, 10_007, step)]
    ref_hi = [audio[:, i:i + step].max() for i in range(0, 10_007, step)]
    for block in (1, 333, 4096, 20_000):
        env = feed(EnvelopeAccumulator(10_007, RATE, points=100), audio, block)
        np.testing.assert_array_equal(env.lower, ref_lo)
        np.testing.assert_array_equal(env.upper, ref_hi)
        assert env.samples_per_point == step
        np.testing.assert_allclose(env.times[1], step / RATE)


def test_envelope_keeps_samples_beyond_a_short_length_estimate():
    audio = np.zeros((2, 1000), np.float32)
    audio[0, 990] = 0.75                      # past the estimated 900 frames
    env = feed(EnvelopeAccumulator(900, RATE, points=10), audio, 128)
    assert env.upper.max() == pytest.approx(0.75)
    assert len(env.lower) == 10


def test_envelope_memory_does_not_grow_with_length():
    hour = EnvelopeAccumulator(60 * 60 * 44100, 44100, points=4000)
    assert hour.lower.size <= 4000
    spec = SpectrogramAccumulator(60 * 60 * 44100, 44100, columns=1200, bands=256)
    assert spec.sums.shape == (1200, 256)


@pytest.mark.parametrize("scale", ["log", "linear"])
def test_band_matrix_rows_average_bins_and_none_is_empty(scale):
    weights, centres = band_matrix(2048, 44100, 200, scale)
    assert weights.shape == (1025, 200)
    np.testing.assert_allclose(weights.sum(axis=0), 1.0, rtol=1e-6)
    assert np.all(np.diff(centres) > 0)


def sine(freq, seconds, amp=1.0, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    return np.stack([amp * np.sin(2 * np.pi * freq * t)] * 2).astype(np.float32)


def test_spectrogram_of_a_sine_peaks_at_its_frequency_and_level():
    audio = sine(1000.0, 1.0, amp=0.5)
    image = feed(SpectrogramAccumulator(audio.shape[1], RATE, columns=50, bands=512,
                                        n_fft=1024, scale="linear"), audio, 777)
    assert image.db.shape == (512, 50)
    profile = image.db[:, 10:40].mean(axis=1)
    row = int(np.argmax(profile))
    assert abs(image.frequencies[row] - 1000.0) < RATE / 1024
    assert profile[row] == pytest.approx(20 * np.log10(0.5), abs=1.5)
    assert np.median(profile) < profile[row] - 60


def test_spectrogram_columns_follow_time():
    audio = np.zeros((2, 4 * RATE), np.float32)
    audio[:, int(2.5 * RATE):int(2.6 * RATE)] = sine(2000.0, 0.1)
    image = feed(SpectrogramAccumulator(audio.shape[1], RATE, columns=40, bands=64, n_fft=512),
                 audio, 1000)
    loudest = int(np.argmax(image.db.max(axis=0)))
    assert loudest * image.duration / 40 == pytest.approx(2.55, abs=0.15)


def test_spectrogram_is_the_same_for_any_block_size(rng):
    audio = rng.standard_normal((2, 20_000)).astype(np.float32)
    images = [feed(SpectrogramAccumulator(20_000, RATE, columns=30, bands=40, n_fft=256),
                   audio, block).db for block in (100, 4096, 20_000)]
    np.testing.assert_allclose(images[0], images[1], atol=1e-3)
    np.testing.assert_allclose(images[0], images[2], atol=1e-3)


def test_track_display_reads_a_file_and_reports_progress(tmp_path):
    path = write(tmp_path / "tone.wav", sine(440.0, 2.0, amp=0.25), RATE)
    seen = []
    display = track_display(path, points=500, columns=100,
                            progress=lambda f, m: seen.append(f))
    assert display.frames == 2 * RATE and display.duration == pytest.approx(2.0)
    assert display.peak == pytest.approx(0.25, abs=1e-3)
    assert display.envelope.upper.max() == pytest.approx(0.25, abs=1e-3)
    assert display.spectrogram.db.shape[1] == 100
    assert seen and seen[-1] == pytest.approx(1.0)


def test_track_displays_names_tracks_and_can_be_cancelled(tmp_path):
    paths = {n: write(tmp_path / f"{n}.wav", sine(f, 1.0), RATE)
             for n, f in (("a", 300.0), ("b", 600.0))}
    out = track_displays(paths, columns=20)
    assert list(out) == ["a", "b"]
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        track_displays(paths, cancel=token)


def test_track_display_of_a_corrupt_file_names_it(tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00garbage" * 10)
    with pytest.raises(UserError, match="broken.wav"):
        track_display(bad)
