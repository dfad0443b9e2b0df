"""Generating many songs: each in its own worker process, all following the job contract.

Songs are independent, so ``generate_songs`` renders ``jobs`` of them at a time in spawned
worker processes (spawn, not fork: the GUI calls this from a thread). Cancel is passed to the
workers through a shared event that they check between stages and while FluidSynth runs;
an interrupted song leaves no track folder. With one job everything runs in this process.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from ..jobs import Cancelled, CancelToken, ProgressFn, UserError, ensure_token, no_progress
from .song import SAMPLE_RATE, render_song
from .splits import RenderSetup, resolve
from .writer import FORMATS, check_free, remove_partials, track_name, write_track


@dataclass
class TrackResult:
    name: str
    seed: int
    path: Path
    duration_s: float
    renderer: str
    soundfont: str | None
    voice: str
    elapsed_s: float
    files: dict[str, Path] = field(default_factory=dict)


@dataclass
class SongsResult:
    out: Path
    tracks: list[TrackResult]
    renderer: str
    soundfont: str | None
    voices: tuple[str, ...]
    jobs: int
    elapsed_s: float
    warnings: list[str] = field(default_factory=list)

    @property
    def audio_seconds(self) -> float:
        return sum(t.duration_s for t in self.tracks)

    @property
    def speed(self) -> float:
        """Seconds of songs made per second of wall time."""
        return self.audio_seconds / self.elapsed_s if self.elapsed_s > 0 else 0.0


class EventToken:
    """A cancel token over a multiprocessing event (what a worker process can see)."""

    def __init__(self, event) -> None:
        self.event = event

    def check(self) -> None:
        if self.event.is_set():
            raise Cancelled()


_worker_event = None


def _init_worker(event) -> None:
    global _worker_event
    _worker_event = event


def make_track(seed: int, out: Path, setup: RenderSetup, duration: float, overwrite: bool,
               cancel=None, progress: ProgressFn | None = None, fmt: str = "wav") -> TrackResult:
    """Render song ``seed`` and write it to ``out/song-{seed}``."""
    cancel = cancel if cancel is not None else EventToken(_worker_event) if _worker_event else None
    start = time.perf_counter()
    folder = Path(out) / track_name(seed)
    check_free(folder, overwrite)
    song = render_song(seed, setup, duration, SAMPLE_RATE, cancel=cancel, progress=progress)
    files = write_track(song, folder, overwrite, cancel, fmt)
    return TrackResult(folder.name, seed, folder, duration, song.renderer, song.soundfont,
                       song.voice, time.perf_counter() - start, files)


def generate_songs(out: Path | str, count: int = 1, seed: int = 0, duration: float = 30.0,
                   split: str = "train", soundfont: Path | str | None = None,
                   voices: tuple[str, ...] | None = None, fallback: bool = False,
                   jobs: int | None = None, overwrite: bool = False, fmt: str = "wav",
                   progress: ProgressFn | None = None,
                   cancel: CancelToken | None = None) -> SongsResult:
    """Songs ``seed`` .. ``seed + count - 1`` as MUSDB18-style folders under ``out``."""
    out, progress, cancel = Path(out), progress or no_progress, ensure_token(cancel)
    if count < 1:
        raise UserError("--count must be at least 1")
    if not 1.0 <= duration <= 600.0:
        raise UserError("--duration must be between 1 and 600 seconds")
    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}")
    seeds = [seed + i for i in range(count)]
    for s in seeds:
        check_free(out / track_name(s), overwrite)
    setup = resolve(split, soundfont, voices, fallback)
    jobs = max(1, min(count, jobs or os.cpu_count() or 1))
    start = time.perf_counter()
    progress(0.0, f"rendering {count} song(s) with {setup.label}")
    if jobs == 1:
        tracks = _serial(seeds, out, setup, duration, overwrite, fmt, progress, cancel)
    else:
        tracks = _parallel(seeds, out, setup, duration, overwrite, fmt, jobs, progress, cancel)
    warnings = [setup.warning] if setup.warning else []
    return SongsResult(out, tracks, setup.label, str(setup.soundfont) if setup.soundfont else None,
                       setup.voices, jobs, time.perf_counter() - start, warnings)


def _serial(seeds, out, setup, duration, overwrite, fmt, progress, cancel) -> list[TrackResult]:
    tracks = []
    for i, s in enumerate(seeds):
        cancel.check()
        sub = lambda f, m="", i=i, s=s: progress((i + f) / len(seeds), f"{track_name(s)} {m}")
        tracks.append(make_track(s, out, setup, duration, overwrite, cancel, sub, fmt))
    progress(1.0, "done")
    return tracks


def _parallel(seeds, out, setup, duration, overwrite, fmt, jobs, progress,
              cancel) -> list[TrackResult]:
    ctx = mp.get_context("spawn")
    event = ctx.Event()
    done: dict[int, TrackResult] = {}
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker,
                             initargs=(event,)) as pool:
        futures: dict[Future, int] = {
            pool.submit(make_track, s, out, setup, duration, overwrite, None, None, fmt): s
            for s in seeds}
        pending = set(futures)
        try:
            while pending:
                finished, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                for fut in finished:
                    try:
                        done[futures[fut]] = fut.result()
                    except BrokenProcessPool as exc:
                        raise UserError("a song worker process died",
                                        hint="Run again with --jobs 1 to see why.") from exc
                    progress(len(done) / len(seeds), f"{track_name(futures[fut])} done")
                cancel.check()
        except BaseException:
            event.set()
            for fut in pending:
                fut.cancel()
            wait(pending, timeout=30)
            remove_partials(out)
            raise
    return [done[s] for s in seeds]
