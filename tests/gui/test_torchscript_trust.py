"""The Separate tab asks before it runs a TorchScript file this app did not export."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

import hostile
from app.core.workspace import Variant


def test_an_untrusted_torchscript_variant_runs_only_after_yes(qtbot, loaded, song, tmp_path,
                                                              wait_job, monkeypatch):
    window = loaded
    tab = window.tab("Separate")
    window.open_audio(song(tmp_path / "song.wav", 1.0))
    wait_job(tab.read_job)
    victim = hostile.victim_file(tmp_path)
    program = hostile.hostile_torchscript(tmp_path / "evil-torchscript.pt", victim)
    window.workspace.add_variant(Variant("TorchScript (not ours)", "torchscript", program))
    qtbot.waitUntil(lambda: tab.variant_combo.count() == 2, timeout=2000)
    tab.variant_combo.setCurrentIndex(1)

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
