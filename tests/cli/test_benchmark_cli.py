"""``tfswa-studio benchmark`` as a user runs it: a subprocess, two variants side by side."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchhelp import contract_onnx, image_classifier_onnx

ROOT = Path(__file__).resolve().parents[2]


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "app", "benchmark", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_checkpoint_and_onnx_side_by_side_with_json_and_html(tmp_path):
    from exporthelp import exported

    bundle, onnx_result = exported("onnx")
    html = tmp_path / "report.html"
    proc = cli(bundle.path, onnx_result.path, "--runs", 3, "--warmup", 1, "--threads", 1,
               "--segment", 1, "--no-memory", "--json", "--html", html)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    labels = [r["label"] for r in data["results"]]
    assert labels == ["PyTorch FP32", "ONNX FP32"]
    assert all(r["latency"]["runs"] == 3 and r["threads"] == 1 for r in data["results"])
    assert data["results"][1]["input_shape"] == [1, 2, 1025, 87]
    assert data["order"] == labels and data["machine"]["cores"] >= 1
    assert data["command"].startswith("tfswa-studio benchmark ")
    assert "--runs 3 --warmup 1 --batch 1 --threads 1 --segment 1 --no-memory" in data["command"]
    text = html.read_text()
    assert "<svg" in text and data["machine"]["cpu"] in text
    assert f"wrote {html}" in proc.stderr


@pytest.mark.slow
def test_text_table_for_a_third_party_onnx_and_a_refused_one(tmp_path):
    good = contract_onnx(tmp_path / "other.onnx")
    proc = cli(good, "--runs", 2, "--warmup", 0, "--threads", 1, "--no-memory", "--csv",
               tmp_path / "r.csv")
    assert proc.returncode == 0, proc.stderr
    assert "other (ONNX)" in proc.stdout and "p50 ms" in proc.stdout
    assert "note: other.onnx carries no audio config" in proc.stdout
    # two runs bound no median: the table and a note say so rather than print a range
    assert "too few runs" in proc.stdout and "note: p50 not settled after 2 runs" in proc.stdout
    assert (tmp_path / "r.csv").read_text().startswith("label,name,kind")

    bad = image_classifier_onnx(tmp_path / "classifier.onnx")
    proc = cli(good, bad, "--runs", 1)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad}: does not have")
    assert "found input x float[1,3,224,224]" in lines[0]


@pytest.mark.slow
def test_bad_arguments_get_one_line(tmp_path):
    good = contract_onnx(tmp_path / "other.onnx")
    proc = cli(good, "--threads", "one")
    assert proc.returncode == 2 and "--threads 'one' must be a number" in proc.stderr
    proc = cli(tmp_path / "missing.onnx")
    assert proc.returncode == 2 and "missing.onnx: does not exist" in proc.stderr
    proc = cli(good, "--runs", 0)
    assert proc.returncode == 2 and "runs 0 is out of range" in proc.stderr
