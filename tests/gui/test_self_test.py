"""``tfswa-studio --self-test`` as a user runs it: the window opens (offscreen), the demo
model loads, 5 s of the demo song are separated and checked, exit status 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_self_test_passes_on_the_demo(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen",
               HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "app", "--self-test", "--settings",
                           str(tmp_path / "settings.ini")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = proc.stdout
    assert report.startswith("TFSWA Studio self-test: PASSED")
    for check in ("window", "resources", "shape", "finite", "sum", "vocals", "accompaniment"):
        assert f"ok       {check}:" in report
    assert "opened with model demo-model" in report


@pytest.mark.slow
def test_self_test_fails_without_a_model(tmp_path):
    """--no-demo: nothing is loaded in the window, so the report says FAILED, exit 1."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen",
               HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "app", "--self-test", "--no-demo",
                           "--settings", str(tmp_path / "settings.ini")], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL     window: opened with model none" in proc.stdout
