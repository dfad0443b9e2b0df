"""Asking before a TorchScript file runs: the GUI's side of core's trust rule."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget

from ..core.userdata import TORCHSCRIPT_IS_CODE


def confirm_torchscript(parent: QWidget, path: Path) -> bool:
    """True when the user, told that the file is a program, chooses to run it (No is the
    default button)."""
    answer = QMessageBox.warning(
        parent, "Run a TorchScript program?",
        f"{Path(path).name} is a TorchScript file that TFSWA Studio did not export (or that "
        f"changed since).\n\n{TORCHSCRIPT_IS_CODE}\n\nRun it only if you trust where it "
        "came from.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes
