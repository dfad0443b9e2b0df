"""The CLI where PyTorch is absent (the slim runtime): ``separate`` of an ONNX model runs,
the subcommands that need torch say what to install. Torch is blocked in a subprocess
(``sys.modules['torch'] = None`` makes every ``import torch`` fail as if not installed; see
tests/notorch.py)."""

from __future__ import annotations

import argparse
import importlib

import numpy as np
import pytest

from app.cli import COMMANDS
from app.core.audio import io as audio
from notorch import run_without_torch


def test_separate_with_an_onnx_model_runs_without_torch(tmp_path):
    from exporthelp import exported

    _, result = exported("onnx")
    mix = np.random.default_rng(0).uniform(-0.3, 0.3, (2, 2 * 44100)).astype(np.float32)
    song = audio.write(tmp_path / "song.wav", mix, 44100, subtype="float")
    proc = run_without_torch("separate", str(song), "--model", str(result.path), "--out",
                             str(tmp_path / "out"), "--bits", "float", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    stems = sorted((tmp_path / "out" / "song").glob("*.wav"))
    assert [p.stem for p in stems] == ["accompaniment", "vocals"]
    total = sum(audio.load(p)[0] for p in stems)
    assert total.shape == mix.shape and np.isfinite(total).all()


@pytest.mark.parametrize("command", ["export", "memory", "train", "init"])
def test_commands_that_need_torch_say_what_to_install(tmp_path, command):
    args = ["--out", "model.pt"] if command == "init" else ["model.pt"]
    proc = run_without_torch(command, *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: '{command}' needs PyTorch"), proc.stderr
    assert "Traceback" not in proc.stderr and "pip install torch" in proc.stderr
    assert not (tmp_path / "model.pt").exists()


def test_info_describes_an_onnx_model_and_refuses_a_checkpoint(tmp_path):
    from exporthelp import exported

    bundle, result = exported("onnx")
    proc = run_without_torch("info", str(result.path), cwd=tmp_path, blocked=("torch", "onnx"))
    assert proc.returncode == 0, proc.stderr
    assert "ONNX, FP32" in proc.stdout and "vocals" in proc.stdout
    proc = run_without_torch("info", str(bundle.path), cwd=tmp_path)
    assert proc.returncode == 2
    assert "is a checkpoint: opening one needs PyTorch" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "pip install torch" in proc.stderr


def test_help_without_torch_lists_every_command(tmp_path):
    proc = run_without_torch("--help", cwd=tmp_path)
    assert proc.returncode == 0
    for name in COMMANDS:
        assert name in proc.stdout


def test_listed_help_is_each_commands_own():
    """The help shown without importing a command is the one its module declares."""
    for name, text in COMMANDS.items():
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"app.commands.{name}").add_parser(sub)
        assert sub._choices_actions[0].help == text, name
