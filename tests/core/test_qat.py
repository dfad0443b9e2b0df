"""Quantization-aware training: fake quantization where ONNX Runtime's static QDQ INT8
quantizes, a few training steps, and the QDQ INT8 file ONNX Runtime runs with integer kernels."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from app.core.benchmarking import read_cpuinfo
from app.core.checkpoint import ModelBundle, load_bundle, save_bundle
from app.core.config import AudioConfig
from app.core.jobs import Cancelled, CancelToken, UserError, to_jsonable
from app.core.model import build_model
from app.core.quantization import (FakeQuantize, fake_quantizers, int8_kernel_count,
                                   prepare_qat, profiled_operators, quantize_qat,
                                   set_fake_quant, strip_qat)
from app.core.quantization.fake_quant import QatConv2d, QatLinear, fake_quantize_weight
from stemdata import make_dataset

pytestmark = pytest.mark.usefixtures("torch_one_thread")

# VNNI or AMX: 8-bit products summed in 32 bits. Without them (AVX2 only) ONNX Runtime's
# u8s8 kernels sum pairs in 16 bits, which saturate: masks measured 3-5 dB further from FP32
# on an AVX2-only AMD EPYC (docs/benchmarks.md).
VNNI = bool(read_cpuinfo()[1] & {"avx512_vnni", "avx_vnni", "amx_int8"})
# The tiny test model's INT8 masks stay at least this close to its FP32 masks.
MASK_SNR_DB = 20.0 if VNNI else 15.0
DEMO_MASK_SNR_DB = 30.0 if VNNI else 26.0


def snr_db(ref: np.ndarray, est: np.ndarray) -> float:
    ref, est = np.asarray(ref, np.float64), np.asarray(est, np.float64)
    return float(10 * np.log10(np.sum(ref ** 2) / max(np.sum((ref - est) ** 2), 1e-30)))


@pytest.fixture(scope="module")
def audio():
    return AudioConfig(n_fft=256, hop_length=64, segment_seconds=0.5)


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory, audio):
    from app.core.config import ModelConfig

    torch.manual_seed(3)
    config = ModelConfig(preset="custom", channels=(4, 8), dim=8, blocks=1, heads=2,
                         window=(2, 2), mlp_ratio=2.0)
    model = build_model(config, audio)
    with torch.no_grad():                      # batch norms with statistics worth folding
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("qat") / "tiny.pt"
    save_bundle(ModelBundle.from_model(model, audio, {"note": "qat test"}), path)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("qat-songs"), tracks=2, seconds=2.0, seed=1)


def magnitude(audio: AudioConfig, batch: int, frames: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.abs(rng.normal(size=(batch, 2, audio.n_bins, frames))).astype(np.float32)


# ----------------------------------------------------------------------------- prepare_qat

def test_prepare_qat_inserts_fake_quantization_and_the_model_still_runs(bundle_path, audio):
    original = load_bundle(bundle_path).build()
    x = torch.from_numpy(magnitude(audio, 2, 24))
    with torch.no_grad():
        ref = original(x)
    model = prepare_qat(original)
    assert any(isinstance(m, QatConv2d) for m in model.modules())
    assert any(isinstance(m, QatLinear) for m in model.modules())
    assert not any(isinstance(m, (QatConv2d, FakeQuantize)) for m in original.modules())
    set_fake_quant(model, enabled=False)           # the same network underneath
    with torch.no_grad():
        assert torch.allclose(model(x), ref, atol=1e-5)
    set_fake_quant(model, enabled=True)
    with torch.no_grad():
        model(x)                                   # calibrates (MinMax)
    quantized = model(x)
    assert all(fq.calibrated for _, fq in fake_quantizers(model))
    assert torch.isfinite(quantized).all() and not torch.equal(quantized, ref)
    assert snr_db(ref.numpy(), quantized.detach().numpy()) > MASK_SNR_DB
    quantized.mean().backward()                    # gradients pass the rounding (STE)
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    with torch.no_grad():
        assert torch.allclose(strip_qat(model)(x), ref, atol=1e-5)


def test_weights_round_to_ort_int8_grid():
    w = torch.randn(6, 3, 3, 3)
    q = fake_quantize_weight(w)
    scale = w.abs().flatten(1).amax(1) / 127
    steps = q / scale[:, None, None, None]
    assert torch.allclose(steps, steps.round(), atol=1e-4)      # integers per channel
    assert steps.abs().max() <= 127 + 1e-4
    assert (q - w).abs().max() <= scale.max() / 2 + 1e-6


@pytest.mark.slow
def test_the_int8_file_holds_the_trained_weights_and_ranges(bundle_path, audio, tmp_path):
    """ONNX Runtime's file quantizes exactly what the fake quantization did: its int8 weights
    dequantize to the fake-quantized ones, its activation scales are the trained ranges',
    and every fake-quantizer has its tensor."""
    import onnx
    from onnx import numpy_helper

    from app.core.export import export_to_onnx
    from app.core.quantization.qat_onnx import quantize_qdq

    model = prepare_qat(load_bundle(bundle_path).build())
    segments = [magnitude(audio, 1, 40, seed=s) for s in range(3)]
    with torch.no_grad():
        for x in segments:
            model(torch.from_numpy(x))
    fp32, out = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    export_to_onnx(strip_qat(model), torch.from_numpy(segments[0]), fp32, audio=audio,
                   verify=False)
    paired, unpaired, used = quantize_qdq(model, fp32, out, segments)
    fqs = [fq for _, fq in fake_quantizers(model)]
    assert unpaired == [] and used == len(fqs) == paired

    proto = onnx.load(str(out))
    values = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    weights, act_scales = [], []
    for node in proto.graph.node:
        weight = values.get(node.input[0])
        if node.op_type == "DequantizeLinear" and weight is not None and weight.dtype == np.int8:
            q, scale = values[node.input[0]].astype(np.float32), values[node.input[1]]
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            shape = [1] * q.ndim
            shape[axis] = -1
            weights.append(q * scale.reshape(shape))
        if node.op_type == "QuantizeLinear":
            act_scales.append(float(values[node.input[1]]))
    for m in model.modules():
        if isinstance(m, (QatConv2d, QatLinear)):
            w = fake_quantize_weight(m.inner.weight).detach().numpy()
            w = w.T if isinstance(m, QatLinear) else w
            assert any(d.shape == w.shape and np.allclose(d, w, atol=1e-6) for d in weights)
    trained = [float(fq.qparams()[0]) for fq in fqs]
    assert len(act_scales) == len(fqs)
    for scale in act_scales:
        assert any(abs(scale - t) <= 1e-6 * max(t, 1e-12) + 1e-12 for t in trained)


# ----------------------------------------------------------------------------- quantize_qat

@pytest.mark.slow
def test_qat_writes_an_int8_file_ort_runs_with_integer_kernels(bundle_path, data, audio,
                                                                tmp_path):
    out = tmp_path / "tiny-qat.onnx"
    seen = []
    result = quantize_qat(bundle_path, out, data=data, steps=4, lr=1e-3, segment_seconds=0.5,
                          batch=2, progress=lambda f, m: seen.append(f))
    assert out.exists() and result.path == out and result.mode == "qat"
    assert result.size_bytes == out.stat().st_size
    assert len(result.losses) == 4 and all(np.isfinite(result.losses))
    assert seen[-1] == 1.0 and seen == sorted(seen)
    # every activation ORT quantizes took its range from a trained fake-quantizer
    assert result.ranges_from_training > 0 and result.calibrated_tensors == []

    from app.core.backends import OnnxRuntimeBackend

    backend = OnnxRuntimeBackend(out, threads=1)
    assert backend.precision == "int8" and backend.audio == audio
    meta = backend.metadata
    assert meta["mode"] == "qat" and meta["qat_steps"] == "4" and meta["qat_data"] == str(data)
    reference = load_bundle(bundle_path).build()
    for batch, frames in ((1, 24), (3, 37), (2, 130)):
        x = magnitude(audio, batch, frames, seed=frames)
        masks = backend.run(x)
        assert masks.shape == (batch, 2, 2, audio.n_bins, frames)
        assert np.isfinite(masks).all()
        with torch.no_grad():
            ref = reference(torch.from_numpy(x)).numpy()
        assert snr_db(ref, masks) > MASK_SNR_DB
    ops = profiled_operators(out, magnitude(audio, 1, 40))
    assert ops["QLinearConv"] > 0 and int8_kernel_count(ops) >= ops["QLinearConv"]
    assert result.mask_snr_db > MASK_SNR_DB
    assert json.loads(json.dumps(to_jsonable(result)))["ranges_from_training"] > 0


@pytest.mark.slow
def test_cancel_between_steps_leaves_no_file(bundle_path, data, tmp_path):
    out = tmp_path / "cancelled.onnx"
    token = CancelToken()

    def progress(fraction, message):
        if message.startswith("step 2/"):
            token.cancel()

    with pytest.raises(Cancelled):
        quantize_qat(bundle_path, out, data=data, steps=6, segment_seconds=0.5, batch=1,
                     progress=progress, cancel=token)
    assert list(tmp_path.iterdir()) == []


def test_bad_options_and_existing_files_are_refused(bundle_path, data, tmp_path):
    existing = tmp_path / "kept.onnx"
    existing.write_bytes(b"mine")
    with pytest.raises(UserError, match="already exists"):
        quantize_qat(bundle_path, existing, data=data, steps=1)
    assert existing.read_bytes() == b"mine"
    with pytest.raises(UserError, match="lr"):
        quantize_qat(bundle_path, tmp_path / "x.onnx", data=data, lr=5.0)
    with pytest.raises(UserError, match="distillation"):
        quantize_qat(bundle_path, tmp_path / "x.onnx", data=data, distill=1.5)
    with pytest.raises(UserError, match="contains no track folders"):
        quantize_qat(bundle_path, tmp_path / "x.onnx", data=tmp_path, steps=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.onnx"]


@pytest.mark.slow
def test_demo_model_qat_pairs_every_ort_tensor_and_stays_close(tmp_path):
    from app.core.resources import DEMO_DIR

    out = tmp_path / "demo-qat.onnx"
    result = quantize_qat(DEMO_DIR / "demo-model.safetensors", out, data=DEMO_DIR, steps=2,
                          segment_seconds=1.0, batch=1)
    # 108 activation tensors: inputs and outputs of its 26 Conv and 24 MatMul nodes
    assert result.ranges_from_training == 108 and result.calibrated_tensors == []
    assert result.mask_snr_db > DEMO_MASK_SNR_DB
    ops = profiled_operators(out, magnitude(load_bundle(DEMO_DIR / "demo-model.safetensors")
                                            .audio, 1, 64))
    assert ops["QLinearConv"] == 26 and ops["QLinearMatMul"] + ops["MatMulIntegerToFloat"] == 24


@pytest.mark.slow
def test_default_data_is_generated_songs(bundle_path, tmp_path):
    cache = tmp_path / "songs"
    result = quantize_qat(bundle_path, tmp_path / "q.onnx", steps=1, segment_seconds=0.5,
                          batch=1, songs=1, cache_dir=cache)
    assert "generated songs" in result.data and result.metadata["qat_data"] == result.data
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 1
