"""The fuzz corpus through the real command line: every broken, hostile or lying file given
to ``info``, ``separate``, ``export`` and ``evaluate`` ends in one error line naming the file,
a non-zero exit, no traceback, no file written and no code run.

The corpus (tests/hostile.py) is generated here: empty, truncated and random files, a pickle
and a TorchScript program that would overwrite a victim file, NaN/Inf weights and audio,
configs asking for terabytes, and files whose names lie about their format.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import hostile
from app.core.audio import io as audio_io
from app.core.checkpoint import init_bundle, save_bundle
from app.core.config import AudioConfig

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
# Every file goes through ``info`` (one process describing them all: the loader every command
# shares); these also go through separate, export and evaluate, one process each (a process
# takes seconds to import torch).
EVERY_COMMAND = ("pickle.safetensors", "ts.pt", "nan.pt")


def model_corpus(folder: Path, victim: Path) -> dict[str, Path]:
    """Model files a user may be handed, each broken or hostile in one way."""
    folder.mkdir()
    good = save_bundle(init_bundle("small", audio=AudioConfig(segment_seconds=1.0),
                                   channels=(4, 8), dim=8, heads=2, window=(2, 2)),
                       folder / "good.pt")
    good_st = save_bundle(init_bundle("small", audio=AudioConfig(segment_seconds=1.0),
                                      channels=(4, 8), dim=8, heads=2, window=(2, 2)),
                          folder / "good.safetensors")
    corpus = {
        "empty.pt": hostile.empty(folder / "empty.pt"),
        "empty.onnx": hostile.empty(folder / "empty.onnx"),
        "truncated.pt": hostile.truncated(good, folder / "truncated.pt"),
        "truncated.safetensors": hostile.truncated(good_st, folder / "truncated.safetensors"),
        "random.pt": hostile.random_bytes(folder / "random.pt"),
        "random.safetensors": hostile.random_bytes(folder / "random.safetensors", seed=1),
        "random.onnx": hostile.random_bytes(folder / "random.onnx", seed=2),
        "pickle.pt": hostile.hostile_pickle(folder / "pickle.pt", victim),
        "pickle.safetensors": hostile.hostile_pickle(folder / "pickle.safetensors", victim),
        "ts.safetensors": hostile.hostile_torchscript(folder / "ts.safetensors", victim),
        "ts.pt": hostile.hostile_torchscript(folder / "ts.pt", victim),
        "ts-torchscript.pt": hostile.hostile_torchscript(folder / "ts-torchscript.pt", victim),
        "nan.pt": hostile.nonfinite_checkpoint(folder / "nan.pt"),
        "inf.safetensors": hostile.nonfinite_checkpoint(folder / "inf.safetensors", np.inf),
        "channels.pt": hostile.oversize_checkpoint(folder / "channels.pt", channels=[60000] * 4),
        "nfft.pt": hostile.oversize_checkpoint(folder / "nfft.pt", n_fft=2 ** 26),
        "segment.pt": hostile.oversize_checkpoint(folder / "segment.pt", segment_seconds=1e7),
        "text.pt": hostile.text_file(folder / "text.pt"),
        "zip.pt": hostile.zip_of_junk(folder / "zip.pt"),
    }
    wav = audio_io.write(folder / "song.wav", np.zeros((2, 4410), np.float32), 44100)
    corpus["wav.pt"] = wav.rename(folder / "wav.pt")
    (folder / "folder.pt").mkdir()
    corpus["folder.pt"] = folder / "folder.pt"
    return corpus


def audio_corpus(folder: Path) -> dict[str, Path]:
    folder.mkdir()
    real = audio_io.write(folder / "real.wav",
                          np.random.default_rng(0).uniform(-.2, .2, (2, 44100)).astype(np.float32),
                          44100)
    return {
        "empty.wav": hostile.empty(folder / "empty.wav"),
        "cut-header.wav": hostile.truncated(real, folder / "cut-header.wav", keep=0.0001),
        "random.wav": hostile.random_bytes(folder / "random.wav"),
        "random.m4a": hostile.random_bytes(folder / "random.m4a", seed=3),
        "random.mp3": hostile.random_bytes(folder / "random.mp3", size=50_000, seed=5),
        "text.mp3": hostile.text_file(folder / "text.mp3"),
        "nan.wav": hostile.nonfinite_wav(folder / "nan.wav"),
        "inf.wav": hostile.nonfinite_wav(folder / "inf.wav", np.inf),
    }


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def run_all(commands: dict[str, list[str]], cwd: Path) -> dict[str, subprocess.CompletedProcess]:
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {key: pool.submit(run_cli, args, cwd) for key, args in commands.items()}
        return {key: f.result() for key, f in futures.items()}


def assert_one_line_refusal(key: str, proc: subprocess.CompletedProcess, name: str) -> None:
    assert proc.returncode != 0, f"{key}: exit 0\n{proc.stdout}{proc.stderr}"
    assert "Traceback" not in proc.stderr, f"{key}:\n{proc.stderr}"
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, f"{key}: {proc.stderr}"
    assert name in errors[0], f"{key}: the message does not name the file: {errors[0]}"
    # nothing a decoder library prints ("Note: Illegal Audio-MPEG-Header ...") before it
    assert not [line for line in proc.stderr.splitlines() if line.startswith("Note:")], \
        f"{key}: {proc.stderr}"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    victim = hostile.victim_file(root)
    from stemdata import make_dataset

    return {"root": root, "victim": victim,
            "models": model_corpus(root / "models", victim),
            "audio": audio_corpus(root / "audio"),
            "data": make_dataset(root / "data", tracks=1, seconds=1.0)}


def test_every_broken_model_file_is_one_message_through_every_command(corpus, tmp_path):
    song = corpus["audio"]["empty.wav"].with_name("ok.wav")
    audio_io.write(song, np.zeros((2, 44100), np.float32), 44100)
    commands = {"info": ["info", *corpus["models"].values()]}
    for name in EVERY_COMMAND:
        path = corpus["models"][name]
        commands[f"separate {name}"] = ["separate", song, "--model", path, "--out",
                                        tmp_path / "separated"]
        commands[f"export {name}"] = ["export", path, "--out", tmp_path / "exported" / "m.onnx"]
        commands[f"evaluate {name}"] = ["evaluate", path, "--data", corpus["data"]]
    results = run_all(commands, tmp_path)
    info = results.pop("info")
    assert info.returncode != 0 and "Traceback" not in info.stderr, info.stderr
    errors = [line for line in info.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == len(corpus["models"]), info.stderr
    for line, path in zip(errors, corpus["models"].values()):
        assert line.startswith(f"error: {path}: "), line
    for key, proc in results.items():
        assert_one_line_refusal(key, proc, key.split(" ", 1)[1])
    assert corpus["victim"].read_bytes() == hostile.VICTIM_BYTES      # no code ran
    assert list(tmp_path.rglob("*")) == []                              # nothing written


def test_every_broken_audio_file_is_one_message(corpus, tmp_path):
    model = corpus["models"]["empty.pt"].with_name("good.pt")
    commands = {f"separate {name}": ["separate", path, "--model", model, "--out",
                                     tmp_path / "out"]
                for name, path in corpus["audio"].items()}
    results = run_all(commands, tmp_path)
    for key, proc in results.items():
        assert_one_line_refusal(key, proc, key.split(" ", 1)[1])
    assert list(tmp_path.rglob("*")) == []     # no stems, no partial, no empty track folder


def test_a_text_file_named_mp3_says_it_is_not_audio(corpus, tmp_path):
    model = corpus["models"]["empty.pt"].with_name("good.pt")
    proc = run_cli(["separate", corpus["audio"]["text.mp3"], "--model", model, "--out",
                    tmp_path / "o"], tmp_path)
    assert "text.mp3: is a text file, not audio" in proc.stderr


def test_nan_audio_names_the_time_and_nan_zero_separates_it(corpus, tmp_path):
    model = corpus["models"]["empty.pt"].with_name("good.pt")
    nan = corpus["audio"]["nan.wav"]
    proc = run_cli(["separate", nan, "--model", model, "--out", tmp_path / "o"], tmp_path)
    assert proc.returncode != 0 and "at 0:01.000" in proc.stderr and "--nan zero" in proc.stderr
    proc = run_cli(["separate", nan, "--model", model, "--out", tmp_path / "o", "--nan", "zero"],
                   tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "warning: nan.wav: NaN or infinite samples at 0:01.000" in proc.stderr
    stem, _ = audio_io.load(tmp_path / "o" / "nan" / "vocals.wav")
    assert np.isfinite(stem).all()


def test_trusting_the_hostile_torchscript_is_what_runs_it(corpus, tmp_path):
    """The refusals above are the gate: with --trust-torchscript the same file runs."""
    victim = hostile.victim_file(tmp_path)
    program = hostile.hostile_torchscript(tmp_path / "model.pt", victim)
    song = audio_io.write(tmp_path / "s.wav", np.zeros((2, 44100), np.float32), 44100)
    proc = run_cli(["separate", song, "--model", program, "--out", tmp_path / "o",
                    "--trust-torchscript"], tmp_path)
    assert victim.read_bytes() != hostile.VICTIM_BYTES, proc.stderr
