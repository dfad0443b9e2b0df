"""The workspace's variants persist across reloads and restarts, keyed by the checkpoint."""

from __future__ import annotations

import pytest

from app.core.checkpoint import init_bundle, load_bundle, save_bundle
from app.core.config import AudioConfig
from app.core.workspace import Variant, Workspace


@pytest.fixture
def checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    bundle = init_bundle("small", audio=AudioConfig(segment_seconds=1.0), channels=(4, 8),
                         dim=8, heads=2, window=(2, 2))
    return save_bundle(bundle, tmp_path / "m.pt")


def test_variants_come_back_after_a_restart(tmp_path, checkpoint):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"stands in for an exported file")
    first = Workspace()
    first.set_bundle(load_bundle(checkpoint))
    variant = first.add_variant(Variant("ONNX FP32 - m.onnx", "onnx", onnx))
    first.update_figures(variant, latency_ms=12.5, verified=True)

    again = Workspace()                      # a new session
    again.set_bundle(load_bundle(checkpoint))
    (restored,) = [v for v in again.variants if v.kind == "onnx"]
    assert restored.path == onnx.resolve() and restored.name == "ONNX FP32 - m.onnx"
    assert restored.figures == {"latency_ms": 12.5, "verified": True}

    first.set_bundle(load_bundle(checkpoint))            # a reload in the same session
    assert [v.kind for v in first.variants] == ["pytorch", "onnx"]


def test_a_deleted_file_or_another_checkpoint_brings_nothing_back(tmp_path, checkpoint):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"x")
    ws = Workspace()
    ws.set_bundle(load_bundle(checkpoint))
    ws.add_variant(Variant("ONNX", "onnx", onnx))
    other = save_bundle(init_bundle("small", audio=AudioConfig(segment_seconds=1.0),
                                    channels=(4, 8), dim=8, heads=2, window=(2, 2), seed=9),
                        tmp_path / "other.pt")
    fresh = Workspace()
    fresh.set_bundle(load_bundle(other))
    assert [v.kind for v in fresh.variants] == ["pytorch"]
    onnx.unlink()
    fresh.set_bundle(load_bundle(checkpoint))
    assert [v.kind for v in fresh.variants] == ["pytorch"]
