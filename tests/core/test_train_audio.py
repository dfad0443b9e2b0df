"""The training audio config (sample rate, STFT size and hop, sub-bands, segment) is an
option of the trainer and of ``training-config.json``, and goes from training to the bundle,
to the exported ONNX file and into separation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.core.audio.io import load as read
from app.core.backends import load_backend
from app.core.checkpoint import load_bundle
from app.core.export import ExportOptions, export_bundle
from app.core.jobs import UserError
from app.core.memory import TrainingConfig, load_training_config, save_training_config
from app.core.separation import SeparationOptions, separate_file
from app.core.training import LAST_NAME, TrainOptions, apply_training_config, train
from stemdata import make_dataset

pytestmark = pytest.mark.usefixtures("torch_one_thread")

PAPER_HOP = dict(sample_rate=44100, n_fft=1024, hop_length=441, subbands=2)


def test_the_training_config_carries_the_audio_config_and_checks_its_bounds(tmp_path):
    config = TrainingConfig(batch_size=2, segment_seconds=1.0, **PAPER_HOP)
    path = save_training_config(config, tmp_path)
    saved = json.loads(path.read_text())
    assert {k: saved[k] for k in PAPER_HOP} == PAPER_HOP
    assert load_training_config(path) == config
    options = TrainOptions(data=tmp_path, out=tmp_path / "run")
    apply_training_config(options, config, explicit={"n_fft"})
    audio = options.audio_config()
    assert (audio.sample_rate, audio.hop_length, audio.subbands, audio.n_fft) == (
        44100, 441, 2, 2048)                       # the command line's n_fft won
    for bad, problem in [({"hop_length": 2000, "n_fft": 1024}, "hop_length 2000 must be in"),
                         ({"n_fft": 1023}, "n_fft 1023 must be even"),
                         ({"sample_rate": 1000}, "sample_rate 1000 is out of range"),
                         ({"subbands": 0}, "subbands 0 is out of range")]:
        with pytest.raises(UserError, match=problem):
            TrainingConfig(**bad)
        text = json.dumps({**TrainingConfig().to_dict(), **bad})
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(UserError, match=problem) as err:
            load_training_config(tmp_path / "bad.json")
        assert "bad.json" in str(err.value)
        with pytest.raises(UserError, match=problem):
            TrainOptions(data=tmp_path, out=tmp_path / "o", **bad).validate()


def test_a_file_from_before_the_audio_fields_trains_with_the_default_audio(tmp_path):
    path = tmp_path / "training-config.json"
    path.write_text(json.dumps({"gradient_checkpointing": False, "checkpoint_attention": True,
                                "batch_size": 2, "precision": "fp32", "segment_seconds": 3}))
    config = load_training_config(path)
    assert (config.sample_rate, config.n_fft, config.hop_length, config.subbands) == (
        44100, 2048, 512, 4)


@pytest.mark.slow
def test_a_non_default_audio_config_goes_from_training_to_onnx_separation(
        tmp_path, tiny_config):
    data = make_dataset(tmp_path / "songs", tracks=3, seconds=1.5, seed=4)
    result = train(TrainOptions(data=data, out=tmp_path / "run", model_config=tiny_config,
                                batch_size=2, segment_seconds=0.5, epochs=1, steps_per_epoch=2,
                                valid_seconds=0.5, seed=1, threads=1, device="cpu",
                                **PAPER_HOP))
    bundle = load_bundle(result.last_model)
    assert {k: getattr(bundle.audio, k) for k in PAPER_HOP} == PAPER_HOP
    assert bundle.audio.segment_seconds == 0.5
    assert bundle.build().subbands == 2

    onnx_path = tmp_path / "model.onnx"
    exported = export_bundle(bundle, onnx_path, ExportOptions(simplify=False,
                                                              verify_frames=(3,)), threads=1)
    assert exported.input_shape == [1, 2, 513, bundle.audio.segment_frames]
    carried = json.loads(exported.metadata["audio_config"])
    assert {k: carried[k] for k in PAPER_HOP} == PAPER_HOP

    onnx_backend = load_backend(onnx_path, threads=1)
    assert onnx_backend.audio == bundle.audio
    song = data / "track00" / "mixture.wav"
    options = SeparationOptions()
    by_onnx = separate_file(song, onnx_backend, tmp_path / "onnx", options)
    by_torch = separate_file(song, load_backend(result.last_model, threads=1),
                             tmp_path / "torch", options)
    mixture, _ = read(song)
    for name in ("vocals", "accompaniment"):
        a, rate = read(by_onnx.outputs[name])
        b, _ = read(by_torch.outputs[name])
        assert rate == 44100 and a.shape == mixture.shape
        assert np.abs(a - b).max() < 1e-3 * max(1.0, np.abs(b).max())
        assert np.abs(a).max() > 0


def test_a_memory_plan_measures_and_hands_on_the_audio_config(tiny_config):
    from app.core.checkpoint import init_bundle
    from app.core.config import AudioConfig
    from app.core.memory import plan_memory

    sizes = {k: getattr(tiny_config, k) for k in ("channels", "dim", "blocks", "heads", "window")}
    bundle = init_bundle("small", audio=AudioConfig(n_fft=256, hop_length=64,
                                                    segment_seconds=0.5), **sizes)
    plan = plan_memory(bundle, batches=(1, 2), modes=("baseline",), threads=1)
    saved = plan.modes[0].training_config(2, 0.5)
    assert (saved.n_fft, saved.hop_length, saved.subbands) == (256, 64, 4)   # the bundle's

    other = AudioConfig(sample_rate=22050, n_fft=512, hop_length=220, subbands=2,
                        segment_seconds=0.5)
    plan = plan_memory(bundle, batches=(1, 2), modes=("baseline",), threads=1, audio=other)
    assert plan.frames == other.segment_frames
    saved = plan.modes[0].training_config(2, 0.5)
    assert saved.audio() == other
