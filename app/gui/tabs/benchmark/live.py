"""The live view while a benchmark runs: every timed run as a point of its variant's
latency trace, and the distribution of run times as a histogram per variant.

Samples arrive on the job's thread through :meth:`LiveCharts.push` (a deque append, safe
from any thread); one display timer in the UI thread drains the queue and redraws with
``setData`` at a steady rate, however fast the samples come.
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
    REDRAW_MS = 200

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.trace = styled_plot("Latency of every run", "run", "ms", grid=False)
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
    def start(self) -> None:
        """Forget the last run; curves appear as the first sample of each variant arrives."""
        self._queue.clear()
        self.samples, self.labels = [], []
        self.trace.clear()
        self.hist.clear()
        self.curves, self.bars = [], []
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
        self.redraw()

    def points(self) -> int:
        """Timed runs drawn so far (all variants)."""
        return sum(len(c.getData()[0]) if c.getData()[0] is not None else 0 for c in self.curves)

    def redraw(self) -> None:
        if not self._queue:
            return
        while self._queue:
            s = self._queue.popleft()
            while len(self.curves) <= s.index:
                self._add_series(s.label)
            self.samples[s.index].append(s.ms)
        for i, values in enumerate(self.samples):
            if values:
                self.curves[i].setData(np.arange(1, len(values) + 1), np.asarray(values))
        self._redraw_histograms()
        self.redraws += 1

    def _redraw_histograms(self) -> None:
        values = [v for vs in self.samples for v in vs]
        if len(values) < 2:
            return
        lo, hi = min(values), max(values)
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, HIST_BINS + 1)
        for i, vs in enumerate(self.samples):
            if vs:
                counts, _ = np.histogram(vs, bins=edges)
                self.bars[i].setData(edges, counts)
