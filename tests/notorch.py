"""Running the app as the slim runtime (no PyTorch) sees it: ``torch`` blocked in
``sys.modules`` (``sys.modules['torch'] = None`` makes every ``import torch`` raise
ModuleNotFoundError, as if it were not installed), in a subprocess or, with
:func:`block_modules`, in the test's own process. ``onnx`` (the export tool chain) is left
out of the slim bundle too, so it is blocked with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SLIM_MISSING = ("torch", "onnx")
# Runs ``python -m app ARGS`` with the modules unimportable; fails if anything imports them.
NO_TORCH = ("import sys\n"
            "for name in sys.argv[1].split(','):\n"
            "    sys.modules[name] = None\n"
            "from app.__main__ import main\n"
            "sys.exit(main(sys.argv[2:]))\n")


def run_without_torch(*args: str, cwd: Path, blocked=("torch",),
                      timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen",
               HOME=str(cwd))
    return subprocess.run([sys.executable, "-c", NO_TORCH, ",".join(blocked), *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=timeout)


def block_modules(monkeypatch, names=SLIM_MISSING) -> None:
    """In this process: ``import NAME`` fails from now on (until the test ends). Modules
    imported earlier keep their references, so this catches imports made while the test
    runs (in a tab's constructor, in a job); the subprocess runs catch those made at
    start-up."""
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)
