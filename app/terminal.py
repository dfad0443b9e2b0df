"""Terminal progress for CLI jobs: a bar with elapsed and remaining time on a TTY, sparse
plain lines otherwise (logs, CI)."""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO

from .core.jobs import Stopwatch, format_seconds


class TerminalProgress:
    """A ``progress(fraction, message)`` callable that draws on a stream (stderr)."""

    def __init__(self, label: str = "", stream: Optional[TextIO] = None, width: int = 28,
                 quiet: bool = False):
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.quiet = quiet
        self.clock = Stopwatch()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_draw = 0.0
        self._last_line_fraction = -1.0
        self.fraction = 0.0

    def __call__(self, fraction: float, message: str = "") -> None:
        self.fraction = min(max(fraction, 0.0), 1.0)
        if self.quiet:
            return
        now = time.monotonic()
        if self.tty:
            if now - self._last_draw < 0.1 and self.fraction < 1.0:
                return
            self._last_draw = now
            filled = int(self.width * self.fraction)
            bar = "#" * filled + "-" * (self.width - filled)
            line = (f"\r{self.label} [{bar}] {self.fraction * 100:5.1f}%  "
                    f"{format_seconds(self.clock.elapsed)} elapsed, "
                    f"{format_seconds(self.clock.remaining(self.fraction))} left  {message}")
            self.stream.write(line[:200].ljust(100))
        else:
            finishing = self.fraction >= 1.0 and self._last_line_fraction < 1.0
            if self.fraction - self._last_line_fraction < 0.1 and not finishing:
                return
            self._last_line_fraction = self.fraction
            self.stream.write(f"{self.label} {self.fraction * 100:5.1f}%  "
                              f"elapsed {format_seconds(self.clock.elapsed)}, "
                              f"remaining {format_seconds(self.clock.remaining(self.fraction))}"
                              f"  {message}\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain text table with right-aligned numeric-looking columns."""
    cols = list(zip(*([header] + rows))) if rows else [[h] for h in header]
    widths = [max(len(str(c)) for c in col) for col in cols]

    def fmt(row):
        cells = []
        for value, w in zip(row, widths):
            text = str(value)
            numeric = text.replace(".", "", 1).replace(",", "").replace(" ", "").lstrip("-").isdigit()
            cells.append(text.rjust(w) if numeric else text.ljust(w))
        return "  ".join(cells).rstrip()

    lines = [fmt(header), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in rows]
    return "\n".join(lines)
