"""Quantization: every mode makes a file that loads, runs at several shapes, describes itself
and separates; static INT8 of the demo model keeps its SDR; the fallback meets its budget;
bad calibration input is named; Cancel and failed verification leave no file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import soundfile as sf

from app.core.audio import load
from app.core.backends import load_backend
from app.core.checkpoint import load_bundle
from app.core.evaluation import sdr
from app.core.export import ExportOptions, export_bundle
from app.core.jobs import Cancelled, CancelToken, UserError
from app.core.quantization import (CalibrationReader, QuantizationFailed, QuantizeOptions,
                                   compare_models, load_calibration, quantize_model)
from app.core.resources import DEMO_DIR, demo_model
from app.core.separation import separate_array
from exporthelp import exported

pytestmark = pytest.mark.usefixtures("torch_one_thread")
SONG = DEMO_DIR / "song"
# Static INT8 (Conv/MatMul/Gemm, MinMax, per-channel) of the demo model loses at most this
# much SDR per stem on the demo song (measured: 0.03-0.04 dB on 6-10 s excerpts).
STATIC_SDR_TOLERANCE_DB = 0.2
FAST = dict(calibration_segments=2, eval_seconds=3.0, sensitivity="never", latency_rounds=1,
            threads=1)


@pytest.fixture(scope="module")
def demo_onnx(tmp_path_factory) -> Path:
    """The demo model exported to ONNX once for this module."""
    out = tmp_path_factory.mktemp("demo") / "demo.onnx"
    export_bundle(load_bundle(demo_model()), out, ExportOptions(verify_frames=(1, 100)),
                  threads=1)
    return out


@pytest.fixture
def tiny_onnx(tmp_path) -> Path:
    source = exported("onnx")[1].path
    target = tmp_path / "tiny.onnx"
    target.write_bytes(source.read_bytes())
    return target


def _run(path: Path, batch: int, frames: int) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = (np.random.default_rng(batch).standard_normal((batch, 2, 1025, frames)) ** 2)
    return session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})[0]


@pytest.mark.slow
@pytest.mark.parametrize("mode,precision", [("dynamic", "int8"), ("static", "int8"),
                                            ("fp16", "fp16")])
def test_each_mode_makes_a_self_describing_file_that_runs_and_separates(
        demo_onnx, tmp_path, mode, precision):
    out = tmp_path / f"demo-{mode}.onnx"
    result = quantize_model(demo_onnx, out, QuantizeOptions(mode=mode, **FAST))
    assert result.path == out and out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    for batch, frames in ((1, 1), (2, 37), (1, 259), (3, 400)):
        masks = _run(out, batch, frames)
        assert masks.shape == (batch, 2, 2, 1025, frames) and masks.dtype == np.float32
        assert np.isfinite(masks).all()
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["precision"] == precision and meta["quantization"] == mode
    assert json.loads(meta["audio_config"])["sources"] == ["vocals", "accompaniment"]
    assert meta["sources"] == "vocals,accompaniment" and meta["quantized_from"] == "demo.onnx"
    if mode == "static":
        assert meta["calibration_method"] == "minmax" and meta["calibration_segments"] == "2"
        assert json.loads(meta["calibration_files"]) == ["mixture.flac"]
    assert result.size_ratio > (1.8 if mode == "fp16" else 1.5)
    assert result.quantized.mask_snr_db > 20 and len(result.checks) >= 5
    backend = load_backend(out, threads=1)
    assert backend.precision == precision
    mix, _ = load(SONG / "mixture.flac", 44100)
    stems = separate_array(mix[:, :44100 * 2], backend)
    assert stems.shape == (2, 2, 44100 * 2) and np.isfinite(stems).all()
    if mode == "fp16":
        assert any("GPU" in n for n in result.notes)


@pytest.mark.slow
def test_static_int8_of_the_demo_model_keeps_its_sdr_on_the_demo_song(demo_onnx, tmp_path):
    out = tmp_path / "demo-int8.onnx"
    result = quantize_model(demo_onnx, out, QuantizeOptions(
        mode="static", calibration_segments=4, eval_seconds=8.0, sensitivity="never",
        latency_rounds=1, threads=1))
    # measured independently of the result: separate with both files, score on true stems
    n = 8 * 44100
    mix = load(SONG / "mixture.flac", 44100)[0][:, :n]
    truth = np.stack([load(SONG / f"{s}.flac", 44100)[0][:, :n]
                      for s in ("vocals", "accompaniment")])
    fp32 = sdr(truth, separate_array(mix, load_backend(demo_onnx, 1)))
    int8 = sdr(truth, separate_array(mix, load_backend(out, 1)))
    assert np.all(fp32 - int8 <= STATIC_SDR_TOLERANCE_DB), (fp32, int8)
    assert fp32 == pytest.approx([result.fp32.sdr["vocals"], result.fp32.sdr["accompaniment"]])
    assert int8 == pytest.approx([result.quantized.sdr["vocals"],
                                  result.quantized.sdr["accompaniment"]], abs=1e-6)


@pytest.mark.slow
def test_the_fallback_keeps_sensitive_groups_in_fp32_until_the_budget_is_met(tiny_onnx, tmp_path):
    seen = []
    out = tmp_path / "tiny-int8.onnx"
    result = quantize_model(tiny_onnx, out, QuantizeOptions(
        mode="static", budget_db=0.0, sensitivity="always", calibration_segments=2,
        eval_seconds=2.0, latency_rounds=1, threads=1), on_sensitivity=seen.append)
    assert result.within_budget is True
    assert all(d >= -1e-9 for d in result.quantized.sdr_delta.values())
    groups = [s.group for s in result.sensitivity]
    assert sorted(groups) == sorted({s.group for s in seen}) and len(groups) >= 5
    assert [s.rank for s in result.sensitivity] == list(range(1, len(groups) + 1))
    costs = [s.cost_db for s in result.sensitivity]
    assert costs == sorted(costs, reverse=True)
    # what stayed FP32 is the top of the ranking, and the file says so
    assert result.fp32_layers == groups[:len(result.fp32_layers)]
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(meta["fp32_layers"]) == result.fp32_layers
    if result.fp32_layers:
        assert result.full_int8 is not None and result.full_int8.latency_ms > 0
        kept = {n.name for n in onnx.load(str(out)).graph.node
                if n.op_type in ("Conv", "MatMul") and any(
                    n.name.strip("/").startswith(g.split("/")[0]) for g in result.fp32_layers)}
        assert kept   # the kept groups' operators are still there, unquantized


def _wav(path: Path, x: np.ndarray, rate: int = 44100, subtype: str = "FLOAT") -> Path:
    sf.write(str(path), x.T, rate, subtype=subtype)
    return path


@pytest.fixture
def audio_cfg():
    return load_bundle(demo_model()).audio


def _music(seconds: float, rate: int = 44100) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.random.default_rng(0).standard_normal(t.size)
    return np.stack([x, x]).astype(np.float32)


@pytest.mark.parametrize("kind,message", [
    ("missing", "does not exist"),
    ("silent", "is silent"),
    ("short", "too short for calibration"),
    ("nan", "NaN or infinite samples"),
])
def test_bad_calibration_input_is_named_in_one_line(tmp_path, audio_cfg, kind, message):
    path = tmp_path / f"{kind}.wav"
    if kind == "silent":
        _wav(path, np.zeros((2, 44100 * 4), np.float32))
    elif kind == "short":
        _wav(path, _music(0.5))
    elif kind == "nan":
        x = _music(4.0)
        x[0, 1000:1010] = np.nan
        _wav(path, x)
    with pytest.raises(UserError) as err:
        load_calibration([path], audio_cfg, 2)
    assert err.value.path == path and message in err.value.message
    assert "\n" not in err.value.message


def test_calibration_at_another_rate_is_resampled_and_said(tmp_path, audio_cfg):
    path = _wav(tmp_path / "song48k.wav", _music(4.0, 48000), 48000)
    segments, summary = load_calibration([path], audio_cfg, 3)
    assert len(segments) == 3 and all(s.shape == (2, 3 * 44100) for s in segments)
    assert summary.resampled == ["song48k.wav"] and summary.files == ["song48k.wav"]


def test_the_reader_pulls_magnitudes_and_stops_on_cancel(audio_cfg):
    segments, summary = load_calibration([], audio_cfg, 3)
    assert summary.files == ["mixture.flac"] and summary.segments == 3
    token = CancelToken()
    reader = CalibrationReader(segments, audio_cfg, cancel=token)
    first = reader.get_next()
    assert first["magnitude"].shape == (1, 2, 1025, 259) and first["magnitude"].min() >= 0
    token.cancel()
    with pytest.raises(Cancelled):
        reader.get_next()


def test_a_folder_of_tracks_calibrates_from_the_mixtures(tmp_path, audio_cfg):
    for name in ("a", "b"):
        track = tmp_path / "songs" / name
        track.mkdir(parents=True)
        for stem in ("mixture", "vocals", "accompaniment"):
            _wav(track / f"{stem}.wav", _music(3.5))
    segments, summary = load_calibration([tmp_path / "songs"], audio_cfg, 4)
    assert len(segments) == 4 and summary.files == ["a/mixture", "b/mixture"]


def test_bad_calibration_stops_the_quantization_and_leaves_no_file(tiny_onnx, tmp_path):
    out = tmp_path / "x.onnx"
    with pytest.raises(UserError, match="missing.wav: does not exist"):
        quantize_model(tiny_onnx, out, QuantizeOptions(
            calibration=(tmp_path / "missing.wav",), **FAST))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.onnx"]


def test_cancel_during_calibration_leaves_no_file(tiny_onnx, tmp_path):
    token = CancelToken()

    def progress(fraction, message):
        if message.startswith("calibrating"):
            token.cancel()

    with pytest.raises(Cancelled):
        quantize_model(tiny_onnx, tmp_path / "x.onnx", QuantizeOptions(**FAST),
                       progress=progress, cancel=token)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.onnx"]


def test_a_model_that_fails_verification_keeps_no_file(tiny_onnx, tmp_path):
    with pytest.raises(QuantizationFailed, match="verification failed") as err:
        quantize_model(tiny_onnx, tmp_path / "x.onnx", QuantizeOptions(
            mode="dynamic", min_mask_snr_db=500.0, **FAST))
    assert err.value.checks and not any(c.passed for c in err.value.checks)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.onnx"]


@pytest.mark.slow
def test_a_checkpoint_is_exported_first_and_qat_says_when_torch_is_missing(tmp_path, monkeypatch):
    from app.core.quantization import pipeline

    source = exported("onnx")[0].path
    ckpt = tmp_path / "tiny.pt"
    ckpt.write_bytes(source.read_bytes())
    result = quantize_model(ckpt, None, QuantizeOptions(mode="dynamic", **FAST))
    assert result.path == tmp_path / "tiny-int8-dynamic.onnx" and result.path.exists()
    assert result.fp32_path is None and result.source == ckpt
    monkeypatch.setattr(pipeline, "qat_available", lambda: False)
    with pytest.raises(UserError, match="needs PyTorch"):
        quantize_model(ckpt, None, QuantizeOptions(mode="qat"))


def _opset_and_ops(path: Path) -> tuple[int, set[str]]:
    proto = onnx.load(str(path))
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    return opset, {n.op_type for n in proto.graph.node}


@pytest.mark.slow
def test_a_checkpoint_is_quantized_from_an_opset_20_export(tmp_path):
    ckpt = tmp_path / "tiny.pt"
    ckpt.write_bytes(exported("onnx")[0].path.read_bytes())
    from_ckpt = quantize_model(ckpt, tmp_path / "a.onnx", QuantizeOptions(mode="static", **FAST))
    opset, ops = _opset_and_ops(from_ckpt.path)
    assert opset == 20 and "Gelu" in ops and "Erf" not in ops


def test_an_existing_file_is_not_overwritten(tiny_onnx, tmp_path):
    out = tmp_path / "x.onnx"
    out.write_bytes(b"keep me")
    with pytest.raises(UserError, match="already exists"):
        quantize_model(tiny_onnx, out, QuantizeOptions(mode="dynamic", **FAST))
    assert out.read_bytes() == b"keep me"


@pytest.mark.slow
def test_compare_models_reports_size_latency_and_sdr_per_stem(tiny_onnx, tmp_path):
    q = quantize_model(tiny_onnx, tmp_path / "q.onnx", QuantizeOptions(mode="fp16", **FAST))
    comparison = compare_models(tiny_onnx, [q.path], seconds=2.0, threads=1, rounds=1)
    ref, row = comparison.rows
    assert comparison.sources == ["vocals", "accompaniment"] and comparison.songs == ["song"]
    assert ref.name == "tiny.onnx" and row.name == "q.onnx" and row.precision == "fp16"
    assert row.file_size < ref.file_size      # the tiny model is mostly graph, few weights
    assert row.latency_ms > 0 and ref.latency_ms > 0
    assert row.mask_snr_db > 30 and set(row.sdr) == {"vocals", "accompaniment"}
    assert abs(row.sdr_delta["vocals"]) < 0.1 and row.sdr_vs_reference["vocals"] > 20


@pytest.mark.parametrize("options,message", [
    (dict(mode="int4"), "unknown quantization mode"),
    (dict(method="kl"), "unknown calibration method"),
    (dict(op_types=("Conv", "1x")), "must be ONNX operator names"),
    (dict(mode="dynamic", calibration=(Path("a.wav"),)), "needs no calibration audio"),
    (dict(budget_db=-1.0), "out of range"),
])
def test_impossible_options_are_refused_before_any_work(options, message):
    with pytest.raises(UserError, match=message):
        QuantizeOptions(**options).validate()
