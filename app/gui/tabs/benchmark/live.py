"""The live view while a benchmark runs: every timed run as a point of its variant's
latency trace, and the distribution of run times as a histogram per variant.

Samples arrive on the job's thread through :meth:`LiveCharts.push` (a deque append, safe
from any thread); one display timer in the UI thread drains the queue and redraws with
``setData`` at a steady rate, however fast the samples come. The timer updates the trace and
the histogram on alternate ticks, and their axes stay put (the trace spans all the runs from
the start; the histogram's range only grows, in round steps): a repaint whose axes changed
costs several times one whose axes did not, and on a busy machine every millisecond of paint
in the UI thread is a longer stall.
"""

from __future__ import annotations

import collections
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QWidget

from ....core.benchmarking import Sample
from .charts import color, styled_plot

HIST_BINS = 30


class LiveCharts(QWidget):
    REDRAW_MS = 150

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.trace = styled_plot("Latency of every run", "run", "ms", grid=False, legend=True)
        self.hist = styled_plot("Distribution", "ms", "runs", grid=False)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.trace, 3)
        row.addWidget(self.hist, 2)
        self._queue: collections.deque[Sample] = collections.deque()
        self.samples: list[list[float]] = []
        self.labels: list[str] = []
        self.curves: list[pg.PlotDataItem] = []
        self.bars: list[pg.PlotDataItem] = []
        self.redraws = 0
        self.timer = QTimer(self)
        self.timer.setInterval(self.REDRAW_MS)
        self.timer.timeout.connect(self.redraw)

    # ------------------------------------------------------------------ any thread
    def push(self, sample: Sample) -> None:
        """The benchmark's ``on_sample``: called on the job's thread."""
        self._queue.append(sample)

    # ------------------------------------------------------------------ UI thread
    def start(self, runs: Optional[int] = None) -> None:
        """Forget the last run; curves appear as the first sample of each variant arrives.
        ``runs`` (timed runs per variant) fixes the trace's run axis from the start."""
        self._queue.clear()
        self.samples, self.labels = [], []
        self.trace.clear()
        self.hist.clear()
        self.curves, self.bars = [], []
        self._hist_range: Optional[tuple[float, float]] = None
        self._hist_top = 0
        self._tick = 0
        self.hist.enableAutoRange(x=False, y=False)
        self.trace.enableAutoRange(x=runs is None)
        if runs:
            self.trace.setXRange(1, max(runs, 2), padding=0.02)
        self.timer.start()

    def _add_series(self, label: str) -> None:
        i = len(self.curves)
        pen = pg.mkPen(color(i), width=1.5)
        self.labels.append(label)
        self.samples.append([])
        self.curves.append(self.trace.plot([], [], pen=pen, name=label))
        self.bars.append(self.hist.plot([], [], stepMode="center", pen=pen, fillLevel=0,
                                        brush=pg.mkBrush(color(i, 60))))

    def stop(self) -> None:
        self.timer.stop()
        self._drain()
        self._redraw_trace()
        self._redraw_histograms()

    def points(self) -> int:
        """Timed runs drawn so far (all variants)."""
        return sum(len(c.getData()[0]) if c.getData()[0] is not None else 0 for c in self.curves)

    def redraw(self) -> None:
        """The display timer's tick: take the queued samples, update one of the two charts."""
        if not self._drain():
            return
        self._tick += 1
        if self._tick % 2:
            self._redraw_trace()
        else:
            self._redraw_histograms()
        self.redraws += 1

    def _drain(self) -> int:
        taken = 0
        while self._queue:
            s = self._queue.popleft()
            while len(self.curves) <= s.index:
                self._add_series(s.label)
            self.samples[s.index].append(s.ms)
            taken += 1
        return taken

    def _redraw_trace(self) -> None:
        for i, values in enumerate(self.samples):
            if values:
                self.curves[i].setData(np.arange(1, len(values) + 1), np.asarray(values))

    def _grown_range(self, lo: float, hi: float) -> tuple[float, float]:
        """The histogram's range: kept while the data fits, else widened in round steps."""
        old = self._hist_range
        if old is not None and old[0] <= lo and hi <= old[1]:
            return old
        span = max(hi - lo, 1.0)
        step = 10 ** np.floor(np.log10(span))
        new = (float(np.floor((lo - 0.25 * span) / step) * step),
               float(np.ceil((hi + 0.25 * span) / step) * step))
        if old is not None:
            new = (min(new[0], old[0]), max(new[1], old[1]))
        self._hist_range = (max(new[0], 0.0), new[1])
        return self._hist_range

    def _redraw_histograms(self) -> None:
        values = [v for vs in self.samples for v in vs]
        if len(values) < 2:
            return
        lo, hi = self._grown_range(min(values), max(values))
        edges = np.linspace(lo, hi, HIST_BINS + 1)
        top = 0
        for i, vs in enumerate(self.samples):
            if vs:
                counts, _ = np.histogram(vs, bins=edges)
                self.bars[i].setData(edges, counts)
                top = max(top, int(counts.max()))
        self.hist.setXRange(lo, hi, padding=0)
        if top > self._hist_top:                  # the count axis grows in round steps
            self._hist_top = next(n for n in (5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000,
                                              10_000, 100_000, 10**6) if n >= top)
            self.hist.setYRange(0, self._hist_top, padding=0.02)
