"""The bundled demo: the model and song a new user gets when the app opens.

These run on the real files shipped in app/resources/demo/, so they fail if the demo is
missing, unreadable, or no longer separates its own song.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.core.audio import io as audio
from app.core import resources
from app.core.backends.registry import load_backend
from app.core.checkpoint import load_bundle
from app.core.evaluation.metrics import sdr
from app.core.separation.separate import separate_array
from app.core.songs.splits import SPLITS
from app.core.evaluation.scoring import find_reference_stems


def test_the_demo_model_is_a_small_vocals_accompaniment_bundle():
    path = resources.demo_model()
    assert path is not None, "app/resources/demo has no demo model"
    bundle = load_bundle(path)
    assert bundle.audio.sources == ("vocals", "accompaniment")
    assert 0.9e6 < bundle.n_parameters < 1.1e6                     # the small preset
    assert path.stat().st_size < 8 * 2 ** 20                         # "a few MB"
    card = (path.parent / "MODEL_CARD.md").read_text()
    assert "model / oracle" in card and "Held-out" in card


def test_the_demo_song_is_30_s_with_its_true_stems():
    mix = resources.demo_song()
    assert mix is not None, "app/resources/demo has no demo song"
    info = audio.probe(mix)
    assert info.duration == pytest.approx(30.0, abs=0.5)
    refs = find_reference_stems(mix, ["vocals", "accompaniment"])
    assert refs is not None
    m, rate = audio.load(mix)
    v, _ = audio.load(refs["vocals"])
    a, _ = audio.load(refs["accompaniment"])
    assert rate == 44100
    np.testing.assert_allclose(v + a, m, atol=1e-5)                 # the stems make the mix
    # rendered with the held-out SoundFont and voices, never heard in training
    meta = json.loads((mix.parent / "song.json").read_text())
    train, heldout = SPLITS["train"], SPLITS["heldout"]
    assert Path(meta["soundfont"]).stem in heldout.soundfonts
    assert meta["voice"] in heldout.voices and meta["voice"] not in train.voices
    assert meta["renderer"] == "fluidsynth+espeak-ng"


def test_the_demo_model_separates_the_demo_song():
    """Eight seconds of the demo song: both stems come out far closer to the truth than the
    mixture is (the app's first impression)."""
    mix_path = resources.demo_song()
    refs = find_reference_stems(mix_path, ["vocals", "accompaniment"])
    start, stop = 10 * 44100, 18 * 44100
    mix = audio.load(mix_path)[0][:, start:stop]
    backend = load_backend(resources.demo_model(), threads=2)
    stems = separate_array(mix, backend)
    for i, name in enumerate(["vocals", "accompaniment"]):
        truth = audio.load(refs[name])[0][:, start:stop]
        model_db = float(sdr(truth, stems[i]))
        floor_db = float(sdr(truth, mix))
        assert model_db > floor_db + 5.0, (name, model_db, floor_db)
        assert model_db > 6.0, (name, model_db)


@pytest.mark.slow
def test_separate_without_a_model_uses_the_demo(tmp_path):
    mix = audio.load(resources.demo_song())[0][:, :3 * 44100]
    song = audio.write(tmp_path / "clip.wav", mix, 44100, subtype="float")
    out = tmp_path / "stems"
    proc = subprocess.run([sys.executable, "-m", "app", "separate", str(song), "--out", str(out)],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert "demo" in (proc.stdout + proc.stderr).lower()
    for name in ("vocals", "accompaniment"):
        data, rate = audio.load(out / "clip" / f"{name}.wav")
        assert rate == 44100 and data.shape == mix.shape
