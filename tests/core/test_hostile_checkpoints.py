"""Checkpoints that would poison the output or exhaust memory are refused on load, by name,
before anything large is allocated."""

from __future__ import annotations

import pytest

import hostile
from app.core.checkpoint import CheckpointError, check_model_memory, load_bundle
from app.core.config import AudioConfig, ModelConfig
from app.core.jobs import UserError

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_non_finite_weights_are_refused_with_the_tensor_name(tmp_path, value, suffix):
    path = hostile.nonfinite_checkpoint(tmp_path / f"m{suffix}", value)
    with pytest.raises(CheckpointError, match=r"NaN or infinite in 1 tensor \(stem\.") as err:
        load_bundle(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("fields, words", [
    ({"channels": [60000] * 4}, "channels"),
    ({"channels": [16] * 40}, "levels"),
    ({"dim": 10 ** 6, "heads": 8}, "dim"),
    ({"blocks": 10 ** 5}, "blocks"),
    ({"heads": 10 ** 4, "dim": 10 ** 4}, "heads"),
    ({"window": [10 ** 5, 4]}, "window"),
    ({"mlp_ratio": 1e9}, "mlp_ratio"),
    ({"n_fft": 2 ** 26}, "n_fft"),
    ({"segment_seconds": 1e7}, "segment_seconds"),
    ({"sample_rate": 10 ** 9}, "sample_rate"),
    ({"subbands": 10 ** 6}, "subbands"),
    ({"sources": [f"s{i}" for i in range(1000)]}, "sources"),
    ({"sources": ["../../etc"]}, "sources"),
    ({"n_fft": 65536, "hop_length": 1}, "spectrogram"),
    ({"channels": ["many"]}, "whole number"),
])
def test_oversize_or_malformed_configs_are_refused_before_building(tmp_path, fields, words):
    path = hostile.oversize_checkpoint(tmp_path / "big.pt", **fields)
    with pytest.raises(CheckpointError, match=words):
        load_bundle(path)


def test_a_network_beyond_the_free_memory_is_not_built(tmp_path, monkeypatch):
    """Within every bound but too big for this machine: refused from the parameter count
    alone (counted on the meta device), before any weight is allocated."""
    import psutil

    config = ModelConfig(channels=(4096,) * 8, dim=4096, blocks=64, heads=64)
    with pytest.raises(UserError, match=r"GiB, more than the .* free"):
        check_model_memory(config, AudioConfig())
    small = ModelConfig(channels=(4, 8), dim=8, heads=2, window=(2, 2))
    assert check_model_memory(small, AudioConfig()) > 0

    class Tight:
        available = 1000
    monkeypatch.setattr(psutil, "virtual_memory", lambda: Tight())
    with pytest.raises(UserError, match="more than the 1000 B"):
        check_model_memory(small, AudioConfig())
