"""The plain-language verdict on a model, read from its own metadata."""

from __future__ import annotations

import json

from app.core.checkpoint import init_bundle, load_bundle
from app.core.evaluation import quality_summary, sdr_words
from app.core.resources import demo_model


def test_the_demo_model_is_described_in_words_and_numbers():
    bundle = load_bundle(demo_model())
    summary = quality_summary(bundle.metadata, bundle.audio.sources)
    assert summary.trained is True
    assert summary.headline.startswith("Trained model: separates vocals and accompaniment.")
    vocals = summary.lines[0]
    assert vocals.startswith("vocals: 10.1 dB SDR")
    assert "20 held-out generated songs" in vocals and "84 % of what an ideal mask" in vocals
    assert "easier than real recordings" in summary.headline     # generated songs, said so


def test_an_untrained_model_stands_out():
    bundle = init_bundle("small", seed=0)
    summary = quality_summary(bundle.metadata, bundle.audio.sources)
    assert summary.trained is False and summary.stems == []
    assert summary.headline.startswith("Untrained model")


def test_validation_scores_serve_when_there_is_no_evaluation():
    meta = {"trained": True, "validation": {"sdr": {"vocals": 4.2, "drums": float("nan")}},
            "training": {"valid_tracks": ["a", "b", "c"]}}
    summary = quality_summary(meta, ("vocals", "drums"))
    assert summary.lines == ["vocals: 4.2 dB SDR (fair) on 3 validation songs"]


def test_exported_files_carry_nested_values_as_json_text():
    meta = {"trained": "true", "evaluation": json.dumps(
        {"data": "5 songs", "median_sdr_db": {"model": {"vocals": 6.5}},
         "percent_of_oracle": {"vocals": 70.2}})}
    summary = quality_summary(meta, ("vocals",))
    assert summary.lines == ["vocals: 6.5 dB SDR (good) on 5 songs, 70 % of what an ideal "
                             "mask reaches"]


def test_a_file_that_says_nothing_is_not_called_good():
    summary = quality_summary({}, ("vocals", "drums", "bass"))
    assert summary.trained is None and summary.stems == []
    assert "vocals, drums and bass" in summary.headline and "not how well" in summary.headline
    assert [sdr_words(x) for x in (12, 7, 4, -1)] == ["very good", "good", "fair", "poor"]
