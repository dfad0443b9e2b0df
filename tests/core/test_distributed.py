"""Training on several processes (torchrun, DDP over gloo on the CPU): two processes equal
one with their global batch, resume is exact, a changed world size is refused; only
torchrun's environment makes a run distributed, and a second trainer cannot enter a folder
in use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from app.core.checkpoint import load_bundle
from app.core.jobs import UserError
from app.core.training import (CHECKPOINT_NAME, LAST_NAME, LOCK_NAME, LOG_NAME, RunLock,
                               TrainOptions, Trainer, detect_distributed, train)
from stemdata import make_dataset

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node"]

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("songs"), tracks=3, seconds=1.5, seed=3)


def options(data, out, tiny_config, **kw) -> TrainOptions:
    base = dict(data=data, out=out, model_config=tiny_config, batch_size=2, segment_seconds=0.3,
                epochs=1, steps_per_epoch=3, valid_seconds=0.3, log_every=1, seed=7, threads=1,
                device="cpu")
    base.update(kw)
    return TrainOptions(**base)


def torchrun(processes: int, o: TrainOptions, tmp_path: Path) -> subprocess.CompletedProcess:
    spec = tmp_path / f"options-{processes}.json"
    spec.write_text(json.dumps(o.to_dict()))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
           "OMP_NUM_THREADS": "1"}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    proc = subprocess.run([*TORCHRUN, str(processes), str(ROOT / "tests" / "ddp_train.py"),
                           str(spec)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=280)
    assert proc.returncode == 0, "\n".join(line for line in proc.stderr.splitlines()
                                            if "rank1" in line)[-3000:] + proc.stderr[-3000:]
    return proc


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_bundle(path).state_dict


def log_records(out: Path, kind: str) -> list[dict]:
    records = [json.loads(line) for line in (out / LOG_NAME).read_text().splitlines()]
    return [r for r in records if r["kind"] == kind]


def assert_same_weights(a: dict, b: dict) -> None:
    """Equal within float tolerance, except where the loss has no gradient at all: a residual
    block's conv1 bias (norm2 removes any per-channel shift, and with it norm2's running
    mean follows that bias) and the key bias of attention (a shift of every logit of a
    query, which softmax removes). There Adam turns float noise into steps of up to ``lr``,
    whichever way the batch is summed; the model computes the same function."""
    assert a.keys() == b.keys()
    checked = 0
    for name in a:
        x, y = a[name].double(), b[name].double()
        if name.endswith(("conv1.bias", "norm2.running_mean")):
            continue
        if name.endswith("qkv.bias"):
            third = x.shape[0] // 3                        # q, k, v: leave k out
            x, y = torch.cat([x[:third], x[2 * third:]]), torch.cat([y[:third], y[2 * third:]])
        assert torch.allclose(x, y, rtol=1e-4, atol=5e-5), (name, (x - y).abs().max())
        checked += 1
    assert checked > 0.8 * len(a)


# ---------------------------------------------------------------------------- detection

TORCHRUN_ENV = {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": "29500"}


def test_only_torchruns_environment_makes_a_run_distributed():
    info = detect_distributed(TORCHRUN_ENV)
    assert (info.rank, info.local_rank, info.world_size, info.is_main) == (1, 1, 2, False)
    assert detect_distributed({}) is None                              # a plain process
    assert detect_distributed({**TORCHRUN_ENV, "WORLD_SIZE": "1"}) is None
    for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):  # a stray WORLD_SIZE
        partial = {k: v for k, v in TORCHRUN_ENV.items() if k != name}
        assert detect_distributed(partial) is None, name
    with pytest.raises(UserError, match="RANK 5 does not fit its WORLD_SIZE 2"):
        detect_distributed({**TORCHRUN_ENV, "RANK": "5"})


# ---------------------------------------------------------------------------- the lock

def test_a_second_trainer_is_refused_while_the_first_one_lives(data, tmp_path, tiny_config):
    out = tmp_path / "run"
    first = Trainer(options(data, out, tiny_config, steps_per_epoch=1, batch_size=1))
    holder = json.loads((out / LOCK_NAME).read_text())
    assert holder["pid"] == os.getpid()
    with pytest.raises(UserError, match=f"in use by another trainer \\(pid {os.getpid()}"):
        Trainer(options(data, out, tiny_config, steps_per_epoch=1, batch_size=1, resume=True))
    first.fit()                                              # trains, then lets the folder go
    assert not (out / LOCK_NAME).exists()
    second = Trainer(options(data, out, tiny_config, steps_per_epoch=1, batch_size=1,
                             resume=True, epochs=2))
    assert second.step == 1 and (out / LOCK_NAME).exists()
    second.lock.release()
    assert not (out / LOCK_NAME).exists()


def test_a_lock_left_by_a_process_that_ended_is_taken_over(tmp_path):
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": int(ended.stdout), "token": "x",
                                                   "host": os.uname().nodename}))
    lock = RunLock(tmp_path)
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_lock_held_by_a_live_process_names_it(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": sleeper.pid, "token": "x",
                                                       "host": os.uname().nodename}))
        with pytest.raises(UserError, match=f"pid {sleeper.pid}") as err:
            RunLock(tmp_path)
        assert str(tmp_path) in str(err.value)
        assert (tmp_path / LOCK_NAME).exists()                # the holder keeps it
    finally:
        sleeper.kill()
        sleeper.wait()


# ---------------------------------------------------------------------------- DDP over gloo

@pytest.mark.slow
def test_two_processes_equal_one_with_their_global_batch_and_resume_exactly(
        data, tmp_path, tiny_config):
    """2 ranks x batch 1 == 1 process x batch 2, after an epoch and after resuming for a
    second one (batch norm over the global batch, each rank its own half of the items)."""
    single1 = train(options(data, tmp_path / "one1", tiny_config, batch_size=2))
    single2 = train(options(data, tmp_path / "one2", tiny_config, batch_size=2, epochs=2))

    ddp = tmp_path / "ddp"
    proc = torchrun(2, options(data, ddp, tiny_config, batch_size=1), tmp_path)
    assert_same_weights(weights(ddp / LAST_NAME), weights(single1.last_model))
    losses = {r["step"]: r["loss"] for r in log_records(ddp, "step")}
    assert losses == pytest.approx({r["step"]: r["loss"] for r in
                                    log_records(tmp_path / "one1", "step")}, rel=1e-5)
    start = log_records(ddp, "start")
    assert [(r["world_size"], r["global_batch"], r["device"]) for r in start] == [(2, 2, "cpu")]
    meta = load_bundle(ddp / LAST_NAME).metadata["training"]
    assert (meta["world_size"], meta["batch_size"], meta["global_batch_size"]) == (1 * 2, 1, 2)
    assert torch.load(ddp / CHECKPOINT_NAME, weights_only=True)["world_size"] == 2
    assert "Traceback" not in proc.stderr

    # resume under DDP for a second epoch: the same as one process training 2 epochs
    torchrun(2, options(data, ddp, tiny_config, batch_size=1, epochs=2, resume=True), tmp_path)
    assert_same_weights(weights(ddp / LAST_NAME), weights(single2.last_model))
    assert [r["world_size"] for r in log_records(ddp, "start")] == [2, 2]
    assert [r["step"] for r in log_records(ddp, "epoch")] == [0, 3, 6]

    # one plain process may not continue a 2-process run
    with pytest.raises(UserError, match="trained by 2 processes and this run has 1") as err:
        Trainer(options(data, ddp, tiny_config, batch_size=1, epochs=3, resume=True))
    assert "--nproc_per_node 2" in str(err.value)
    assert not (ddp / LOCK_NAME).exists()


@pytest.mark.slow
def test_two_processes_with_gradient_checkpointing_equal_one(data, tmp_path, tiny_config):
    """Checkpointed blocks recompute their forward, all-reduces of the batch statistics
    included, while DDP reduces gradients: still one process's step with the global batch."""
    kw = dict(gradient_checkpointing=True, checkpoint_attention=True)
    single = train(options(data, tmp_path / "one", tiny_config, batch_size=2, **kw))
    torchrun(2, options(data, tmp_path / "ddp", tiny_config, batch_size=1, **kw), tmp_path)
    assert_same_weights(weights(tmp_path / "ddp" / LAST_NAME), weights(single.last_model))


def test_a_refusal_under_torchrun_is_said_once_not_once_per_process(tmp_path):
    """Every process meets the same check with the same arguments; rank 0 speaks for them."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    missing = tmp_path / "no-such-songs"
    proc = subprocess.run([*TORCHRUN, "2", "-m", "app", "train", "--data", str(missing),
                           "--out", str(tmp_path / "run")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=280)
    assert proc.returncode != 0
    said = [line for line in proc.stderr.splitlines() if str(missing) in line]
    assert said == [f"error: {missing}: does not exist"], proc.stderr[-2000:]


def test_only_a_process_of_a_torchrun_job_has_a_rank(monkeypatch):
    from app.cli import torchrun_rank

    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert torchrun_rank() is None
    monkeypatch.setenv("RANK", "1")
    assert torchrun_rank() is None                   # RANK alone is not torchrun
    for name, value in (("LOCAL_RANK", "1"), ("MASTER_ADDR", "127.0.0.1"),
                        ("MASTER_PORT", "29500"), ("WORLD_SIZE", "2")):
        monkeypatch.setenv(name, value)
    assert torchrun_rank() == 1
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert torchrun_rank() is None
