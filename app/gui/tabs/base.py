"""What every tab gets (:class:`TabContext`) and the small base class tabs derive from."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Protocol

from PySide6.QtCore import QPoint, QTimer
from PySide6.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

from ...core.workspace import Workspace
from ..events import WorkspaceEvents
from ..jobs import JobManager
from ..settings import Settings

if TYPE_CHECKING:
    from ..jobs import Job

REVEAL_SECONDS = 1.0    # how long Tab.reveal follows the page's growth


class WindowHooks(Protocol):
    """What the main window offers to tabs."""

    def open_checkpoint_dialog(self) -> None: ...
    def open_checkpoint(self, path: Path | str) -> None: ...
    def open_audio_dialog(self) -> None: ...
    def show_error(self, title: str, detail: str = "") -> None: ...
    def show_message(self, text: str) -> None: ...
    def threads(self) -> int: ...
    def device(self) -> str: ...
    def cache_dir(self, name: str) -> Path: ...


@dataclass
class TabContext:
    workspace: Workspace          # the single source of truth: bundle and variants
    events: WorkspaceEvents       # workspace changes as a Qt signal: changed(event, payload)
    jobs: JobManager              # run core functions off the UI thread
    settings: Settings            # persistent values (tabs use keys under tabs/<title>/)
    window: WindowHooks           # open files, show messages, threads, device, cache folders


class Tab(QWidget):
    """Base for tabs: keeps the context, forwards workspace events, stops at shutdown.

    A tab lays its content out on ``self.page``, which sits in a scroll area: on a small
    screen (1024x600) the page keeps its minimum size and scrolls, instead of its panels
    being squeezed over one another."""

    title: str = ""
    tooltip: str = ""

    def __init__(self, ctx: TabContext, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName(f"{type(self).__name__}")
        self.page = QWidget()
        self.page.setObjectName(f"{type(self).__name__}Page")
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setWidget(self.page)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.scroll_area)
        ctx.events.changed.connect(self.workspace_changed)
        self._reveal: tuple[Optional[QWidget], float] = (None, 0.0)
        self.scroll_area.verticalScrollBar().rangeChanged.connect(self._scroll_to_revealed)

    def workspace_changed(self, event: str, payload: Any) -> None:
        """Called in the UI thread for every workspace event ("bundle", "variant", ...)."""

    def shutdown(self) -> None:
        """The window is closing: stop players, timers. Running jobs are cancelled for you."""

    def reveal(self, widget: QWidget) -> None:
        """Scroll the page so that ``widget`` starts at the top of the view (as far as the page
        scrolls): results that a finished job adds below the settings come into sight on a
        small screen. The page may still grow while the new content is laid out, so for a
        moment every change of the scroll range scrolls again."""
        self._reveal = (widget, time.monotonic() + REVEAL_SECONDS)
        QTimer.singleShot(0, self, self._scroll_to_revealed)

    def _scroll_to_revealed(self) -> None:
        widget, until = self._reveal
        if widget is None or time.monotonic() > until:
            return
        if widget.isVisible() and self.page.isAncestorOf(widget):
            top = widget.mapTo(self.page, QPoint(0, 0)).y()
            self.scroll_area.verticalScrollBar().setValue(max(0, top - 6))

    def setting(self, key: str, default: Any = None, type_: Optional[type] = None) -> Any:
        return self.ctx.settings.value(f"tabs/{self.title}/{key}", default, type_)

    def set_setting(self, key: str, value: Any) -> None:
        self.ctx.settings.set_value(f"tabs/{self.title}/{key}", value)



class SingleJobTab(Tab):
    """A tab that runs one job at a time (``self.job``) and shows it in the ``progress_bar``
    its panels hold (the tab sets it): the running state, Cancel, and progress updates in one
    place."""

    cancel_text = "Cancelling…"

    def __init__(self, ctx: TabContext, parent: Optional[QWidget] = None):
        super().__init__(ctx, parent)
        self.job: Optional["Job"] = None

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def cancel(self) -> None:
        if self.running:
            self.job.cancel()
            self.progress_bar.setFormat(self.cancel_text)

    def _show_progress(self) -> None:
        job = self.job
        if job is None or not job.running:
            return
        self.progress_bar.setValue(int(job.fraction * 1000))
        self.progress_bar.setFormat(f"{job.fraction * 100:.0f} % · {job.message}")
        self._progress_shown(job)

    def _progress_shown(self, job: "Job") -> None:
        """Called after each progress update, for what else the tab shows of it."""
