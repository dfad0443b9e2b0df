"""The one bridge from the Qt-free :class:`~app.core.workspace.Workspace` to Qt signals."""

from __future__ import annotations

from typing import Any, Optional

from PySide6.QtCore import QObject, Signal

from ..core.workspace import Workspace


class WorkspaceEvents(QObject):
    """Re-emits the workspace's listener calls as ``changed(event, payload)``.

    Events: ``"bundle"`` (a model was loaded), ``"variant"`` (a variant was added),
    ``"variant-updated"`` (its figures changed). The workspace may be changed from a worker
    thread: receivers in the UI thread then get the signal queued, never concurrently.
    """

    changed = Signal(str, object)

    def __init__(self, workspace: Workspace, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.workspace = workspace
        workspace.subscribe(self._relay)

    def _relay(self, event: str, payload: Any) -> None:
        self.changed.emit(event, payload)

    def detach(self) -> None:
        self.workspace.unsubscribe(self._relay)
