"""The Export tab end to end: export a real checkpoint, see the verdict and the chart, pick
the new variant in the Separate tab and separate a song with it."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox

from app.core.export import pipeline as export_mod
from app.core.info import human_bytes
from app.gui.jobs import JobState


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture
def export_tab(loaded):
    window = loaded
    window.threads_spin.setValue(1)
    tab = window.tab("Export")
    window.tabs.setCurrentWidget(tab)
    return tab


@pytest.mark.slow
def test_export_verify_and_separate_with_the_new_variant(qtbot, loaded, export_tab, tiny_checkpoint,
                                                          song, tmp_path, wait_job, monkeypatch):
    window, tab = loaded, export_tab
    assert tab.form.export_button.isEnabled() and not tab.notice.isVisible()
    assert tab.form.path_edit.text() == str(tiny_checkpoint.with_suffix(".onnx"))
    assert list(tab.stages.labels) == ["prepare", "export", "simplify", "verify"]

    seen_stages = []
    job = tab.export()
    job.changed.connect(lambda: seen_stages.append(dict(tab.stages.states)))
    wait_job(job, timeout=180_000)
    assert job.state is JobState.DONE, job.message
    assert any(s.get("verify") == "active" and s.get("export") == "done" for s in seen_stages)
    assert set(tab.stages.states.values()) == {"done"}

    result, shown = tab.result, tab.result_panel
    assert result.path == tiny_checkpoint.with_suffix(".onnx") and result.path.exists()
    assert shown.verdict_kind == "pass" and "Verified" in shown.verdict.text()
    assert shown.detail("Size") == human_bytes(result.path.stat().st_size)
    assert shown.detail("Graph").startswith(f"{result.nodes:,} nodes")
    assert "prepare" in shown.detail("Export time") and "verify" in shown.detail("Export time")

    checks = result.verification.checks
    assert len(checks) >= 5 and {c.shape[0] for c in checks} == {1, 2}
    assert len(shown.chart.bar_heights("mse")) == len(checks) == len(shown.chart.bar_heights("snr"))
    assert "2×37" in shown.chart.tick_labels() and "1×1000" in shown.chart.tick_labels()
    assert shown.chart.limit_line.value() == pytest.approx(-5.0)
    assert all(h > 0 for h in shown.chart.bar_heights("snr"))

    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    assert shown.open_folder_button.isEnabled()
    shown.open_folder_button.click()
    assert opened == [QUrl.fromLocalFile(str(result.path.parent))]

    # the export is a variant of the workspace, listed (and usable) in the Separate tab
    variant = tab.variant
    assert variant in window.workspace.variants and variant.kind == "onnx"
    assert variant.figures["verified"] is True
    separate = window.tab("Separate")
    combo = separate.form.variant_combo
    names = [combo.itemText(i) for i in range(combo.count())]
    assert variant.name in names
    separate.form.variant_combo.setCurrentIndex(names.index(variant.name))
    window.open_audio(song(tmp_path / "song.wav", 1.5))
    wait_job(separate.read_job)
    separate.separate()
    wait_job(separate.separate_job, timeout=60_000)
    assert separate.separate_job.state is JobState.DONE, separate.separate_job.message
    assert separate.view.result.backend == "ONNX FP32"


@pytest.mark.slow
def test_a_failed_verification_shows_the_failing_shapes_and_writes_nothing(
        qtbot, loaded, export_tab, tmp_path, wait_job, monkeypatch):
    window, tab = loaded, export_tab

    def bad_fold(model):
        model.head.bias.data += 0.5
        return []

    monkeypatch.setattr(export_mod, "fold_batchnorms", bad_fold)
    target = tmp_path / "bad.onnx"
    tab.form.simplify_check.setChecked(False)
    tab.form.path_edit.setText(str(target))
    before = list(window.workspace.variants)
    wait_job(tab.export(), timeout=180_000)
    assert tab.job.state is JobState.FAILED
    shown = tab.result_panel
    assert shown.verdict_kind == "fail" and "verification failed" in shown.verdict.text()
    assert tab.stages.states["verify"] == "failed" and tab.stages.states["export"] == "done"
    assert shown.chart.report is not None and not shown.chart.report.passed
    assert max(shown.chart.bar_heights("mse")) > 0
    assert not window.banner.isVisible()      # the verdict on the tab shown says it all
    assert "all 6 input shapes tested" in shown.verdict.text()
    assert not target.exists() and not [p for p in tmp_path.iterdir() if ".partial" in p.name]
    assert window.workspace.variants == before
    assert not shown.open_folder_button.isEnabled() and not shown.details_box.isVisible()


def test_format_choice_and_an_existing_file(qtbot, loaded, export_tab, tiny_checkpoint,
                                            monkeypatch):
    tab = export_tab
    tab.form.format_combo.setCurrentIndex(tab.form.format_combo.findData("torchscript"))
    assert tab.form.path_edit.text() == str(tiny_checkpoint.with_name("tiny-torchscript.pt"))
    assert list(tab.stages.labels) == ["prepare", "export", "freeze", "verify"]
    assert tab.form.method_combo.isVisible() and not tab.form.opset_spin.isVisible()
    tab.form.format_combo.setCurrentIndex(tab.form.format_combo.findData("onnx"))
    tab.form.exporter_combo.setCurrentIndex(tab.form.exporter_combo.findData("dynamo"))
    assert tab.form.opset_spin.minimum() == 18          # the dynamo exporter starts at opset 18
    assert tab.form.opset_spin.value() == 20            # and defaults to 20 (a Gelu operator)
    assert tab.options().onnx_opset == 20

    existing = tiny_checkpoint.with_suffix(".onnx")
    existing.write_bytes(b"keep")
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No)
    assert tab.export() is None
    assert asked and str(existing) in asked[0] and existing.read_bytes() == b"keep"


def test_the_default_export_folder_is_never_inside_the_installed_app(tmp_path, monkeypatch):
    from app.core import resources
    from app.gui.tabs.export.tab import documents_folder, export_folder

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    demo = resources.demo_model()                       # lives inside the app package
    assert export_folder("", demo) == documents_folder()
    mine = tmp_path / "models" / "model.pt"
    mine.parent.mkdir()
    assert export_folder("", mine) == mine.parent       # a user's checkpoint: beside it
    last = tmp_path / "exports"
    last.mkdir()
    assert export_folder(str(last), demo) == last       # the last folder used wins
    assert export_folder(str(tmp_path / "gone"), mine) == mine.parent


def test_exporting_the_demo_model_suggests_a_user_folder(qtbot, loaded, wait_job, export_tab):
    window = loaded
    from app.core import resources

    wait_job(window.open_checkpoint(resources.demo_model()))
    suggested = Path(export_tab.form.path_edit.text())
    app_dir = Path(resources.__file__).resolve().parents[1]
    assert app_dir not in suggested.parents and suggested.name == "demo-model.onnx"


@pytest.mark.slow
def test_a_fixed_shape_export_for_mobile_runtimes_joins_the_benchmark_list(
        qtbot, loaded, export_tab, tiny_checkpoint, wait_job):
    import onnxruntime as ort

    window, tab, form = loaded, export_tab, export_tab.form
    form.exporter_combo.setCurrentIndex(form.exporter_combo.findData("dynamo"))
    assert form.shape_combo.isVisible() and form.shape() == "dynamic"
    form.shape_combo.setCurrentIndex(form.shape_combo.findData("fixed"))
    # only the trace exporter makes fixed-shape files: chosen for the user, and locked
    assert form.exporter_combo.currentData() == "trace" and not form.exporter_combo.isEnabled()
    assert "mobile" in form.shape_combo.toolTip()
    assert form.path_edit.text() == str(tiny_checkpoint.with_name("tiny-fixed.onnx"))
    assert tab.options().fixed_shapes and tab.options().mobile is None
    form.shape_combo.setCurrentIndex(form.shape_combo.findData("coreml"))
    assert tab.options().mobile == "coreml"
    assert form.path_edit.text().endswith("tiny-coreml.onnx")
    form.shape_combo.setCurrentIndex(form.shape_combo.findData("fixed"))

    job = tab.export()
    wait_job(job, timeout=180_000)
    assert job.state is JobState.DONE, job.message
    path = tab.result.path
    assert path.name == "tiny-fixed.onnx" and tab.result_panel.verdict_kind == "pass"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    shape = session.get_inputs()[0].shape
    assert all(isinstance(n, int) for n in shape) and shape[0] == 1
    assert tab.result_panel.detail("Dynamic axes") == (
        "none: one input shape, " + " x ".join(str(n) for n in shape))
    bench = window.tab("Benchmark")
    assert any("tiny-fixed.onnx" in text for text in bench.variant_list.texts())
    # the choice is remembered for the next export, and the exporter unlocks when it goes
    assert tab.setting("shape") == "fixed"
    form.shape_combo.setCurrentIndex(form.shape_combo.findData("dynamic"))
    assert form.exporter_combo.isEnabled()
