"""pyqtgraph helpers shared by the Benchmark tab's charts: one look, one palette."""

from __future__ import annotations

from typing import Optional

import pyqtgraph as pg
from PySide6.QtGui import QColor

from ....core.benchmarking import PALETTE


def color(i: int, alpha: Optional[int] = None) -> QColor:
    c = QColor(PALETTE[i % len(PALETTE)])
    if alpha is not None:
        c.setAlpha(alpha)
    return c


def styled_plot(title: str, x_label: str, y_label: str, grid: bool = True,
                legend: bool = False) -> pg.PlotWidget:
    """A white plot with labelled axes. ``grid=False`` for charts redrawn while a job runs:
    grid lines are most of an axis's paint time (about half of a 10 ms repaint here)."""
    plot = pg.PlotWidget(background="w")
    plot.setMinimumHeight(180)
    item = plot.getPlotItem()
    item.setTitle(title, color="#222", size="10pt")
    item.setLabel("bottom", x_label, color="#333")
    item.setLabel("left", y_label, color="#333")
    if grid:
        item.showGrid(x=True, y=True, alpha=0.25)
    item.setMenuEnabled(False)
    item.hideButtons()
    for name in ("left", "bottom"):
        item.getAxis(name).setPen("#555")
        item.getAxis(name).setTextPen("#333")
    if legend:
        item.addLegend(offset=(10, 6), labelTextColor="#222",
                       brush=pg.mkBrush(255, 255, 255, 220))
    return plot
