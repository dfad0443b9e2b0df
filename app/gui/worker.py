"""The one adapter between the core job contract and Qt: :class:`Worker`.

A core job is a plain function ``fn(**kwargs, progress=..., cancel=...)`` (see
``app/core/jobs.py``). A :class:`Worker` runs it on a :class:`QThread` and reports, always
from the thread that owns the worker (the UI thread), in this order::

    started -> (progress | yielded)* -> returned(result) | errored(exception) | aborted -> finished

Progress callbacks from the job only store the latest value; a timer in the UI thread emits
``progress`` at a steady rate, so a job that reports a thousand times a second costs the UI
nothing. Everything after ``started`` is emitted once the thread has ended, so handlers of
``finished`` may safely start new work or delete the worker.

**Partial results** (superqt's ``yielded``). A job hands over results before it ends in one of
two ways, both in the job contract (keyword arguments, no Qt):

* it takes a ``yielded`` keyword: a callback the job calls with each partial result, from its
  own thread (core functions with a callback such as ``plan_memory(on_mode=...)`` are adapted
  in :mod:`app.gui.tasks`);
* it is a generator function: each value it yields is a partial result, ``cancel.check()``
  runs between yields, and the value it returns is the result.

Partial results are queued, never dropped, and the same timer that throttles ``progress``
emits ``yielded`` once per result, in the order they came, after the progress of that tick;
whatever is still queued when the job ends is emitted before ``returned``/``errored``/
``aborted``. A job that yields a thousand results costs the UI ten ticks a second, not a
thousand wake-ups.

A worker keeps nothing of its job once it has reported: the result and the error go to the
``returned``/``errored`` handlers and the keyword arguments are dropped, so a finished worker
does not keep a loaded model or a song's display data alive.

Subclasses change what runs by overriding :meth:`Worker.work`; ``run`` belongs to the
thread and is never overridden. An error nobody listens to (no slot on ``errored``) is
logged with its traceback and re-raised in the UI thread, never swallowed.

:meth:`Worker.run_sync` runs the same code path without a thread (tests, scripts).
"""

from __future__ import annotations

import enum
import inspect
import logging
import threading
from typing import Any, Callable, Optional

from PySide6.QtCore import SIGNAL, QObject, QThread, QTimer, Signal

from ..core.jobs import Cancelled, CancelToken

log = logging.getLogger(__name__)


class WorkerState(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    RETURNED = "returned"
    ERRORED = "errored"
    ABORTED = "aborted"


JOB_KEYWORDS = ("progress", "cancel", "yielded")


def accepted_keywords(fn: Callable[..., Any]) -> set[str]:
    """Which of ``progress``/``cancel``/``yielded`` ``fn`` takes by name (``progress`` and
    ``cancel`` also when it takes ``**kwargs``; ``yielded`` only when named)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return {"progress", "cancel"}
    named = {p.name for p in params if p.name in JOB_KEYWORDS}
    if any(p.kind is p.VAR_KEYWORD for p in params):
        named |= {"progress", "cancel"}
    return named


class _Thread(QThread):
    def __init__(self, target: Callable[[], None], parent: QObject):
        super().__init__(parent)
        self._target = target

    def run(self) -> None:
        self._target()


class Worker(QObject):
    """Run ``fn(**kwargs, progress=..., cancel=...)`` off the UI thread; see the module doc.

    ``progress`` and ``cancel`` are passed only if ``fn`` accepts them, so plain core
    functions such as ``load_bundle(path)`` run unchanged.
    """

    started = Signal()
    progress = Signal(float, str)          # fraction 0..1, message
    yielded = Signal(object)               # a partial result, in the order the job gave them
    returned = Signal(object)              # the job's result
    errored = Signal(object)               # the exception it raised
    aborted = Signal()                     # it raised Cancelled
    finished = Signal()                    # always last

    PROGRESS_INTERVAL_MS = 100

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "run" in cls.__dict__:
            raise TypeError(f"{cls.__name__} overrides run(); override work() instead")

    def __init__(self, fn: Optional[Callable[..., Any]] = None, /, *,
                 parent: Optional[QObject] = None, **kwargs: Any):
        super().__init__(parent)
        self.fn = fn
        self.kwargs = kwargs
        self.token = CancelToken()
        self.state = WorkerState.NEW
        self._outcome: tuple[WorkerState, Any] = (WorkerState.NEW, None)
        self._lock = threading.Lock()
        self._latest: Optional[tuple[float, str]] = None
        self._partial: list[Any] = []
        self._shown: Optional[tuple[float, str]] = None
        self._thread: Optional[_Thread] = None
        self._timer = QTimer(self)
        self._timer.setInterval(self.PROGRESS_INTERVAL_MS)
        self._timer.timeout.connect(self._flush_progress)

    # -- what runs (override work() in subclasses, never run())
    def work(self, progress: Callable[[float, str], None], cancel: CancelToken) -> Any:
        """Call the job; a generator is driven to its end, each value it yields handed over
        as a partial result and the token checked between them."""
        if self.fn is None:
            raise NotImplementedError("give Worker a function or override work()")
        wanted = accepted_keywords(self.fn)
        offered = {"progress": progress, "cancel": cancel, "yielded": self.hand_over}
        result = self.fn(**self.kwargs, **{k: v for k, v in offered.items() if k in wanted})
        if inspect.isgenerator(result):
            return self._drive(result, cancel)
        return result

    def hand_over(self, partial: Any) -> None:
        """Queue a partial result for ``yielded`` (any thread; subclasses' ``work`` call it)."""
        with self._lock:
            self._partial.append(partial)

    def _drive(self, generator, cancel: CancelToken) -> Any:
        try:
            while True:
                cancel.check()
                self.hand_over(next(generator))
        except StopIteration as stop:
            return stop.value
        finally:
            generator.close()

    # -- control
    def start(self) -> None:
        """Start the job on its own thread. Connect to the signals before calling this."""
        self._begin()
        self._thread = _Thread(self._execute, self)
        self._thread.finished.connect(self._conclude)
        self._timer.start()
        self._thread.start()

    def run_sync(self) -> Any:
        """Run the job in the calling thread, emitting the same signals in the same order;
        returns its result (None if it was cancelled)."""
        self._begin()
        self._execute()
        state, value = self._outcome
        self._conclude()
        return value if state is WorkerState.RETURNED else None

    def cancel(self) -> None:
        """Ask the job to stop; it raises Cancelled at its next check and ``aborted`` follows."""
        self.token.cancel()

    def wait(self, msecs: int = -1) -> bool:
        """Block until the thread has ended (True) or ``msecs`` passed (False)."""
        if self._thread is None:
            return True
        return self._thread.wait(msecs) if msecs >= 0 else self._thread.wait()

    @property
    def result(self) -> Any:
        """The result while ``returned`` is being emitted (None before and after: a worker
        does not keep it)."""
        state, value = self._outcome
        return value if state is WorkerState.RETURNED else None

    @property
    def error(self) -> Optional[BaseException]:
        """The error while ``errored`` is being emitted (None before and after)."""
        state, value = self._outcome
        return value if state is WorkerState.ERRORED else None

    def latest_progress(self) -> Optional[tuple[float, str]]:
        with self._lock:
            return self._latest

    # -- internals
    def _begin(self) -> None:
        if self.state is not WorkerState.NEW:
            raise RuntimeError("a Worker runs only once; create a new one")
        self.state = WorkerState.RUNNING
        self.started.emit()

    def _report(self, fraction: float, message: str = "") -> None:
        """The job's progress callback (any thread): remember only the latest value."""
        with self._lock:
            self._latest = (min(max(float(fraction), 0.0), 1.0), str(message))

    def _execute(self) -> None:
        """Run the job and keep its outcome (job thread); signals come later, in _conclude."""
        try:
            self._outcome = (WorkerState.RETURNED,
                             self.work(progress=self._report, cancel=self.token))
        except Cancelled:
            self._outcome = (WorkerState.ABORTED, None)
        except BaseException as exc:  # noqa: BLE001 - handed to errored, or re-raised
            self._outcome = (WorkerState.ERRORED, exc)

    def _flush_progress(self) -> None:
        """Timer tick (UI thread): the latest progress if it changed, then every partial
        result queued since the last tick, in order."""
        latest = self.latest_progress()
        if latest is not None and latest != self._shown:
            self._shown = latest
            self.progress.emit(*latest)
        with self._lock:
            partial, self._partial = self._partial, []
        for item in partial:
            self.yielded.emit(item)

    def _conclude(self) -> None:
        """Emit the outcome and ``finished`` (UI thread, after the job thread ended)."""
        self._timer.stop()
        self._flush_progress()
        if self._thread is not None:          # finished was emitted; let run() fully return
            self._thread.wait()
        self.state, value = self._outcome
        self.kwargs = {}                      # the job's inputs (a model, a song) go now
        try:
            if self.state is WorkerState.RETURNED:
                self.returned.emit(value)
            elif self.state is WorkerState.ABORTED:
                self.aborted.emit()
            elif self.receivers(SIGNAL("errored(PyObject)")) > 0:
                self.errored.emit(value)
            else:
                log.error("unhandled error in a background job (%s)", self.name, exc_info=value)
                raise value
        finally:
            self._outcome = (self.state, None)  # delivered: the worker keeps no result
            del value
            self.finished.emit()

    @property
    def name(self) -> str:
        fn = self.fn or type(self)
        return getattr(fn, "__qualname__", None) or repr(fn)
