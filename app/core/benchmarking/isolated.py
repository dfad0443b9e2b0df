""":func:`benchmark_isolated`: :func:`benchmark_model` in a process of its own.

The app's own process is a poor place to time a model: its UI thread paints charts in
Python while the benchmark runs, and the two take turns on the interpreter lock, which
slows PyTorch's Python-level glue by however long a paint takes, and the UI's paints by
however long the model holds the lock. A spawned child process has neither problem: the
caller's thread only waits on a queue (no lock held) and passes the child's progress,
samples and result on. Cancel sets an event the child checks between runs. Variants built
by a ``loader`` or given as a ready ``backend`` cannot cross a process boundary; with such a
variant the benchmark runs in this process instead.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import queue as queue_mod
from typing import Any, Optional

from ..jobs import Cancelled, CancelToken, ProgressFn, UserError, ensure_token, no_progress
from .runner import (BenchmarkRun, BenchmarkSettings, Sample, SampleFn, as_variant_list,
                     benchmark_model)
from .variants import preflight

POLL_SECONDS = 0.05
EXIT_GRACE_SECONDS = 0.3


class _EventToken(CancelToken):
    """A cancel token over a multiprocessing event (set by the parent)."""

    def __init__(self, event) -> None:
        super().__init__()
        self._mp_event = event

    @property
    def cancelled(self) -> bool:
        return self._mp_event.is_set()

    def check(self) -> None:
        if self._mp_event.is_set():
            raise Cancelled()


def _child(items, settings, command, out, stop) -> None:
    """The child process: run the benchmark, report everything through ``out``."""
    try:
        run = benchmark_model(items, settings, command=command, cancel=_EventToken(stop),
                              progress=lambda f, m: out.put(("progress", f, m)),
                              on_sample=lambda s: out.put(("sample", tuple(s))))
        out.put(("result", run))
    except Cancelled:
        out.put(("cancelled",))
    except UserError as exc:
        out.put(("error", "UserError", str(exc)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
        out.put(("error", type(exc).__name__, str(exc)))


def _portable(items) -> bool:
    return all(i.loader is None and i.backend is None for i in items)


def benchmark_isolated(variants: Any, settings: Optional[BenchmarkSettings] = None, *,
                       progress: Optional[ProgressFn] = None,
                       cancel: Optional[CancelToken] = None,
                       on_sample: Optional[SampleFn] = None, command: str = "",
                       **overrides: Any) -> BenchmarkRun:
    """Like :func:`benchmark_model` (same arguments and result), run in a child process."""
    progress, cancel = progress or no_progress, ensure_token(cancel)
    settings = dataclasses.replace(settings or BenchmarkSettings(), **overrides)
    settings.validate()
    items = as_variant_list(variants)
    if not _portable(items):
        return benchmark_model(items, settings, progress=progress, cancel=cancel,
                               on_sample=on_sample, command=command)
    preflight(items)                 # a wrong file fails at once, before a process starts
    ctx = multiprocessing.get_context("spawn")
    out, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=_child, args=(items, settings, command, out, stop), daemon=True,
                       name="tfswa-benchmark")
    progress(0.0, "starting the benchmark process")
    proc.start()
    try:
        return _relay(proc, out, stop, progress, cancel, on_sample)
    finally:
        # The child has sent its last word (its temporary folders and memory-measuring
        # children are gone by then); a busy machine can take seconds to tear down an
        # interpreter with torch loaded, which Cancel should not wait for.
        stop.set()
        proc.join(timeout=EXIT_GRACE_SECONDS)
        if proc.is_alive():
            proc.kill()
            proc.join()


def _relay(proc, out, stop, progress: ProgressFn, cancel: CancelToken,
           on_sample: Optional[SampleFn]) -> BenchmarkRun:
    while True:
        if cancel.cancelled:
            stop.set()
        try:
            message = out.get(timeout=POLL_SECONDS)
        except queue_mod.Empty:
            if not proc.is_alive():
                raise UserError(f"the benchmark process ended unexpectedly (exit code "
                                f"{proc.exitcode})") from None
            continue
        kind = message[0]
        if kind == "progress":
            progress(message[1], message[2])
        elif kind == "sample":
            if on_sample is not None:
                on_sample(Sample(*message[1]))
        elif kind == "result":
            return message[1]
        elif kind == "cancelled":
            raise Cancelled()
        else:
            _, name, text = message
            raise UserError(text if name == "UserError" else f"{name}: {text}")
