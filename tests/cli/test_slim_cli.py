"""The CLI where PyTorch is absent (the slim runtime): ``separate`` of an ONNX model runs,
the subcommands that need torch say what to install. Torch is blocked in a subprocess
(``sys.modules['torch'] = None`` makes every ``import torch`` fail as if not installed)."""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.cli import COMMANDS
from app.core.audio import io as audio

ROOT = Path(__file__).resolve().parents[2]
# Runs ``python -m app ARGS`` with torch unimportable, and fails if anything imported it.
NO_TORCH = ("import sys; sys.modules['torch'] = None\n"
            "from app.__main__ import main\n"
            "code = main(sys.argv[1:])\n"
            "sys.exit(code)\n")


def run_without_torch(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-c", NO_TORCH, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=240)


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


@pytest.mark.parametrize("command", ["export", "info", "memory", "train", "init"])
def test_commands_that_need_torch_say_what_to_install(tmp_path, command):
    proc = run_without_torch(command, "model.pt", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: '{command}' needs PyTorch"), proc.stderr
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


def test_desktop_app_without_torch_says_what_to_install(tmp_path):
    """The slim runtime's window: a message naming what works and what to install, exit 0,
    instead of a ModuleNotFoundError traceback."""
    shot = tmp_path / "slim.png"
    proc = run_without_torch("--screenshot", str(shot), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "The desktop window needs PyTorch" in proc.stderr and "pip install torch" in proc.stderr
    assert "tfswa-studio separate" in proc.stderr and "Traceback" not in proc.stderr
    assert shot.stat().st_size > 1000
