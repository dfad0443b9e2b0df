"""GUI test fixtures: offscreen Qt, settings in an ini file under tmp_path, tiny models."""

from __future__ import annotations

import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _collect_garbage_on_the_ui_thread_only():
    """As the app does (:class:`app.gui.collector.MainThreadCollector`): Python's automatic
    garbage collection runs in whichever thread allocates, and a worker thread that collects
    a Qt object deadlocks against the UI thread (Qt's connection lock against the GIL). The
    tests collect on their own (UI) thread, after each test."""
    enabled = gc.isenabled()
    gc.disable()
    yield
    gc.collect()
    if enabled:
        gc.enable()


@pytest.fixture(autouse=True)
def _no_unexpected_modal_dialog(monkeypatch):
    """A modal question nobody answers would wait forever: a test that reaches one without
    saying how to answer it (by patching it itself) fails at once instead of hanging."""
    from PySide6.QtWidgets import QMessageBox

    def unexpected(kind):
        def ask(parent, title, text="", *args, **kwargs):
            raise AssertionError(f"unexpected modal QMessageBox.{kind}: {title}: {text}")
        return ask

    for kind in ("question", "warning", "critical", "information"):
        monkeypatch.setattr(QMessageBox, kind, unexpected(kind))


@pytest.fixture(autouse=True)
def _own_user_data(tmp_path, monkeypatch):
    """Each GUI test starts with an empty memory of exported variants (the workspace keeps
    them in the user's data folder between runs)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


@pytest.fixture
def qsettings(tmp_path):
    """A QSettings backed by an ini file in tmp_path: user settings are never touched."""
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def tiny_checkpoint(tmp_path, tiny_config):
    """A real checkpoint of a very small model (fast to load and to run)."""
    from app.core.checkpoint import init_bundle, save_bundle

    bundle = init_bundle("small", seed=3, **tiny_config.to_dict())
    return save_bundle(bundle, tmp_path / "tiny.pt")


def make_song(path, seconds, rate=44100, channels=2, seed=0):
    """A short synthetic song: a chord, a melody and noise hits, written as 24-bit WAV."""
    from app.core.audio.io import write

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    chord = sum(0.12 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    melody = 0.2 * np.sin(2 * np.pi * 440.0 * t * (1 + 0.5 * (np.floor(t * 2) % 3)))
    hits = rng.standard_normal(t.size) * 0.3 * (np.mod(t, 0.5) < 0.03)
    left = chord + melody + hits
    right = chord + 0.8 * melody + hits
    audio = np.stack([left, right][:channels])
    audio = (0.8 * audio / np.abs(audio).max()).astype(np.float32)     # peak -1.9 dBFS
    return write(path, audio, rate, subtype="24")


@pytest.fixture
def window(qtbot, qsettings):
    from app.gui.main_window import MainWindow

    win = MainWindow(settings=qsettings)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


@pytest.fixture
def song():
    """``song(path, seconds, rate=44100, channels=2)`` writes a synthetic song."""
    return make_song


@pytest.fixture
def wait_job(qtbot):
    """``wait_job(job)`` waits until a JobManager job has ended (done, failed, cancelled)."""
    def wait(job, timeout=30_000):
        qtbot.waitUntil(lambda: not job.running, timeout=timeout)
        return job
    return wait


@pytest.fixture
def loaded(qtbot, window, tiny_checkpoint, wait_job):
    """The window with the tiny checkpoint loaded and described."""
    job = window.open_checkpoint(tiny_checkpoint)
    wait_job(job)
    model_tab = window.tab("Model")
    qtbot.waitUntil(lambda: model_tab.info is not None, timeout=30_000)
    return window
