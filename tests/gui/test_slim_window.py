"""The desktop app of the slim runtime (no PyTorch, no onnx package): the real window opens
on the demo model exported to ONNX, the Model tab shows it, Separate separates with ONNX
Runtime, Benchmark times it, and the tabs that need PyTorch say what to install. PyTorch is
blocked as in tests/notorch.py: in this process while each test runs, and from the start in
the subprocess runs."""

from __future__ import annotations

import numpy as np
import pytest

from app.core import resources
from app.core.audio.io import load, write
from app.gui.app import startup_files
from app.gui.jobs import JobState
from app.gui.main_window import MainWindow
from app.gui.tabs.needs_torch import HEADING, NeedsTorchTab
from exporthelp import demo_onnx, demo_parameters
from notorch import block_modules, run_without_torch

NEEDS_TORCH = ("Memory", "Export", "Quantize")
WORKS = ("Model", "Benchmark", "Separate")


@pytest.fixture
def slim_demo(tmp_path, monkeypatch):
    """A demo folder as the slim bundle has it, plus the checkpoint (which it leaves out):
    without PyTorch the app must pick the ONNX file."""
    onnx = demo_onnx()
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "demo-model.onnx").symlink_to(onnx)
    (folder / "demo-model.safetensors").symlink_to(resources.DEMO_DIR / "demo-model.safetensors")
    (folder / "song").symlink_to(resources.DEMO_DIR / "song")
    monkeypatch.setattr(resources, "DEMO_DIR", folder)
    return folder


@pytest.fixture
def slim_window(qtbot, qsettings, monkeypatch):
    block_modules(monkeypatch)
    win = MainWindow(settings=qsettings)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def test_tabs_that_need_torch_say_what_to_install(slim_window):
    window = slim_window
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == \
        ["Model", "Memory", "Export", "Quantize", "Benchmark", "Separate"]
    for title in NEEDS_TORCH:
        tab = window.tab(title)
        assert isinstance(tab, NeedsTorchTab)
        assert tab.notice.heading.text() == HEADING
        text = tab.notice.body.text()
        assert "pip install torch" in text and "full TFSWA Studio" in text, text
        assert "needs PyTorch" in window.tabs.tabToolTip(window.tabs.indexOf(tab))
    for title in WORKS:
        assert not isinstance(window.tab(title), NeedsTorchTab)
    window.tabs.setCurrentWidget(window.tab("Memory"))
    assert window.tab("Memory").notice.isVisible() and not window.banner.isVisible()


def test_a_checkpoint_is_refused_with_what_to_open_instead(slim_window, wait_job):
    window = slim_window
    job = wait_job(window.open_checkpoint(resources.DEMO_DIR / "demo-model.safetensors"))
    assert job.state is JobState.FAILED
    assert window.banner.isVisible() and "demo-model.safetensors" in window.banner.text()
    assert "needs PyTorch" in window.banner.text() and ".onnx" in window.banner.text()
    assert not window.workspace.has_model


def cut_song(folder, seconds):
    """The first ``seconds`` of the demo song's mixture and true stems, as WAV files: the
    Separate tab finds the stems beside the mixture and scores what it separated."""
    folder.mkdir()
    for name in ("mixture", "vocals", "accompaniment"):
        audio, rate = load(resources.DEMO_DIR / "song" / f"{name}.flac")
        write(folder / f"{name}.wav", audio[:, :int(seconds * rate)], rate, subtype="float")
    return folder / "mixture.wav"


@pytest.mark.slow
def test_the_window_opens_on_the_onnx_demo_and_separates(qtbot, slim_demo, slim_window,
                                                         wait_job, tmp_path):
    window = slim_window
    files = startup_files([])
    assert files == [slim_demo / "demo-model.onnx", slim_demo / "song" / "mixture.flac"]
    window.open_paths(files)
    model_tab = window.tab("Model")
    qtbot.waitUntil(lambda: model_tab.artifact is not None, timeout=30_000)
    assert model_tab.artifact.path == slim_demo / "demo-model.onnx"
    assert not model_tab.graph_box.isHidden() and "magnitude" in model_tab.graph.text()
    assert "onnx package" in model_tab.graph.text()          # read by ONNX Runtime alone
    shown = model_tab.summary["Model"].values()
    # without the onnx package the file's weights cannot be counted: the export recorded it
    assert shown["Parameters"].startswith(f"{demo_parameters():,} (")
    assert shown["Preset"] and "TFSWA block" in shown["Architecture"]
    assert "vocals, accompaniment" in model_tab.status.text()
    assert "demo-model.onnx" in window.model_label.text()
    # no checkpoint would help here: the status bar says what would
    assert "need the full installer (PyTorch)" in window.model_label.text()
    assert "need its checkpoint" not in window.model_label.text()

    separate = window.tab("Separate")
    wait_job(separate.read_job)
    window.open_audio(cut_song(tmp_path / "cut", 4.0))
    wait_job(separate.read_job)
    assert separate.form.separate_button.isEnabled()
    separate.separate()
    done = wait_job(separate.separate_job, timeout=60_000)
    assert done.state is JobState.DONE, done.message
    view = separate.view
    assert set(view.result.outputs) == {"vocals", "accompaniment"}
    stems = [load(view.result.outputs[name])[0] for name in ("vocals", "accompaniment")]
    mixture = load(tmp_path / "cut" / "mixture.wav")[0]
    assert stems[0].shape == mixture.shape and np.isfinite(stems[0]).all()
    assert np.abs(stems[0] + stems[1] - mixture).max() < 0.05
    assert view.sdr["vocals"] > 0 and view.sdr["accompaniment"] > 0, view.sdr
    assert not window.banner.isVisible(), window.banner.text()


@pytest.mark.slow
def test_the_benchmark_tab_times_the_onnx_demo(qtbot, slim_demo, slim_window, wait_job):
    window = slim_window
    wait_job(window.open_checkpoint(slim_demo / "demo-model.onnx"))
    tab = window.tab("Benchmark")
    window.tabs.setCurrentWidget(tab)
    assert tab.variant_list.texts() == ["ONNX FP32 (demo-model.onnx)"]
    panel = tab.settings_panel
    panel.threads_edit.setText("1")
    panel.segment_spin.setValue(1.0)
    panel.warmup_spin.setValue(1)
    panel.runs_spin.setValue(3)
    panel.memory_check.setChecked(False)
    job = wait_job(tab.start(), timeout=120_000)
    assert job.state is JobState.DONE, job.message
    (result,) = tab.run_result.results
    assert result.kind == "onnx" and result.latency.p50 > 0


@pytest.mark.slow
@pytest.mark.parametrize("option", ["--self-test", "--screenshot"])
def test_the_slim_app_starts_and_passes_its_self_test(tmp_path, option):
    """``tfswa-studio --self-test`` (and ``--screenshot``) as a user of the slim runtime runs
    it, with PyTorch and onnx unimportable from the start: the window opens on the ONNX demo
    model, separates 5 s of the demo song and checks the stems; exit status 0."""
    args = [str(demo_onnx()), "--settings", str(tmp_path / "settings.ini")]
    args += ["--self-test"] if option == "--self-test" else ["--screenshot", str(tmp_path / "s.png")]
    proc = run_without_torch(*args, cwd=tmp_path, blocked=("torch", "onnx"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    if option == "--self-test":
        assert proc.stdout.startswith("TFSWA Studio self-test: PASSED"), proc.stdout
        for check in ("window: opened with model demo-model", "vocals", "accompaniment"):
            assert f"ok       {check}" in proc.stdout
        assert "(onnx fp32)" in proc.stdout
    else:
        assert (tmp_path / "s.png").stat().st_size > 10_000
