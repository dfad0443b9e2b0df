"""The job contract shared by the CLI and the GUI.

Every long operation in core is a plain function taking keyword arguments ``progress``
(a callable ``progress(fraction, message)``) and ``cancel`` (a :class:`CancelToken`).
It returns a dataclass result. Failures a person can act on raise :class:`UserError`
with a message that names the file and the problem. The caller (terminal progress bar or
the GUI's worker thread) decides how to show all of this; core never knows which one it is.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

ProgressFn = Callable[[float, str], None]


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour codes (exporters colour their messages)."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def first_line(message: "BaseException | str", limit: int = 300) -> str:
    """The first non-blank line of an exception's (or a tool's) message, without terminal
    colour codes and at most ``limit`` characters: enough to quote in a message for a person.
    An empty message gives the exception's type name (``EOFError``), or "no details"."""
    text = strip_ansi(str(message))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines:
        return lines[0][:limit]
    return type(message).__name__ if isinstance(message, BaseException) else "no details"


class UserError(Exception):
    """A failure the user can act on; ``str(err)`` is written for a person."""

    def __init__(self, message: str, path: Optional[Path | str] = None, hint: str = ""):
        self.path = Path(path) if path is not None else None
        self.message = message
        self.hint = hint
        text = f"{self.path}: {message}" if self.path is not None else message
        if hint:
            text = f"{text}\n{hint}"
        super().__init__(text)


class Cancelled(Exception):
    """Raised by :meth:`CancelToken.check` once cancellation was requested."""

    def __init__(self, message: str = "Cancelled"):
        super().__init__(message)


class CancelToken:
    """Thread-safe cancellation flag; long loops call :meth:`check` between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled()


def no_progress(fraction: float, message: str = "") -> None:
    """A progress callback that ignores everything."""


def scaled_progress(progress: Optional[ProgressFn], start: float, end: float) -> ProgressFn:
    """Map a sub-task's 0..1 progress onto the range [start, end] of its parent's."""
    parent = progress or no_progress

    def report(fraction: float, message: str = "") -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        parent(start + (end - start) * fraction, message)

    return report


def ensure_token(cancel: Optional[CancelToken]) -> CancelToken:
    return cancel if cancel is not None else CancelToken()


def to_jsonable(value: Any) -> Any:
    """Turn a result dataclass (nested dataclasses, paths, enums, tuples) into JSON types."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        try:
            return value.item()
        except (ValueError, RuntimeError):
            pass
    return value


def format_seconds(seconds: Optional[float], decimals: int = 0) -> str:
    """A duration or a playhead as a clock: ``"3:05"``, ``"1:02:03"``, with ``decimals``
    digits of seconds (``"0:01.2"``); None (unknown) is ``"--:--"``. The terminal's elapsed
    and remaining times, the CLI's summaries and the GUI's player all use it."""
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    scale = 10 ** decimals
    units = int(round(max(seconds, 0.0) * scale))         # whole units of 10^-decimals s
    minutes, rest = divmod(units, 60 * scale)
    hours, minutes = divmod(minutes, 60)
    width = 2 + (decimals + 1 if decimals else 0)
    secs = f"{rest / scale:0{width}.{decimals}f}"
    return f"{hours}:{minutes:02d}:{secs}" if hours else f"{minutes}:{secs}"


class Stopwatch:
    """Elapsed time and a simple remaining-time estimate from a progress fraction."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def remaining(self, fraction: float) -> Optional[float]:
        if fraction <= 1e-6:
            return None
        return self.elapsed * (1.0 - fraction) / fraction
