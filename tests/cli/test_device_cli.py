"""``--device`` on separate, evaluate and memory: the CPU works as before, and a GPU that is
not here is a one-line message naming the devices that are (a real process, as a user runs
it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from app.cli import main
from app.core.audio import io as audio
from exporthelp import exported

ROOT = Path(__file__).resolve().parents[2]
NO_GPU = not torch.cuda.is_available()

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture
def tiny_ckpt(short_fft_ckpt):
    return short_fft_ckpt


@pytest.fixture
def wav(tmp_path):
    x = np.random.default_rng(0).uniform(-0.3, 0.3, (2, 44100)).astype(np.float32)
    return audio.write(tmp_path / "song.wav", x, 44100, subtype="float")


def cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_separate_on_the_cpu_writes_the_same_stems_as_before(tmp_path, tiny_ckpt, wav):
    base = ["separate", str(wav), "--model", str(tiny_ckpt), "--format", "wav", "--bits", "float"]
    assert main(base + ["--out", str(tmp_path / "a")]) == 0
    assert main(base + ["--out", str(tmp_path / "b"), "--device", "cpu"]) == 0
    for stem in ("vocals", "accompaniment"):
        a = audio.load(tmp_path / "a" / "song" / f"{stem}.wav")[0]
        b = audio.load(tmp_path / "b" / "song" / f"{stem}.wav")[0]
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")
def test_separate_on_cuda_without_a_gpu_says_what_is_here(tmp_path, tiny_ckpt, wav):
    out = tmp_path / "o"
    proc = cli("separate", str(wav), "--model", str(tiny_ckpt), "--out", str(out),
               "--device", "cuda")
    assert proc.returncode == 2, proc.stderr
    assert "no CUDA device is available here" in proc.stderr
    assert "Devices here: cpu" in proc.stderr and "--device cpu" in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()


@pytest.mark.slow
@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(),
                    reason="this ONNX Runtime has the CUDA provider")
def test_an_onnx_model_on_cuda_without_onnxruntime_gpu_says_so(tmp_path, wav):
    _, result = exported("onnx")
    proc = cli("separate", str(wav), "--model", str(result.path), "--out", str(tmp_path / "o"),
               "--device", "cuda:0")
    assert proc.returncode == 2, proc.stderr
    assert result.path.name in proc.stderr and "no CUDA provider" in proc.stderr
    assert "CPUExecutionProvider" in proc.stderr and "onnxruntime-gpu" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")
@pytest.mark.parametrize("command", ["evaluate", "memory"])
def test_evaluate_and_memory_on_cuda_without_a_gpu_say_what_is_here(tmp_path, tiny_ckpt,
                                                                    command):
    extra = ["--data", str(tmp_path)] if command == "evaluate" else ["--batch", "1"]
    proc = cli(command, str(tiny_ckpt), *extra, "--device", "cuda")
    assert proc.returncode == 2, proc.stderr
    assert "no CUDA device is available here" in proc.stderr
    assert "Devices here: cpu" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", ["separate", "evaluate", "memory"])
def test_an_unknown_device_is_refused_with_the_choices(tmp_path, tiny_ckpt, wav, capsys,
                                                       command):
    args = {"separate": [str(wav), "--model", str(tiny_ckpt), "--out", str(tmp_path / "o")],
            "evaluate": [str(tiny_ckpt), "--data", str(tmp_path)],
            "memory": [str(tiny_ckpt)]}[command]
    assert main([command, *args, "--device", "gpu"]) == 2
    err = capsys.readouterr().err
    assert "unknown device 'gpu'" in err and "cuda:N" in err


def test_memory_measures_on_the_cpu_when_asked(tiny_ckpt, capsys):
    assert main(["memory", str(tiny_ckpt), "--batch", "1", "--modes", "baseline",
                 "--segment", "0.25", "--device", "cpu"]) == 0
    assert "measured on cpu" in capsys.readouterr().out


@pytest.mark.skipif(not NO_GPU or "CUDAExecutionProvider" in ort.get_available_providers(),
                    reason="this machine has CUDA")
def test_benchmark_cuda_without_a_gpu_times_the_cpu_variants_and_says_why(tmp_path, capsys):
    from benchhelp import contract_onnx

    onnx = contract_onnx(tmp_path / "m.onnx")
    assert main(["benchmark", str(onnx), "--cuda", "--runs", "1", "--warmup", "0",
                 "--no-memory", "--json"]) == 0
    out = capsys.readouterr()
    assert "no CUDA variants here (PyTorch: no CUDA device is available here" in out.err
    assert "ONNX Runtime: cannot run on cuda" in out.err
    import json

    assert [r["device"] for r in json.loads(out.out)["results"]] == ["cpu"]
