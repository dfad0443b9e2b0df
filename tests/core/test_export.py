"""Export to ONNX and TorchScript: folding, round trips with dynamic axes, metadata,
verification and the failure messages (unsupported operator, read-only folder, full disk)."""

from __future__ import annotations

import errno
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from app.core.export import pipeline as export_mod
from app.core.artifacts import TORCHSCRIPT_EXTRA_FILE
from app.core.checkpoint import init_bundle
from app.core.export.pipeline import (ExportError, ExportOptions, VerificationFailed,
                                      compare_outputs, export_bundle, export_to_onnx,
                                      export_to_torchscript, optimize_for_inference,
                                      verify_artifact)
from app.core.jobs import UserError
from app.core.model.blocks import ResBlock
from exporthelp import AUDIO, VERIFY_FRAMES, exported, tiny_bundle


pytestmark = pytest.mark.usefixtures("torch_one_thread")


TINY_LEVELS = (4, 8)   # channels of the tiny config: 1 stem + 1 down + 1 up block


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in Path(folder).iterdir())


@pytest.fixture
def tiny_model():
    return tiny_bundle().build()


def example(frames: int = 48, batch: int = 1) -> torch.Tensor:
    return torch.from_numpy(export_mod.test_magnitudes((batch, 2, AUDIO.n_bins, frames), 7))


# ----------------------------------------------------------------------------- folding

def test_optimize_for_inference_folds_the_conv_bn_pairs_and_matches(tiny_model):
    fast = optimize_for_inference(tiny_model)
    blocks = [n for n, m in tiny_model.named_modules() if isinstance(m, ResBlock)]
    assert fast.folded_batchnorms == [f"{n}.norm2" for n in blocks]
    for name, module in fast.named_modules():
        if isinstance(module, ResBlock):
            assert isinstance(module.norm2, nn.Identity)
            assert isinstance(module.norm1, nn.BatchNorm2d)   # pre-activation: not foldable
    assert isinstance(tiny_model.stem.norm2, nn.BatchNorm2d)  # the original is untouched
    assert not any(p.requires_grad for p in fast.parameters())
    assert not fast.training
    x = example(frames=21, batch=2)
    with torch.inference_mode():
        a, b = tiny_model(x), fast(x)
    assert torch.allclose(a, b, atol=1e-5)
    # folding changed the convolution weights (the statistics are not trivial)
    assert not torch.allclose(fast.stem.conv1.weight, tiny_model.stem.conv1.weight)


# ----------------------------------------------------------------------------- ONNX

@pytest.mark.slow
def test_onnx_round_trip_dynamic_axes_and_metadata():
    bundle, result = exported("onnx")
    path = result.path
    assert path.exists() and result.passed and result.simplified
    assert not [n for n in leftovers(path.parent) if n.endswith(".partial")]
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    assert result.opset == 17 and result.method == "trace"
    assert any(o.version == 17 for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    assert result.nodes == len(proto.graph.node)
    assert sum(result.operators.values()) == result.nodes
    assert "BatchNormalization" in result.operators   # norm1 of each block stays
    assert len(result.folded_batchnorms) == 2 * len(TINY_LEVELS) - 1

    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
    assert dims(proto.graph.input[0]) == ["batch", 2, AUDIO.n_bins, "frames"]
    assert dims(proto.graph.output[0]) == ["batch", 2, 2, AUDIO.n_bins, "frames"]

    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["audio_config"]) == bundle.audio.to_dict()
    assert json.loads(meta["model_config"]) == bundle.model_config.to_dict()
    assert meta["producer"] == "TFSWA Studio" and meta["precision"] == "fp32"
    assert meta["sources"] == "vocals,accompaniment" and meta["preset"] == "small"
    assert meta["source_checkpoint"] == "tiny.pt"

    # An independent check with a plain session, on a batch and length the export never saw.
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    x = example(frames=77, batch=3)
    with torch.inference_mode():
        ref = bundle.build()(x).numpy()
    out = session.run(None, {"magnitude": x.numpy()})[0]
    assert out.shape == (3, 2, 2, AUDIO.n_bins, 77)
    assert np.abs(out - ref).max() < 1e-4


def test_verification_covers_other_batch_sizes_and_lengths():
    _, result = exported("onnx")
    report = result.verification
    shapes = [tuple(c.shape) for c in report.checks]
    assert {s[0] for s in shapes} == {1, 2}
    assert {s[3] for s in shapes} == set(VERIFY_FRAMES) | {result.input_shape[3]}
    for check in report.checks:
        assert check.passed and check.finite
        assert check.mse <= 1e-5 and check.max_abs_error < 1e-4 and check.snr_db > 80
    assert "onnxruntime" in report.runtime
    assert [s.name for s in result.stages] == ["prepare", "export", "simplify", "verify"]


@pytest.mark.slow
def test_custom_dynamic_axes_accept_the_original_names(tmp_path, tiny_model):
    out = tmp_path / "m.onnx"
    result = export_to_onnx(tiny_model, example(), out, simplify=False, threads=1,
                            dynamic_axes={"input": {0: "batch", 3: "time"}},
                            audio=AUDIO, verify_frames=(1, 37))
    graph = onnx.load(str(out)).graph
    assert graph.input[0].type.tensor_type.shape.dim[3].dim_param == "time"
    assert graph.output[0].type.tensor_type.shape.dim[4].dim_param == "time"
    assert result.passed and not result.simplified


def test_a_fixed_time_axis_is_caught_and_no_file_is_left(tmp_path, tiny_model):
    out = tmp_path / "fixed.onnx"
    with pytest.raises(ExportError) as info:
        export_to_onnx(tiny_model, example(), out, simplify=False, audio=AUDIO, threads=1,
                       dynamic_axes={"magnitude": {0: "batch"}, "masks": {0: "batch"}},
                       verify_frames=(1, 37))
    assert "[1, 2, 1025, 1]" in str(info.value) and "fixed" in str(info.value)
    assert leftovers(tmp_path) == []


def test_progress_reports_every_stage_in_order(tmp_path, tiny_model):
    seen = []
    export_to_onnx(tiny_model, example(), tmp_path / "m.onnx", audio=AUDIO, simplify=False,
                   threads=1,
                   verify_frames=(5,), progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    stages = list(dict.fromkeys(m.split(":")[0] for _, m in seen))
    assert stages == ["prepare", "export", "simplify", "verify"]


@pytest.mark.parametrize("stage", ["export", "verify"])
def test_cancel_stops_between_steps_and_leaves_no_file(tmp_path, tiny_model, stage):
    from app.core.jobs import CancelToken, Cancelled

    token = CancelToken()

    def progress(fraction, message):
        if message.startswith(stage):
            token.cancel()

    with pytest.raises(Cancelled):
        export_to_onnx(tiny_model, example(), tmp_path / "m.onnx", audio=AUDIO, simplify=False,
                       threads=1, verify_frames=(1, 37), progress=progress, cancel=token)
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_dynamo_exporter_gives_a_dynamic_verified_graph(tmp_path, tiny_model):
    out = tmp_path / "dynamo.onnx"
    result = export_to_onnx(tiny_model, example(), out, exporter="dynamo",
                            audio=AUDIO, simplify=False, threads=1, verify_frames=(1, 37))
    assert result.passed and result.method == "dynamo" and result.opset == 20
    dims = [d.dim_param for d in onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim]
    assert dims[0] == "batch" and dims[3] == "frames"


def test_options_are_checked_before_any_work(tmp_path, tiny_model):
    with pytest.raises(ExportError, match="opset 12 is outside 14..20"):
        export_to_onnx(tiny_model, example(), tmp_path / "m.onnx", opset_version=12)
    with pytest.raises(ExportError, match="unknown export format"):
        ExportOptions(format="tflite").validate()
    with pytest.raises(ExportError, match="bins"):
        export_to_onnx(tiny_model, torch.rand(1, 2, 100, 10), tmp_path / "m.onnx")
    assert leftovers(tmp_path) == []


def test_existing_file_is_not_overwritten_without_permission(tmp_path, tiny_model):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"keep me")
    with pytest.raises(UserError, match="already exists"):
        export_to_onnx(tiny_model, example(), out, audio=AUDIO)
    assert out.read_bytes() == b"keep me"


# ----------------------------------------------------------------------------- failures

class WithCummax(nn.Module):
    """The tiny model followed by an operator no ONNX exporter converts (aten::cummax)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.n_sources = inner.n_sources

    def forward(self, x):
        masks = self.inner(x)
        return torch.cummax(masks, dim=-1)[0]


@pytest.mark.slow
def test_unsupported_operator_says_what_to_try(tmp_path, tiny_model):
    out = tmp_path / "m.onnx"
    with pytest.raises(ExportError) as info:
        export_to_onnx(WithCummax(tiny_model), example(), out, audio=AUDIO, simplify=False)
    text = str(info.value)
    assert "cummax" in text and "opset 17" in text
    assert "--exporter dynamo" in text and "--format torchscript" in text
    assert leftovers(tmp_path) == []
    # ... and TorchScript, as suggested, does handle it
    ts = export_to_torchscript(WithCummax(tiny_model), example(), tmp_path / "m.pt",
                               audio=AUDIO, verify_frames=(1, 37))
    assert ts.passed and "aten::cummax" in ts.operators


def test_read_only_folder_names_the_folder_and_leaves_nothing(tmp_path, tiny_model, monkeypatch):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):   # root ignores permission bits: make the OS say no
            real = os.access
            monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False
                                if Path(p) == folder and mode & os.W_OK else real(p, mode, *a, **k))
        with pytest.raises(UserError) as info:
            export_to_onnx(tiny_model, example(), folder / "m.onnx", audio=AUDIO,
                           simplify=False)
        assert str(folder) in str(info.value) and "not writable" in str(info.value)
        assert "Choose a folder" in str(info.value)
        assert leftovers(folder) == []
    finally:
        folder.chmod(0o755)


def test_full_disk_while_writing_leaves_no_partial_file(tmp_path, tiny_model, monkeypatch):
    def full_disk(proto, path, *args, **kwargs):
        Path(path).write_bytes(b"\0" * 1000)       # some bytes made it to disk
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(onnx, "save", full_disk)
    out = tmp_path / "m.onnx"
    with pytest.raises(UserError) as info:
        export_to_onnx(tiny_model, example(), out, audio=AUDIO, simplify=False)
    assert "disk is full" in str(info.value) and "Free some space" in str(info.value)
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_outputs_that_drift_fail_verification_and_leave_no_file(tmp_path, tiny_model, monkeypatch):
    def bad_fold(model):            # shifts the masks: the exported graph no longer matches
        model.head.bias.data += 0.5
        return ["stem.norm2 (wrongly)"]

    monkeypatch.setattr(export_mod, "fold_batchnorms", bad_fold)
    out = tmp_path / "m.onnx"
    with pytest.raises(VerificationFailed) as info:
        export_to_onnx(tiny_model, example(), out, audio=AUDIO, simplify=False, threads=1,
                       verify_frames=(1, 37))
    report = info.value.report
    assert not report.passed and report.worst_mse > 1e-5
    assert "verification failed" in str(info.value) and "no file was written" in str(info.value)
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_a_failing_simplifier_keeps_the_checked_graph_and_says_so(tmp_path, tiny_model,
                                                                   monkeypatch):
    def broken(proto):
        raise RuntimeError("simplifier crashed")

    monkeypatch.setattr(export_mod, "_simplify", broken)
    result = export_to_onnx(tiny_model, example(), tmp_path / "m.onnx", audio=AUDIO, threads=1,
                            verify_frames=(1, 37))
    assert result.passed and not result.simplified
    assert any("simplifier crashed" in w and "unsimplified" in w for w in result.warnings)
    onnx.checker.check_model(str(result.path))


def test_non_finite_outputs_fail_verification(tiny_model):
    def nan_at_the_end(x):
        with torch.inference_mode():
            out = tiny_model(torch.from_numpy(x)).numpy()
        out[..., -1] = np.nan
        return out

    report = verify_artifact(nan_at_the_end, tiny_model, [(1, 2, AUDIO.n_bins, 4)], "test")
    assert not report.passed and not report.checks[0].finite


def test_compare_outputs_reports_error_mse_and_snr():
    ref = np.ones((1, 2, 2, 3, 4), np.float32)
    same = compare_outputs(ref, ref.copy(), ref.shape, 0.0)
    assert same.mse == 0 and same.snr_db == float("inf") and same.passed
    noisy = compare_outputs(ref, ref + 0.01, ref.shape, 0.0)
    assert noisy.max_abs_error == pytest.approx(0.01, rel=1e-4)
    assert noisy.mse == pytest.approx(1e-4, rel=1e-3)
    assert noisy.snr_db == pytest.approx(40.0, abs=0.01)
    assert not noisy.passed                                      # MSE 1e-4 > 1e-5


# ----------------------------------------------------------------------------- TorchScript

@pytest.mark.slow
def test_torchscript_round_trip_with_extra_files_and_other_shapes():
    bundle, result = exported("torchscript")
    assert result.passed and result.format == "torchscript" and result.method == "trace"
    assert [s.name for s in result.stages] == ["prepare", "export", "freeze", "verify"]
    with zipfile.ZipFile(result.path) as zf:
        name = next(n for n in zf.namelist() if n.endswith(f"extra/{TORCHSCRIPT_EXTRA_FILE}"))
        meta = json.loads(zf.read(name))
    assert json.loads(meta["audio_config"]) == bundle.audio.to_dict()
    assert meta["producer"] == "TFSWA Studio" and meta["precision"] == "fp32"
    module = torch.jit.load(str(result.path))
    x = example(frames=77, batch=3)   # the trace saw (1, 2, 1025, 64)
    with torch.inference_mode():
        assert torch.allclose(module(x), bundle.build()(x), atol=1e-5)
    shapes = {tuple(c.shape) for c in result.verification.checks}
    assert (2, 2, AUDIO.n_bins, 37) in shapes and (1, 2, AUDIO.n_bins, 100) in shapes


@pytest.mark.slow
def test_script_method_exports_the_model(tmp_path, tiny_model):
    out = tmp_path / "s.pt"
    result = export_to_torchscript(tiny_model, example(), out, method="script",
                                   audio=AUDIO, verify_frames=(1, 37))
    assert result.passed and result.method == "script" and out.exists()


class Unscriptable(torch.nn.Module):
    """Python that TorchScript cannot compile (a call into numpy), but tracing can."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x) * float(np.sqrt(1.0))


def test_a_model_scripting_cannot_compile_says_to_trace(tmp_path, tiny_model):
    with pytest.raises(ExportError) as err:
        export_to_torchscript(Unscriptable(tiny_model), example(), tmp_path / "s.pt",
                              method="script", audio=AUDIO, verify_frames=(1, 37))
    assert "scripting cannot compile" in str(err.value) and "method 'trace'" in str(err.value)
    assert leftovers(tmp_path) == []


def test_export_bundle_default_paths():
    options = ExportOptions()
    assert options.default_path("/x/model.pt") == Path("/x/model.onnx")
    ts = ExportOptions(format="torchscript")
    assert ts.default_path("/x/model.safetensors") == Path("/x/model-torchscript.pt")


def test_export_bundle_uses_the_bundles_audio_config(tmp_path):
    from app.core.config import AudioConfig

    audio = AudioConfig(n_fft=1024, hop_length=256, sources=("a", "b", "c"),
                        segment_seconds=0.5)
    bundle = init_bundle("small", audio=audio, channels=(4, 8), dim=8, heads=2,
                         window=(2, 2))
    result = export_bundle(bundle, tmp_path / "m.onnx",
                           ExportOptions(simplify=False, verify_frames=(3,)), threads=1)
    assert result.input_shape == [1, 2, 513, audio.segment_frames]
    assert json.loads(result.metadata["audio_config"])["sources"] == ["a", "b", "c"]
    dims = onnx.load(str(result.path)).graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims[1:4]] == [3, 2, 513]
