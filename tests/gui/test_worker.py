"""The generic QThread worker: signal order, throttled progress, errors, cancellation."""

from __future__ import annotations

import threading
import time

import pytest

from app.core.jobs import UserError
from app.gui.worker import Worker, WorkerState, accepted_keywords


def count_to(n, *, step_s=0.0, progress, cancel):
    """A job in the core contract: reports progress, checks the token every step."""
    for i in range(n):
        cancel.check()
        if step_s:
            time.sleep(step_s)
        progress((i + 1) / n, f"step {i + 1}/{n}")
    return {"counted": n, "thread": threading.get_ident()}


def fail(*, progress, cancel, message="broken.wav: cannot be read"):
    progress(0.5, "half way")
    raise UserError(message)


def test_run_sync_emits_the_same_sequence_in_the_calling_thread(qtbot):
    worker = Worker(count_to, n=3)
    order = []
    for name in ("started", "progress", "returned", "finished"):
        getattr(worker, name).connect(lambda *a, name=name: order.append((name, a)))
    result = worker.run_sync()
    assert [o[0] for o in order] == ["started", "progress", "returned", "finished"]
    assert order[1][1] == (1.0, "step 3/3")
    assert result["thread"] == threading.get_ident()
    assert worker.state is WorkerState.RETURNED


def test_signals_arrive_in_strict_order_and_the_job_runs_off_the_ui_thread(qtbot):
    worker = Worker(count_to, n=2, step_s=0.02)   # shorter than one progress tick
    results = []
    worker.returned.connect(results.append)
    with qtbot.waitSignals([worker.started, worker.progress, worker.returned, worker.finished],
                           order="strict", timeout=5000):
        worker.start()
    assert results[0]["counted"] == 2
    assert results[0]["thread"] != threading.get_ident()
    assert worker.state is WorkerState.RETURNED
    assert worker.result is None and worker.kwargs == {}    # handed over, not kept


def squares(n, *, cancel, step_s=0.0):
    """A generator job: each square is a partial result; the sum is the result."""
    total = 0
    for i in range(n):
        if step_s:
            time.sleep(step_s)
        total += i * i
        yield i * i
    return total


def test_a_generator_yields_each_partial_result_in_strict_order_then_returns(qtbot):
    worker = Worker(squares, n=3)
    got = []
    worker.yielded.connect(got.append)
    results = []
    worker.returned.connect(results.append)
    with qtbot.waitSignals([worker.started, worker.yielded, worker.yielded, worker.yielded,
                            worker.returned, worker.finished], order="strict", timeout=5000):
        worker.start()
    assert got == [0, 1, 4] and results == [5]


def test_run_sync_delivers_partial_results_before_the_result(qtbot):
    order = []
    worker = Worker(squares, n=4)
    for name in ("started", "yielded", "returned", "finished"):
        getattr(worker, name).connect(lambda *a, name=name: order.append((name, *a)))
    assert worker.run_sync() == 14
    assert order == [("started",), ("yielded", 0), ("yielded", 1), ("yielded", 4),
                     ("yielded", 9), ("returned", 14), ("finished",)]


def test_a_job_with_a_yielded_callback_hands_results_over_from_its_thread(qtbot):
    def measure(*, yielded, progress):
        for mode in ("baseline", "checkpointing"):
            yielded((mode, threading.get_ident()))
            progress(0.5, mode)
        return "plan"

    worker = Worker(measure)
    got = []
    worker.yielded.connect(got.append)
    with qtbot.waitSignals([worker.started, worker.yielded, worker.yielded, worker.returned,
                            worker.finished], order="strict", timeout=5000):
        worker.start()
    assert [mode for mode, _ in got] == ["baseline", "checkpointing"]
    assert all(thread != threading.get_ident() for _, thread in got)


def test_partial_results_come_in_timer_batches_and_none_is_lost(qtbot):
    from PySide6.QtCore import QTimer

    worker = Worker(squares, n=20_000)
    got, batches = [], []

    def arrived(value):
        if not batches or batches[-1] is None:     # the first of a batch: count it, and
            batches.append(len(got))               # mark where the event loop runs again
            QTimer.singleShot(0, lambda: batches.append(None))
        got.append(value)

    worker.yielded.connect(arrived)
    with qtbot.waitSignal(worker.finished, timeout=20_000):
        worker.start()
    assert got == [i * i for i in range(20_000)]
    starts = [b for b in batches if b is not None]
    assert 1 <= len(starts) < 100          # 20,000 results, a handful of UI wake-ups


def test_cancel_stops_a_generator_between_yields_after_what_it_gave(qtbot):
    worker = Worker(squares, n=1_000_000, step_s=0.005)
    got = []
    worker.yielded.connect(got.append)
    with qtbot.waitSignal(worker.yielded, timeout=5000):
        worker.start()
    with qtbot.waitSignals([worker.aborted, worker.finished], order="strict", timeout=3000):
        worker.cancel()
    assert got == [i * i for i in range(len(got))] and 0 < len(got) < 1_000_000
    assert worker.state is WorkerState.ABORTED


def test_progress_is_throttled_by_the_timer_not_per_callback(qtbot):
    worker = Worker(count_to, n=20_000)
    emitted = []
    worker.progress.connect(lambda f, m: emitted.append(f))
    with qtbot.waitSignal(worker.finished, timeout=10_000):
        worker.start()
    assert 1 <= len(emitted) < 100       # 20,000 callbacks, a handful of UI updates
    assert emitted[-1] == 1.0            # the final value is always shown


def test_errors_reach_errored_with_the_exception(qtbot):
    worker = Worker(fail)
    errors = []
    worker.errored.connect(errors.append)
    with qtbot.waitSignals([worker.started, worker.progress, worker.errored, worker.finished],
                           order="strict", timeout=5000):
        worker.start()
    error = errors[0]
    assert isinstance(error, UserError) and "broken.wav" in str(error)
    assert worker.state is WorkerState.ERRORED


def test_an_error_nobody_listens_to_is_raised_not_swallowed(qtbot):
    worker = Worker(fail, message="nobody listens")
    finished = []
    worker.finished.connect(lambda: finished.append(True))
    with pytest.raises(UserError, match="nobody listens"):
        worker.run_sync()
    assert finished == [True]


def test_an_unheard_error_in_a_thread_reaches_the_exception_hook(qtbot):
    worker = Worker(fail, message="unheard in a thread")
    with qtbot.captureExceptions() as exceptions:
        with qtbot.waitSignal(worker.finished, timeout=5000):
            worker.start()
    assert any("unheard in a thread" in str(e[1]) for e in exceptions)


def test_cancel_aborts_within_a_step(qtbot):
    worker = Worker(count_to, n=10_000, step_s=0.01)
    aborted = []
    worker.aborted.connect(lambda: aborted.append(time.perf_counter()))
    with qtbot.waitSignal(worker.progress, timeout=5000):
        worker.start()
    clicked = time.perf_counter()
    with qtbot.waitSignals([worker.aborted, worker.finished], order="strict", timeout=3000):
        worker.cancel()
    assert aborted[0] - clicked < 1.0
    assert worker.state is WorkerState.ABORTED and worker.result is None


def test_plain_functions_get_only_the_keywords_they_take(qtbot):
    def plain(path):
        return f"loaded {path}"

    assert accepted_keywords(plain) == set()
    assert accepted_keywords(count_to) == {"progress", "cancel"}
    assert accepted_keywords(squares) == {"cancel"}
    assert Worker(plain, path="x.pt").run_sync() == "loaded x.pt"


def test_subclasses_override_work_and_a_worker_runs_once(qtbot):
    class Doubler(Worker):
        def work(self, progress, cancel):
            progress(1.0, "doubled")
            return self.kwargs["x"] * 2

    worker = Doubler(x=21)
    assert worker.run_sync() == 42
    with pytest.raises(RuntimeError):
        worker.run_sync()
    with pytest.raises(TypeError, match="override work"):
        class Wrong(Worker):
            def run(self):
                pass


def test_garbage_is_collected_on_the_ui_thread_only(qtbot):
    import gc

    from app.gui.collector import MainThreadCollector

    gc.enable()                   # as in the app before it starts (the GUI tests disable it)
    collector = MainThreadCollector(interval_ms=10)
    try:
        assert not gc.isenabled()
        for _ in range(3000):                  # cycles enough to pass the gen-0 threshold
            a = []
            a.append(a)
        qtbot.waitUntil(lambda: collector.collections > 0, timeout=2000)
        assert gc.get_count()[0] < collector.thresholds[0]
    finally:
        collector.stop()
    assert gc.isenabled()
