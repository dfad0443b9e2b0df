"""Background jobs as the user sees them: a :class:`JobManager` that starts core functions on
:class:`~app.gui.worker.Worker` threads and keeps a log, and the :class:`JobDock` that lists
jobs (progress bar, message, Cancel) beside a timestamped log.

Tabs start work with::

    ctx.jobs.run("Separate song.wav", separate_file, {"input_path": path, ...},
                 on_result=self._show, on_error=self._failed)

Errors a caller does not handle go to the manager's ``error_handler`` (the main window
shows them in its message banner); every error is also written to the log.

An app left open all day holds no dead jobs: the manager lists only running jobs, and a
finished :class:`Job` keeps only what its row shows (title, state, message, times). Its
result and error go to the handlers given to :meth:`JobManager.run` and nowhere else; its
worker, with the job's arguments (a model, a song), is deleted once it has reported.
"""

from __future__ import annotations

import enum
import html
import logging
import time
import traceback
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontDatabase
from PySide6.QtWidgets import (QDockWidget, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QPlainTextEdit, QProgressBar, QSplitter, QToolButton, QVBoxLayout,
                               QWidget)

from ..core.jobs import UserError, first_line
from .widgets import ElidedLabel
from .worker import Worker

log = logging.getLogger(__name__)


class JobState(enum.Enum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


def describe_error(error: BaseException) -> str:
    """The text a person sees: a UserError's own message, otherwise the type and message."""
    if isinstance(error, UserError):
        return str(error)
    return f"unexpected {type(error).__name__}: {error}"


class Job(QObject):
    """One run of a core function, its state and latest progress. ``worker`` is None once
    the job has ended: a finished job is only the text of its row."""

    changed = Signal()

    def __init__(self, title: str, worker: Worker, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.title = title
        self.worker: Optional[Worker] = worker
        self.state = JobState.RUNNING
        self.fraction = 0.0
        self.message = "starting"
        self.started_at = time.monotonic()
        self.ended_at: Optional[float] = None
        self.cancel_requested_at: Optional[float] = None

    @property
    def elapsed(self) -> float:
        return (self.ended_at or time.monotonic()) - self.started_at

    @property
    def running(self) -> bool:
        return self.state is JobState.RUNNING

    def cancel(self) -> None:
        if self.running and self.worker is not None and self.cancel_requested_at is None:
            self.cancel_requested_at = time.monotonic()
            self.message = "cancelling"
            self.worker.cancel()
            self.changed.emit()

    def _set_progress(self, fraction: float, message: str) -> None:
        self.fraction, self.message = fraction, message
        self.changed.emit()

    def _end(self, state: JobState, message: str) -> None:
        self.state, self.message, self.ended_at = state, message, time.monotonic()
        if state is JobState.DONE:
            self.fraction = 1.0
        self.changed.emit()


class JobManager(QObject):
    """Starts jobs, tracks them until they end, and keeps the log."""

    job_added = Signal(object)           # Job
    logged = Signal(str, str)            # level ("info" | "warning" | "error"), timestamped line

    def __init__(self, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.jobs: list[Job] = []          # running jobs only
        self.error_handler: Optional[Callable[[Job, BaseException], None]] = None

    # -- starting
    def run(self, title: str, fn: Callable[..., Any], kwargs: Optional[dict[str, Any]] = None, *,
            on_result: Optional[Callable[[Any], None]] = None,
            on_error: Optional[Callable[[BaseException], None]] = None,
            on_aborted: Optional[Callable[[], None]] = None,
            on_finished: Optional[Callable[[], None]] = None,
            on_yielded: Optional[Callable[[Any], None]] = None,
            log_done: bool = True) -> Job:
        """Run ``fn(**kwargs, progress=, cancel=)`` on a worker thread; handlers run in the UI
        thread. ``on_error`` replaces the default error display (the log always gets it);
        ``on_yielded`` receives each partial result (see :mod:`app.gui.worker`). The manager
        keeps neither the result nor the error: hand them on in these handlers."""
        worker = Worker(fn, parent=self, **(kwargs or {}))
        job = Job(title, worker)
        worker.progress.connect(job._set_progress)
        if on_yielded is not None:
            worker.yielded.connect(on_yielded)
        worker.returned.connect(lambda _r: self._ended(job, JobState.DONE, log_done))
        worker.aborted.connect(lambda: self._ended(job, JobState.CANCELLED, True))
        worker.errored.connect(lambda exc: self._failed(job, exc, on_error))
        if on_result is not None:
            worker.returned.connect(on_result)
        if on_aborted is not None:
            worker.aborted.connect(on_aborted)
        if on_finished is not None:
            worker.finished.connect(on_finished)
        worker.finished.connect(lambda: self._forget(job))      # after every other handler
        self.jobs.append(job)
        self.job_added.emit(job)
        self.log(f"{title}: started")
        worker.start()
        return job

    # -- ending
    def _ended(self, job: Job, state: JobState, write_log: bool) -> None:
        if state is JobState.DONE:
            job._end(state, f"{job.elapsed:.1f} s")
        else:
            waited = time.monotonic() - (job.cancel_requested_at or time.monotonic())
            job._end(state, f"cancelled ({waited:.2f} s after the request)")
        if write_log:
            done = f"done in {job.message}" if state is JobState.DONE else job.message
            self.log(f"{job.title}: {done}")

    def _forget(self, job: Job) -> None:
        """The job has reported everything: drop its worker (and with it the job's arguments)
        and keep the job only as its row's text."""
        worker, job.worker = job.worker, None
        if job in self.jobs:
            self.jobs.remove(job)
        if worker is not None:
            worker.deleteLater()

    def _failed(self, job: Job, error: BaseException,
                handler: Optional[Callable[[BaseException], None]]) -> None:
        text = describe_error(error)
        job._end(JobState.FAILED, first_line(text))
        self.log(f"{job.title} failed: {text}", "error")
        if not isinstance(error, UserError):
            details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            log.error("%s failed\n%s", job.title, details)
            self.log(details.rstrip(), "error")
        if handler is not None:
            handler(error)
        elif self.error_handler is not None:
            self.error_handler(job, error)

    # -- queries and control
    def running(self) -> list[Job]:
        return [j for j in self.jobs if j.running]

    def cancel_all(self) -> None:
        for job in self.running():
            job.cancel()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel every job and wait for the threads (at window close). True if all ended."""
        self.cancel_all()
        deadline = time.monotonic() + timeout_ms / 1000
        ok = True
        for job in list(self.jobs):
            left = max(0, int((deadline - time.monotonic()) * 1000))
            ok = (job.worker is None or job.worker.wait(left)) and ok
        return ok

    def log(self, text: str, level: str = "info") -> None:
        stamp = time.strftime("%H:%M:%S")
        self.logged.emit(level, f"{stamp}  {text}")
        getattr(log, "warning" if level == "warning" else "error" if level == "error" else "info")(text)


# ----------------------------------------------------------------------------- widgets

class JobRow(QWidget):
    """One line per job: title, progress bar with its message, elapsed time, Cancel."""

    def __init__(self, job: Job, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.job = job
        self.title = ElidedLabel(job.title)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        self.bar.setMinimumWidth(120)
        self.elapsed = QLabel()
        self.elapsed.setMinimumWidth(52)
        self.elapsed.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.cancel = QToolButton()
        self.cancel.setText("Cancel")
        self.cancel.setToolTip("Stop this job; nothing half-written is left behind")
        self.cancel.clicked.connect(job.cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.addWidget(self.title, 2)
        layout.addWidget(self.bar, 3)
        layout.addWidget(self.elapsed)
        layout.addWidget(self.cancel)
        job.changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        job = self.job
        self.bar.setValue(int(round(job.fraction * 1000)))
        percent = f"{job.fraction * 100:.0f} %"
        text = {JobState.RUNNING: f"{percent} · {job.message}" if job.message else percent,
                JobState.DONE: f"Done in {job.message}",
                JobState.FAILED: f"Failed · {job.message}",
                JobState.CANCELLED: "Cancelled"}[job.state]
        self.bar.setFormat(text)     # no %p/%v/%m placeholders: the text is final
        self.bar.setToolTip(job.message)
        self.elapsed.setText(f"{job.elapsed:.1f} s")
        self.cancel.setEnabled(job.running and job.cancel_requested_at is None)
        if job.state is JobState.FAILED:
            self.bar.setStyleSheet("QProgressBar::chunk { background: #c0392b; }")


class JobDock(QDockWidget):
    """The Jobs dock: running and finished jobs on the left, the log on the right."""

    MAX_ROWS = 50

    def __init__(self, jobs: JobManager, parent: Optional[QWidget] = None):
        super().__init__("Jobs and log", parent)
        self.setObjectName("JobDock")
        self.jobs = jobs
        self.list = QListWidget()
        self.list.setToolTip("Background jobs: progress, elapsed time, Cancel")
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_view.setPlaceholderText("Messages and errors appear here, with their time.")
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        mono.setPointSizeF(max(mono.pointSizeF() - 1, 8))
        self.log_view.setFont(mono)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._titled("Jobs", self.list))
        splitter.addWidget(self._titled("Log", self.log_view))
        splitter.setSizes([560, 640])
        self.setWidget(splitter)
        self.rows: dict[Job, JobRow] = {}
        self._clock = QTimer(self)          # elapsed times of running jobs, once a second
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._tick)
        self._clock.start()
        jobs.job_added.connect(self.add_job)
        jobs.logged.connect(self.append_log)

    @staticmethod
    def _titled(title: str, widget: QWidget) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(4, 2, 4, 4)
        layout.setSpacing(2)
        label = QLabel(title)
        font = QFont(label.font())
        font.setBold(True)
        label.setFont(font)
        layout.addWidget(label)
        layout.addWidget(widget)
        return box

    def add_job(self, job: Job) -> None:
        row = JobRow(job)
        item = QListWidgetItem()
        item.setSizeHint(QSize(0, row.sizeHint().height()))     # as wide as the list
        self.list.insertItem(0, item)
        self.list.setItemWidget(item, row)
        self.rows[job] = row
        while self.list.count() > self.MAX_ROWS:
            old = self.list.item(self.list.count() - 1)
            widget = self.list.itemWidget(old)
            if isinstance(widget, JobRow) and widget.job.running:
                break
            self.rows.pop(getattr(widget, "job", None), None)
            self.list.takeItem(self.list.count() - 1)

    def row_for(self, job: Job) -> JobRow:
        return self.rows[job]

    def append_log(self, level: str, line: str) -> None:
        text = html.escape(line).replace("\n", "<br>").replace("  ", "&nbsp; ")
        if level == "error":
            text = f'<span style="color:{QColor("#c0392b").name()}">{text}</span>'
        elif level == "warning":
            text = f'<span style="color:#b9770e">{text}</span>'
        self.log_view.appendHtml(text)

    def log_text(self) -> str:
        return self.log_view.toPlainText()

    def _tick(self) -> None:
        for job, row in self.rows.items():
            if job.running:
                row.elapsed.setText(f"{job.elapsed:.1f} s")
