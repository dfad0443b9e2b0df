"""Typed access to the app's persistent settings (a QSettings given by the caller).

The main window takes the QSettings object from outside, so tests use one backed by an ini
file in a temporary folder and never touch the user's settings. Keys:

``paths/<kind>``        last folder used for a kind of file ("checkpoint", "audio", "stems")
``recent/<kind>``       most recent files first ("checkpoint", "audio")
``threads``             CPU threads for inference
``device``              where separation and memory measurement run ("auto", "cpu", "cuda:0",
                        "mps"; see :mod:`app.core.devices`)
``window/geometry``, ``window/state``   the main window's size, position and docks
Tabs keep their own values under ``tabs/<tab name>/...`` through :meth:`Settings.value`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "TFSWA Studio"
APPLICATION = "TFSWA Studio"
MAX_RECENT = 10


def user_settings() -> QSettings:
    """The real per-user settings store."""
    return QSettings(ORGANIZATION, APPLICATION)


def _as_list(value: Any) -> list[str]:
    """QSettings returns a one-item list as a plain string and an empty one as None."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


class Settings:
    def __init__(self, store: Optional[QSettings] = None):
        self.store = store if store is not None else user_settings()

    # -- generic
    def value(self, key: str, default: Any = None, type_: Optional[type] = None) -> Any:
        if type_ is not None and self.store.contains(key):
            try:
                return type_(self.store.value(key))
            except (TypeError, ValueError):
                return default
        return self.store.value(key, default)

    def set_value(self, key: str, value: Any) -> None:
        self.store.setValue(key, value)
        self.store.sync()

    # -- folders and recent files
    def last_dir(self, kind: str) -> str:
        folder = self.store.value(f"paths/{kind}", "")
        return folder if folder and Path(folder).is_dir() else str(Path.home())

    def remember_dir(self, kind: str, path: Path | str) -> None:
        path = Path(path)
        self.set_value(f"paths/{kind}", str(path if path.is_dir() else path.parent))

    def recent(self, kind: str) -> list[Path]:
        return [Path(p) for p in _as_list(self.store.value(f"recent/{kind}"))]

    def add_recent(self, kind: str, path: Path | str) -> list[Path]:
        path = Path(path).resolve()
        items = [path] + [p for p in self.recent(kind) if p != path]
        items = items[:MAX_RECENT]
        self.set_value(f"recent/{kind}", [str(p) for p in items])
        self.remember_dir(kind, path)
        return items

    def clear_recent(self) -> None:
        self.store.remove("recent")
        self.store.sync()

    # -- threads
    @property
    def threads(self) -> Optional[int]:
        value = self.value("threads", None, int)
        return value if value and value > 0 else None

    @threads.setter
    def threads(self, value: int) -> None:
        self.set_value("threads", int(value))

    # -- device
    @property
    def device(self) -> str:
        value = self.value("device", "auto", str)
        return value.strip() if value and value.strip() else "auto"

    @device.setter
    def device(self, value: str) -> None:
        self.set_value("device", str(value))

    # -- window
    def window_state(self) -> tuple[Optional[QByteArray], Optional[QByteArray]]:
        geometry = self.store.value("window/geometry")
        state = self.store.value("window/state")
        return (geometry if isinstance(geometry, QByteArray) else None,
                state if isinstance(state, QByteArray) else None)

    def save_window_state(self, geometry: QByteArray, state: QByteArray) -> None:
        self.store.setValue("window/geometry", geometry)
        self.store.setValue("window/state", state)
        self.store.sync()
