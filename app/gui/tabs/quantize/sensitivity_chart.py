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
from PySide6.QtWidgets import QWidget

from ....core.quantization import LayerSensitivity
from ...widgets import ChartSlot

INT8 = "#2e86c1"
KEPT = "#d35400"
BUDGET = "#c0392b"
PLACEHOLDER = ("Per-layer sensitivity appears here while it is measured: each layer group "
               "is quantized in turn and the SDR it costs is drawn as a bar. Groups kept in "
               "FP32 by the fallback are marked orange; the dashed line is the SDR budget.")


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
        item.setLabel("left", "SDR cost", units="dB", color="#333")
        item.showGrid(y=True, alpha=0.25)
        item.setMenuEnabled(False)
        item.setMouseEnabled(x=False, y=False)
        item.hideButtons()
        self.items: dict[str, LayerSensitivity] = {}
        self.budget: Optional[float] = None
        self.bars: Optional[pg.BarGraphItem] = None
        self.budget_line: Optional[pg.InfiniteLine] = None

    def clear(self) -> None:
        self.items = {}
        self.plot.getPlotItem().clear()
        self.bars, self.budget_line = None, None
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
        plot = self.plot.getPlotItem()
        plot.clear()
        self.bars, self.budget_line = None, None
        if not self.items:
            self.setCurrentWidget(self.placeholder)
            return
        self.setCurrentWidget(self.plot)
        groups = list(self.items)
        heights = np.array([self._height(self.items[g]) for g in groups])
        brushes = [pg.mkBrush(KEPT if self.items[g].kept_fp32 else INT8) for g in groups]
        self.bars = pg.BarGraphItem(x=np.arange(len(groups), dtype=float), y0=0, height=heights,
                                    width=0.65, brushes=brushes, pen=pg.mkPen("#333", width=0.5))
        plot.addItem(self.bars)
        if self.budget is not None:
            self.budget_line = pg.InfiniteLine(pos=self.budget, angle=0, pen=pg.mkPen(
                BUDGET, width=1.5, style=Qt.PenStyle.DashLine))
            self.budget_line.setZValue(10)
            plot.addItem(self.budget_line)
        axis = plot.getAxis("bottom")
        axis.setTicks([[(float(i), g) for i, g in enumerate(groups)]])
        axis.setStyle(tickTextOffset=4)
        top = max([*heights, self.budget or 0.0, 0.01])
        bottom = min([*heights, 0.0])
        plot.setYRange(bottom * 1.15, top * 1.15, padding=0)
        plot.setXRange(-0.6, len(groups) - 0.4, padding=0)

    @staticmethod
    def _height(item: LayerSensitivity) -> float:
        value = item.cost_db
        return value if math.isfinite(value) else 0.0

    # -- for tests and tools
    def bar_heights(self) -> list[float]:
        return [] if self.bars is None else [float(h) for h in self.bars.opts["height"]]

    def kept_groups(self) -> list[str]:
        return [g for g, item in self.items.items() if item.kept_fp32]

    def showing_placeholder(self) -> bool:
        return self.currentWidget() is self.placeholder
