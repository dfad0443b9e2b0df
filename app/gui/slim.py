"""Start-up where PyTorch is absent (the slim runtime): the desktop window is built on the
PyTorch model bundle, so instead of failing with ModuleNotFoundError the app says what this
install can do and what to install; ``--self-test`` runs headless on the ONNX demo model."""

from __future__ import annotations

import importlib.util
import sys

SLIM_MESSAGE = (
    "This is the slim runtime of TFSWA Studio: it separates songs with ONNX models and "
    "leaves PyTorch out to stay small.\n\n"
    "The desktop window needs PyTorch. To use it, install the full TFSWA Studio "
    "(tfswa-studio .deb or .tar.gz) or, in a Python environment, `pip install torch`.\n\n"
    "Separating works here from a terminal:\n"
    "    tfswa-studio separate SONG.wav            (the bundled ONNX demo model)\n"
    "    tfswa-studio separate SONG.wav --model MODEL.onnx")


def torch_available() -> bool:
    """Whether ``import torch`` can work, without importing it (that takes seconds)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):     # sys.modules["torch"] = None blocks it
        return False


def run_slim(args) -> int:
    """--self-test: the core self-test on the demo model; otherwise show the message."""
    if args.self_test:
        from ..core.jobs import UserError
        from ..core.separation import print_report, self_test

        try:
            return print_report(self_test())
        except UserError as exc:
            print(f"TFSWA Studio self-test: FAILED\n  error    {exc}", flush=True)
            return 1
    print(SLIM_MESSAGE, file=sys.stderr)
    from PySide6.QtWidgets import QApplication, QMessageBox

    from .branding import app_icon

    app = QApplication.instance() or QApplication(["tfswa-studio"])
    app.setWindowIcon(app_icon())
    box = QMessageBox(QMessageBox.Icon.Information, "TFSWA Studio (slim runtime)", SLIM_MESSAGE)
    if args.screenshot is not None:
        box.show()
        app.processEvents()
        return 0 if box.grab().save(str(args.screenshot)) else 1
    box.exec()
    return 0
