"""What a finished benchmark shows: p50 bars with p95/p99 whiskers, a table (speed-up
against eager PyTorch, size, peak memory, SDR where the Quantize tab measured it) and ONNX
Runtime's operator profile as bars."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QHeaderView, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from ....core.benchmarking import (MAX_RUNS, SETTLED_PCT, BenchmarkRun, VariantResult,
                                   p50_interval)
from .charts import color, styled_plot

COLUMNS = ("variant", "p50 ms", "p50 95 % interval", "p95 ms", "p99 ms", "segments/s",
           "real time", "vs eager",
           "file", "peak RSS", "SDR")
PROFILE_ROWS = 8


def _mb(n: Optional[int]) -> str:
    return "–" if not n else f"{n / 1e6:.1f} MB"


def table_row(r: VariantResult) -> list[str]:
    s = r.latency
    return [r.label, f"{s.p50:.1f}", p50_interval(r), f"{s.p95:.1f}", f"{s.p99:.1f}",
            f"{r.throughput:.2f}",
            f"{r.x_realtime:.1f}x", "–" if r.speedup is None else f"{r.speedup:.2f}x",
            _mb(r.file_size), _mb(r.peak_rss_bytes),
            "–" if r.sdr is None else f"{r.sdr:.2f} dB"]


class ResultCharts(QWidget):
    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.bars_plot = styled_plot("p50 per run, whiskers to p95 and p99", "", "ms")
        self.profile_plot = styled_plot("ONNX Runtime operator profile", "ms per run", "")
        self.profile_combo = QComboBox()
        self.profile_combo.setToolTip("Which ONNX variant's profile to show")
        self.profile_combo.currentIndexChanged.connect(self._show_profile)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        profile_box = QWidget()
        pl = QVBoxLayout(profile_box)
        pl.setContentsMargins(0, 0, 0, 0)
        pl.addWidget(self.profile_combo)
        pl.addWidget(self.profile_plot, 1)
        self.profile_box = profile_box
        charts = QHBoxLayout()
        charts.addWidget(self.bars_plot, 3)
        charts.addWidget(profile_box, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(charts, 3)
        layout.addWidget(self.table, 2)
        self.run: Optional[BenchmarkRun] = None
        self.bar_heights: list[float] = []
        self.whiskers: list[tuple[float, float]] = []

    def show_run(self, run: BenchmarkRun) -> None:
        self.run = run
        self._draw_bars(run)
        self._fill_table(run)
        profiled = [r for r in run.results if r.profile is not None]
        self.profile_combo.blockSignals(True)
        self.profile_combo.clear()
        for r in profiled:
            self.profile_combo.addItem(r.label, r)
        self.profile_combo.blockSignals(False)
        self.profile_box.setVisible(bool(profiled))
        self._show_profile()

    def _draw_bars(self, run: BenchmarkRun) -> None:
        plot = self.bars_plot
        plot.clear()
        res = run.results
        x = np.arange(len(res), dtype=float)
        p50 = np.array([r.latency.p50 for r in res])
        p95 = np.array([r.latency.p95 for r in res])
        p99 = np.array([r.latency.p99 for r in res])
        plot.addItem(pg.BarGraphItem(x=x, height=p50, width=0.6,
                                     brushes=[color(i, 200) for i in range(len(res))]))
        plot.addItem(pg.ErrorBarItem(x=x, y=p50, top=p99 - p50, bottom=np.zeros_like(p50),
                                     beam=0.25, pen=pg.mkPen("#222")))
        plot.addItem(pg.ScatterPlotItem(x=x, y=p95, symbol="_", size=14, pen=pg.mkPen("#222")))
        plot.getAxis("bottom").setTicks([[(i, r.label) for i, r in enumerate(res)]])
        self.bar_heights = list(p50)
        self.whiskers = list(zip(p95, p99))

    def _fill_table(self, run: BenchmarkRun) -> None:
        self.table.setRowCount(len(run.results))
        for row, r in enumerate(run.results):
            for col, text in enumerate(table_row(r)):
                self.table.setItem(row, col, QTableWidgetItem(text))
            interval = self.table.item(row, COLUMNS.index("p50 95 % interval"))
            interval.setToolTip(
                "The true median lies in this range with 95 % confidence (from the order "
                "of the runs, whatever their distribution)." + (
                    "" if r.latency.settled else
                    f" It reaches ±{r.latency.p50_uncertainty_pct:.1f} % from the median: "
                    f"about {r.latency.runs_to_settle(MAX_RUNS)} runs would bring it within "
                    f"±{SETTLED_PCT:g} %."))

    def cell(self, label: str, column: str) -> str:
        """The text shown for ``label``'s ``column`` (for tests and tools)."""
        col = COLUMNS.index(column)
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).text() == label:
                return self.table.item(row, col).text()
        raise KeyError(label)

    def _show_profile(self) -> None:
        plot = self.profile_plot
        plot.clear()
        r = self.profile_combo.currentData()
        if r is None or r.profile is None:
            return
        rows = r.profile.by_type[:PROFILE_ROWS][::-1]       # slowest on top
        y = np.arange(len(rows), dtype=float)
        plot.addItem(pg.BarGraphItem(x0=0, y=y, height=0.7, width=[t.ms for t in rows],
                                     brush=color(1, 200)))
        plot.getAxis("left").setTicks([[(i, t.name) for i, t in enumerate(rows)]])
        plot.getPlotItem().setTitle(f"Operator profile: {r.profile.total_ms:.0f} ms of "
                                    "kernels per run", color="#222", size="10pt")
        plot.setXRange(0, max(t.ms for t in rows) * 1.05, padding=0)
        plot.setYRange(-0.6, len(rows) - 0.4, padding=0)
