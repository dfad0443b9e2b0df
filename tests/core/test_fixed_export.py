"""Fixed-segment ONNX exports for mobile runtimes (NNAPI, CoreML): every shape a constant,
no shape arithmetic left, the operators those runtimes lack swapped for equivalents, verified
against PyTorch like every export, and rated fit by ONNX Runtime's own mobile checker."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from app.core.export import ExportError, ExportOptions, export_bundle
from app.core.model.optimize import (ChannelAffine, DecomposedLayerNorm, RationalGELU,
                                     prepare_for_mobile)
from exporthelp import AUDIO, tiny_bundle

pytestmark = pytest.mark.usefixtures("torch_one_thread")

SHAPE_OPS = {"Shape", "Range", "Mod", "Equal", "Where", "Expand", "ConstantOfShape", "Pad"}
FRAMES = 40


def export(tmp_path, **options):
    opts = ExportOptions(frames=FRAMES, **options)
    return export_bundle(tiny_bundle(), opts.default_path(tmp_path / "model.pt"), opts)


def op_counts(path) -> Counter:
    return Counter(n.op_type for n in onnx.load(str(path)).graph.node)


def test_gelu_layer_norm_and_batch_norm_swaps_compute_the_same():
    x = torch.linspace(-12, 12, 100_001)
    assert (RationalGELU()(x) - nn.GELU()(x)).abs().max() < 2e-6
    ln = nn.LayerNorm(16)
    nn.init.normal_(ln.weight)
    nn.init.normal_(ln.bias)
    h = torch.randn(3, 5, 16)
    assert torch.allclose(DecomposedLayerNorm(ln)(h), ln(h), atol=1e-5)
    bn = nn.BatchNorm2d(4).eval()
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    img = torch.randn(2, 4, 3, 5)
    assert torch.allclose(ChannelAffine(bn)(img), bn(img), atol=1e-5)


def test_prepare_for_mobile_leaves_no_unsupported_module():
    model = tiny_bundle().build().eval()
    x = torch.rand(1, 2, AUDIO.n_bins, FRAMES)
    with torch.no_grad():
        before = model(x)
        prepare_for_mobile(model, nnapi=True)
        after = model(x)
    kinds = {type(m) for m in model.modules()}
    assert not kinds & {nn.BatchNorm2d, nn.LayerNorm, nn.GELU}
    assert torch.allclose(before, after, atol=1e-5)


def test_fixed_export_has_constant_shapes_and_verifies(tmp_path):
    dynamic, fixed = export(tmp_path), export(tmp_path, fixed_shapes=True)
    assert fixed.path.name == "model-fixed.onnx"
    assert fixed.verification.passed
    ops = op_counts(fixed.path)
    assert not SHAPE_OPS & set(ops), ops
    assert sum(ops.values()) < sum(op_counts(dynamic.path).values())
    proto = onnx.load(str(fixed.path))
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 2, AUDIO.n_bins, FRAMES]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["fixed_shape"] == f"1x2x{AUDIO.n_bins}x{FRAMES}"
    # Same masks as the dynamic export at that shape.
    x = np.random.default_rng(0).random((1, 2, AUDIO.n_bins, FRAMES), dtype=np.float32)
    run = lambda p: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"magnitude": x})[0]
    assert np.allclose(run(fixed.path), run(dynamic.path), atol=1e-5)


@pytest.mark.parametrize("target", ["coreml", "nnapi"])
def test_mobile_exports_verify_and_name_their_target(tmp_path, target):
    result = export(tmp_path, mobile=target)
    assert result.path.name == f"model-{target}.onnx" and result.verification.passed
    ops = set(op_counts(result.path))
    assert "BatchNormalization" not in ops
    if target == "nnapi":
        assert not {"Erf", "LayerNormalization"} & ops
    meta = {p.key: p.value for p in onnx.load(str(result.path)).metadata_props}
    assert meta["mobile"] == target


def test_fixed_shapes_are_refused_where_they_cannot_apply():
    with pytest.raises(ExportError, match="trace"):
        ExportOptions(format="torchscript", fixed_shapes=True).validate()
    with pytest.raises(ExportError, match="trace"):
        ExportOptions(exporter="dynamo", mobile="coreml").validate()
    with pytest.raises(ExportError, match="coreml or nnapi"):
        ExportOptions(mobile="webgpu").validate()


def mobile_check(path) -> str:
    run = subprocess.run([sys.executable, "-m",
                          "onnxruntime.tools.check_onnx_model_mobile_usability", str(path)],
                         capture_output=True, text=True, timeout=300)
    return run.stdout + run.stderr


def partitions(report: str, runtime: str) -> tuple[int, float]:
    """(partitions, share of nodes covered) the checker reports for ``runtime``."""
    match = re.search(rf"(\d+) partitions with a total of (\d+)/(\d+) nodes can be handled by "
                      rf"the {runtime} EP", report)
    assert match, report[-3000:]
    return int(match.group(1)), int(match.group(2)) / int(match.group(3))


@pytest.mark.slow
def test_onnx_runtimes_mobile_checker_rates_the_mobile_exports_fit(tmp_path):
    nnapi = mobile_check(export(tmp_path, mobile="nnapi").path)
    assert partitions(nnapi, "NNAPI") == (1, 1.0)
    assert "Model should perform well with NNAPI as is: YES" in nnapi
    count, share = partitions(mobile_check(export(tmp_path, mobile="coreml").path),
                              "CoreML MLProgram")
    assert count <= 2 and share >= 0.99       # the input's Log alone stays on the CPU
    dynamic_count, _ = partitions(mobile_check(export(tmp_path).path), "NNAPI")
    assert dynamic_count > 5                  # what the fixed exports are for


# -- a fixed-shape export used like any other file: separated, quantized, refused by name
def test_a_fixed_export_runs_its_one_shape_and_names_the_file_for_any_other(tmp_path):
    from app.core.backends import load_backend
    from app.core.jobs import UserError

    path = export(tmp_path, fixed_shapes=True).path
    backend = load_backend(path, threads=1)
    assert backend.fixed_dims == {0: 1, 3: FRAMES}
    # its segment is the one length it takes, not the 1 s the model was trained on
    assert AUDIO.segment_frames != FRAMES and backend.audio.segment_frames == FRAMES
    x = np.random.default_rng(0).random((1, 2, AUDIO.n_bins, FRAMES), dtype=np.float32)
    assert np.isfinite(backend.run(x)).all()
    for wrong in ((1, 2, AUDIO.n_bins, FRAMES + 1), (2, 2, AUDIO.n_bins, FRAMES)):
        with pytest.raises(UserError) as err:
            backend.run(np.zeros(wrong, np.float32))
        text = str(err.value)
        assert path.name in text and f"{FRAMES} frames" in text and "without --fixed" in text and "any length" in text


def test_separation_with_a_fixed_export_uses_its_segment_and_refuses_another(tmp_path):
    from app.core.backends import load_backend
    from app.core.jobs import UserError
    from app.core.separation import SeparationOptions, separate_array

    backend = load_backend(export(tmp_path, fixed_shapes=True).path, threads=1)
    t = np.arange(AUDIO.sample_rate * 2) / AUDIO.sample_rate
    mix = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)]).astype(np.float32)
    stems = separate_array(mix * 0.3, backend)          # the default segment: the file's own
    assert stems.shape == (2, 2, mix.shape[1]) and np.isfinite(stems).all()
    with pytest.raises(UserError, match="keep the segment at"):
        separate_array(mix, backend, SeparationOptions(segment=1.0))


@pytest.mark.slow
def test_a_fixed_export_quantizes_and_is_checked_at_its_one_shape(tmp_path):
    from app.core.quantization import QuantizeOptions, quantize_model

    path = export(tmp_path, fixed_shapes=True).path
    out = tmp_path / "fixed-int8.onnx"
    result = quantize_model(path, out, QuantizeOptions(
        mode="static", calibration_segments=2, eval_seconds=3.0, sensitivity="never",
        latency_rounds=1, threads=1))
    assert out.exists() and [c.shape for c in result.checks] == [[1, 2, AUDIO.n_bins, FRAMES]]
    assert result.checks[0].passed
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [1, 2, AUDIO.n_bins, FRAMES]
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["fixed_shape"] == f"1x2x{AUDIO.n_bins}x{FRAMES}"


def test_a_fixed_shape_in_the_metadata_is_read_with_care():
    """The ``fixed_shape`` a file declares sets its segment; malformed or impossible values
    (a hostile file) give the default or a message naming the file, never a traceback."""
    import json

    from app.core.artifacts import audio_config_from, fixed_shape_from
    from app.core.config import AudioConfig
    from app.core.jobs import UserError

    meta = {"audio_config": json.dumps(AudioConfig().to_dict())}
    assert fixed_shape_from(meta) is None and audio_config_from(meta, "a.onnx").segment_seconds == 3.0
    meta["fixed_shape"] = "1x2x1025x87"
    assert fixed_shape_from(meta) == (1, 2, 1025, 87)
    assert audio_config_from(meta, "a.onnx").segment_frames == 87
    for junk in ("garbage", "1x2x1025", "1x2x1025x-5", "1x2x1025x99999999999"):
        meta["fixed_shape"] = junk
        assert fixed_shape_from(meta) is None
        assert audio_config_from(meta, "a.onnx").segment_seconds == 3.0
    meta["fixed_shape"] = "1x2x1025x1000000"          # 11,610 s: beyond any segment
    with pytest.raises(UserError, match=r"evil\.onnx: has a fixed input of 1000000 frames"):
        audio_config_from(meta, "evil.onnx")
