"""What every tab gets (:class:`TabContext`) and the small base class tabs derive from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Protocol

from PySide6.QtWidgets import QWidget

from ...core.workspace import Workspace
from ..events import WorkspaceEvents
from ..jobs import JobManager
from ..settings import Settings


class WindowHooks(Protocol):
    """What the main window offers to tabs."""

    def open_checkpoint_dialog(self) -> None: ...
    def open_checkpoint(self, path: Path | str) -> None: ...
    def open_audio_dialog(self) -> None: ...
    def show_error(self, title: str, detail: str = "") -> None: ...
    def show_message(self, text: str) -> None: ...
    def threads(self) -> int: ...
    def cache_dir(self, name: str) -> Path: ...


@dataclass
class TabContext:
    workspace: Workspace          # the single source of truth: bundle and variants
    events: WorkspaceEvents       # workspace changes as a Qt signal: changed(event, payload)
    jobs: JobManager              # run core functions off the UI thread
    settings: Settings            # persistent values (tabs use keys under tabs/<title>/)
    window: WindowHooks           # open files, show messages, threads, session cache folders


class Tab(QWidget):
    """Base for tabs: keeps the context, forwards workspace events, stops at shutdown."""

    title: str = ""
    tooltip: str = ""

    def __init__(self, ctx: TabContext, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName(f"{type(self).__name__}")
        ctx.events.changed.connect(self.workspace_changed)

    def workspace_changed(self, event: str, payload: Any) -> None:
        """Called in the UI thread for every workspace event ("bundle", "variant", ...)."""

    def shutdown(self) -> None:
        """The window is closing: stop players, timers. Running jobs are cancelled for you."""

    def setting(self, key: str, default: Any = None, type_: Optional[type] = None) -> Any:
        return self.ctx.settings.value(f"tabs/{self.title}/{key}", default, type_)

    def set_setting(self, key: str, value: Any) -> None:
        self.ctx.settings.set_value(f"tabs/{self.title}/{key}", value)

