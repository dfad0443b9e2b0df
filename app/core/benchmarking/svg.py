"""Small SVG charts for the self-contained HTML report: horizontal bars with whiskers, line
charts and box plots, written as text (no plotting library, no network, any browser)."""

from __future__ import annotations

import math
from html import escape
from typing import Optional, Sequence

import numpy as np

PALETTE = ("#2e86c1", "#e67e22", "#27ae60", "#8e44ad", "#c0392b", "#16a085", "#d4ac0d",
           "#5d6d7e", "#ec7063", "#1abc9c")
FONT = 'font-family="sans-serif" font-size="12"'


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
            f'<title>{escape(title)}</title>'
            f'<text x="8" y="16" {FONT} font-weight="bold">{escape(title)}</text>'
            + "".join(body) + "</svg>")


def nice_max(value: float) -> float:
    """A round axis end at or above ``value`` (1, 2, 2.5 or 5 times a power of ten)."""
    if not value or value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if m * power >= value:
            return m * power
    return 10 * power


def _ticks(end: float, n: int = 4) -> list[float]:
    return [end * i / n for i in range(n + 1)]


def _fmt(v: float) -> str:
    return f"{v:.3g}" if v < 1000 else f"{v:,.0f}"


def _x_axis(end: float, x, top: float, height: float, middle: float, unit: str,
            grid: str) -> list[str]:
    """Vertical grid lines with their tick labels along the bottom, and the unit under them."""
    parts = [f'<line x1="{x(t):.1f}" y1="{top - 4}" x2="{x(t):.1f}" y2="{height - 28}" '
             f'stroke="{grid}"/><text x="{x(t):.1f}" y="{height - 14}" {FONT} '
             f'text-anchor="middle">{_fmt(t)}</text>' for t in _ticks(end)]
    parts.append(f'<text x="{middle:.0f}" y="{height - 1}" {FONT} '
                 f'text-anchor="middle">{escape(unit)}</text>')
    return parts


def hbar_chart(rows: Sequence[tuple[str, float, Sequence[float], str]], title: str,
               unit: str, width: int = 760) -> str:
    """One horizontal bar per row ``(label, value, whisker ends, text beside it)``."""
    left, right, top, bar_h, gap = 230, 150, 30, 18, 8
    height = top + len(rows) * (bar_h + gap) + 34
    end = nice_max(max([v for _, v, w, _ in rows] + [x for _, _, w, _ in rows for x in w] + [0]))
    span = width - left - right
    x = lambda v: left + span * (v / end)   # noqa: E731
    body = _x_axis(end, x, top, height, left + span / 2, unit, "#ddd")
    for i, (label, value, whiskers, text) in enumerate(rows):
        y = top + i * (bar_h + gap)
        body.append(f'<text x="{left - 6}" y="{y + 13}" {FONT} text-anchor="end">'
                    f'{escape(label[:34])}</text>')
        body.append(f'<rect class="bar" x="{left}" y="{y}" width="{max(x(value) - left, 0.5):.1f}" '
                    f'height="{bar_h}" fill="{color(i)}"/>')
        if whiskers:
            hi = max(whiskers)
            body.append(f'<line x1="{x(value):.1f}" y1="{y + bar_h / 2}" x2="{x(hi):.1f}" '
                        f'y2="{y + bar_h / 2}" stroke="#222"/>')
            for w in whiskers:
                body.append(f'<line class="whisker" x1="{x(w):.1f}" y1="{y + 3}" x2="{x(w):.1f}" '
                            f'y2="{y + bar_h - 3}" stroke="#222"/>')
        body.append(f'<text x="{x(max([value, *whiskers])) + 6:.1f}" y="{y + 13}" {FONT}>'
                    f'{escape(text)}</text>')
    return _svg(width, height, body, title)


def line_chart(series: Sequence[tuple[str, Sequence[float], Sequence[float]]], title: str,
               x_label: str, y_label: str, width: int = 760, height: int = 260) -> str:
    """Lines ``(label, xs, ys)`` on shared axes, with a legend."""
    left, right, top, bottom = 60, 190, 30, 40
    xs_all = [v for _, xs, _ in series for v in xs] or [0, 1]
    ys_all = [v for _, _, ys in series for v in ys] or [1]
    x0, x1 = min(xs_all), max(xs_all)
    x1 = x1 if x1 > x0 else x0 + 1
    y_end = nice_max(max(ys_all))
    pw, ph = width - left - right, height - top - bottom
    px = lambda v: left + pw * (v - x0) / (x1 - x0)   # noqa: E731
    py = lambda v: top + ph * (1 - v / y_end)         # noqa: E731
    body = [f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#bbb"/>']
    for t in _ticks(y_end):
        body.append(f'<line x1="{left}" y1="{py(t):.1f}" x2="{left + pw}" y2="{py(t):.1f}" '
                    f'stroke="#eee"/><text x="{left - 4}" y="{py(t) + 4:.1f}" {FONT} '
                    f'text-anchor="end">{_fmt(t)}</text>')
    for t in np.linspace(x0, x1, 5):
        body.append(f'<text x="{px(t):.1f}" y="{top + ph + 16}" {FONT} text-anchor="middle">'
                    f'{_fmt(float(t))}</text>')
    body.append(f'<text x="{left + pw / 2}" y="{height - 6}" {FONT} text-anchor="middle">'
                f'{escape(x_label)}</text>')
    body.append(f'<text x="12" y="{top + ph / 2}" {FONT} text-anchor="middle" '
                f'transform="rotate(-90 12 {top + ph / 2})">{escape(y_label)}</text>')
    for i, (label, xs, ys) in enumerate(series):
        points = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(xs, ys))
        body.append(f'<polyline class="series" points="{points}" fill="none" '
                    f'stroke="{color(i)}" stroke-width="1.5"/>')
        ly = top + 10 + i * 16
        body.append(f'<rect x="{left + pw + 10}" y="{ly - 8}" width="10" height="10" '
                    f'fill="{color(i)}"/><text x="{left + pw + 24}" y="{ly + 1}" {FONT}>'
                    f'{escape(label[:26])}</text>')
    return _svg(width, height, body, title)


def box_chart(series: Sequence[tuple[str, Sequence[float]]], title: str, unit: str,
              width: int = 760) -> str:
    """A horizontal box plot per series: whiskers min..max, box p25..p75, median line."""
    left, right, top, row_h = 230, 40, 30, 26
    height = top + len(series) * row_h + 34
    values = [v for _, vs in series for v in vs] or [1]
    end = nice_max(max(values))
    span = width - left - right
    x = lambda v: left + span * (v / end)   # noqa: E731
    body = _x_axis(end, x, top, height, left + span / 2, unit, "#eee")
    for i, (label, vs) in enumerate(series):
        if not len(vs):
            continue
        lo, q1, med, q3, hi = np.percentile(np.asarray(vs, dtype=float), [0, 25, 50, 75, 100])
        y = top + i * row_h
        mid = y + 9
        body.append(f'<text x="{left - 6}" y="{y + 13}" {FONT} text-anchor="end">'
                    f'{escape(label[:34])}</text>')
        body.append(f'<line x1="{x(lo):.1f}" y1="{mid}" x2="{x(hi):.1f}" y2="{mid}" stroke="#444"/>')
        body.append(f'<rect class="box" x="{x(q1):.1f}" y="{y + 2}" '
                    f'width="{max(x(q3) - x(q1), 1):.1f}" height="14" fill="{color(i)}" '
                    f'fill-opacity="0.6" stroke="#333"/>')
        body.append(f'<line x1="{x(med):.1f}" y1="{y}" x2="{x(med):.1f}" y2="{y + 18}" '
                    f'stroke="#000" stroke-width="2"/>')
    return _svg(width, height, body, title)


def maybe(value: Optional[float], fmt: str, suffix: str = "") -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:{fmt}}{suffix}"
