"""``tfswa-studio quantize`` as a user runs it (a subprocess), and ``separate --model`` with
the quantized file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from exporthelp import exported

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def tiny_onnx(tmp_path) -> Path:
    target = tmp_path / "tiny.onnx"
    target.write_bytes(exported("onnx")[1].path.read_bytes())
    return target


@pytest.mark.slow
def test_quantize_prints_json_and_the_file_separates(tiny_onnx, tmp_path):
    out = tmp_path / "tiny-int8.onnx"
    run = _cli("quantize", str(tiny_onnx), "--mode", "static", "--segments", "2",
               "--eval-seconds", "2", "--threads", "1", "--out", str(out), "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["path"] == str(out) and data["mode"] == "static" and data["precision"] == "int8"
    assert data["calibration"]["files"] == ["mixture.flac"] and data["budget_db"] == 0.2
    assert set(data["quantized"]["sdr"]) == {"vocals", "accompaniment"}
    # the tiny model is mostly graph: its QDQ file is not smaller; the demo model's is (core tests)
    assert data["size_ratio"] > 0 and data["speedup"] > 0 and "fp32_layers" in data
    song = tmp_path / "song.wav"
    x = np.random.default_rng(0).uniform(-0.3, 0.3, (int(1.5 * 44100), 2)).astype(np.float32)
    sf.write(str(song), x, 44100, subtype="FLOAT")
    sep = _cli("separate", str(song), "--model", str(out), "--out", str(tmp_path / "stems"),
               "--threads", "1")
    assert sep.returncode == 0, sep.stderr
    assert "ONNX INT8" in sep.stdout
    assert (tmp_path / "stems" / "song" / "vocals.wav").exists()


@pytest.mark.slow
def test_quantize_prints_a_table_with_size_speed_and_sdr(tiny_onnx, tmp_path):
    run = _cli("quantize", str(tiny_onnx), "--mode", "fp16", "--eval-seconds", "2",
               "--threads", "1")
    assert run.returncode == 0, run.stderr
    text = run.stdout
    assert f"Wrote        {tmp_path / 'tiny-fp16.onnx'}" in text
    for label in ("Size ", "Speed ", "SDR vocals", "d accompaniment", "mask SNR dB", "Kept FP32",
                  "GPU"):
        assert label in text, label


def test_bad_calibration_is_one_line_and_writes_nothing(tiny_onnx, tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros((44100 * 4, 2), np.float32), 44100)
    run = _cli("quantize", str(tiny_onnx), "--calibration", str(silent), "--eval-seconds", "2")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-2].startswith(f"error: {silent}: is silent")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["silent.wav", "tiny.onnx"]


def test_calibration_with_dynamic_mode_is_refused_before_any_work(tiny_onnx, tmp_path):
    run = _cli("quantize", str(tiny_onnx), "--mode", "dynamic", "--calibration", "x.wav")
    assert run.returncode == 2 and "needs no calibration audio" in run.stderr


def test_a_quantized_file_or_a_folder_as_the_source_is_refused_by_name(tiny_onnx, tmp_path):
    import onnx

    proto = onnx.load(str(tiny_onnx))
    for prop in proto.metadata_props:
        if prop.key == "precision":
            prop.value = "int8"
    int8 = tmp_path / "tiny-int8.onnx"
    onnx.save(proto, str(int8))
    run = _cli("quantize", str(int8), "--mode", "dynamic")
    assert run.returncode == 2
    assert f"error: {int8}: is already an INT8 model; quantize its FP32 export" in run.stderr
    run = _cli("quantize", str(tmp_path), "--mode", "dynamic")
    assert run.returncode == 2 and f"error: {tmp_path}: is a folder: give a checkpoint" in run.stderr
    assert "Traceback" not in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-int8.onnx", "tiny.onnx"]


@pytest.mark.slow
def test_quantize_mode_qat_fine_tunes_a_checkpoint_and_reports_like_the_other_modes(tmp_path):
    from stemdata import make_dataset

    bundle, _ = exported("onnx")
    data = make_dataset(tmp_path / "songs", tracks=2, seconds=2.0)
    out = tmp_path / "tiny-qat.onnx"
    run = _cli("quantize", str(bundle.path), "--mode", "qat", "--steps", "2", "--train-data",
               str(data), "--eval-data", str(data / next(p.name for p in data.iterdir())),
               "--eval-seconds", "1", "--out", str(out), "--json", timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout)
    assert result["mode"] == "qat" and result["precision"] == "int8" and out.is_file()
    assert any("QAT: 2 steps" in note for note in result["notes"])
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["mode"] == "qat" and meta["qat_steps"] == "2"
    refused = _cli("quantize", str(tmp_path / "tiny-qat.onnx"), "--mode", "qat", "--out",
                   str(tmp_path / "again.onnx"))
    assert refused.returncode != 0 and "fine-tunes the PyTorch weights" in refused.stderr
    assert "Traceback" not in refused.stderr
