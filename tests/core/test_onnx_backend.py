"""Exported files as separation backends: ONNX Runtime without torch, TorchScript, and
stems that agree with the PyTorch model's."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from app.core.audio import io as audio
from app.core.backends.pytorch import TorchBackend
from app.core.backends.registry import load_backend
from app.core.jobs import UserError
from app.core.backends.onnx_runtime import OnnxRuntimeBackend
from app.core.separation.separate import SeparationOptions, separate_array
from app.core.backends.torchscript import TorchScriptBackend
from exporthelp import exported, snr_db

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def mixture():
    """2.5 s of a stereo signal with tones and noise, so the masks vary over the spectrum."""
    rng = np.random.default_rng(3)
    t = np.arange(int(2.5 * 44100)) / 44100
    tones = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 1250 * t)
    return (np.stack([tones, 0.7 * tones]) + rng.normal(0, 0.05, (2, t.size))).astype(np.float32)


def test_onnx_backend_reads_its_config_and_tunes_the_session():
    bundle, result = exported("onnx")
    backend = load_backend(result.path, threads=2)
    assert isinstance(backend, OnnxRuntimeBackend)
    assert backend.audio == bundle.audio and backend.sources == ("vocals", "accompaniment")
    assert backend.precision == "fp32" and backend.provider == "CPUExecutionProvider"
    assert backend.name == "ONNX FP32" and backend.file_size == result.path.stat().st_size
    options = backend.session.get_session_options()
    import onnxruntime as ort

    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert options.intra_op_num_threads == 2 and backend.describe()["threads"] == 2
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_onnx_and_pytorch_stems_agree_to_60_db(mixture):
    bundle, result = exported("onnx")
    options = SeparationOptions(segment=1.0, overlap=0.25)
    reference = separate_array(mixture, TorchBackend(bundle.build(), bundle.audio), options)
    stems = separate_array(mixture, load_backend(result.path, threads=1), options)
    assert stems.shape == reference.shape == (2, 2, mixture.shape[1])
    for i, name in enumerate(bundle.sources):
        assert snr_db(reference[i], stems[i]) >= 60, name
    assert np.abs(reference).max() > 0.01   # the stems are not silent


def test_torchscript_file_separates_like_pytorch(mixture):
    bundle, result = exported("torchscript")
    backend = load_backend(result.path, threads=1)
    assert isinstance(backend, TorchScriptBackend) and backend.audio == bundle.audio
    options = SeparationOptions(segment=1.0, overlap=0.25)
    reference = separate_array(mixture, TorchBackend(bundle.build(), bundle.audio), options)
    stems = separate_array(mixture, backend, options)
    for i in range(len(bundle.sources)):
        assert snr_db(reference[i], stems[i]) >= 60


def test_separating_with_onnx_needs_no_torch(tmp_path, mixture):
    _, result = exported("onnx")
    wav = audio.write(tmp_path / "song.wav", mixture, 44100, subtype="float")
    script = textwrap.dedent(f"""
        import json, sys
        sys.modules["torch"] = None          # any 'import torch' now raises ImportError
        from app.core.backends import load_backend
        from app.core.separation import separate_file
        backend = load_backend({str(result.path)!r}, threads=1)
        out = separate_file({str(wav)!r}, backend, {str(tmp_path / "stems")!r})
        loaded = sorted(m for m in sys.modules if m.startswith(("torch", "app.")) and sys.modules[m])
        print(json.dumps({{"outputs": {{k: str(v) for k, v in out.outputs.items()}},
                          "modules": loaded, "backend": backend.name}}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not [m for m in report["modules"] if m.startswith("torch")]
    assert "app.core.checkpoint" not in report["modules"]
    assert report["backend"] == "ONNX FP32"
    for name in ("vocals", "accompaniment"):
        stem, rate = audio.load(report["outputs"][name])
        assert rate == 44100 and stem.shape == mixture.shape


def test_onnx_file_without_audio_config_is_refused(tmp_path):
    bundle, _ = exported("onnx")
    plain = tmp_path / "plain.onnx"
    torch.onnx.export(bundle.build(), (torch.rand(1, 2, 1025, 8),), str(plain),
                      input_names=["x"], dynamo=False)
    with pytest.raises(UserError) as info:
        load_backend(plain, trust_torchscript=True)
    assert str(plain) in str(info.value) and "audio config" in str(info.value)
    assert "export" in str(info.value)


def test_torchscript_file_without_description_is_refused(tmp_path):
    bundle, _ = exported("onnx")
    plain = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.trace(bundle.build(), (torch.rand(1, 2, 1025, 8),)), str(plain))
    with pytest.raises(UserError) as info:
        load_backend(plain, trust_torchscript=True)
    assert str(plain) in str(info.value) and "audio config" in str(info.value)


def test_truncated_onnx_file_is_reported(tmp_path):
    _, result = exported("onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(result.path.read_bytes()[:5000])
    with pytest.raises(UserError) as info:
        load_backend(broken)
    assert str(broken) in str(info.value) and "ONNX Runtime" in str(info.value)


def test_onnx_metadata_edit_changes_the_backends_config(tmp_path):
    """The backend really reads the file's metadata (not a default): change it and see."""
    _, result = exported("onnx")
    proto = onnx.load(str(result.path))
    for prop in proto.metadata_props:
        if prop.key == "audio_config":
            cfg = json.loads(prop.value)
            cfg["sources"] = ["lead", "band"]
            prop.value = json.dumps(cfg)
    edited = tmp_path / "edited.onnx"
    onnx.save(proto, str(edited))
    assert load_backend(edited, threads=1).sources == ("lead", "band")


def test_checkpoints_still_load_as_pytorch():
    bundle, _ = exported("onnx")
    backend = load_backend(bundle.path, threads=1)
    assert isinstance(backend, TorchBackend)


def test_exported_variants_are_recognised_before_the_checkpoint_loader_whatever_the_import_order():
    script = textwrap.dedent("""
        import app.core.backends.torchscript, app.core.backends.onnx_runtime  # before pytorch
        from app.core.backends import discover_loaders
        print(",".join(loader.name for loader in discover_loaders()))
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().split(",")[-1] == "checkpoint"
