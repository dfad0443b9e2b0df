"""Checkpoints the CLI tests run commands on, written by the code itself."""

from __future__ import annotations

import pytest

from app.core.checkpoint import init_bundle, save_bundle
from app.core.config import AudioConfig

SIZES = ("channels", "dim", "blocks", "heads", "window")


def save_tiny(path, tiny_config, audio: AudioConfig):
    sizes = {k: getattr(tiny_config, k) for k in SIZES}
    return save_bundle(init_bundle("small", audio=audio, **sizes), path)


@pytest.fixture
def tiny_ckpt(tmp_path, tiny_config):
    """The tiny network with 1 s segments."""
    return save_tiny(tmp_path / "tiny.pt", tiny_config, AudioConfig(segment_seconds=1.0))


@pytest.fixture
def short_fft_ckpt(tmp_path, tiny_config):
    """The tiny network with a 256-point STFT and 0.5 s segments: quick memory measurements."""
    return save_tiny(tmp_path / "tiny.pt", tiny_config,
                     AudioConfig(n_fft=256, hop_length=64, segment_seconds=0.5))
