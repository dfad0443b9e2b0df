"""The Memory tab's chart: total training memory against batch size, one line per mode, the
GPU budget across it and the largest batch that fits marked on each line.

Only drawing happens here; every figure comes from :class:`app.core.memory.ModeResult`
(its estimates, and ``total``/``max_batch_for`` from the fitted profile).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal

from ..core.memory import GiB, ModeResult

MODE_COLORS = {"baseline": "#c0392b", "checkpointing": "#2471a3", "mixed": "#d68910",
               "both": "#1e8449"}
MODE_SYMBOLS = {"baseline": "o", "checkpointing": "s", "mixed": "t", "both": "d"}
BUDGET_COLOR = "#7d3c98"


class BatchAxis(pg.AxisItem):
    """An axis over log2(batch) whose ticks are the batch sizes themselves."""

    def tickStrings(self, values, scale, spacing):
        return [str(int(round(2 ** v))) for v in values]


class MemoryChart(pg.PlotWidget):
    """Call :meth:`set_results` with the modes measured so far and :meth:`set_budget`;
    clicking a point emits ``point_clicked(mode, batch)``."""

    point_clicked = Signal(str, int)

    def __init__(self, parent=None):
        self.batch_axis = BatchAxis("bottom")
        super().__init__(parent, background="w", axisItems={"bottom": self.batch_axis})
        self.setMinimumHeight(260)
        plot = self.getPlotItem()
        plot.setLabel("left", "total memory per training step", units="GiB", color="#333")
        plot.setLabel("bottom", "batch size", color="#333")
        plot.showGrid(x=True, y=True, alpha=0.25)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setMouseEnabled(x=False, y=False)
        for name in ("left", "bottom"):
            plot.getAxis(name).setPen("#555")
            plot.getAxis(name).setTextPen("#333")
        plot.getAxis("left").enableAutoSIPrefix(False)
        self.legend = plot.addLegend(offset=(10, 6), labelTextColor="#222", colCount=2,
                                     brush=pg.mkBrush(255, 255, 255, 220), pen=pg.mkPen("#bbb"))
        self.results: list[ModeResult] = []
        self.budget_gb: Optional[float] = None
        self.reserve_gb = 0.0
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.markers: dict[str, pg.ScatterPlotItem] = {}
        self.marker_labels: dict[str, pg.TextItem] = {}
        self.extensions: dict[str, pg.PlotDataItem] = {}
        self.max_batches: dict[str, int] = {}
        self.budget_line: Optional[pg.InfiniteLine] = None
        self.selection = pg.ScatterPlotItem(size=20, symbol="o", brush=pg.mkBrush(None),
                                            pen=pg.mkPen("#111", width=2))
        self.selected: Optional[tuple[str, int]] = None
        self.redraws = 0
        self._empty()

    # ------------------------------------------------------------------ drawing
    def _empty(self) -> None:
        plot = self.getPlotItem()
        plot.clear()
        self.legend.clear()
        self.curves, self.markers, self.marker_labels, self.extensions = {}, {}, {}, {}
        self.budget_line = None
        plot.addItem(self.selection)
        self.selection.setData([])

    def clear_results(self) -> None:
        self.results = []
        self.selected = None
        self.max_batches = {}
        self._empty()
        self._draw_budget()
        self.batch_axis.setTicks(None)

    def set_results(self, results: list[ModeResult]) -> None:
        """Draw these modes (all the chart shows); markers follow the current budget."""
        self.results = list(results)
        self.redraws += 1
        self._empty()
        batches: set[int] = set()
        for result in self.results:
            color = MODE_COLORS.get(result.mode, "#555")
            x = np.log2([e.batch_size for e in result.estimates])
            y = np.array([e.total for e in result.estimates], dtype=float) / GiB
            curve = pg.PlotDataItem(x, y, pen=pg.mkPen(color, width=2.5), name=result.label,
                                    symbol=MODE_SYMBOLS.get(result.mode, "o"), symbolSize=9,
                                    symbolBrush=pg.mkBrush(color), symbolPen=pg.mkPen("w"))
            curve.sigPointsClicked.connect(lambda _c, points, _ev, mode=result.mode:
                                           self._clicked(mode, points))
            self.getPlotItem().addItem(curve)
            self.curves[result.mode] = curve
            batches.update(e.batch_size for e in result.estimates)
        self._draw_budget()
        self._draw_markers()
        self._ticks(batches | set(self.max_batches.values()))
        self._draw_selection()

    def set_budget(self, budget_gb: Optional[float], reserve_gb: float = 0.0) -> None:
        self.budget_gb, self.reserve_gb = budget_gb, reserve_gb
        self._draw_budget()
        self._draw_markers()
        batches = {e.batch_size for r in self.results for e in r.estimates}
        self._ticks(batches | set(self.max_batches.values()))

    def _draw_budget(self) -> None:
        plot = self.getPlotItem()
        if self.budget_line is not None:
            plot.removeItem(self.budget_line)
            self.budget_line = None
        if self.budget_gb is None:
            return
        usable = self.budget_gb - self.reserve_gb
        label = f"budget {self.budget_gb:g} GiB" + (f" ({usable:g} usable)" if self.reserve_gb else "")
        self.budget_line = pg.InfiniteLine(
            pos=usable, angle=0, pen=pg.mkPen(BUDGET_COLOR, width=2, style=Qt.PenStyle.DashLine),
            label=label, labelOpts={"position": 0.02, "color": BUDGET_COLOR,
                                    "anchors": [(0, -0.1), (0, -0.1)],
                                    "fill": pg.mkBrush(255, 255, 255, 200)})
        plot.addItem(self.budget_line)

    def _draw_markers(self) -> None:
        """A star on each line at the largest batch that fits, labelled with it."""
        plot = self.getPlotItem()
        for item in [*self.markers.values(), *self.marker_labels.values(),
                     *self.extensions.values()]:
            plot.removeItem(item)
        self.markers, self.marker_labels, self.extensions, self.max_batches = {}, {}, {}, {}
        if self.budget_gb is None:
            return
        for result in self.results:
            best = result.max_batch_for(self.budget_gb, self.reserve_gb)
            self.max_batches[result.mode] = best
            if best < 1:
                continue
            color = MODE_COLORS.get(result.mode, "#555")
            x, y = math.log2(best), result.total(best) / GiB
            marker = pg.ScatterPlotItem([x], [y], size=18, symbol="star",
                                        brush=pg.mkBrush(color), pen=pg.mkPen("#222"))
            marker.sigClicked.connect(lambda _item, _pts, _ev, mode=result.mode, b=best:
                                      self.point_clicked.emit(mode, b))
            last = max(e.batch_size for e in result.estimates)
            if best > last:               # dotted: the fitted line beyond the charted batches
                xs = np.linspace(math.log2(last), x, 16)
                ys = [result.total(2 ** v) / GiB for v in xs]      # linear in the batch
                extension = pg.PlotDataItem(xs, ys, pen=pg.mkPen(color, width=1.5,
                                                                 style=Qt.PenStyle.DotLine))
                plot.addItem(extension)
                self.extensions[result.mode] = extension
            label = pg.TextItem(f"max {best}", color=color, anchor=(0.5, 1.6))
            label.setPos(x, y)
            plot.addItem(marker)
            plot.addItem(label)
            self.markers[result.mode] = marker
            self.marker_labels[result.mode] = label

    def _ticks(self, batches: set[int]) -> None:
        shown = sorted(b for b in batches if b >= 1)
        if not shown:
            self.batch_axis.setTicks(None)
            return
        major, last = [], -1.0
        for b in shown:                      # skip labels that would overlap
            x = math.log2(b)
            if x - last >= 0.35:
                major.append((x, str(b)))
                last = x
        self.batch_axis.setTicks([major, []])
        lo, hi = math.log2(shown[0]), math.log2(shown[-1])
        pad = max(0.25, 0.05 * (hi - lo))
        self.getPlotItem().setXRange(lo - pad, hi + pad, padding=0)
        top = max([e.total / GiB for r in self.results for e in r.estimates] +
                  [self.budget_gb or 0.0])
        self.getPlotItem().setYRange(0, top * 1.2 if top > 0 else 1, padding=0)

    # ------------------------------------------------------------------ selection
    def _clicked(self, mode: str, points) -> None:
        if len(points):
            batch = int(round(2 ** points[0].pos().x()))
            self.point_clicked.emit(mode, batch)

    def select(self, mode: Optional[str], batch: Optional[int]) -> None:
        self.selected = (mode, batch) if mode is not None and batch is not None else None
        self._draw_selection()

    def _draw_selection(self) -> None:
        if self.selected is None:
            self.selection.setData([])
            return
        mode, batch = self.selected
        result = next((r for r in self.results if r.mode == mode), None)
        if result is None or batch < 1:
            self.selection.setData([])
            return
        self.selection.setData([math.log2(batch)], [result.total(batch) / GiB])

    # ------------------------------------------------------------------ for tests and tools
    def line_names(self) -> list[str]:
        return [c.name() for c in self.curves.values()]

    def marker_position(self, mode: str) -> Optional[tuple[float, float]]:
        marker = self.markers.get(mode)
        if marker is None:
            return None
        x, y = marker.getData()
        return 2 ** float(x[0]), float(y[0])
