"""The live per-layer sensitivity chart: one bar per layer group, filled in as each group is
measured, the SDR budget drawn across, the groups kept in FP32 marked in another colour.

Only drawing happens here; the figures are :class:`app.core.quantization.LayerSensitivity`
records. Until the first one arrives a sentence says what will appear (no empty axes).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QWidget

from ....core.quantization import LayerSensitivity
from ...widgets import ChartSlot

INT8 = "#2e86c1"
KEPT = "#d35400"
BUDGET = "#c0392b"
BUDGET_IN_VIEW = 3.0    # the budget line is drawn when within this many times the worst bar
PLACEHOLDER = ("Per-layer sensitivity appears here while it is measured: each layer group "
               "is quantized in turn and the SDR it costs is drawn as a bar. Groups kept in "
               "FP32 by the fallback are marked orange; the dashed line is the SDR budget.")


def cost_text(cost_db: float, in_mdb: bool) -> str:
    """A bar's label, in one unit for the whole chart: mdB for the small costs quantizing
    usually has, dB when some group costs a decibel or more."""
    return f"{cost_db * 1000:+.1f} mdB" if in_mdb else f"{cost_db:+.2f} dB"


class SensitivityChart(ChartSlot):
    """``add(item)`` draws a measured group; ``set_budget(db)``; ``clear()``."""

    def __init__(self, parent: Optional[QWidget] = None):
        plot = pg.PlotWidget(background="w")
        super().__init__(plot, PLACEHOLDER, parent)
        self.plot = plot
        self.plot.setMinimumHeight(180)
        item = self.plot.getPlotItem()
        item.setTitle("SDR cost of quantizing each layer group (worst stem)", color="#222",
                      size="10pt")
        item.setLabel("bottom", "SDR cost", units="dB", color="#333")
        item.showGrid(x=True, alpha=0.25)
        item.invertY(True)              # the first group measured on top
        item.setMenuEnabled(False)
        item.setMouseEnabled(x=False, y=False)
        item.hideButtons()
        self.items: dict[str, LayerSensitivity] = {}
        self.budget: Optional[float] = None
        self.bars: Optional[pg.BarGraphItem] = None
        self.budget_line: Optional[pg.InfiniteLine] = None
        self.budget_note: Optional[str] = None     # said under the axis when off the scale

    def clear(self) -> None:
        self.items = {}
        self.plot.getPlotItem().clear()
        self.bars, self.budget_line, self.budget_note = None, None, None
        self.setCurrentWidget(self.placeholder)

    def set_budget(self, budget_db: Optional[float]) -> None:
        self.budget = budget_db
        self._redraw()

    def add(self, item: LayerSensitivity) -> None:
        """A group measured (or, again, marked as kept in FP32 by the fallback)."""
        self.items[item.group] = item
        self._redraw()

    def show_all(self, items: list[LayerSensitivity]) -> None:
        for item in items:
            self.items[item.group] = item
        self._redraw()

    def _redraw(self) -> None:
        """Horizontal bars, one row per group in measuring order (names stay readable at any
        count); the axis fits the bars, and a budget far beyond them is written, not drawn,
        so that costs of a few mdB are not flattened against a 200 mdB line."""
        plot = self.plot.getPlotItem()
        plot.clear()
        self.bars, self.budget_line, self.budget_note = None, None, None
        if not self.items:
            self.setCurrentWidget(self.placeholder)
            return
        self.setCurrentWidget(self.plot)
        groups = list(self.items)
        costs = np.array([self._height(self.items[g]) for g in groups])
        brushes = [pg.mkBrush(KEPT if self.items[g].kept_fp32 else INT8) for g in groups]
        rows = np.arange(len(groups), dtype=float)
        self.bars = pg.BarGraphItem(x0=0, y=rows, width=costs, height=0.65, brushes=brushes,
                                    pen=pg.mkPen("#333", width=0.5))
        plot.addItem(self.bars)
        worst = max([*costs, 0.0])
        right = worst if worst > 0 else (self.budget or 0.01)
        if self.budget is not None:
            self.budget_line = pg.InfiniteLine(pos=self.budget, angle=90, pen=pg.mkPen(
                BUDGET, width=1.5, style=Qt.PenStyle.DashLine))
            self.budget_line.setZValue(10)
            plot.addItem(self.budget_line)
            if self.budget <= worst * BUDGET_IN_VIEW:
                right = max(right, self.budget)
            else:
                share = 100.0 * worst / self.budget if self.budget > 0 else 0.0
                self.budget_note = (f"budget {self.budget:.2f} dB off the scale "
                                    f"(worst: {share:.0f} %)" if worst > 0 else
                                    f"budget {self.budget:.2f} dB; no group costs SDR")
        plot.setLabel("bottom", "SDR cost", units="dB", color="#333")
        if self.budget_note:
            plot.getAxis("bottom").setLabel(
                f"SDR cost · <span style='color:{BUDGET}'>{self.budget_note}</span>",
                units="dB")
        self.plot.setToolTip(
            f"The SDR budget, {self.budget:.2f} dB per stem, is beyond the axis: every group "
            "costs far less." if self.budget_note else "")
        left = min([*costs, 0.0])
        in_mdb = float(np.max(np.abs(costs))) < 1.0
        for row, cost in zip(rows, costs):
            label = pg.TextItem(cost_text(cost, in_mdb), color="#333",
                                anchor=(0, 0.5) if cost >= 0 else (1, 0.5))
            plot.addItem(label)
            label.setPos(float(cost), float(row))
        axis = plot.getAxis("left")
        axis.setTicks([[(float(i), g) for i, g in enumerate(groups)]])
        metrics = QFontMetrics(axis.style.get("tickFont") or self.font())
        axis.setWidth(max(metrics.horizontalAdvance(g) for g in groups) + 14)
        span = right - left
        plot.setXRange(left - (0.02 + (0.3 if left < 0 else 0.0)) * span,
                       right + 0.32 * span, padding=0)
        plot.setYRange(-0.6, len(groups) - 0.4, padding=0)

    @staticmethod
    def _height(item: LayerSensitivity) -> float:
        value = item.cost_db
        return value if math.isfinite(value) else 0.0

    # -- for tests and tools
    def bar_heights(self) -> list[float]:
        return [] if self.bars is None else [float(w) for w in self.bars.opts["width"]]

    def budget_in_view(self) -> bool:
        """Whether the budget line lies inside the visible range (else a note names it)."""
        if self.budget_line is None:
            return False
        low, high = self.plot.getPlotItem().viewRange()[0]
        return low <= self.budget_line.value() <= high

    def kept_groups(self) -> list[str]:
        return [g for g, item in self.items.items() if item.kept_fp32]

    def showing_placeholder(self) -> bool:
        return self.currentWidget() is self.placeholder
