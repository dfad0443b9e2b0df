"""What the app remembers between runs, in the user's data folder.

The folder is ``$XDG_DATA_HOME/tfswa-studio`` (``~/.local/share/tfswa-studio`` when the
variable is unset; ``%APPDATA%`` on Windows). It holds small JSON files only:

- ``trusted-exports.json``: the SHA-256 of every TorchScript file this app exported. A
  TorchScript file is a program; it is loaded without the user's explicit trust only when
  its bytes are exactly those this app wrote.
- ``variants.json``: the workspace's exported variants per source checkpoint (see
  :mod:`app.core.workspace`).

Every write goes through a temporary name and a rename, so a crash never leaves a half
file; an unreadable file is treated as empty (it is only a memory, never data the user made).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from .files import atomic_path
from .jobs import UserError

APP_DIR_NAME = "tfswa-studio"
TRUSTED_EXPORTS = "trusted-exports.json"

# Shown wherever a TorchScript file may be opened (README, the Model tab, CLI messages).
TORCHSCRIPT_IS_CODE = (
    "A TorchScript file is a program: loading it runs the code inside it. TFSWA Studio "
    "loads one only when you say you trust it (--trust-torchscript, or confirming in the "
    "app) or when this app exported that very file.")


def data_dir() -> Path:
    """The app's folder in the user's data directory (not created here)."""
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / APP_DIR_NAME
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / APP_DIR_NAME


def sha256_file(path: Path | str, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def read_json(name: str, default: Any) -> Any:
    """The JSON value stored as ``name`` in the data folder, or ``default``."""
    try:
        with open(data_dir() / name, encoding="utf-8") as fh:
            value = json.load(fh)
    except (OSError, ValueError):
        return default
    return value if isinstance(value, type(default)) else default


def write_json(name: str, value: Any) -> None:
    """Store ``value`` as ``name`` in the data folder, atomically. Failures are ignored: a
    memory that cannot be written must never fail the job that made it."""
    try:
        with atomic_path(data_dir() / name, overwrite=True) as tmp:
            tmp.write_text(json.dumps(value, indent=1, sort_keys=True), encoding="utf-8")
    except Exception:  # noqa: BLE001 - read-only home, full disk: the job still succeeded
        pass


def record_export(path: Path | str) -> str:
    """Remember that this app wrote the TorchScript file ``path``; returns its SHA-256."""
    digest = sha256_file(path)
    trusted = read_json(TRUSTED_EXPORTS, {})
    trusted[digest] = str(Path(path).resolve())
    write_json(TRUSTED_EXPORTS, trusted)
    return digest


def is_app_export(path: Path | str) -> bool:
    """True when the file's bytes are exactly those of a TorchScript file this app exported."""
    trusted = read_json(TRUSTED_EXPORTS, {})
    if not trusted:
        return False
    try:
        return sha256_file(path) in trusted
    except OSError:
        return False


def untrusted_torchscript(path: Path | str) -> UserError:
    """The refusal of a TorchScript file nobody said to trust (one line, then the hint)."""
    return UserError("is a TorchScript program, not loaded: loading it would run the code "
                     "inside it", path,
                     "Pass --trust-torchscript only if you trust where it came from.")
