"""Batches of MUSDB-style folders, mono files, and what failed or killed runs leave behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from interrupts import interruptible

from app.cli import main
from app.core.audio import io as audio

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("torch_one_thread")


def noise(seconds: float, channels: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-0.3, 0.3, (channels, int(seconds * 44100))).astype(np.float32)


def test_musdb_style_mixtures_get_their_folders_names(tmp_path, tiny_ckpt, capsys):
    a = audio.write(tmp_path / "a" / "mixture.wav", noise(1), 44100)
    b = audio.write(tmp_path / "b" / "mixture.wav", noise(1, seed=1), 44100)
    out = tmp_path / "out"
    assert main(["separate", str(a), str(b), "--model", str(tiny_ckpt), "--out", str(out)]) == 0
    first, _ = audio.load(out / "a" / "vocals.wav")
    second, _ = audio.load(out / "b" / "vocals.wav")
    assert not np.allclose(first, second)          # two songs, two results, none replaced


def test_inputs_sharing_a_name_are_told_apart(tmp_path, tiny_ckpt):
    a = audio.write(tmp_path / "x" / "song.wav", noise(1), 44100)
    b = audio.write(tmp_path / "y" / "song.wav", noise(1, seed=1), 44100)
    out = tmp_path / "out"
    assert main(["separate", str(a), str(b), "--model", str(tiny_ckpt), "--out", str(out)]) == 0
    assert (out / "x-song" / "vocals.wav").exists() and (out / "y-song" / "vocals.wav").exists()


def test_name_template(tmp_path, tiny_ckpt):
    a = audio.write(tmp_path / "album" / "01.wav", noise(1), 44100)
    out = tmp_path / "out"
    assert main(["separate", str(a), "--model", str(tiny_ckpt), "--out", str(out),
                 "--name", "{parent}/{track}-{stem}.{ext}", "--format", "flac"]) == 0
    assert sorted(p.name for p in (out / "album").iterdir()) == [
        "01-accompaniment.flac", "01-vocals.flac"]


@pytest.mark.parametrize("template, problem", [
    ("{parent}/{stem}.{ext}", "would both be written to"),
    ("{track}.{ext}", "has no {stem}"),
    ("../{track}/{stem}.{ext}", "inside the output folder"),
    ("{song}/{stem}.{ext}", "unknown fields {song}"),
])
def test_a_template_that_would_replace_or_escape_is_refused_before_writing(
        tmp_path, tiny_ckpt, capsys, template, problem):
    a = audio.write(tmp_path / "d" / "one.wav", noise(1), 44100)
    b = audio.write(tmp_path / "d" / "two.wav", noise(1), 44100)
    out = tmp_path / "out"
    assert main(["separate", str(a), str(b), "--model", str(tiny_ckpt), "--out", str(out),
                 "--name", template]) == 2
    assert problem in capsys.readouterr().err
    assert not out.exists()


def test_mono_input_gives_mono_stems(tmp_path, tiny_ckpt):
    mono = audio.write(tmp_path / "mono.wav", noise(1.5, channels=1), 44100)
    out = tmp_path / "out"
    assert main(["separate", str(mono), "--model", str(tiny_ckpt), "--out", str(out)]) == 0
    for stem in ("vocals", "accompaniment"):
        info = audio.probe(out / "mono" / f"{stem}.wav")
        assert info.channels == 1 and info.frames == int(1.5 * 44100)


def test_stale_partials_of_this_app_are_cleaned_and_others_kept(tmp_path, tiny_ckpt):
    song = audio.write(tmp_path / "song.wav", noise(1), 44100)
    folder = tmp_path / "out" / "song"
    folder.mkdir(parents=True)
    stale = folder / ".vocals.wav.0123abcd.partial"          # a killed run, an hour ago
    fresh = folder / ".vocals.wav.89abcdef.partial"          # a run writing right now
    theirs = folder / ".vocals.wav.partial"                  # not this app's pattern
    for path in (stale, fresh, theirs):
        path.write_bytes(b"x")
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    assert main(["separate", str(song), "--model", str(tiny_ckpt), "--out",
                 str(tmp_path / "out")]) == 0
    assert not stale.exists() and fresh.exists() and theirs.exists()


@pytest.mark.slow
def test_sigterm_is_handled_like_ctrl_c(tmp_path, tiny_ckpt):
    long = audio.write(tmp_path / "long.wav", noise(120), 44100)
    out = tmp_path / "o"
    proc = subprocess.Popen([sys.executable, "-m", "app", "separate", str(long), "--model",
                             str(tiny_ckpt), "--out", str(out), "--threads", "1"],
                            cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.rglob("*.partial")):
        time.sleep(0.05)
    assert list(out.rglob("*.partial")), "separation never started writing"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "cancelled" in err and "Traceback" not in err, err
    assert list(out.rglob("*")) == []               # no stem, no partial, no empty long/


@pytest.mark.slow
def test_ctrl_c_during_start_up_is_one_line(tmp_path, tiny_ckpt):
    proc = subprocess.Popen([sys.executable, "-m", "app", "info", str(tiny_ckpt)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=interruptible)
    time.sleep(0.4)                                  # while torch is still being imported
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    # 130: the app's own message; 0: it finished first; -SIGINT: the signal came before the
    # interpreter had installed its handler (a busy machine), which prints nothing either.
    assert proc.returncode in (130, 0, -signal.SIGINT), err
    assert proc.returncode != 130 or "cancelled" in err


def test_a_closed_stdout_is_not_a_traceback(tiny_ckpt):
    proc = subprocess.Popen([sys.executable, "-m", "app", "info", str(tiny_ckpt)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()                              # like `| head -1` exiting at once
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and err == ""


@pytest.mark.parametrize("threads", ["-3", "100000"])
def test_threads_out_of_range_is_one_line(tmp_path, tiny_ckpt, capsys, threads):
    song = audio.write(tmp_path / "s.wav", noise(0.2), 44100)
    assert main(["separate", str(song), "--model", str(tiny_ckpt), "--threads", threads]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --threads {threads} is not a number of CPU threads")
