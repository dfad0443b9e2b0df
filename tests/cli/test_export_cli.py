"""``tfswa-studio export`` end to end, and ``separate --model`` with the exported files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from app.cli import main
from app.core.audio import io as audio
from exporthelp import saved_tiny_bundle

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture
def ckpt(tmp_path):
    """The tiny checkpoint, copied so the export lands in this test's folder."""
    source = saved_tiny_bundle().path
    target = tmp_path / "tiny.pt"
    target.write_bytes(source.read_bytes())
    return target


@pytest.fixture
def wav(tmp_path):
    x = np.random.default_rng(0).uniform(-0.3, 0.3, (2, int(1.5 * 44100))).astype(np.float32)
    return audio.write(tmp_path / "mix.wav", x, 44100, subtype="float")


@pytest.mark.slow
def test_export_onnx_prints_the_verification_table_and_separates(ckpt, wav, tmp_path, capsys):
    assert main(["export", str(ckpt), "--frames", "40", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    target = tmp_path / "tiny.onnx"
    assert f"Wrote        {target}" in out
    for text in ("opset 17", "simplified by onnxslim", "input shape", "max abs err", "SNR dB",
                 "2x2x1025x37", "1x2x1025x1000", "Verdict      PASSED", "Folded       3"):
        assert text in out, text
    assert onnx.load(str(target)).graph.input[0].type.tensor_type.shape.dim[3].dim_param == "frames"

    assert main(["separate", str(wav), "--model", str(target), "--out", str(tmp_path / "s"),
                 "--threads", "1"]) == 0
    assert "with ONNX FP32" in capsys.readouterr().out
    stem, rate = audio.load(tmp_path / "s" / "mix" / "vocals.wav")
    assert rate == 44100 and stem.shape[1] == int(1.5 * 44100)


@pytest.mark.slow
def test_export_torchscript_json_and_separate(ckpt, wav, tmp_path, capsys):
    target = tmp_path / "ts" / "model.pt"
    assert main(["export", str(ckpt), "--format", "torchscript", "--out", str(target),
                 "--frames", "40", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["passed"] is True and result["format"] == "torchscript"
    assert result["path"] == str(target) and result["file_size"] == target.stat().st_size
    checks = result["verification"]["checks"]
    assert {c["shape"][0] for c in checks} == {1, 2} and all(c["passed"] for c in checks)
    assert main(["separate", str(wav), "--model", str(target), "--out", str(tmp_path / "s"),
                 "--threads", "1"]) == 0
    assert "with TorchScript FP32" in capsys.readouterr().out


def test_export_refuses_to_overwrite_and_bad_options(ckpt, tmp_path, capsys):
    target = tmp_path / "tiny.onnx"
    target.write_bytes(b"mine")
    assert main(["export", str(ckpt)]) == 2
    assert "already exists" in capsys.readouterr().err and target.read_bytes() == b"mine"
    assert main(["export", str(ckpt), "--opset", "9", "--out", str(tmp_path / "x.onnx")]) == 2
    assert "opset 9 is outside" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.slow
def test_export_shows_stage_progress_on_the_terminal(ckpt, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "app", "export", str(ckpt), "--frames", "40",
                           "--no-simplify", "--threads", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    stages = [s for s in ("prepare:", "export:", "simplify:", "verify:") if s in proc.stderr]
    assert stages == ["prepare:", "export:", "simplify:", "verify:"]
    assert "100.0%" in proc.stderr and "Verdict      PASSED" in proc.stdout
