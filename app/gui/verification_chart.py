"""Bar charts of an export's verification: per tested input shape, the masks' MSE against
PyTorch on a log scale with the pass limit drawn across, and their SNR in dB.

Only drawing happens here; the figures come from :class:`app.core.export.VerificationReport`.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from ..core.export import VerificationReport

PASS = "#1e8449"
FAIL = "#c0392b"
LIMIT = "#c0392b"
SNR_CAP_DB = 200.0          # identical outputs (infinite SNR) are drawn at this height
MSE_FLOOR = 1e-20           # an MSE of exactly 0 is drawn at this height


class LogAxis(pg.AxisItem):
    """An axis over log10 values that labels its ticks as powers of ten."""

    def tickStrings(self, values, scale, spacing):
        return [f"1e{int(round(v))}" if abs(v - round(v)) < 1e-6 else "" for v in values]


class VerificationChart(pg.GraphicsLayoutWidget):
    """Two bar charts side by side; :meth:`show_report` draws one report."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground("w")
        self.setMinimumHeight(220)
        self.ci.layout.setContentsMargins(4, 4, 12, 4)
        self.ci.layout.setHorizontalSpacing(18)
        self.mse_plot = self.addPlot(row=0, col=0, axisItems={"left": LogAxis("left")})
        self.snr_plot = self.addPlot(row=0, col=1)
        for plot, title, unit in ((self.mse_plot, "Mask MSE vs PyTorch (lower is better; "
                                                   "dashed: pass limit)", "MSE"),
                                  (self.snr_plot, "Mask SNR vs PyTorch (higher is better)", "dB")):
            plot.setTitle(title, color="#222", size="10pt")
            plot.setLabel("left", unit, color="#333")
            plot.setLabel("bottom", "input: batch × frames", color="#333")
            plot.showGrid(y=True, alpha=0.25)
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            for name in ("left", "bottom"):
                plot.getAxis(name).setPen("#555")
                plot.getAxis(name).setTextPen("#333")
        self.report: Optional[VerificationReport] = None
        self.bars: dict[str, pg.BarGraphItem] = {}
        self.limit_line: Optional[pg.InfiniteLine] = None
        self.labels: list[pg.TextItem] = []

    def clear_report(self) -> None:
        self.report = None
        for plot in (self.mse_plot, self.snr_plot):
            plot.clear()
        self.bars, self.labels, self.limit_line = {}, [], None

    def show_report(self, report: VerificationReport) -> None:
        self.clear_report()
        self.report = report
        if not report.checks:
            return
        x = np.arange(len(report.checks), dtype=float)
        brushes = [pg.mkBrush(PASS if c.passed else FAIL) for c in report.checks]
        ticks = [[(float(i), c.label.replace("x", "×")) for i, c in enumerate(report.checks)]]

        mse = np.array([math.log10(max(c.mse, MSE_FLOOR)) if math.isfinite(c.mse) else 0.0
                        for c in report.checks])
        limit = math.log10(report.mse_limit)
        floor = math.floor(min(mse.min(), limit) - 1)
        top = math.ceil(max(mse.max(), limit) + 1)
        self.bars["mse"] = pg.BarGraphItem(x=x, y0=floor, height=mse - floor, width=0.6,
                                           brushes=brushes, pen=pg.mkPen("#333", width=0.5))
        self.mse_plot.addItem(self.bars["mse"])
        self.limit_line = pg.InfiniteLine(
            pos=limit, angle=0, pen=pg.mkPen(LIMIT, width=1.5, style=Qt.PenStyle.DashLine))
        self.limit_line.setZValue(10)                              # over the bars
        self.mse_plot.addItem(self.limit_line)
        for i, check in enumerate(report.checks):
            text = "0" if check.mse == 0 else f"{check.mse:.0e}" if math.isfinite(check.mse) \
                else "non-finite"
            self._label(self.mse_plot, i, mse[i], text)
        self.mse_plot.setYRange(floor, top, padding=0)

        snr = np.array([min(c.snr_db, SNR_CAP_DB) if math.isfinite(c.snr_db)
                        else (SNR_CAP_DB if c.snr_db > 0 else 0.0) for c in report.checks])
        self.bars["snr"] = pg.BarGraphItem(x=x, y0=0, height=snr, width=0.6, brushes=brushes,
                                           pen=pg.mkPen("#333", width=0.5))
        self.snr_plot.addItem(self.bars["snr"])
        for i, check in enumerate(report.checks):
            text = "exact" if check.snr_db == float("inf") else f"{check.snr_db:.0f}"
            self._label(self.snr_plot, i, snr[i], text)
        self.snr_plot.setYRange(0, max(snr.max() * 1.15, 10), padding=0)

        for plot in (self.mse_plot, self.snr_plot):
            plot.getAxis("bottom").setTicks(ticks)
            plot.setXRange(-0.6, len(report.checks) - 0.4, padding=0)

    def _label(self, plot: pg.PlotItem, x: float, y: float, text: str) -> None:
        item = pg.TextItem(text, color="#222", anchor=(0.5, 1.0))
        item.setPos(x, y)
        plot.addItem(item)
        self.labels.append(item)

    # -- for tests and tools
    def bar_heights(self, which: str) -> list[float]:
        bars = self.bars.get(which)
        return [] if bars is None else [float(h) for h in bars.opts["height"]]

    def tick_labels(self) -> list[str]:
        ticks = self.mse_plot.getAxis("bottom")._tickLevels
        return [label for _, label in ticks[0]] if ticks else []
