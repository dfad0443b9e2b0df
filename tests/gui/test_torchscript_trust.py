"""The GUI and TorchScript: the Separate tab asks before it runs a file this app did not
export, and the model loader refuses hostile files as the command line does."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox

import hostile
from app.core.workspace import Variant
from app.gui.jobs import JobState


def test_an_untrusted_torchscript_variant_runs_only_after_yes(qtbot, loaded, song, tmp_path,
                                                              wait_job, monkeypatch):
    window = loaded
    tab = window.tab("Separate")
    window.open_audio(song(tmp_path / "song.wav", 1.0))
    wait_job(tab.read_job)
    victim = hostile.victim_file(tmp_path)
    program = hostile.hostile_torchscript(tmp_path / "evil-torchscript.pt", victim)
    window.workspace.add_variant(Variant("TorchScript (not ours)", "torchscript", program))
    qtbot.waitUntil(lambda: tab.form.variant_combo.count() == 2, timeout=2000)
    tab.form.variant_combo.setCurrentIndex(1)

    asked: list[str] = []

    def answer(reply):
        def warning(parent, title, text, *args):
            asked.append(text)
            return reply
        return warning

    monkeypatch.setattr(QMessageBox, "warning", answer(QMessageBox.StandardButton.No))
    tab.separate()
    assert len(asked) == 1 and "runs the code inside it" in asked[0]
    assert tab.separate_job is None                     # No: nothing started, nothing ran
    assert victim.read_bytes() == hostile.VICTIM_BYTES

    monkeypatch.setattr(QMessageBox, "warning", answer(QMessageBox.StandardButton.Yes))
    tab.separate()
    wait_job(tab.separate_job)
    assert victim.read_bytes() != hostile.VICTIM_BYTES  # Yes is what lets it run


@pytest.mark.parametrize("name, maker, problem", [
    ("model.safetensors", "torchscript", "TorchScript program, not loaded"),
    ("model.pt", "torchscript", "TorchScript program, not loaded"),
    ("pickle.pt", "pickle", "would run code"),
    ("nan.pt", "nan", "NaN or infinite"),
    ("huge.pt", "oversize", "channels"),
])
def test_the_gui_loader_refuses_hostile_files_like_the_cli(qtbot, window, tmp_path, wait_job,
                                                           monkeypatch, name, maker, problem):
    victim = hostile.victim_file(tmp_path)
    path = tmp_path / name
    {"torchscript": lambda: hostile.hostile_torchscript(path, victim),
     "pickle": lambda: hostile.hostile_pickle(path, victim),
     "nan": lambda: hostile.nonfinite_checkpoint(path),
     "oversize": lambda: hostile.oversize_checkpoint(path, channels=[60000] * 4)}[maker]()
    asked = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: asked.append(a[2]) or
                        QMessageBox.StandardButton.No)
    job = window.open_checkpoint(path)
    if name == "model.pt":
        # A TorchScript archive opens as an exported model only after the user agrees to run
        # it: answered No, nothing is loaded and nothing ran.
        assert job is None and asked and "TorchScript" in asked[0]
        assert not window.workspace.has_model
        assert victim.read_bytes() == hostile.VICTIM_BYTES
        return
    job = wait_job(job)
    assert job.state is JobState.FAILED
    assert name in window.banner.text() and problem in window.banner.text()
    assert window.workspace.bundle is None
    assert victim.read_bytes() == hostile.VICTIM_BYTES
