"""NaN and Inf are data too: found while streaming, reported with the file and the time,
silenced only when asked, and never turned into stems."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

import hostile
from app.core.audio.io import AudioReader, load
from app.core.backends import FunctionBackend, identity_backend
from app.core.config import AudioConfig
from app.core.jobs import UserError
from app.core.separation import SeparationOptions, separate_file

AUDIO = AudioConfig(segment_seconds=1.0)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_sample_stops_reading_with_file_and_time(tmp_path, value):
    path = hostile.nonfinite_wav(tmp_path / "bad.wav", value, at_seconds=1.25)
    with pytest.raises(UserError, match=r"bad\.wav: has NaN or infinite samples at "
                                        r"0:01\.250 \(frame 55125\)"):
        load(path)


def test_zero_mode_silences_them_with_a_warning(tmp_path):
    path = hostile.nonfinite_wav(tmp_path / "bad.wav", float("nan"), at_seconds=1.0)
    warnings: list[str] = []
    audio, _ = load(path, on_warning=warnings.append, nonfinite="zero")
    assert np.isfinite(audio).all()
    assert audio[0, 44100] == 0.0 and np.abs(audio[:, :44100]).max() > 0.1
    assert len(warnings) == 1 and "0:01.000" in warnings[0] and "silence" in warnings[0]


def test_resampling_never_spreads_a_nan(tmp_path):
    path = hostile.nonfinite_wav(tmp_path / "bad.wav", float("nan"), at_seconds=0.5)
    with AudioReader(path, 48000, on_warning=lambda m: None, nonfinite="zero") as reader:
        blocks = [reader.read(4096) for _ in range(40)]
    assert np.isfinite(np.concatenate(blocks, axis=1)).all()


def test_float_input_above_0_dbfs_is_a_warning(tmp_path):
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (44100, 2)).astype(np.float32)
    x[30000, 1] = 2.0
    sf.write(str(tmp_path / "loud.wav"), x, 44100, subtype="FLOAT")
    def warnings_reading(path) -> list[str]:
        said: list[str] = []
        with AudioReader(path, 44100, on_warning=said.append) as reader:
            while reader.read(8192).shape[1]:
                pass
        return said

    warnings = warnings_reading(tmp_path / "loud.wav")
    assert len(warnings) == 1 and "above 0 dBFS" in warnings[0] and "+6.02 dB" in warnings[0]
    sf.write(str(tmp_path / "ok.wav"), x.clip(-1, 1), 44100, subtype="FLOAT")
    assert warnings_reading(tmp_path / "ok.wav") == []
    said: list[str] = []
    load(tmp_path / "loud.wav", on_warning=said.append)   # reading only: nothing is clipped
    assert said == []


def test_separating_a_nan_file_fails_and_leaves_nothing(tmp_path):
    path = hostile.nonfinite_wav(tmp_path / "bad.wav", float("nan"), at_seconds=1.5)
    out = tmp_path / "out"
    with pytest.raises(UserError, match="0:01.500"):
        separate_file(path, identity_backend(AUDIO), out)
    assert not out.exists() or not any(out.rglob("*"))


def test_separating_with_zero_mode_gives_finite_stems(tmp_path):
    path = hostile.nonfinite_wav(tmp_path / "bad.wav", float("inf"), at_seconds=0.5)
    result = separate_file(path, identity_backend(AUDIO), tmp_path / "out", nonfinite="zero")
    assert any("silence" in w for w in result.warnings)
    for stem in result.outputs.values():
        data, _ = sf.read(str(stem))
        assert np.isfinite(data).all() and np.abs(data).max() < 0.3   # no full-scale DC


def test_a_model_that_returns_nan_masks_writes_no_stems(tmp_path, wav_factory=None):
    x = np.random.default_rng(1).uniform(-0.2, 0.2, (44100, 2)).astype(np.float32)
    sf.write(str(tmp_path / "ok.wav"), x, 44100)
    broken = FunctionBackend(lambda m: np.full((m.shape[0], 2) + m.shape[1:], np.nan,
                                               np.float32), AUDIO, "broken")
    with pytest.raises(UserError, match="NaN or infinite masks"):
        separate_file(tmp_path / "ok.wav", broken, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.wav"))
