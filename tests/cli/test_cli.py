"""The command line end to end: init, info, separate, errors and Ctrl-C."""

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

from app.cli import main
from app.core.audio import io as audio
from app.core.checkpoint import init_bundle, load_bundle, save_bundle
from app.core.info import metadata_rows
from interrupts import interruptible

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def wav(tmp_path):
    x = np.random.default_rng(0).uniform(-0.3, 0.3, (2, 3 * 44100)).astype(np.float32)
    return audio.write(tmp_path / "track one.wav", x, 44100, subtype="float")


def test_init_writes_a_loadable_bundle(tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    assert main(["init", "--preset", "small", "--sources", "vocals,drums,bass,other",
                 "--out", str(out), "--seed", "7"]) == 0
    bundle = load_bundle(out)
    assert bundle.sources == ("vocals", "drums", "bass", "other")
    assert bundle.metadata["seed"] == 7 and bundle.model_config.preset == "small"
    assert "1,0" in capsys.readouterr().out  # parameter count is printed (~1.0 M)
    # refuses to overwrite, then does with --overwrite
    assert main(["init", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["init", "--out", str(out), "--overwrite"]) == 0


def test_info_prints_summary_and_stage_table(tiny_ckpt, capsys):
    assert main(["info", str(tiny_ckpt)]) == 0
    out = capsys.readouterr().out
    for text in ("Preset", "Parameters", "Size on disk", "44100 Hz", "vocals, accompaniment",
                 "stem", "tfswa1", "head", "output shape"):
        assert text in out


def test_info_json(tiny_ckpt, capsys):
    assert main(["info", str(tiny_ckpt), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    bundle = load_bundle(tiny_ckpt)
    assert data["parameters"] == bundle.n_parameters
    assert data["size_bytes"] == tiny_ckpt.stat().st_size
    assert data["audio_config"]["n_fft"] == 2048
    assert [s["name"] for s in data["stages"]][0] == "stem"
    assert data["stages"][-1]["output_shape"][1] == 2 * 2 * 4   # sources x channels x sub-bands


def test_info_on_a_bad_file_is_a_message_not_a_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"nonsense" * 10)
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.pt" in err and "Traceback" not in err


def test_separate_writes_stems_and_reports_speed(tmp_path, tiny_ckpt, wav, capsys):
    out = tmp_path / "stems"
    assert main(["separate", str(wav), "--model", str(tiny_ckpt), "--out", str(out),
                 "--format", "flac", "--exact-sum", "--bits", "24"]) == 0
    text = capsys.readouterr().out
    assert "x real time" in text and "real-time factor" in text
    v = audio.load(out / "track one" / "vocals.flac")[0]
    a = audio.load(out / "track one" / "accompaniment.flac")[0]
    x = audio.load(wav)[0]
    np.testing.assert_allclose(v + a, x, atol=3e-7 * 4)


def test_separate_continues_after_a_bad_file_and_fails_overall(tmp_path, tiny_ckpt, wav, capsys):
    bad = tmp_path / "bad.ogg"
    bad.write_bytes(b"OggS but not really" * 5)
    code = main(["separate", str(bad), str(wav), "--model", str(tiny_ckpt), "--out", str(tmp_path / "o")])
    assert code == 1
    assert "bad.ogg" in capsys.readouterr().err
    assert (tmp_path / "o" / "track one" / "vocals.wav").exists()


def test_separate_refuses_to_overwrite(tmp_path, tiny_ckpt, wav, capsys):
    args = ["separate", str(wav), "--model", str(tiny_ckpt), "--out", str(tmp_path / "o")]
    assert main(args) == 0
    assert main(args) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0


def test_separate_json(tmp_path, tiny_ckpt, wav, capsys):
    assert main(["separate", str(wav), "--model", str(tiny_ckpt), "--out", str(tmp_path / "o"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["outputs"]["vocals"].endswith("vocals.wav") and data[0]["speed"] > 0


@pytest.mark.slow
def test_ctrl_c_leaves_no_partial_file(tmp_path, tiny_ckpt):
    """A real process, a real SIGINT: the command exits 130 and no stem file remains."""
    x = np.random.default_rng(0).uniform(-0.3, 0.3, (2, 120 * 44100)).astype(np.float32)
    long = audio.write(tmp_path / "long.wav", x, 44100)
    out = tmp_path / "o"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "app", "separate", str(long), "--model",
                             str(tiny_ckpt), "--out", str(out), "--threads", "1"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=interruptible)
    deadline = time.time() + 60
    while time.time() < deadline and not list(out.rglob("*.partial")):
        time.sleep(0.05)
    assert list(out.rglob("*.partial")), "separation never started writing"
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "cancelled" in err
    assert [p for p in out.rglob("*") if p.is_file()] == []


@pytest.mark.slow
def test_python_dash_m_app_runs_the_cli():
    proc = subprocess.run([sys.executable, "-m", "app", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0
    for name in ("info", "init", "separate"):
        assert name in proc.stdout


def test_files_and_gui_options_go_to_the_app_subcommands_to_the_cli(tmp_path):
    from app.__main__ import wants_gui

    song = tmp_path / "song.wav"
    song.write_bytes(b"x")
    assert wants_gui([]) and wants_gui(["gui"]) and wants_gui([str(song)])
    assert wants_gui(["--no-demo"]) and wants_gui(["--settings", "x.ini"])
    assert not wants_gui(["separate", str(song)]) and not wants_gui(["info", "m.pt"])
    assert not wants_gui(["--help"]) and not wants_gui([str(tmp_path / "missing.wav")])


def test_info_shows_nested_metadata_readably(tmp_path, tiny_config, capsys):
    """A trained bundle's metadata (nested dicts, floats, long lists) reads as dotted keys with
    rounded numbers, not as Python reprs."""
    sizes = {k: getattr(tiny_config, k) for k in ("channels", "dim", "blocks", "heads", "window")}
    bundle = init_bundle("small", **sizes)
    bundle.metadata.update({"trained": True,
                            "evaluation": {"median_sdr_db": {"vocals": 10.099819171944876}},
                            "training": {"valid_tracks": [f"song-{i}" for i in range(10)]}})
    path = save_bundle(bundle, tmp_path / "trained.safetensors")
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "evaluation.median_sdr_db.vocals" in out and "10.1" in out
    assert "10.099819" not in out and "{" not in out.split("Metadata", 1)[1]
    assert "song-0, song-1, song-2, song-3, … (10 in all)" in out
    assert metadata_rows({"trained": False, "x": None}) == [("trained", "no"), ("x", "-")]
