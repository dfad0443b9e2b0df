"""The Memory tab end to end: a real estimate of a real checkpoint, a line per mode, markers
that follow the budget, a training config the trainer reads, and Cancel."""

from __future__ import annotations

import math
import time

import pytest
from PySide6.QtWidgets import QFileDialog

from app.core.checkpoint import init_bundle, save_bundle
from app.core.config import AudioConfig
from app.core.memory import GiB, load_training_config
from app.gui.jobs import JobState


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _checkpoint(tmp_path, tiny_config, audio, name):
    sizes = {k: getattr(tiny_config, k) for k in ("channels", "dim", "blocks", "heads", "window")}
    return save_bundle(init_bundle("small", seed=1, audio=audio, **sizes), tmp_path / name)


@pytest.fixture
def memory_tab(qtbot, window, tmp_path, tiny_config, wait_job):
    def open_(audio):
        wait_job(window.open_checkpoint(_checkpoint(tmp_path, tiny_config, audio, "tiny.pt")))
        window.threads_spin.setValue(1)
        tab = window.tab("Memory")
        window.tabs.setCurrentWidget(tab)
        return tab
    return open_


def save_config_through_the_dialog(qtbot, tab, monkeypatch, target):
    """Press "Save a training config…", answer the file dialog with ``target``, read it back."""
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(target), "Training config (*.json)"))
    tab.breakdown.save_button.click()
    qtbot.waitUntil(target.exists, timeout=10_000)
    return load_training_config(target)


@pytest.mark.slow
def test_estimate_draws_each_mode_and_the_markers_follow_the_budget(
        qtbot, window, memory_tab, wait_job, tmp_path, monkeypatch):
    tab = memory_tab(AudioConfig(n_fft=256, hop_length=64, segment_seconds=0.5))
    assert tab.setup.estimate_button.isEnabled() and not tab.notice.isVisible()
    assert tab.setup.segment_spin.value() == pytest.approx(0.5)
    assert not tab.breakdown.save_button.isEnabled()
    tab.setup.batch_edit.setText("1,2,4,8,16")
    tab.setup.budget_spin.setValue(8)
    tab.setup.reserve_spin.setValue(0)
    job = tab.estimate()
    wait_job(job, timeout=120_000)
    assert job.state is JobState.DONE, job.message

    chart = tab.chart
    assert chart.line_names() == ["baseline", "checkpointing", "mixed precision",
                                  "checkpointing + mixed precision"]
    for curve, result in zip(chart.curves.values(), tab.results):
        x, y = curve.getData()
        assert [round(2 ** v) for v in x] == [1, 2, 4, 8, 16]
        assert list(y) == pytest.approx([e.total / GiB for e in result.estimates])
    assert chart.budget_line.value() == pytest.approx(8.0)

    # the markers sit at the largest batch that fits, and follow the budget
    tab.setup.budget_spin.setValue(0.25)
    assert chart.budget_line.value() == pytest.approx(0.25)
    for col, result in enumerate(tab.results):
        best = result.max_batch_for(0.25)
        assert result.total(best) <= 0.25 * GiB < result.total(best + 1)
        assert chart.marker_position(result.mode) == pytest.approx((best, result.total(best) / GiB))
        assert tab.breakdown.table.item(5, col).text() == str(best)
    before = {m: chart.marker_position(m)[0] for m in chart.markers}
    assert len(before) == 4 and before["both"] > before["baseline"]
    tab.setup.budget_spin.setValue(0.5)                       # more memory: every marker moves right
    assert all(chart.marker_position(m)[0] > before[m] for m in before)
    tab.setup.reserve_spin.setValue(0.25)                     # keeping half free: back where they were
    assert chart.budget_line.value() == pytest.approx(0.25)
    assert {m: chart.marker_position(m)[0] for m in chart.markers} == pytest.approx(before)

    # clicking a point selects it: the breakdown and the training config follow
    chart.point_clicked.emit("both", 8)
    assert tab.selected == ("both", 8) and tab.breakdown.batch_spin.value() == 8
    both = tab.results[3].estimate_at(8)
    col = 3
    assert tab.breakdown.table.item(3, col).text().split()[0] == f"{both.activations / 1024 ** 2:.1f}"
    assert tab.breakdown.table.horizontalHeaderItem(col).font().bold()
    assert tab.breakdown.save_button.isEnabled()
    saved = save_config_through_the_dialog(qtbot, tab, monkeypatch,
                                           tmp_path / "out" / "training-config.json")
    assert (saved.gradient_checkpointing, saved.batch_size, saved.precision,
            saved.segment_seconds) == (True, 8, "bf16", 0.5)


def test_modes_appear_while_measuring_and_cancel_stops(qtbot, window, memory_tab, wait_job):
    tab = memory_tab(AudioConfig())                      # full-size STFT: slower measuring
    tab.setup.batch_edit.setText("1-8")
    job = tab.estimate()
    assert tab.setup.cancel_button.isEnabled() and not tab.setup.estimate_button.isEnabled()
    # the first mode is drawn while the others are still being measured
    qtbot.waitUntil(lambda: len(tab.chart.line_names()) >= 1, timeout=60_000)
    assert job.running and len(tab.chart.line_names()) < 4
    assert tab.chart.markers                              # its largest-batch marker too
    asked = time.monotonic()
    tab.setup.cancel_button.click()
    wait_job(job, timeout=10_000)
    assert job.state is JobState.CANCELLED
    assert time.monotonic() - asked < 3.0
    assert tab.progress_bar.format() == "Cancelled"
    assert 1 <= len(tab.chart.line_names()) < 4           # what was measured stays
    assert tab.setup.estimate_button.isEnabled() and not tab.setup.cancel_button.isEnabled()


def test_without_a_model_the_tab_says_so(window):
    tab = window.tab("Memory")
    assert tab.notice.isVisibleTo(tab) and not tab.setup.estimate_button.isEnabled()
    assert tab.estimate() is None


def test_bad_batch_sizes_are_reported(window, memory_tab):
    tab = memory_tab(AudioConfig(n_fft=256, hop_length=64, segment_seconds=0.5))
    tab.setup.batch_edit.setText("four")
    assert tab.estimate() is None
    assert "batch sizes" in window.banner.text()
    assert math.isfinite(tab.setup.segment_spin.value())


def test_the_audio_settings_are_measured_and_saved_with_the_training_config(
        qtbot, window, memory_tab, wait_job, tmp_path, monkeypatch):
    tab = memory_tab(AudioConfig(n_fft=256, hop_length=64, segment_seconds=0.5))
    setup = tab.setup
    assert [s.value() for s in setup.audio_spins] == [44100, 256, 64, 4]   # the model's own

    setup.hop_spin.setValue(200)                          # more than half the window: refused
    assert tab.estimate() is None
    assert "hop_length 200 must be in 1..n_fft/2" in window.banner.text()

    # the paper's hop of 10 ms at a lower rate, another window and two sub-bands
    setup.rate_spin.setValue(22050)
    setup.n_fft_spin.setValue(512)
    setup.hop_spin.setValue(220)
    setup.subbands_spin.setValue(2)
    setup.batch_edit.setText("1,2")
    job = tab.estimate()
    wait_job(job, timeout=120_000)
    assert job.state is JobState.DONE, job.message
    expected = AudioConfig(sample_rate=22050, n_fft=512, hop_length=220, subbands=2,
                           segment_seconds=0.5)
    assert {r.frames for r in tab.results} == {expected.segment_frames}          # 51, not 345
    assert "22050 Hz, STFT 512 / hop 220, 2 sub-bands" in tab.chart_panel.status.text()

    tab.select("checkpointing", 2)
    saved = save_config_through_the_dialog(qtbot, tab, monkeypatch,
                                           tmp_path / "out" / "training-config.json")
    assert (saved.sample_rate, saved.n_fft, saved.hop_length, saved.subbands,
            saved.segment_seconds, saved.batch_size) == (22050, 512, 220, 2, 0.5, 2)
