"""The Device box of the status bar: the devices of this machine, remembered between runs,
handed to the Separate and Memory tabs' jobs, and a saved device that is gone falls back to Auto."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from app.core.devices import available_devices, cuda_count
from app.core.workspace import Workspace
from app.gui.jobs import JobState
from app.gui.main_window import MainWindow


def offered(window) -> list[str]:
    box = window.device_box
    return [box.itemData(i) for i in range(box.count())]


def test_the_box_offers_auto_and_this_machines_devices(window):
    assert offered(window) == ["auto"] + available_devices()
    if cuda_count() == 0:
        assert offered(window)[:2] == ["auto", "cpu"] and not any(
            d.startswith("cuda") for d in offered(window))
    assert window.device_box.currentText() == "Auto" and window.device() == "auto"


def test_the_choice_is_remembered(qtbot, window, qsettings, tmp_path):
    window.device_box.setCurrentIndex(window.device_box.findData("cpu"))
    assert window.device() == "cpu"
    again = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    assert again.value("device") == "cpu"
    second = MainWindow(settings=again)
    qtbot.addWidget(second)
    assert second.device() == "cpu" and second.device_box.currentText() == "CPU"
    assert second.device_box.note == ""


def test_a_saved_gpu_that_is_not_here_falls_back_to_auto_with_a_note(qtbot, qsettings):
    gone = f"cuda:{cuda_count()}"           # one past the last GPU: never present
    qsettings.setValue("device", gone)
    qsettings.sync()
    window = MainWindow(settings=qsettings)
    qtbot.addWidget(window)
    assert window.device() == "auto" and window.device_box.currentText() == "Auto"
    assert f"The saved device {gone} is not on this machine" in window.device_box.note
    assert "using Auto" in window.dock.log_text()


@pytest.mark.parametrize("choice", ["cpu", "auto"])
def test_the_separate_job_runs_on_the_chosen_device(qtbot, loaded, song, tmp_path, wait_job,
                                                    monkeypatch, choice):
    asked = []
    real = Workspace.backend_for

    def spy(self, variant=None, threads=None, trust_torchscript=False, device="cpu"):
        asked.append(device)
        return real(self, variant, threads, trust_torchscript, device=device)

    monkeypatch.setattr(Workspace, "backend_for", spy)
    window = loaded
    window.device_box.setCurrentIndex(window.device_box.findData(choice))
    tab = window.tab("Separate")
    window.open_audio(song(tmp_path / "song.wav", 1.0))
    wait_job(tab.read_job)
    tab.separate()
    job = wait_job(tab.separate_job)
    assert job.state is JobState.DONE, job.message
    assert asked == [choice]


@pytest.mark.slow
def test_the_memory_estimate_measures_on_the_chosen_device(qtbot, loaded, wait_job, monkeypatch):
    import app.core.memory as memory

    asked = []
    real = memory.plan_memory

    def spy(*args, device=None, **kwargs):
        asked.append(device)
        return real(*args, device=device, **kwargs)

    monkeypatch.setattr(memory, "plan_memory", spy)     # the tab's task imports it when run
    window = loaded
    window.device_box.setCurrentIndex(window.device_box.findData("cpu"))
    tab = window.tab("Memory")
    window.tabs.setCurrentWidget(tab)
    job = wait_job(tab.estimate(), timeout=120_000)
    assert job.state is JobState.DONE, job.message
    assert asked == ["cpu"]
