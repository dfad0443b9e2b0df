"""The tabs that need PyTorch are built when first shown: the window opens without importing
torch (a second or more of a cold start), and the tab is the real one once shown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app.gui.tabs import DeferredTab
from app.gui.tabs.export import ExportTab
from app.gui.tabs.memory import MemoryTab

ROOT = Path(__file__).resolve().parents[2]
OPEN_WINDOW = ("import sys\n"
               "from PySide6.QtWidgets import QApplication\n"
               "app = QApplication([])\n"
               "from app.gui.main_window import MainWindow\n"
               "window = MainWindow()\n"
               "window.show()\n"
               "app.processEvents()\n"
               "print('torch' in sys.modules, flush=True)\n"
               "window.tabs.setCurrentIndex(1)\n"
               "print(type(window.tabs.currentWidget()).__name__, 'torch' in sys.modules)\n")


def test_the_window_opens_without_importing_torch(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen",
               HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"))
    proc = subprocess.run([sys.executable, "-c", OPEN_WINDOW], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["False", "MemoryTab True"], proc.stdout


def test_a_deferred_tab_is_built_when_shown_or_asked_for(window):
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert titles == ["Model", "Memory", "Export", "Quantize", "Benchmark", "Separate"]
    assert isinstance(window.tabs.widget(1), DeferredTab)
    assert isinstance(window.tabs.widget(2), DeferredTab)
    window.tabs.setCurrentIndex(1)
    memory = window.tabs.currentWidget()
    assert isinstance(memory, MemoryTab) and window.tab_widgets[1] is memory
    assert window.tabs.tabToolTip(1) == MemoryTab.tooltip and window.tabs.tabText(1) == "Memory"
    export = window.tab("Export")                  # asked for by name: built, not shown
    assert isinstance(export, ExportTab) and window.tabs.widget(2) is export
    assert window.tabs.currentWidget() is memory
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == titles
