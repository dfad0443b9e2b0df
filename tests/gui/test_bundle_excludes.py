"""The bundle leaves out Qt modules the app never imports (packaging/tfswa-studio.spec's
QT_UNUSED): none of them may be imported by the running window, pyqtgraph included, or the
frozen app would fail to start (as it did when QtOpenGL and QtTest were excluded)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
USE_EVERYTHING = """
import sys
from PySide6.QtWidgets import QApplication
app = QApplication([])
from app.gui.main_window import MainWindow
from app.gui import playback
window = MainWindow()
window.show()
for i in range(window.tabs.count()):
    window.tabs.setCurrentIndex(i)
    app.processEvents()
window.show_about()
app.processEvents()
try:
    playback.import_multimedia()     # raises where the system lacks its libraries
except ImportError:
    pass
print(" ".join(sorted(m for m in sys.modules if m.startswith("PySide6."))))
"""


def excluded_qt_modules() -> set[str]:
    spec = (ROOT / "packaging" / "tfswa-studio.spec").read_text()
    body = re.search(r"QT_UNUSED = \[f\"PySide6\.\{m\}\" for m in (\(.*?\))\]", spec, re.S)
    return {f"PySide6.{m}" for m in ast.literal_eval(body.group(1))}


@pytest.mark.slow
def test_the_window_imports_no_qt_module_the_bundle_leaves_out(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen",
               HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", USE_EVERYTHING], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    imported = set(proc.stdout.split())
    assert {"PySide6.QtWidgets", "PySide6.QtMultimedia"} <= imported
    excluded = excluded_qt_modules()
    assert len(excluded) > 20
    assert not imported & excluded, sorted(imported & excluded)
