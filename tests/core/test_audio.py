"""Audio I/O: formats, resampling, channel handling, safe writing."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf

from app.core.audio import io as audio
from app.core.jobs import UserError


def tone(seconds=0.5, sr=44100, freqs=(440.0, 660.0)):
    t = np.arange(int(seconds * sr)) / sr
    return np.stack([0.3 * np.sin(2 * np.pi * f * t) for f in freqs]).astype(np.float32)


@pytest.mark.parametrize("ext,tol", [("wav", 1e-4), ("flac", 1e-4), ("ogg", None), ("mp3", None)])
def test_reads_common_formats(tmp_path, ext, tol):
    x = tone()
    path = tmp_path / f"a.{ext}"
    sf.write(path, x.T, 44100)
    y, sr = audio.load(path)
    assert sr == 44100 and y.shape[0] == 2 and y.dtype == np.float32
    if tol is not None:  # lossless
        np.testing.assert_allclose(y, x, atol=tol)
    else:  # lossy codecs: same length (within codec padding) and similar level
        assert abs(y.shape[1] - x.shape[1]) < 3000
        n = min(y.shape[1], x.shape[1])
        assert abs(np.std(y[:, :n]) - np.std(x)) < 0.05


def test_resamples_to_the_requested_rate(tmp_path):
    x = tone(1.0, 48000, (1000.0, 1000.0))
    path = tmp_path / "a.wav"
    sf.write(path, x.T, 48000)
    y, sr = audio.load(path, 44100)
    assert sr == 44100
    assert abs(y.shape[1] - 44100) <= 2
    spectrum = np.abs(np.fft.rfft(y[0, 2000:-2000]))
    freq = spectrum.argmax() * 44100 / (y.shape[1] - 4000)
    assert abs(freq - 1000.0) < 2.0


def test_streaming_reader_matches_whole_file_read(tmp_path):
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 100_000)).astype(np.float32)
    path = tmp_path / "a.wav"
    sf.write(path, x.T, 48000, subtype="FLOAT")
    whole, _ = audio.load(path, 44100)
    blocks = []
    with audio.AudioReader(path, 44100) as reader:
        assert abs(reader.total_frames - round(100_000 * 44100 / 48000)) <= 1
        while not reader.finished:
            blocks.append(reader.read(7777))
    np.testing.assert_allclose(np.concatenate(blocks, axis=1), whole, atol=1e-6)


def test_mono_becomes_two_identical_channels(tmp_path):
    path = tmp_path / "mono.wav"
    sf.write(path, tone()[0], 44100)
    y, _ = audio.load(path)
    assert y.shape[0] == 2
    np.testing.assert_array_equal(y[0], y[1])


def test_more_than_two_channels_are_downmixed_with_a_warning(tmp_path):
    rng = np.random.default_rng(0)
    six = rng.uniform(-0.2, 0.2, (1000, 6)).astype(np.float32)
    path = tmp_path / "surround.wav"
    sf.write(path, six, 44100, subtype="FLOAT")
    with pytest.warns(audio.ChannelWarning, match="6 channels"):
        y, _ = audio.load(path)
    assert y.shape == (2, 1000)
    # 5.1: left takes L, C and Ls but never R, Rs or LFE
    m = audio.downmix_matrix(6)
    assert m[0, 1] == m[0, 3] == m[0, 5] == 0 and m[0, 0] > 0 and m[0, 2] > 0 and m[0, 4] > 0
    np.testing.assert_allclose(y, m @ six.T, atol=1e-6)
    messages = []
    audio.load(path, on_warning=messages.append)
    assert messages and "surround.wav" in messages[0]


@pytest.mark.parametrize("fmt,bits,atol", [("wav", "16", 1e-4), ("wav", "24", 1e-6),
                                           ("wav", "float", 0), ("flac", "16", 1e-4),
                                           ("flac", "24", 1e-6)])
def test_writes_wav_and_flac_at_each_depth(tmp_path, fmt, bits, atol):
    x = tone()
    path = audio.write(tmp_path / f"out.{fmt}", x, 44100, subtype=bits)
    info = sf.info(path)
    assert info.format == fmt.upper() and info.subtype == audio.SUBTYPES[bits]
    y, _ = audio.load(path)
    np.testing.assert_allclose(y, x, atol=atol + 1e-7)


def test_never_overwrites_without_permission(tmp_path):
    path = tmp_path / "out.wav"
    audio.write(path, tone(), 44100)
    before = path.read_bytes()
    with pytest.raises(UserError, match="already exists"):
        audio.write(path, tone(0.1), 44100)
    assert path.read_bytes() == before
    audio.write(path, tone(0.1), 44100, overwrite=True)
    assert path.read_bytes() != before


def test_an_interrupted_write_leaves_no_file(tmp_path):
    target = tmp_path / "out.wav"
    with pytest.raises(KeyboardInterrupt):
        with audio.AudioWriter(target, 44100) as w:
            w.write(tone())
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("content,problem", [
    (b"", "empty"),
    (b"this is not audio at all" * 10, "is a text file, not audio"),
    (b"RIFF\x10\x00\x00\x00WAVEfmt ", "cannot be read as audio"),
])
def test_bad_files_get_a_message_naming_the_file(tmp_path, content, problem):
    path = tmp_path / "song.wav"
    path.write_bytes(content)
    with pytest.raises(UserError) as err:
        audio.load(path)
    assert "song.wav" in str(err.value) and problem in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        audio.probe(tmp_path / "nope.flac")


def test_unknown_output_format_is_refused(tmp_path):
    with pytest.raises(UserError, match="cannot write 'mp4'"):
        audio.write(tmp_path / "x.mp4", tone(), 44100)
    with pytest.raises(UserError, match="FLAC cannot store FLOAT"):
        audio.write(tmp_path / "x.flac", tone(), 44100, subtype="float")


def test_a_truncated_wav_is_read_with_a_warning(tmp_path):
    import hostile

    full = audio.write(tmp_path / "full.wav", np.zeros((2, 44100), np.float32), 44100)
    cut = hostile.truncated(full, tmp_path / "cut.wav", 0.5)
    said: list[str] = []
    x, _ = audio.load(cut, on_warning=said.append)
    assert len(said) == 1 and "cut.wav: the file is truncated" in said[0]
    assert 0.45 * 44100 < x.shape[1] < 0.55 * 44100
    said.clear()
    audio.load(full, on_warning=said.append)
    assert said == []
