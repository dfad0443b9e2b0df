"""``describe_model_file``: an exported model summarised without running it (ONNX), or
once trusted (TorchScript)."""

from __future__ import annotations

import json
import sys

import pytest

import hostile
from app.cli import main
from app.core.backends import describe_model_file
from app.core.checkpoint import init_bundle
from app.core.config import AudioConfig
from app.core.export import ExportOptions, export_bundle
from app.core.jobs import UserError, to_jsonable

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exports")
    bundle = init_bundle("small", audio=AudioConfig(segment_seconds=1.0), channels=(4, 8),
                         dim=8, heads=2, window=(2, 2))
    onnx_path = export_bundle(bundle, folder / "m.onnx", ExportOptions(verify_frames=(5,))).path
    ts_path = export_bundle(bundle, folder / "m-torchscript.pt",
                            ExportOptions(format="torchscript", verify_frames=(5,))).path
    return bundle, onnx_path, ts_path


def test_onnx_summary(exports):
    bundle, path, _ = exports
    info = describe_model_file(path)
    assert info.format == "onnx" and info.sources == ["vocals", "accompaniment"]
    assert info.audio_config["n_fft"] == 2048 and info.precision == "fp32"
    (inp,), (out,) = info.inputs, info.outputs
    assert inp.shape == ["batch", 2, 1025, "frames"] and inp.dynamic_axes == {0: "batch",
                                                                           3: "frames"}
    assert out.shape[:3] == ["batch", 2, 2] and out.dtype == "float32"
    assert sum(info.operators.values()) == info.nodes > 0
    assert list(info.operators.values()) == sorted(info.operators.values(), reverse=True)
    assert info.opsets["ai.onnx"] >= 17
    # Batch norms are folded on export, so the file holds at most the bundle's values.
    assert 0.9 * bundle.n_parameters < info.parameters <= bundle.n_parameters
    json.dumps(to_jsonable(info))                     # the GUI and --json can carry it


def test_info_prints_an_onnx_summary(exports, capsys):
    _, path, _ = exports
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Format       ONNX, FP32" in out and "dynamic: axis 0 'batch', axis 3 'frames'" in out
    assert "operator types (most:" in out


def test_this_apps_torchscript_export_is_described(exports):
    _, _, path = exports
    info = describe_model_file(path)
    assert info.format == "torchscript" and info.sources == ["vocals", "accompaniment"]
    assert sum(info.operators.values()) == info.nodes > 0
    assert "aten::avg_pool2d" in info.operators and "aten::upsample_bilinear2d" in info.operators
    assert info.inputs[0].shape == ["batch", 2, 1025, "frames"]


def test_untrusted_torchscript_is_not_described(tmp_path):
    victim = hostile.victim_file(tmp_path)
    path = hostile.hostile_torchscript(tmp_path / "evil.pt", victim)
    with pytest.raises(UserError, match="TorchScript program, not loaded"):
        describe_model_file(path)
    info = describe_model_file(path, trust_torchscript=True)   # loading only: no forward
    assert "aten::from_file" in info.operators
    assert victim.read_bytes() == hostile.VICTIM_BYTES


@pytest.mark.parametrize("maker", [hostile.random_bytes, hostile.empty, hostile.text_file])
def test_a_broken_onnx_file_is_one_message(tmp_path, maker):
    path = maker(tmp_path / "m.onnx")
    with pytest.raises(UserError, match=r"m\.onnx: "):
        describe_model_file(path)


def test_without_the_onnx_package_the_recorded_parameter_count_is_shown(exports, monkeypatch,
                                                                        tmp_path):
    import onnx

    bundle, path, _ = exports
    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["parameters"] == str(bundle.n_parameters)     # the export records it
    monkeypatch.setitem(sys.modules, "onnx", None)   # as in the slim runtime
    info = describe_model_file(path)
    assert info.parameters == bundle.n_parameters and info.nodes == 0
    assert any("onnx package" in n for n in info.notes)

    # a file from elsewhere may record anything: only a plain whole number is believed
    for bad in ("1e99", "-5", "12.5", "١٢", "9" * 40, ""):
        for p in proto.metadata_props:
            if p.key == "parameters":
                p.value = bad
        other = tmp_path / "other.onnx"
        monkeypatch.setitem(sys.modules, "onnx", onnx)
        onnx.save(proto, str(other))
        monkeypatch.setitem(sys.modules, "onnx", None)
        assert describe_model_file(other).parameters is None, bad
