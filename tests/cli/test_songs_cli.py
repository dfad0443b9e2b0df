"""``tfswa-studio songs`` end to end: JSON result, folders, refusal to overwrite, a real
subprocess run with parallel workers, and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.cli import main
from interrupts import interruptible

ROOT = Path(__file__).resolve().parents[2]


def test_songs_json_and_no_overwrite(tmp_path, capsys):
    args = ["songs", "--out", str(tmp_path), "--count", "2", "--seed", "3", "--duration", "3",
            "--fallback", "--jobs", "1"]
    assert main(args + ["--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["renderer"] == "numpy"
    assert [t["name"] for t in result["tracks"]] == ["song-000003", "song-000004"]
    for track in result["tracks"]:
        mixture, sr = sf.read(track["files"]["mixture"], dtype="float32")
        assert (sr, mixture.shape) == (44100, (3 * 44100, 2))
    before = (tmp_path / "song-000003" / "vocals.wav").read_bytes()

    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "song-000003" / "vocals.wav").read_bytes() == before

    assert main(args + ["--overwrite"]) == 0
    out = capsys.readouterr().out
    assert "2 song(s)" in out and "numpy" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song-000003", "song-000004"]


def test_songs_bad_soundfont_is_reported(tmp_path, capsys):
    fake = tmp_path / "fake.sf2"
    fake.write_bytes(b"RIFF....WAVE")
    assert main(["songs", "--out", str(tmp_path / "o"), "--soundfont", str(fake),
                 "--duration", "2"]) == 2
    err = capsys.readouterr().err
    assert "fake.sf2" in err
    assert not (tmp_path / "o").exists()           # refused before any folder is made


def _cli(*args: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "app", "songs", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=interruptible, **kw)


@pytest.mark.slow
def test_songs_in_parallel_workers_as_a_subprocess(tmp_path):
    proc = _cli("--out", str(tmp_path), "--count", "3", "--seed", "50", "--duration", "2",
                "--fallback", "--jobs", "2")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "3 song(s)" in out and "(2 job(s))" in out
    a, _ = sf.read(str(tmp_path / "song-000050" / "mixture.wav"), dtype="float32")
    b, _ = sf.read(str(tmp_path / "song-000051" / "mixture.wav"), dtype="float32")
    assert a.shape == b.shape and not np.array_equal(a, b)


@pytest.mark.slow
def test_ctrl_c_leaves_no_partial_track(tmp_path):
    proc = _cli("--out", str(tmp_path), "--count", "8", "--seed", "70", "--duration", "30",
                "--fallback", "--jobs", "2")
    deadline = time.monotonic() + 90
    while not any(tmp_path.iterdir()) and time.monotonic() < deadline:   # workers writing
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "cancelled" in err
    for folder in tmp_path.iterdir():
        assert not folder.name.startswith("."), folder
        assert len(list(folder.iterdir())) == 7        # complete tracks only
    assert len(list(tmp_path.iterdir())) < 8
