"""benchmarks/memory_vs_cuda.py: without a GPU it says it needs one and exits 0; on the CPU
(--device cpu) its whole code path runs with the real training step and writes its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "memory_vs_cuda.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_without_a_gpu_it_says_it_needs_one_and_exits_0():
    proc = run()
    assert proc.returncode == 0, proc.stderr
    assert "needs a CUDA GPU" in proc.stdout and "no CUDA device is available here" in proc.stdout
    assert "Nothing was measured" in proc.stdout and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_on_the_cpu_the_code_path_runs_and_writes_json(tmp_path):
    out = tmp_path / "figures.json"
    proc = run("--device", "cpu", "--preset", "small", "--batches", "1", "--steps", "1",
               "--segment", "0.25", "--precisions", "fp32", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["device"] == "cpu" and data["sources"] == ["vocals", "drums", "bass", "other"]
    rows = data["rows"]
    assert [(r["precision"], r["checkpointing"], r["batch"]) for r in rows] == [
        ("fp32", False, 1), ("fp32", True, 1)]
    assert all(r["measured"] is None and r["estimate"] > 0 for r in rows)
    assert rows[1]["estimate"] < rows[0]["estimate"]        # checkpointing saves memory
    assert data["largest_batch"] == []                        # no allocator cap on the CPU
