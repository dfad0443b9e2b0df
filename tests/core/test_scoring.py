"""Scoring separated stems against the true stems beside a mixture."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.audio import io as audio
from app.core.evaluation.metrics import sdr
from app.core.evaluation.scoring import find_reference_stems, score_stems, stem_file_sdr


@pytest.fixture
def track(tmp_path, rng):
    folder = tmp_path / "song"
    vocals = rng.uniform(-0.3, 0.3, (2, 300_000)).astype(np.float32)
    acc = rng.uniform(-0.3, 0.3, (2, 300_000)).astype(np.float32)
    audio.write(folder / "vocals.flac", vocals, 44100, subtype="24")
    audio.write(folder / "accompaniment.wav", acc, 44100, subtype="float")
    mix = audio.write(folder / "mixture.flac", vocals + acc, 44100, subtype="24")
    return mix, vocals, acc


def test_finds_every_source_beside_a_mixture(track):
    mix, _, _ = track
    refs = find_reference_stems(mix, ["vocals", "accompaniment"])
    assert refs == {"vocals": mix.with_name("vocals.flac"),
                    "accompaniment": mix.with_name("accompaniment.wav")}
    assert find_reference_stems(mix, ["vocals", "drums"]) is None          # one is missing
    assert find_reference_stems(mix.with_name("vocals.flac"), ["vocals"]) is None  # not a mixture


def test_file_sdr_equals_the_in_memory_metric(tmp_path, track):
    mix, vocals, acc = track
    estimate = vocals + 0.1 * acc                      # a known error
    est_path = audio.write(tmp_path / "est.wav", estimate, 44100, subtype="float")
    got = stem_file_sdr(mix.with_name("vocals.flac"), est_path, 44100)
    ref = audio.load(mix.with_name("vocals.flac"))[0]
    assert got == pytest.approx(float(sdr(ref, estimate)), abs=1e-3)
    assert got == pytest.approx(20.0, abs=0.3)         # 0.1 x an equal-power signal


def test_lengths_are_cropped_and_rates_resampled(tmp_path, track):
    mix, vocals, _ = track
    short = audio.write(tmp_path / "short.wav", vocals[:, :200_000], 44100, subtype="float")
    assert stem_file_sdr(mix.with_name("vocals.flac"), short, 44100) > 60
    resampled = audio.write(tmp_path / "48k.wav", vocals, 44100, subtype="float")
    scores = score_stems({"vocals": resampled, "other": resampled},
                         {"vocals": mix.with_name("vocals.flac")}, 44100)
    assert list(scores) == ["vocals"] and scores["vocals"] > 60
