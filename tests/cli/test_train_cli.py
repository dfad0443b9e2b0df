"""``tfswa-studio train`` and ``evaluate`` end to end on a tiny folder of stems."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from app.cli import main
from app.core.checkpoint import load_bundle
from interrupts import interruptible
from stemdata import make_dataset

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("stems"), tracks=3, seconds=1.5, seed=2)


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def small_run(data, out, *extra, batch=("--batch", "1"), steps="2"):
    return ["train", "--data", str(data), "--out", str(out), "--preset", "small", *batch,
            "--segment", "0.5", "--epochs", "1", "--steps-per-epoch", steps,
            "--valid-seconds", "0.5", "--threads", "1", *extra]


@pytest.mark.slow
def test_train_writes_a_loadable_bundle_and_evaluate_reads_it(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(small_run(data, out)) == 0
    printed = capsys.readouterr()
    assert "best model (step 2)" in printed.out and "resume with" in printed.out
    assert "training data: 2 tracks" in printed.err
    bundle = load_bundle(out / "best.safetensors")
    assert bundle.model_config.preset == "small"
    assert bundle.metadata["training"]["steps"] == 2
    options = json.loads((out / "options.json").read_text())
    assert options["batch_size"] == 1 and options["segment_seconds"] == 0.5

    assert main(["evaluate", str(out / "best.safetensors"), "--data", str(data),
                 "--tracks", "1", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert "model  mixture  oracle  model/oracle" in text
    assert "track00" in text and "vocals" in text and "accompaniment" in text

    assert main(["evaluate", str(out / "best.safetensors"), "--data", str(data),
                 "--tracks", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["median"]) == {"model", "mixture", "oracle"}
    assert result["median"]["oracle"]["vocals"] > result["median"]["mixture"]["vocals"]


@pytest.mark.slow
def test_resume_and_the_memory_tab_config(data, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "training-config.json").write_text(json.dumps(
        {"batch_size": 2, "precision": "fp32", "gradient_checkpointing": False,
         "checkpoint_attention": False, "segment_seconds": 0.5}))
    assert main(small_run(data, out, "--json", batch=())) == 0     # batch from the config
    captured = capsys.readouterr()
    first = json.loads(captured.out)
    assert "applied" in captured.err and "batch_size=2" in captured.err
    assert json.loads((out / "options.json").read_text())["batch_size"] == 2
    assert first["steps"] == 2

    assert main(small_run(data, out, "--json")) == 2       # a run is there and no --resume
    assert "already holds a training run" in capsys.readouterr().err
    assert main(["train", "--data", str(data), "--out", str(out), "--resume", "--epochs", "2",
                 "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["steps"] == 4 and again["epochs"] == 2.0


def test_bad_data_folder_is_reported(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["train", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "contains no track folders" in err and "empty" in err


@pytest.mark.slow
def test_ctrl_c_saves_the_progress_and_resume_continues(data, tmp_path):
    """A real process, a real SIGINT during training: exit 130, a resumable checkpoint."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "app", *small_run(data, out, "--log-every", "1",
                                                                      steps="500")],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=interruptible)
    log = out / "log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and '"kind": "step"' not in (log.read_text() if log.exists() else ""):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "continue with --resume" in err
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["step"] >= 1
    assert not list(out.glob(".*.partial"))
    assert main(["train", "--data", str(data), "--out", str(out), "--resume",
                 "--steps-per-epoch", "500", "--max-minutes", "0.01", "--json"]) == 0


@pytest.mark.slow
@pytest.mark.parametrize("content", [b"", b"\x80\x02", b"not a checkpoint at all"])
def test_resume_from_an_empty_or_broken_checkpoint_is_one_line(data, tmp_path, content):
    """A 0-byte checkpoint.pt (a run killed while writing with an old version, a full disk)
    once ended in an IndexError traceback: an empty exception message had no first line."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(content)
    proc = subprocess.run([sys.executable, "-m", "app", "train", "--data", str(data), "--out",
                           str(out), "--resume"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    message = proc.stderr.strip().splitlines()[0]
    assert message.startswith(f"error: {out / 'checkpoint.pt'}: ")
    assert ("is empty (0 bytes)" if not content else "cannot be read") in message


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: --device cuda works")
def test_device_cuda_without_a_gpu_is_one_clear_line(data, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "app", *small_run(data, out, "--device", "cuda")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: no CUDA device is available here")
    assert "Devices here: cpu" in proc.stderr and "--device cpu" in proc.stderr
    assert not (out / "checkpoint.pt").exists() and not (out / "train.lock").exists()


def test_an_unknown_device_is_refused_by_name(data, tmp_path, capsys):
    assert main(small_run(data, tmp_path / "run", "--device", "tpu")) == 2
    assert "unknown device 'tpu'" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_starts_app_train_on_two_processes(data, tmp_path):
    """``torchrun --nproc_per_node 2 -m app train``: one job of two gloo processes on the CPU;
    rank 0 alone prints and writes; a plain process may not resume it."""
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK",
                                                             "MASTER_ADDR", "MASTER_PORT")}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node", "2", "-m", "app",
                           *small_run(data, out, "--json", "--device", "cpu", steps="1")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)                   # one result: rank 0's
    assert result["steps"] == 1
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    start = [r for r in records if r["kind"] == "start"]
    assert [(r["world_size"], r["global_batch"]) for r in start] == [(2, 2)]
    meta = load_bundle(out / "last.safetensors").metadata["training"]
    assert (meta["world_size"], meta["global_batch_size"]) == (2, 2)
    assert not (out / "train.lock").exists()

    plain = subprocess.run([sys.executable, "-m", "app", "train", "--data", str(data), "--out",
                            str(out), "--resume", "--epochs", "2"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert "trained by 2 processes and this run has 1" in plain.stderr


@pytest.mark.slow
def test_ctrl_c_on_a_torchrun_job_saves_it_and_it_resumes_under_a_time_limit(data, tmp_path):
    """Ctrl-C in the terminal reaches torchrun and both ranks: rank 0 saves the progress, the
    process group is left, no lock stays; the job resumes on 2 processes and stops at its
    time limit together."""
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK",
                                                             "MASTER_ADDR", "MASTER_PORT")}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", "-m", "app"]

    def foreground():                  # what a terminal does: own process group, Ctrl-C on
        interruptible()
        os.setpgrp()

    proc = subprocess.Popen([*command, *small_run(data, out, "--log-every", "1", "--device",
                                                  "cpu", steps="500")],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=foreground)
    log = out / "log.jsonl"
    deadline = time.time() + 180
    while time.time() < deadline and '"kind": "step"' not in (log.read_text() if log.exists()
                                                               else ""):
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["step"] >= 1 and state["world_size"] == 2
    assert not (out / "train.lock").exists()
    assert not list(out.glob(".*.partial"))

    again = subprocess.run([*command, "train", "--data", str(data), "--out", str(out),
                            "--resume", "--max-minutes", "0.3", "--json"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=280)
    assert again.returncode == 0, again.stderr[-3000:]
    result = json.loads(again.stdout)
    assert result["stopped"] == "time limit" and result["steps"] >= state["step"]
