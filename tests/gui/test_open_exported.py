"""Exported models open as the model: an ONNX file shows what it says about itself (inputs
and outputs with their dynamic axes, operators, opset, metadata) and separates; a TorchScript
file this app did not export asks before anything in it runs."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtWidgets import QMessageBox

from app.gui.jobs import JobState
from app.gui.main_window import classify
from exporthelp import exported

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_an_onnx_file_opens_as_the_model_and_separates(qtbot, window, wait_job, song, tmp_path):
    bundle, result = exported("onnx")
    onnx_path = shutil.copy(result.path, tmp_path / "mine.onnx")
    assert classify([onnx_path])[0] == [onnx_path]
    job = wait_job(window.open_checkpoint(onnx_path))
    assert job.state is JobState.DONE, job.message
    model_tab = window.tab("Model")
    assert model_tab.artifact is not None and model_tab.graph_box.isVisible()
    graph = model_tab.graph.text()
    assert "magnitude" in graph and "masks" in graph and "batch" in graph and "frames" in graph
    assert "MatMul" in graph and "nodes" in graph
    shown = model_tab.summary["Model"].values()
    assert "ai.onnx" in shown["Opset"]
    # the file's own description: its preset and architecture, from the export's metadata
    assert shown["Preset"] == bundle.model_config.preset and "TFSWA block" in shown["Architecture"]
    assert "mine.onnx" in window.model_label.text()
    assert "export and memory need its checkpoint" in window.model_label.text()
    assert window.workspace.bundle is None and window.workspace.has_model

    separate = window.tab("Separate")
    window.open_audio(song(tmp_path / "song.wav", 1.5))
    wait_job(separate.read_job)
    assert separate.form.separate_button.isEnabled()
    separate.separate()
    done = wait_job(separate.separate_job)
    assert done.state is JobState.DONE, done.message
    assert set(separate.view.result.outputs) == {"vocals", "accompaniment"}


def test_a_foreign_torchscript_file_asks_before_it_runs(qtbot, window, wait_job, monkeypatch,
                                                        tmp_path):
    _, result = exported("torchscript")
    foreign = tmp_path / "downloaded-torchscript.pt"
    foreign.write_bytes(result.path.read_bytes() + b"")
    # Another copy with one byte changed in its zip comment is not the exported file.
    foreign.write_bytes(foreign.read_bytes()[:-1] + bytes([foreign.read_bytes()[-1] ^ 1]))
    asked = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: asked.append(a[2]) or
                        QMessageBox.StandardButton.No)
    assert window.open_checkpoint(foreign) is None
    assert asked and "TorchScript" in asked[0] and "trust" in asked[0]
    assert not window.workspace.has_model
    assert "did not choose to trust" in window.dock.log_text()


@pytest.mark.slow
def test_a_fixed_shape_export_opened_as_the_model_separates_at_its_length(
        qtbot, window, wait_job, song, tmp_path):
    """Exported with ``--fixed --frames 40``: its segment box shows its one length (0.45 s,
    the box's 0.5 s at the least) and separation uses that length."""
    from app.core.export import ExportOptions, export_bundle

    bundle, _ = exported("onnx")
    path = export_bundle(bundle, tmp_path / "mine-fixed.onnx",
                         ExportOptions(frames=40, fixed_shapes=True, verify_frames=(40,)),
                         threads=1).path
    job = wait_job(window.open_checkpoint(path))
    assert job.state is JobState.DONE, job.message
    separate = window.tab("Separate")
    assert separate.model_segment() == pytest.approx(39 * 512 / 44100)
    assert separate.form.segment_spin.value() == pytest.approx(0.5)   # as near as it goes
    window.open_audio(song(tmp_path / "song.wav", 1.5))
    wait_job(separate.read_job)
    separate.separate()
    done = wait_job(separate.separate_job)
    assert done.state is JobState.DONE, done.message
