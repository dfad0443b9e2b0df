"""The trainer: the loss goes down, resuming is exact, time limits, options and the config file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from app.core.checkpoint import load_bundle, save_bundle
from app.core.jobs import Cancelled, CancelToken, UserError
from app.core.training.trainer import (BEST_NAME, CHECKPOINT_NAME, LAST_NAME, LOG_NAME,
                                       ThreadTuner, TrainOptions, Trainer, apply_training_config,
                                       lr_at, train)
from app.core.model.waveform import separate_waveforms, waveform_l1
from stemdata import make_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("songs"), tracks=4, seconds=2.0, seed=0)


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def options(data, out, tiny_config, **kw) -> TrainOptions:
    base = dict(data=data, out=out, model_config=tiny_config, batch_size=2, segment_seconds=0.5,
                epochs=2, steps_per_epoch=3, valid_seconds=1.0, log_every=1, seed=5, threads=1)
    base.update(kw)
    return TrainOptions(**base)


def step_losses(out) -> dict[int, float]:
    records = [json.loads(line) for line in (out / LOG_NAME).read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if r["kind"] == "step"}


def test_paper_schedule():
    o = TrainOptions(data=".", out=".")
    assert lr_at(0, o, 100) == 1e-3
    assert lr_at(149, o, 100) == 1e-3                       # decays every 1.5 epochs
    assert lr_at(150, o, 100) == pytest.approx(9e-4)
    assert lr_at(450, o, 100) == pytest.approx(1e-3 * 0.9 ** 3)


def test_thread_tuner_keeps_the_faster_thread_count():
    tuner = ThreadTuner([1, 2], trial=3, interval=10)
    cost = {1: 1.0, 2: 2.5}                                 # two threads slowed down by load
    used = []
    for step in range(30):
        tuner.before_step(step)
        used.append(torch.get_num_threads())
        tuner.after_step(step + 1, cost[torch.get_num_threads()] + (0.5 if step % 5 == 0 else 0))
    assert used[:6] == [1, 1, 1, 2, 2, 2]                   # trials, then the winner
    assert set(used[6:16]) == {1}
    assert tuner.history[0] == (6, 1)
    cost = {1: 1.0, 2: 0.6}                                 # the machine became idle
    for step in range(30, 60):
        tuner.before_step(step)
        tuner.after_step(step + 1, cost[torch.get_num_threads()])
    assert tuner.history[-1][1] == 2 and torch.get_num_threads() == 2
    patient = ThreadTuner([1, 2], trial=3, interval=1000)
    for step in range(20):
        tuner_cost = {1: 1.0, 2: 0.6} if step < 10 else {1: 1.0, 2: 3.0}   # load comes back
        patient.before_step(step)
        patient.after_step(step + 1, tuner_cost[torch.get_num_threads()])
    # slow steps 10, 11, 12 trigger a new trial at once (not after 1000 steps): 1 thread wins
    assert patient.history == [(6, 2), (19, 1)]


@pytest.mark.slow
def test_a_few_steps_reduce_the_loss_on_held_out_segments(data, tmp_path, tiny_config):
    trainer = Trainer(options(data, tmp_path / "run", tiny_config, lr=3e-3, batch_size=4))
    mixture, sources = map(torch.from_numpy, trainer.dataset.batch(10_000, 8))   # never trained on

    def held_out_loss() -> float:
        trainer.model.eval()
        with torch.no_grad():
            est = separate_waveforms(trainer.model, mixture, trainer.audio)
        trainer.model.train()
        return float(waveform_l1(est, sources))

    before = held_out_loss()
    for step in range(15):
        trainer.train_step(*map(torch.from_numpy, trainer.dataset.batch(step, 4)))
    assert trainer.step == 15
    assert held_out_loss() < 0.95 * before


@pytest.mark.slow
def test_resume_continues_exactly(data, tmp_path, tiny_config):
    straight = train(options(data, tmp_path / "a", tiny_config))
    assert straight.steps == 6 and straight.stopped == "finished"

    cancel = CancelToken()

    def stop_after_step_4(fraction, message):
        if "step 4/" in message:
            cancel.cancel()

    with pytest.raises(Cancelled):
        train(options(data, tmp_path / "b", tiny_config), progress=stop_after_step_4,
              cancel=cancel)
    saved = torch.load(tmp_path / "b" / CHECKPOINT_NAME, weights_only=True)
    assert saved["step"] == 4 and saved["loss_count"] == 1      # stopped inside epoch 2
    resumed = train(options(data, tmp_path / "b", tiny_config, resume=True))
    assert resumed.steps == 6

    a, b = step_losses(tmp_path / "a"), step_losses(tmp_path / "b")
    assert sorted(b) == [1, 2, 3, 4, 5, 6]
    assert [a[s] for s in (5, 6)] == [b[s] for s in (5, 6)]     # the next steps, bit for bit
    wa = load_bundle(tmp_path / "a" / LAST_NAME).state_dict
    wb = load_bundle(tmp_path / "b" / LAST_NAME).state_dict
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert straight.history[-1].train_loss == resumed.history[-1].train_loss
    assert straight.history[-1].valid_sdr == resumed.history[-1].valid_sdr


@pytest.mark.slow
def test_resume_refuses_other_settings_and_fresh_runs_refuse_an_existing_one(data, tmp_path,
                                                                           tiny_config):
    train(options(data, tmp_path / "r", tiny_config, epochs=1))
    with pytest.raises(UserError, match="already holds a training run"):
        train(options(data, tmp_path / "r", tiny_config, epochs=1))
    with pytest.raises(UserError, match="batch_size"):
        train(options(data, tmp_path / "r", tiny_config, batch_size=3, resume=True))
    more = train(options(data, tmp_path / "r", tiny_config, epochs=2, resume=True))
    assert more.steps == 6                                     # epochs may change


@pytest.mark.slow
def test_max_minutes_stops_cleanly_and_saves(data, tmp_path, tiny_config):
    limit_s = 4.0
    result = train(options(data, tmp_path / "t", tiny_config, epochs=1, steps_per_epoch=5000,
                           max_minutes=limit_s / 60))
    assert result.stopped == "time limit"
    assert 0 < result.steps < 5000
    assert result.session_time_s < limit_s + 20.0         # slack for a loaded machine
    state = torch.load(tmp_path / "t" / CHECKPOINT_NAME, weights_only=True)
    assert state["step"] == result.steps
    assert (tmp_path / "t" / LAST_NAME).exists()
    assert result.history[-1].partial and result.history[-1].step == result.steps


def test_best_bundle_is_loadable_and_describes_its_training(data, tmp_path, tiny_config):
    result = train(options(data, tmp_path / "m", tiny_config, epochs=1))
    bundle = load_bundle(tmp_path / "m" / BEST_NAME)
    assert bundle.audio.sources == ("vocals", "accompaniment")
    assert bundle.audio.segment_seconds == 0.5
    meta = bundle.metadata
    assert meta["trained"] is True
    assert meta["training"]["steps"] == 3 and meta["training"]["tracks"] == 3
    assert meta["training"]["valid_tracks"] == ["track03"]
    assert set(meta["validation"]["sdr"]) == {"vocals", "accompaniment"}
    assert meta["validation"]["sdr"] == pytest.approx(result.best_sdr)
    records = [json.loads(line) for line in (tmp_path / "m" / LOG_NAME).read_text().splitlines()]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert [r["step"] for r in epochs] == [0, 3]               # the untrained model, then epoch 1
    assert all(np.isfinite(list(r["valid_sdr"].values())).all() for r in epochs)


def test_training_config_file(tmp_path, data, tiny_config):
    """The Memory tab's file (written by app.core.memory) is applied under explicit options."""
    from app.core.memory import TrainingConfig, load_training_config, save_training_config

    path = save_training_config(TrainingConfig(gradient_checkpointing=True,
                                               checkpoint_attention=False, batch_size=3,
                                               precision="bf16", segment_seconds=0.5),
                                tmp_path / "training-config.json")
    o = options(data, tmp_path / "c", tiny_config, batch_size=2)
    applied = apply_training_config(o, load_training_config(path), explicit={"batch_size"})
    assert o.batch_size == 2 and o.precision == "bf16" and o.gradient_checkpointing
    assert not o.checkpoint_attention and o.segment_seconds == 0.5
    assert "batch_size=3" not in applied and "precision=bf16" in applied


def test_gradient_checkpointing_and_bf16_train(data, tmp_path, tiny_config):
    from app.core import memory

    o = options(data, tmp_path / "g", tiny_config, gradient_checkpointing=True,
                checkpoint_attention=True, precision="bf16")
    trainer = Trainer(o)
    assert memory.is_checkpointed(trainer.model)
    loss = trainer.train_step(*map(torch.from_numpy, trainer.dataset.batch(0, 2)))
    assert np.isfinite(loss)
    # the weights keep the plain model's names: the bundle loads (and validates) as usual
    path = save_bundle(trainer._bundle("last"), tmp_path / "plain.pt")
    assert load_bundle(path).build() is not None


@pytest.mark.slow
def test_checkpoints_are_also_saved_between_epochs(data, tmp_path, tiny_config, monkeypatch):
    saved_at = []
    original = Trainer.save_state

    def spy(self):
        saved_at.append(self.step)
        return original(self)

    monkeypatch.setattr(Trainer, "save_state", spy)
    train(options(data, tmp_path / "p", tiny_config, epochs=1, steps_per_epoch=4,
                  checkpoint_minutes=1e-6))
    assert saved_at[:4] == [1, 2, 3, 4]                      # every step, the interval being tiny
    saved_at.clear()
    train(options(data, tmp_path / "q", tiny_config, epochs=1, steps_per_epoch=4))
    assert 1 not in saved_at and 4 in saved_at              # 10 minutes: only at the epoch's end


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fp16_training_saves_cpu_tensors_and_resumes_on_the_cpu(data, tmp_path, tiny_config):
    out = tmp_path / "gpu"
    train(options(data, out, tiny_config, device="cuda", precision="fp16", epochs=1))
    state = torch.load(out / CHECKPOINT_NAME, weights_only=True)
    assert state["device"].startswith("cuda") and state["scaler"] is not None
    assert all(v.device.type == "cpu" for v in state["model"].values())
    records = [json.loads(line) for line in (out / LOG_NAME).read_text().splitlines()]
    assert [r["device"][:4] for r in records if r["kind"] == "start"] == ["cuda"]
    assert load_bundle(out / LAST_NAME).metadata["training"]["device"].startswith("cuda")
    result = train(options(data, out, tiny_config, device="cpu", precision="fp16", epochs=2,
                           resume=True))
    assert result.steps == 6 and np.isfinite(result.history[-1].train_loss)
