"""The Quantize tab end to end on the demo model: static INT8 with the sensitivity drawn
live, the result compared with FP32, the variant listed in the Separate tab; Cancel."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.resources import demo_model
from app.gui.jobs import JobState
from guihelp import shown_height

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture
def demo_loaded(qtbot, window, wait_job):
    job = window.open_checkpoint(demo_model())
    wait_job(job)
    assert window.workspace.bundle is not None
    window.threads_spin.setValue(1)
    tab = window.tab("Quantize")
    window.tabs.setCurrentWidget(tab)
    return window, tab


def _setup(tab, tmp_path: Path, mode: str = "static", name: str = "demo-int8.onnx") -> Path:
    panel = tab.settings_panel
    panel.set_mode(mode)
    panel.segments_spin.setValue(2)
    panel.eval_spin.setValue(3.0)
    out = tmp_path / name
    panel.path_edit.setText(str(out))
    tab._suggested = None
    return out


def test_placeholders_before_the_first_run(demo_loaded):
    _, tab = demo_loaded
    assert tab.sensitivity_chart.showing_placeholder()
    assert tab.results.showing_placeholder()
    source = tab.settings_panel.source_combo.currentText()
    assert source.startswith("Checkpoint: demo-model")
    # the suggestion never points into the app's bundled resources
    assert "resources" not in tab.settings_panel.path_edit.text()


@pytest.mark.slow
def test_static_int8_of_the_demo_model_draws_sensitivity_and_joins_the_separate_tab(
        qtbot, demo_loaded, tmp_path, wait_job):
    window, tab = demo_loaded
    window.resize(1280, 720)                 # a laptop screen: the results start below the fold
    out = _setup(tab, tmp_path)
    seen_bars = []
    job = tab.quantize()
    job.changed.connect(lambda: seen_bars.append(len(tab.sensitivity_chart.bar_heights())))
    wait_job(job, timeout=300_000)
    assert job.state is JobState.DONE, job.message
    result = tab.result
    assert out.exists() and result.path == out
    # bars appeared while the job ran, one per layer group in the end, budget line drawn
    assert any(0 < n for n in seen_bars)
    groups = [s.group for s in result.sensitivity]
    assert len(tab.sensitivity_chart.bar_heights()) == len(groups) >= 10
    assert tab.sensitivity_chart.budget_line.value() == pytest.approx(0.2)
    assert tab.sensitivity_chart.kept_groups() == result.fp32_layers
    # the page scrolled the verdict and the results into sight
    qtbot.waitUntil(lambda: shown_height(tab, tab.results) > 150)
    assert shown_height(tab, tab.verdict) == tab.verdict.height()
    # table: FP32 then the INT8 variant
    assert not tab.results.showing_placeholder()
    assert tab.results.table.rowCount() == 2
    assert tab.results.cell(0, "variant") == "ONNX FP32"
    assert float(tab.results.cell(1, "× smaller")) > 2.5
    # on a laptop screen the SDR change per stem is in sight without scrolling sideways,
    # and a long variant name is shortened, whole in its tooltip
    table = tab.results.table
    header = [table.horizontalHeaderItem(j).text() for j in range(table.columnCount())]
    for column in ("× FP32 speed", "Δ vocals", "Δ accompaniment"):
        j = header.index(column)
        assert table.columnViewportPosition(j) + table.columnWidth(j) <= table.viewport().width()
    assert table.columnWidth(0) <= tab.results.NAME_WIDTH
    assert table.item(1, 0).toolTip() == table.item(1, 0).text() == f"INT8 static · {out.name}"
    assert float(tab.results.cell(1, "Δ vocals")) == pytest.approx(
        result.quantized.sdr_delta["vocals"], abs=0.006)
    assert len(tab.results.chart.heights["sdr:vocals"]) == 2
    # the variant is in the workspace and the Separate tab lists it
    variant = tab.variant
    assert variant in window.workspace.variants and variant.precision == "int8"
    assert set(variant.figures["sdr"]) == {"vocals", "accompaniment"}
    separate = window.tab("Separate")
    names = [separate.form.variant_combo.itemText(i) for i in range(separate.form.variant_combo.count())]
    assert variant.name in names
    # ... and the Benchmark tab offers it with the SDR measured here (mean of the stems)
    mean_sdr = sum(result.quantized.sdr.values()) / len(result.quantized.sdr)
    bench = window.tab("Benchmark")
    window.tabs.setCurrentWidget(bench)
    assert f"{variant.name} · SDR {mean_sdr:.2f} dB" in bench.variant_list.texts()


def test_cancel_leaves_no_file(qtbot, demo_loaded, tmp_path, wait_job):
    _, tab = demo_loaded
    out = _setup(tab, tmp_path, "dynamic", "demo-dyn.onnx")
    job = tab.quantize()
    qtbot.waitUntil(lambda: job.fraction > 0.0, timeout=60_000)
    tab.settings_panel.cancel_button.click()
    wait_job(job, timeout=120_000)
    assert job.state is JobState.CANCELLED
    assert "nothing was written" in tab.verdict.text()
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".demo-dyn")]


def test_qat_says_it_needs_pytorch_where_torch_is_missing(demo_loaded, tmp_path, monkeypatch):
    from app.gui.tabs.quantize import tab as tab_module

    _, tab = demo_loaded
    monkeypatch.setattr(tab_module, "qat_available", lambda: False)
    _setup(tab, tmp_path, "qat")
    assert tab.quantize() is None
    assert "needs PyTorch" in tab.verdict.text()


def test_calibration_songs_are_dropped_onto_the_list(qtbot, demo_loaded, tmp_path, song):
    from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    _, tab = demo_loaded
    panel = tab.settings_panel
    panel.set_mode("static")
    assert panel.calibration.empty_label.isVisibleTo(panel)
    files = [song(tmp_path / "a.wav", 3.5), tmp_path]
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in files])
    drop = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    panel.calibration.list.dropEvent(drop)
    assert panel.calibration.paths() == [tmp_path / "a.wav", tmp_path]
    assert not panel.calibration.empty_label.isVisibleTo(panel)
    assert panel.options(1).calibration == (tmp_path / "a.wav", tmp_path)
    panel.set_mode("dynamic")            # dynamic INT8 takes no calibration songs
    assert panel.options(1).calibration == () and not panel.calibration.isVisibleTo(panel)
