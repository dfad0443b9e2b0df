"""Timing variants side by side: :func:`benchmark_model`.

Every variant is loaded, warmed up and then timed **interleaved**: round after round, each
variant runs once in turn, so a machine that gets busier or calmer during the benchmark
affects all of them alike and their ratios stay fair. A run is one batch of segments through
the network (segment mode) or one whole song read, transformed, separated, transformed back
and written (song mode, :func:`app.core.separation.separate_file`). Several thread counts or
segment lengths make a sweep: each combination is one interleaved block.

Each timed run is also handed to ``on_sample`` (any thread may call it; the Benchmark tab
queues them for its live chart). Cancel is checked before every run.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Optional, Sequence

import numpy as np

from ..backends import default_threads
from ..jobs import CancelToken, ProgressFn, UserError, ensure_token, no_progress
from ..separation import OverlapAdd, SeparationOptions, separate_file
from .machine import MachineInfo, describe_machine, load_average
from .memory import measure_peak_memory
from .profile import OperatorProfile, onnx_operator_profile
from .stats import SETTLED_PCT, LatencyStats, latency_stats
from .variants import BenchmarkVariant, OpenedVariant, as_variant, open_variant, preflight
from .cuda import torch_loaded

MAX_RUNS = 100_000
MAX_BATCH = 64


class Sample(NamedTuple):
    """One timed run, as delivered to ``on_sample``."""
    index: int          # the result it belongs to (position in BenchmarkRun.results)
    label: str
    run: int            # 0-based timed run
    ms: float


SampleFn = Callable[[Sample], None]


@dataclass
class BenchmarkSettings:
    runs: int = 20
    warmup: int = 3
    threads: tuple[int, ...] = ()      # CPU threads; several make a sweep; () = all cores
    segments: tuple[float, ...] = ()   # seconds per segment; () = the model's (3 s)
    batch: int = 1
    song: Optional[Path] = None        # time whole songs end to end instead of segments
    profile: bool = False              # ONNX Runtime's operator profile for ONNX variants
    memory: bool = True                # peak RSS per variant, in a child process
    seed: int = 0

    def validate(self) -> None:
        if not 1 <= self.runs <= MAX_RUNS:
            raise UserError(f"runs {self.runs} is out of range (1 .. {MAX_RUNS})")
        if not 0 <= self.warmup <= 1000:
            raise UserError(f"warm-up {self.warmup} is out of range (0 .. 1000)")
        if not 1 <= self.batch <= MAX_BATCH:
            raise UserError(f"batch {self.batch} is out of range (1 .. {MAX_BATCH})")
        for t in self.threads:
            if not 1 <= t <= 1024:
                raise UserError(f"threads {t} is out of range (1 .. 1024)")
        for s in self.segments:
            if not 0.05 <= s <= 600:
                raise UserError(f"segment {s} s is out of range (0.05 .. 600 s)")
        if self.song is not None and not Path(self.song).is_file():
            raise UserError("does not exist", self.song)

    @property
    def thread_counts(self) -> tuple[int, ...]:
        return tuple(self.threads) or (default_threads(),)

    @property
    def mode(self) -> str:
        return "song" if self.song is not None else "segment"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


def figures_sdr(figures: dict[str, Any]) -> Optional[float]:
    """The SDR in a variant's figures (what the Quantize tab measured on songs with true
    stems), averaged over the stems, in dB; ``None`` when there is none. The Quantize tab
    stores ``sdr`` as ``{stem: dB}``; a single number under a key with "sdr" in it counts
    too. Changes and budgets (``sdr_delta``, ``sdr_budget_db``) are not an SDR."""
    keys = sorted((k for k in figures if "sdr" in k.lower()
                   and not any(w in k.lower() for w in ("delta", "budget", "change"))),
                  key=lambda k: k.lower() != "sdr")
    for key in keys:
        value = figures[key]
        if _number(value):
            return float(value)
        if isinstance(value, dict):
            stems = [float(v) for v in value.values() if _number(v)]
            if stems:
                return sum(stems) / len(stems)
    return None


@dataclass
class VariantResult:
    label: str                 # unique in the run: name, plus threads/segment in a sweep
    name: str
    kind: str
    precision: str
    provider: str
    path: Optional[str]
    file_size: Optional[int]
    threads: int
    batch: int
    segment_s: float
    input_shape: list[int]
    mode: str
    load_seconds: float
    latency: LatencyStats
    samples_ms: list[float]
    throughput: float          # segments per second at p50
    x_realtime: float          # seconds of audio per second of compute at p50
    metadata: dict[str, str] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    load_rss_bytes: Optional[int] = None
    peak_rss_bytes: Optional[int] = None
    peak_rss_above_baseline: Optional[int] = None
    speedup: Optional[float] = None     # eager PyTorch's p50 over this p50, same settings
    profile: Optional[OperatorProfile] = None
    notes: list[str] = field(default_factory=list)
    device: str = "cpu"        # where it ran: "cpu", "cuda:0"

    @property
    def sdr(self) -> Optional[float]:
        """The SDR measured for this variant elsewhere (the Quantize tab), if any: the mean
        over its stems."""
        return figures_sdr(self.figures)


@dataclass
class BenchmarkRun:
    results: list[VariantResult]
    machine: MachineInfo
    settings: BenchmarkSettings
    order: list[str]           # one round of the interleaved schedule
    started: str
    seconds: float
    command: str = ""
    notes: list[str] = field(default_factory=list)
    claims: dict[str, dict[str, float]] = field(default_factory=dict)   # label -> figures

    def result(self, label: str) -> VariantResult:
        for r in self.results:
            if r.label == label:
                return r
        raise KeyError(label)


# ----------------------------------------------------------------------------- helpers

def test_input(shape: Sequence[int], seed: int = 0) -> np.ndarray:
    """Magnitudes like a mixture's: non-negative, a few large values."""
    rng = np.random.default_rng(seed)
    return np.abs(rng.standard_normal(tuple(shape))).astype(np.float32)


def input_shape(opened: OpenedVariant, batch: int, segment_s: float) -> list[int]:
    audio = opened.backend.audio
    frames = audio.frames_for(int(round(segment_s * audio.sample_rate)))
    shape = [batch, audio.channels, audio.n_bins, frames]
    for axis, dim in opened.fixed_dims.items():
        shape[axis] = dim
    return shape


def fixed_segment_s(opened: OpenedVariant) -> Optional[float]:
    """The one segment length (seconds) a fixed-shape file takes, or None."""
    frames = opened.fixed_dims.get(3)
    return None if frames is None else opened.backend.audio.seconds_for(frames)


def segment_text(seconds: float, fixed: bool = False) -> str:
    return f"{seconds:.3g} s" if fixed else f"{seconds:g} s"


def fixed_shape_note(opened: OpenedVariant, label: str, settings: BenchmarkSettings,
                     segments: Sequence[float]) -> Optional[str]:
    """Said once when a fixed-shape file cannot follow the segment or batch settings."""
    seconds = fixed_segment_s(opened)
    batch = opened.fixed_dims.get(0)
    if seconds is None and batch is None:
        return None
    off_segment = seconds is not None and any(abs(s - seconds) > 0.01 for s in segments)
    off_batch = batch is not None and batch != settings.batch
    if not (off_segment or off_batch):
        return None
    takes = [f"batch {batch}"] if batch is not None else []
    if seconds is not None:
        takes.append(f"{segment_text(seconds, True)} segments")
    return (f"{label} was exported for one input shape ({', '.join(takes)}): it is timed at "
            f"that shape whatever the segment and batch settings")


def unique_labels(opened: Sequence[OpenedVariant]) -> list[str]:
    """The backends' names, told apart by file name, or "#2" for the same file twice."""
    names = [o.backend.name for o in opened]
    labels = []
    for i, o in enumerate(opened):
        name = names[i]
        same_name = [p for p in opened if p.backend.name == name]
        if len(same_name) > 1 and len({str(p.backend.path) for p in same_name}) > 1 \
                and not o.variant.name:
            name = f"{name} ({Path(o.backend.path).name if o.backend.path else i + 1})"
        count = labels.count(name) + sum(1 for lab in labels if lab.startswith(f"{name} #"))
        labels.append(name if count == 0 else f"{name} #{count + 1}")
    return labels


@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    if torch_loaded():
        from ..backends import torch_threads

        with torch_threads(threads):
            yield
    else:
        yield


def _close(opened: Sequence[OpenedVariant]) -> None:
    for o in opened:
        if o.variant.backend is None:       # never close a backend the caller owns
            o.backend.close()


# ----------------------------------------------------------------------------- one block

class _Block:
    """The loaded variants at one thread count and one segment length, timed interleaved."""

    def __init__(self, opened: Sequence[OpenedVariant], labels: Sequence[str], threads: int,
                 segment: float, settings: BenchmarkSettings, out_dir: Path):
        self.opened, self.labels = list(opened), list(labels)
        self.threads, self.segment, self.settings = threads, segment, settings
        self.out_dir = out_dir
        # a fixed-shape file runs its one segment length, whatever ``segment`` says
        self.segments = [fixed_segment_s(o) or segment for o in opened]
        self.shapes = [input_shape(o, settings.batch, segment) for o in opened]
        cache: dict[tuple, np.ndarray] = {}
        self.inputs = [cache.setdefault(tuple(s), test_input(s, settings.seed)) for s in self.shapes]
        self.times: list[list[float]] = [[] for _ in opened]
        self.song_seconds: Optional[float] = None
        self.song_segments: dict[int, int] = {}

    def run_once(self, i: int, cancel: CancelToken) -> float:
        backend = self.opened[i].backend
        if self.settings.song is None:
            backend.synchronize()       # a GPU starts idle: nothing queued is timed with it
            start = time.perf_counter()
            backend.run(self.inputs[i])
            backend.synchronize()       # and what it queued is (run returns host arrays)
            return time.perf_counter() - start
        options = SeparationOptions(segment=self.segments[i])
        start = time.perf_counter()
        result = separate_file(self.settings.song, backend, self.out_dir / f"v{i}", options,
                               overwrite=True, cancel=cancel)
        elapsed = time.perf_counter() - start
        if self.song_seconds is None:
            self.song_seconds = result.duration_s
        if i not in self.song_segments:
            samples = int(round(result.duration_s * backend.audio.sample_rate))
            self.song_segments[i] = OverlapAdd(backend, options).segments_for(samples)
        return elapsed

    def result(self, i: int, label: str) -> VariantResult:
        o, shape = self.opened[i], self.shapes[i]
        backend, stats = o.backend, latency_stats(self.times[i])
        p50_s = stats.p50 / 1000.0
        if self.settings.song is None:
            seconds = shape[0] * self.segments[i]
            segments = shape[0]
        else:
            seconds, segments = self.song_seconds or 0.0, self.song_segments.get(i, 0)
        return VariantResult(
            label=label, name=backend.name, kind=backend.kind, precision=backend.precision,
            provider=backend.provider, path=str(backend.path) if backend.path else None,
            file_size=backend.file_size, threads=self.threads, batch=shape[0],
            segment_s=self.segments[i], input_shape=shape, mode=self.settings.mode,
            load_seconds=o.load_seconds, latency=stats,
            samples_ms=[t * 1000.0 for t in self.times[i]],
            throughput=segments / p50_s if p50_s > 0 else 0.0,
            x_realtime=seconds / p50_s if p50_s > 0 else 0.0,
            metadata=dict(o.metadata), figures=dict(o.variant.figures), notes=list(o.notes),
            device=getattr(backend, "device", "cpu"))


def _time_block(block: _Block, machine: MachineInfo, first_index: int, order: list[str],
                step: Callable[[str], None], cancel: CancelToken,
                on_sample: Optional[SampleFn]) -> None:
    """Warm-up rounds, then timed rounds; in each round every variant runs once, in turn."""
    settings = block.settings
    for rnd in range(settings.warmup + settings.runs):
        timed = rnd >= settings.warmup
        for i, label in enumerate(block.labels):
            cancel.check()
            seconds = block.run_once(i, cancel)
            if timed:
                block.times[i].append(seconds)
                if on_sample is not None:
                    on_sample(Sample(first_index + i, label, len(block.times[i]) - 1,
                                     seconds * 1000.0))
                if not order or len(order) < len(block.labels):
                    order.append(label)
            what = f"run {rnd - settings.warmup + 1}/{settings.runs}" if timed \
                else f"warm-up {rnd + 1}/{settings.warmup}"
            step(f"{what}: {label} {seconds * 1000:.1f} ms")
        now = time.monotonic()
        if now - getattr(block, "load_read_at", 0.0) >= 1.0:    # the kernel updates it every 5 s
            block.load_read_at = now
            load = load_average()
            if load is not None:
                machine.load_during.append(load)


def _extras(block: _Block, results: Sequence[VariantResult], step: Callable[[str], None],
            cancel: CancelToken) -> None:
    """Per-variant peak memory (child process) and ONNX Runtime's operator profile."""
    settings = block.settings
    for o, r, shape in zip(block.opened, results, block.shapes):
        own_file = o.variant.backend is None and o.variant.loader is None and o.variant.path
        if settings.memory and own_file:
            step(f"memory: {r.label}")
            mem = measure_peak_memory(Path(o.variant.path), shape, block.threads,
                                      o.variant.device, o.variant.trust_torchscript,
                                      precision=o.variant.precision, cancel=cancel)
            r.peak_rss_bytes = mem.peak_bytes
            r.peak_rss_above_baseline = mem.model_and_run_bytes
        if settings.profile and r.kind == "onnx" and r.path and settings.song is None:
            step(f"profile: {r.label}")
            r.profile = onnx_operator_profile(r.path, block.inputs[block.opened.index(o)],
                                              block.threads, runs=min(settings.runs, 10),
                                              cancel=cancel)


def _rss() -> Optional[int]:
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except Exception:  # noqa: BLE001 - memory figures are optional
        return None


def _open_all(items: Sequence[BenchmarkVariant], threads: int, step: Callable[[str], None],
              cancel: CancelToken) -> tuple[list[OpenedVariant], list[Optional[int]]]:
    opened, rss = [], []
    try:
        for item in items:
            cancel.check()
            step(f"loading {item.label} ({threads} threads)")
            before = _rss()
            opened.append(open_variant(item, threads))
            after = _rss()
            rss.append(after - before if before is not None and after is not None else None)
    except BaseException:
        _close(opened)
        raise
    return opened, rss


def add_speedups(results: Sequence[VariantResult]) -> None:
    """Speed-up against eager PyTorch on the CPU with the same threads and segment."""
    for r in results:
        base = next((b for b in results if b.kind == "pytorch" and b.provider == "torch-cpu"
                     and b.threads == r.threads and b.segment_s == r.segment_s), None)
        r.speedup = base.latency.p50 / r.latency.p50 if base and r.latency.p50 > 0 else None


def precision_notes(results: Sequence[VariantResult]) -> list[str]:
    """What the run can and cannot tell apart: each variant whose median is not settled (its
    95 % interval reaches further than :data:`SETTLED_PCT` from it), with about how many runs would settle
    it; and each variant entered more than once, with how far apart its medians came out and
    whether their intervals overlap (if they do not, the machine changed during the run)."""
    notes = []
    loose = [r for r in results if not r.latency.settled]
    if loose:
        reach = ", ".join(
            f"{r.label} " + ("unbounded" if r.latency.p50_uncertainty_pct == float("inf")
                             else f"±{r.latency.p50_uncertainty_pct:.1f} %") for r in loose)
        need = max(r.latency.runs_to_settle(MAX_RUNS) for r in loose)
        notes.append(f"p50 not settled after {loose[0].latency.runs} runs (95 % interval "
                     f"wider than ±{SETTLED_PCT:g} %): {reach}; about {need} runs would settle "
                     + ("it" if len(loose) == 1 else "them"))
    groups: dict[tuple, list[VariantResult]] = {}
    for r in results:
        if r.path:
            key = (r.path, r.kind, r.precision, r.provider, r.device, r.threads, r.segment_s,
                   r.batch)
            groups.setdefault(key, []).append(r)
    for same in groups.values():
        if len(same) < 2:
            continue
        p50s = [r.latency.p50 for r in same]
        apart = 100.0 * (max(p50s) - min(p50s)) / min(p50s) if min(p50s) > 0 else float("nan")
        if any(math.isinf(r.latency.p50_uncertainty_pct) for r in same):
            verdict = "too few runs to tell whether that is the machine or chance"
        elif max(r.latency.p50_low for r in same) <= min(r.latency.p50_high for r in same):
            verdict = "their 95 % intervals overlap"
        else:
            verdict = ("their 95 % intervals do not overlap: the machine's speed changed "
                       "during the run")
        notes.append(f"{same[0].label} entered {len(same)} times: p50 "
                     f"{' and '.join(f'{p:.1f}' for p in p50s)} ms, {apart:.1f} % apart; "
                     f"{verdict}")
    return notes


# ----------------------------------------------------------------------------- the job

def as_variant_list(variants: Any) -> list[BenchmarkVariant]:
    if isinstance(variants, (str, Path)) or not isinstance(variants, Sequence):
        variants = [variants]
    items = [as_variant(v) for v in variants]
    if not items:
        raise UserError("nothing to benchmark: give at least one variant")
    return items


def benchmark_model(variants: Any, settings: Optional[BenchmarkSettings] = None, *,
                    progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
                    on_sample: Optional[SampleFn] = None, command: str = "",
                    **overrides: Any) -> BenchmarkRun:
    """Time one variant or several side by side (see the module doc).

    ``variants``: a model file, a backend, a workspace variant, a :class:`BenchmarkVariant`,
    or a list of them. ``settings`` (or keyword overrides such as ``runs=50``) choose runs,
    warm-up, threads, segment lengths, batch, song, profile and memory. Returns every
    variant's figures with the machine they were measured on.
    """
    import dataclasses

    progress, cancel = progress or no_progress, ensure_token(cancel)
    settings = dataclasses.replace(settings or BenchmarkSettings(), **overrides)
    settings.validate()
    items = as_variant_list(variants)
    preflight(items)
    machine = describe_machine()
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    clock = time.perf_counter()
    n_blocks = len(settings.thread_counts) * max(1, len(settings.segments))
    # steps: loading each variant once per thread count; in each block its rounds, then its
    # memory and profile measurements when asked for
    per_block = settings.warmup + settings.runs + int(settings.memory) + int(settings.profile)
    total = len(settings.thread_counts) * len(items) + n_blocks * len(items) * per_block
    done = 0

    def step(message: str) -> None:
        nonlocal done
        done += 1
        progress(min(done / total, 0.999), message)

    def skip(blocks: int) -> None:
        """Blocks a fixed-shape file sits out leave the count (so the bar ends near 100 %)."""
        nonlocal total
        total = max(done + 1, total - blocks * per_block)

    results: list[VariantResult] = []
    order: list[str] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tfswa-bench-") as tmp:
        for threads in settings.thread_counts:
            with _torch_threads(threads):
                _run_threads(items, threads, settings, Path(tmp), machine, results, order,
                             notes, step, skip, cancel, on_sample, sweep=n_blocks > 1)
    machine.judge_load(max(settings.thread_counts))
    add_speedups(results)
    notes.extend(precision_notes(results))
    progress(1.0, "done")
    return BenchmarkRun(results, machine, settings, order, started,
                        time.perf_counter() - clock, command, notes)


def _run_threads(items, threads: int, settings: BenchmarkSettings, tmp: Path,
                 machine: MachineInfo, results: list, order: list, notes: list,
                 step, skip: Callable[[int], None], cancel: CancelToken, on_sample,
                 sweep: bool) -> None:
    opened, load_rss = _open_all(items, threads, step, cancel)
    try:
        for o in opened:
            notes.extend(n for n in o.notes if n not in notes)
        base_labels = unique_labels(opened)
        segments = settings.segments or (opened[0].backend.audio.segment_seconds,)
        for o, label in zip(opened, base_labels):
            note = fixed_shape_note(o, label, settings, segments)
            if note and note not in notes:
                notes.append(note)
        # a fixed-shape file runs in one block only: the one nearest its own segment length
        home = {i: min(range(len(segments)), key=lambda k: abs(segments[k] - fixed_segment_s(o)))
                for i, o in enumerate(opened) if fixed_segment_s(o) is not None}
        skip(len(home) * (len(segments) - 1))
        for k, segment in enumerate(segments):
            chosen = [i for i in range(len(opened)) if home.get(i, k) == k]
            if not chosen:
                continue
            here = [opened[i] for i in chosen]
            labels = [f"{base_labels[i]} · {threads} thr · "
                      + segment_text(fixed_segment_s(opened[i]) or segment, i in home)
                      if sweep else base_labels[i] for i in chosen]
            block = _Block(here, labels, threads, segment, settings, tmp)
            _time_block(block, machine, len(results), order, step, cancel, on_sample)
            block_results = [block.result(i, label) for i, label in enumerate(labels)]
            for r, i in zip(block_results, chosen):
                r.load_rss_bytes = load_rss[i]
            _extras(block, block_results, step, cancel)
            results.extend(block_results)
    finally:
        _close(opened)
