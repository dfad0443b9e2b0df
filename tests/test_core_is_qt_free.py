"""app/core never imports Qt: checked on the sources and by importing every core module in a
fresh interpreter."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import app.core

CORE = Path(app.core.__file__).parent
QT_MODULES = ("PySide6", "shiboken6", "pyqtgraph", "PyQt5", "PyQt6", "PySide2", "qtpy")


def core_modules() -> list[str]:
    return sorted(info.name for info in pkgutil.walk_packages([str(CORE)], "app.core."))


def qt_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__" \
                and node.args and isinstance(node.args[0], ast.Constant):
            names = [str(node.args[0].value)]
        found += [n for n in names if n.split(".")[0] in QT_MODULES]
    return found


def test_no_core_source_imports_qt():
    offenders = {}
    for path in sorted(CORE.rglob("*.py")):
        hits = qt_imports(path.read_text(encoding="utf-8"))
        if hits:
            offenders[str(path.relative_to(CORE.parent.parent))] = hits
    assert offenders == {}


def test_the_scan_would_catch_an_import():
    assert qt_imports("import PySide6.QtCore") == ["PySide6.QtCore"]
    assert qt_imports("from pyqtgraph import PlotWidget") == ["pyqtgraph"]
    assert qt_imports("def f():\n    from shiboken6 import isValid") == ["shiboken6"]
    assert qt_imports("import numpy, json") == []


@pytest.mark.slow
def test_importing_every_core_module_loads_no_qt():
    modules = core_modules()
    assert "app.core.jobs" in modules and "app.core.audio.display" in modules
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            f"qt = sorted(m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r})\n"
            "assert not qt, qt\n"
            "print(len(sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=240, cwd=CORE.parent.parent)
    assert result.returncode == 0, result.stderr[-3000:]
