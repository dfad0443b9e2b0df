"""An app left open all day holds no dead jobs: a finished job keeps only its row's text,
and what it computed (a loaded model, a model's description) goes to whoever asked for it."""

from __future__ import annotations

import ctypes
import gc
import sys
import weakref

import psutil
import pytest

from app.gui.jobs import JobManager, JobState


def settle(qtbot) -> int:
    """Let deferred deletions run, collect (the app collects on the UI thread too), hand freed
    heap pages back to the system where the C library can, and return the resident bytes."""
    from PySide6.QtCore import QCoreApplication, QEvent

    for _ in range(3):
        qtbot.wait(20)
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        gc.collect()
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return psutil.Process().memory_info().rss


def test_a_finished_job_keeps_neither_its_worker_nor_its_result(qtbot, loaded):
    jobs = loaded.jobs
    assert jobs.jobs == []                       # only running jobs are listed
    rows = list(loaded.dock.rows)
    assert rows and all(job.worker is None and not job.running for job in rows)
    assert all(job.state is JobState.DONE for job in rows)
    assert loaded.dock.row_for(rows[-1]).bar.format().startswith("Done in")


class Payload:
    """Stands for a loaded model or a song's display data: something big a job touches."""


def make_payload(source: Payload) -> Payload:
    return Payload()


class BrokenInput(ValueError):
    """An error a job raises (a subclass: built-in exceptions cannot be weakly referenced)."""


def fail_with(source: Payload) -> Payload:
    raise BrokenInput("broken input")      # its traceback's frames hold ``source``


@pytest.mark.parametrize("fn", [make_payload, fail_with])
def test_neither_the_arguments_nor_the_outcome_outlive_the_handlers(qtbot, wait_job, fn):
    jobs = JobManager()
    source = Payload()
    watched = [weakref.ref(source)]
    job = jobs.run("job", fn, {"source": source},
                   on_result=lambda result: watched.append(weakref.ref(result)),
                   on_error=lambda error: watched.append(weakref.ref(error)))
    del source
    wait_job(job)
    settle(qtbot)
    assert len(watched) == 2                      # the handler saw the outcome...
    assert [ref() for ref in watched] == [None, None]      # ...and nothing else keeps it
    assert job.worker is None and jobs.jobs == []
    assert job.state is (JobState.DONE if fn is make_payload else JobState.FAILED)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_opening_twenty_medium_checkpoints_does_not_keep_them(qtbot, window, tmp_path, wait_job,
                                                              torch_one_thread):
    """Each medium checkpoint is about 62 MB of weights; opening 20 one after another in the
    real window (each loaded, described by the Model tab, seen by every tab) must leave the
    process's resident memory within two checkpoints of what it was after the first two."""
    from app.core.checkpoint import init_bundle, save_bundle
    from app.gui.collector import MainThreadCollector

    collector = MainThreadCollector()     # as in the app: garbage collected on the UI thread
    try:
        run_twenty(qtbot, window, tmp_path, wait_job, init_bundle, save_bundle)
    finally:
        collector.stop()


def run_twenty(qtbot, window, tmp_path, wait_job, init_bundle, save_bundle) -> None:
    bundle = init_bundle("medium", seed=0)
    paths = [save_bundle(bundle, tmp_path / f"medium-{i:02d}.pt") for i in range(20)]
    size = paths[0].stat().st_size
    del bundle
    model_tab = window.tab("Model")

    def open_one(path) -> None:
        wait_job(window.open_checkpoint(path), timeout=300_000)
        qtbot.waitUntil(lambda: model_tab.info is not None and model_tab.info.path == path,
                        timeout=300_000)

    for path in paths[:2]:
        open_one(path)
    before = settle(qtbot)
    for path in paths[2:]:
        open_one(path)
    growth = settle(qtbot) - before
    print(f"resident memory grew {growth / 2**20:.0f} MiB over 18 checkpoints")
    assert window.workspace.bundle.path == paths[-1]
    assert window.jobs.jobs == []
    assert growth < 2 * size, f"resident memory grew {growth / 2**20:.0f} MiB over 18 " \
                              f"checkpoints of {size / 2**20:.0f} MiB"
