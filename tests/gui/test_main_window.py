"""The main window end to end: loading models, errors that never stop the app, settings,
drag and drop, the Model tab, shortcuts, About, and starting the app from argv."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from app import __version__
from app.core.checkpoint import load_bundle
from app.gui.jobs import JobState
from app.gui.main_window import MainWindow, classify, first_size
from app.gui.settings import Settings


def test_starts_without_a_model_and_says_how_to_open_one(window):
    model_tab, separate_tab = window.tab("Model"), window.tab("Separate")
    assert model_tab.stack.currentWidget() is model_tab.empty
    assert "tfswa-studio init --out model.pt" in model_tab.empty.body.text()
    assert "Open checkpoint" in model_tab.empty.buttons[0].text()
    assert not separate_tab.notice.isHidden()
    assert not separate_tab.form.separate_button.isEnabled()
    assert not separate_tab.form.save_button.isEnabled()
    assert "No model loaded" in window.model_label.text()
    screen = window.screen().availableGeometry().size()
    assert window.size() == first_size(screen)                     # fits the screen it opens on
    assert window.width() <= screen.width() and window.height() <= screen.height()


def test_loading_a_checkpoint_fills_the_status_bar_and_the_model_tab(loaded, tiny_checkpoint):
    window = loaded
    bundle = load_bundle(tiny_checkpoint)
    label = window.model_label.text()
    assert "tiny" in label and "custom" in label and "4.6 k parameters" in label
    model_tab = window.tab("Model")
    expected = [name for name, _ in bundle.build().stages()]
    assert model_tab.stage_names() == expected
    params = [int(model_tab.table.item(r, 2).text().replace(",", ""))
              for r in range(model_tab.table.rowCount())]
    assert sum(params) == bundle.n_parameters
    summary = {model_tab.summary["Model"].form.itemAt(r, model_tab.summary["Model"].form.ItemRole.LabelRole)
               .widget().text(): model_tab.summary["Model"].form.itemAt(
                   r, model_tab.summary["Model"].form.ItemRole.FieldRole).widget().text()
               for r in range(model_tab.summary["Model"].form.rowCount())}
    assert summary["Parameters:"].startswith(f"{bundle.n_parameters:,}")
    assert summary["File:"] == str(tiny_checkpoint)
    assert window.workspace.variants[0].kind == "pytorch"


@pytest.mark.parametrize("content, problem", [
    (b"this is not a checkpoint at all", "not a checkpoint"),
    (None, "truncated"),
])
def test_a_corrupt_checkpoint_gives_a_message_and_the_app_stays_usable(
        qtbot, window, tiny_checkpoint, tmp_path, wait_job, content, problem):
    bad = tmp_path / "bad.pt"
    data = tiny_checkpoint.read_bytes()
    bad.write_bytes(content if content is not None else data[: len(data) // 2])
    job = wait_job(window.open_checkpoint(bad))
    assert job.state is JobState.FAILED
    assert window.banner.isVisible()
    assert "bad.pt" in window.banner.text() and problem in window.banner.text()
    assert "bad.pt" in window.dock.log_text() and problem in window.dock.log_text()
    assert window.workspace.bundle is None
    wait_job(window.open_checkpoint(tiny_checkpoint))          # a good file still works
    assert window.workspace.bundle is not None
    assert "tiny" in window.model_label.text()


def test_the_demo_models_metadata_reads_as_plain_rows(qtbot, window, wait_job):
    """The demo model's nested metadata (training, validation, evaluation) shows as dotted
    keys with rounded numbers, not Python reprs."""
    from app.core import resources

    demo = resources.demo_model()
    wait_job(window.open_checkpoint(demo))
    model_tab = window.tab("Model")
    qtbot.waitUntil(lambda: model_tab.info is not None and model_tab.info.path == demo,
                    timeout=60_000)
    rows = model_tab.metadata_items()
    assert rows["trained"] == "yes"
    vocals = float(rows["evaluation.percent_of_oracle.vocals"])
    assert 70 <= vocals <= 100 and len(rows["evaluation.percent_of_oracle.vocals"]) <= 6
    assert not any("{" in value for value in rows.values())


def test_recent_files_threads_and_geometry_persist_across_windows(
        qtbot, tmp_path, tiny_checkpoint, wait_job):
    ini = str(tmp_path / "persist.ini")
    first = MainWindow(settings=QSettings(ini, QSettings.Format.IniFormat))
    qtbot.addWidget(first)
    first.show()
    wait_job(first.open_checkpoint(tiny_checkpoint))
    first.threads_spin.setValue(1)
    first.dock.hide()                         # window state: the Jobs dock closed
    first.close()

    second = MainWindow(settings=QSettings(ini, QSettings.Format.IniFormat))
    qtbot.addWidget(second)
    assert second.settings.recent("checkpoint") == [tiny_checkpoint.resolve()]
    assert second.settings.last_dir("checkpoint") == str(tiny_checkpoint.parent)
    assert second.threads_spin.value() == 1 and second.threads() == 1
    assert second.dock.isHidden()
    geometry, state = second.settings.window_state()
    assert geometry is not None and state is not None
    assert second.restoreGeometry(geometry)
    second.fill_recent_menu()
    entries = [a for a in second.recent_menu.actions() if a.text() == "tiny.pt"]
    assert len(entries) == 1
    entries[0].trigger()                                   # opens it again
    qtbot.waitUntil(lambda: second.workspace.bundle is not None, timeout=30_000)
    second.close()


def drop(window, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(enter)
    if not enter.isAccepted():
        return False
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    return True


def test_dropping_a_checkpoint_loads_it_and_other_files_are_refused(
        qtbot, window, tiny_checkpoint, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    assert drop(window, [notes]) is False
    assert drop(window, [tiny_checkpoint]) is True
    qtbot.waitUntil(lambda: window.workspace.bundle is not None, timeout=30_000)
    assert window.workspace.bundle.path == tiny_checkpoint


def test_files_are_classified_by_suffix():
    checkpoints, audio, other = classify(
        [Path("a.PT"), Path("b.safetensors"), Path("c.pth"), Path("s.wav"), Path("t.mp3"),
         Path("u.flac"), Path("v.ogg"), Path("w.txt")])
    assert [p.name for p in checkpoints] == ["a.PT", "b.safetensors", "c.pth"]
    assert [p.name for p in audio] == ["s.wav", "t.mp3", "u.flac", "v.ogg"]
    assert [p.name for p in other] == ["w.txt"]


def test_keyboard_shortcuts(qtbot, window):
    shortcuts = {a.text(): a.shortcut().toString() for a in
                 [window.open_checkpoint_action, window.open_audio_action, *window.tab_actions]}
    assert shortcuts["Open &checkpoint…"] == "Ctrl+O"
    assert shortcuts["Open &audio…"] == "Ctrl+Shift+O"
    number = window.tabs.indexOf(window.tab("Separate")) + 1    # tabs numbered in registry order
    assert shortcuts["&Separate"] == f"Ctrl+{number}"
    assert "Ctrl+Q" in [s.toString() for s in window.quit_action.shortcuts()]
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    qtbot.keyClick(window, getattr(Qt.Key, f"Key_{number}"), Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentWidget() is window.tab("Separate")
    qtbot.keyClick(window, Qt.Key.Key_PageUp, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentIndex() == number - 2                  # the tab before it
    separate = window.tab("Separate").shortcut_actions
    assert separate["Separate"].shortcut().toString() == "Ctrl+Return"
    assert separate["Play / pause"].shortcut().toString() == "Space"


def test_about_names_version_licence_and_paper(qtbot, window):
    box = window.show_about()
    text = box.text()
    assert __version__ in text
    assert "CC BY-NC-ND 4.0" in text
    assert "Yao et al." in text and "EURASIP" in text and "2025:39" in text
    assert not box.isModal() or box.windowModality() != Qt.WindowModality.ApplicationModal
    box.close()


def run_app_and_record(argv: list[str]) -> dict:
    """Run the real app (``run_gui``) with argv; once a model and a song are open, record them
    and whether Separate is ready, and close the window."""
    from app.gui import app as gui_app

    seen, finished = {}, []

    def check():
        if finished:                  # run_gui has returned: never touch a later test's window
            return
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)
                   and w.isVisible()]
        if windows:
            win = windows[0]
            tab = win.tab("Separate")
            if win.workspace.bundle is not None and tab.mixture is not None:
                seen["model"] = win.workspace.bundle.path
                seen["audio"] = tab.audio_path
                seen["ready"] = tab.form.separate_button.isEnabled()
                win.close()
                return
        QTimer.singleShot(50, check)

    def give_up():
        if not finished:
            for w in QApplication.topLevelWidgets():
                w.close()

    QTimer.singleShot(0, check)
    QTimer.singleShot(60_000, give_up)
    try:
        assert gui_app.run_gui(argv) == 0
    finally:
        finished.append(True)
    return seen


@pytest.mark.slow
def test_run_gui_opens_the_files_given_on_argv(qtbot, tmp_path, tiny_checkpoint, song):
    settings = tmp_path / "portable.ini"
    audio = song(tmp_path / "argv-song.wav", 1.0)
    seen = run_app_and_record([str(tiny_checkpoint), str(audio), "--no-demo",
                               "--settings", str(settings)])
    assert seen == {"model": tiny_checkpoint, "audio": audio, "ready": True}
    stored = Settings(QSettings(str(settings), QSettings.Format.IniFormat))
    assert stored.recent("checkpoint") == [tiny_checkpoint.resolve()]


def test_startup_files_prefer_argv_over_the_demo(tmp_path, monkeypatch):
    from app.gui import app as gui_app
    from app.core import resources

    demo_model, demo_song = tmp_path / "demo.safetensors", tmp_path / "mixture.flac"
    monkeypatch.setattr(resources, "demo_model", lambda: demo_model)
    monkeypatch.setattr(resources, "demo_song", lambda: demo_song)
    assert gui_app.startup_files([]) == [demo_model, demo_song]
    assert gui_app.startup_files(["mine.pt"]) == [Path("mine.pt"), demo_song]
    assert gui_app.startup_files([], use_demo=False) == []
    monkeypatch.setattr(resources, "demo_model", lambda: None)
    monkeypatch.setattr(resources, "demo_song", lambda: None)
    assert gui_app.startup_files([]) == []


def test_a_plain_start_opens_the_bundled_demo_model_and_song(qtbot, tmp_path):
    """No arguments: the demo model is loaded and the demo song is ready in the Separate tab
    (what a new user sees first)."""
    from app.core import resources

    seen = run_app_and_record(["--settings", str(tmp_path / "fresh.ini")])
    assert seen == {"model": resources.demo_model(), "audio": resources.demo_song(),
                    "ready": True}


def test_pressing_ctrl_q_quits(qtbot, window):
    keys = [s.toString() for s in window.quit_action.shortcuts()]
    assert keys.count("Ctrl+Q") == 1        # twice is an ambiguous shortcut that does nothing
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=3000)


def test_the_model_tab_says_in_words_whether_the_model_is_any_good(qtbot, window, wait_job,
                                                                     tiny_checkpoint):
    from app.core import resources

    model_tab = window.tab("Model")
    wait_job(window.open_checkpoint(resources.demo_model()))
    banner = model_tab.quality
    assert banner.isVisible() and banner.summary.trained is True
    assert "vocals: 10.1 dB SDR" in banner.text() and "84 %" in banner.text()
    wait_job(window.open_checkpoint(tiny_checkpoint))        # made by init: never trained
    assert banner.summary.trained is False
    assert "Untrained model" in banner.text()
    # Above the engineers' details, not below them.
    assert banner.mapTo(model_tab, banner.rect().topLeft()).y() < \
        model_tab.table.mapTo(model_tab, model_tab.table.rect().topLeft()).y()


def test_charts_say_what_to_press_until_they_have_something_to_draw(qtbot, loaded):
    window = loaded
    memory, export = window.tab("Memory"), window.tab("Export")
    assert not memory.chart_panel.slot.chart_shown
    assert "Estimate" in memory.chart_panel.slot.placeholder.text()
    assert not export.result_panel.slot.chart_shown
    assert "Export" in export.result_panel.slot.placeholder.text()
