"""Evaluation: the oracle ratio mask, the two references, and a model scored between them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.core.audio.io import load
from app.core.backends.registry import FunctionBackend, identity_backend
from app.core.checkpoint import init_bundle, save_bundle
from app.core.config import AudioConfig
from app.core.audio.tracks import TrackSet
from app.core.evaluation.evaluate import evaluate, oracle_ratio_mask
from app.core.evaluation.metrics import museval_available, sdr
from stemdata import RATE, make_dataset

AUDIO = AudioConfig(segment_seconds=1.0)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("eval"), tracks=3, seconds=2.0, seed=4)


def test_oracle_in_chunks_equals_the_whole_signal_and_sums_to_the_mixture(data):
    ts = TrackSet.from_folder(data, AUDIO.sources, RATE)
    parts = ts.read_sources(0)
    mixture = parts.sum(axis=0)
    whole = oracle_ratio_mask(mixture, parts, AUDIO, chunk_seconds=10.0)
    chunked = oracle_ratio_mask(mixture, parts, AUDIO, chunk_seconds=0.3)
    np.testing.assert_allclose(chunked, whole, atol=2e-6)
    np.testing.assert_allclose(whole.sum(axis=0), mixture, atol=1e-5)
    # and it separates: much better than the mixture for both sources
    assert np.all(sdr(parts, whole) > sdr(parts, np.broadcast_to(mixture, parts.shape)) + 5)


def test_identity_model_scores_exactly_the_mixture_floor(data):
    result = evaluate(identity_backend(AUDIO), data)
    assert [t.track for t in result.tracks] == ["track00", "track01", "track02"]
    for t in result.tracks:
        for s in ("vocals", "accompaniment"):
            assert t.sdr["model"][s] == pytest.approx(t.sdr["mixture"][s], abs=1e-3)
            assert t.sdr["oracle"][s] > t.sdr["mixture"][s] + 3
    # the floor by hand: vocals scored against the mixture file
    vocals, _ = load(data / "track01" / "vocals.wav")
    mixture, _ = load(data / "track01" / "mixture.wav")
    assert result.tracks[1].sdr["mixture"]["vocals"] == pytest.approx(sdr(vocals, mixture), abs=1e-6)
    floor = np.median([t.sdr["mixture"]["vocals"] for t in result.tracks])
    assert result.median["mixture"]["vocals"] == pytest.approx(floor)
    expected = 100 * result.median["model"]["vocals"] / result.median["oracle"]["vocals"]
    assert result.percent_of_oracle["vocals"] == pytest.approx(expected)


def test_a_checkpoint_file_is_evaluated_and_tracks_limit(data, tmp_path, tiny_config):
    sizes = {k: getattr(tiny_config, k) for k in ("channels", "dim", "blocks", "heads", "window")}
    path = save_bundle(init_bundle("small", audio=AUDIO, **sizes), tmp_path / "m.safetensors")
    result = evaluate(path, data, tracks=2)
    assert len(result.tracks) == 2 and result.model == str(path)
    for ref in ("model", "mixture", "oracle"):
        assert all(np.isfinite(v) for v in result.median[ref].values())


def test_a_vocals_only_model_uses_the_rest_of_the_mix_for_the_oracle(data):
    audio = AudioConfig(sources=("vocals",), segment_seconds=1.0)
    half = FunctionBackend(lambda mag: np.full((mag.shape[0], 1) + mag.shape[1:], 0.5, np.float32),
                           audio, "half")
    result = evaluate(half, data, tracks=1)
    t = result.tracks[0]
    assert set(t.sdr["oracle"]) == {"vocals"}
    assert t.sdr["oracle"]["vocals"] > t.sdr["model"]["vocals"]
    vocals, _ = load(data / "track00" / "vocals.wav")
    mixture, _ = load(data / "track00" / "mixture.wav")
    assert t.sdr["model"]["vocals"] == pytest.approx(sdr(vocals, 0.5 * mixture), abs=1e-3)


@pytest.mark.slow
def test_an_onnx_export_scores_like_its_checkpoint(data, tmp_path, tiny_config):
    from app.core import export

    sizes = {k: getattr(tiny_config, k) for k in ("channels", "dim", "blocks", "heads", "window")}
    bundle = init_bundle("small", audio=AUDIO, seed=3, **sizes)
    path = save_bundle(bundle, tmp_path / "m.pt")
    dummy = torch.zeros(1, 2, AUDIO.n_bins, AUDIO.segment_frames)
    onnx = export.export_to_onnx(bundle.build(), dummy, tmp_path / "m.onnx", audio=AUDIO,
                                 simplify=False, verify=False).path
    a = evaluate(path, data, tracks=1)
    b = evaluate(onnx, data, tracks=1)
    assert b.backend != a.backend
    for s in ("vocals", "accompaniment"):
        assert b.median["model"][s] == pytest.approx(a.median["model"][s], abs=0.01)
        assert b.median["oracle"][s] == a.median["oracle"][s]


@pytest.mark.skipif(not museval_available(),
                    reason="the optional museval package is not usable")
def test_museval_metric_scores_the_identity_model_at_the_floor(data):
    """BSSEval v4 end to end: the identity model's estimate is the mixture, so it scores
    like the mixture reference, below the oracle."""
    result = evaluate(identity_backend(AUDIO), data, tracks=1, metric="museval")
    t = result.tracks[0]
    for s in ("vocals", "accompaniment"):
        assert np.isfinite(t.sdr["model"][s])
        assert t.sdr["model"][s] == pytest.approx(t.sdr["mixture"][s], abs=0.05)
        assert t.sdr["oracle"][s] > t.sdr["model"][s] + 3


def test_museval_missing_fails_before_any_work(data, monkeypatch):
    from app.core.evaluation import metrics
    from app.core.jobs import UserError

    monkeypatch.setattr(metrics, "museval_problem", lambda: "not installed (test)")
    with pytest.raises(UserError, match="BSSEval v4 is not available: not installed"):
        evaluate(identity_backend(AUDIO), data, metric="museval")
