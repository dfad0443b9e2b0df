"""M4A/AAC input through PyAV, and files whose names lie about being audio."""

from __future__ import annotations

import numpy as np
import pytest

import hostile
from app.core.audio.io import load, probe
from app.core.backends import identity_backend
from app.core.config import AudioConfig
from app.core.jobs import UserError
from app.core.separation import separate_file

av = pytest.importorskip("av")


def write_m4a(path, seconds: float = 2.0, rate: int = 44100):
    """An AAC file in an MP4 container, encoded by PyAV itself: a 440 Hz tone, left only."""
    container = av.open(str(path), "w")
    stream = container.add_stream("aac", rate=rate)
    stream.layout = "stereo"
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    pts = 0
    for start in range(0, len(tone), 1024):
        left = tone[start:start + 1024]
        frame = av.AudioFrame.from_ndarray(np.stack([left, np.zeros_like(left)]),
                                           format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = rate, pts
        pts += len(left)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)
    container.close()
    return path


def test_m4a_is_read_through_pyav(tmp_path):
    path = write_m4a(tmp_path / "tone.m4a")
    info = probe(path)
    assert (info.sample_rate, info.channels, info.subtype) == (44100, 2, "AAC")
    audio, rate = load(path)
    assert audio.shape == (2, info.frames) and rate == 44100
    # the encoder pads the last AAC frame; the container's declared length trims it (PyAV's
    # encoder declares a few samples more than it was given)
    assert 0 <= info.frames - 2 * 44100 <= 32
    spectrum = np.abs(np.fft.rfft(audio[0]))
    assert abs(np.argmax(spectrum) * rate / audio.shape[1] - 440) < 2
    assert np.abs(audio[1]).max() < 0.02 < np.abs(audio[0]).max()


def test_m4a_separates_into_stems_of_its_length(tmp_path):
    path = write_m4a(tmp_path / "tone.m4a", seconds=1.5)
    result = separate_file(path, identity_backend(AudioConfig(segment_seconds=1.0)),
                           tmp_path / "out", output_rate="model")
    stem, _ = load(result.outputs["vocals"])
    assert stem.shape[1] == probe(path).frames


def test_a_text_file_named_mp3_is_said_to_be_text(tmp_path):
    path = hostile.text_file(tmp_path / "song.mp3")
    with pytest.raises(UserError, match=r"song\.mp3: is a text file, not audio"):
        probe(path)


def test_random_bytes_named_m4a_are_not_audio(tmp_path):
    path = hostile.random_bytes(tmp_path / "song.m4a")
    with pytest.raises(UserError, match="cannot be read as audio"):
        probe(path)
