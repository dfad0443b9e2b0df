"""The comparison of FP32 and every quantized variant made in this session: a table (size,
latency, speed, mask SNR, SDR and its change per stem, layers kept FP32) and bar charts of
size, latency and SDR per stem. A sentence stands in for both until the first result."""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QHeaderView, QSplitter, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from ....core.info import human_bytes
from ....core.quantization import QuantizeResult, VariantFigures
from ...widgets import ChartSlot

PLACEHOLDER = ("Quantize the model to compare it here with FP32: file size, latency of one "
               "segment, and SDR per stem on songs with true stems.")
COLOURS = ["#7f8c8d", "#2e86c1", "#d35400", "#27ae60", "#8e44ad", "#c0392b", "#16a085"]


def _db(value: Optional[float], signed: bool = False) -> str:
    if value is None:
        return "–"
    if math.isinf(value):
        return "exact" if value > 0 else "–∞"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


class ComparisonChart(pg.GraphicsLayoutWidget):
    """Size (MB), latency (ms) and SDR per stem (dB), one bar (group) per variant."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setBackground("w")
        self.setMinimumHeight(180)
        self.plots = {}
        for col, (key, title, unit) in enumerate((("size", "File size", "MB"),
                                                  ("latency", "Latency per segment", "ms"),
                                                  ("sdr", "SDR per stem", "dB"))):
            plot = self.addPlot(row=0, col=col)
            plot.setTitle(title, color="#222", size="10pt")
            plot.setLabel("left", unit, color="#333")
            plot.showGrid(y=True, alpha=0.25)
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            self.plots[key] = plot
        self.heights: dict[str, list[float]] = {}

    def show_rows(self, rows: list[VariantFigures], sources: list[str]) -> None:
        for plot in self.plots.values():
            plot.clear()
        x = np.arange(len(rows), dtype=float)
        ticks = [[(float(i), r.name) for i, r in enumerate(rows)]]
        brushes = [pg.mkBrush(COLOURS[i % len(COLOURS)]) for i in range(len(rows))]
        size = [(r.file_size or 0) / 1e6 for r in rows]
        latency = [r.latency_ms or 0.0 for r in rows]
        self.heights = {"size": size, "latency": latency}
        for key, values in (("size", size), ("latency", latency)):
            self.plots[key].addItem(pg.BarGraphItem(x=x, height=values, width=0.6,
                                                    brushes=brushes, pen=pg.mkPen("#333", width=0.5)))
            self.plots[key].getAxis("bottom").setTicks(ticks)
        width = 0.8 / max(len(sources), 1)
        for j, source in enumerate(sources):
            values = [r.sdr.get(source, 0.0) for r in rows]
            self.heights[f"sdr:{source}"] = values
            self.plots["sdr"].addItem(pg.BarGraphItem(
                x=x - 0.4 + width * (j + 0.5), height=values, width=width * 0.9,
                brush=pg.mkBrush(COLOURS[(j + 1) % len(COLOURS)]), name=source))
        self.plots["sdr"].getAxis("bottom").setTicks(ticks)


class ResultsPanel(ChartSlot):
    """``add_result(result)`` appends a variant; rows: FP32 first, then each result."""

    # what quantizing gains and what it costs first (size, speed, SDR change per stem), so
    # they are in sight beside the sensitivity chart; the raw figures after them
    NAME_WIDTH = 230        # px; longer names are elided in the middle, whole in the tooltip

    def __init__(self, parent: Optional[QWidget] = None):
        table, chart = QTableWidget(), ComparisonChart()
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(table)
        split.addWidget(chart)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        super().__init__(content, PLACEHOLDER, parent)
        self.table, self.chart = table, chart
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.results: list[QuantizeResult] = []

    def clear(self) -> None:
        self.results = []
        self.table.setRowCount(0)
        self.setCurrentWidget(self.placeholder)

    def add_result(self, result: QuantizeResult) -> None:
        self.results.append(result)
        self._fill()

    def rows(self) -> list[VariantFigures]:
        if not self.results:
            return []
        rows = [self.results[-1].fp32]
        for r in self.results:
            rows.append(dataclasses.replace(r.quantized, name=f"{r.quantized.name} · {r.path.name}"))
        return rows

    def _fill(self) -> None:
        rows = self.rows()
        sources = list(rows[0].sdr)
        header = (["variant", "size", "× smaller", "× FP32 speed"]
                  + [f"Δ {s}" for s in sources] + ["ms/segment", "mask SNR dB"]
                  + [f"SDR {s}" for s in sources] + ["kept FP32"])
        tips = {"× FP32 speed": "FP32 latency over this variant's (above 1: faster)",
                "mask SNR dB": "Lowest SNR of this variant's masks against FP32's"}
        tips.update({f"Δ {s}": f"SDR change of the {s} stem against FP32, dB (negative: worse)"
                     for s in sources})
        tips.update({f"SDR {s}": f"Median SDR of the {s} stem against the true stems, dB"
                     for s in sources})
        self.table.setColumnCount(len(header))
        self.table.setHorizontalHeaderLabels(header)
        for j, name in enumerate(header):
            self.table.horizontalHeaderItem(j).setToolTip(tips.get(name, ""))
        self.table.setRowCount(len(rows))
        fp32 = rows[0]
        for i, f in enumerate(rows):
            ratio = fp32.file_size / f.file_size if f.file_size and fp32.file_size else None
            speed = fp32.latency_ms / f.latency_ms if f.latency_ms and fp32.latency_ms else None
            cells = [f.name, human_bytes(f.file_size) if f.file_size else "–",
                     f"{ratio:.2f}" if ratio else "–", f"{speed:.2f}" if speed else "–"]
            cells += [_db(f.sdr_delta.get(s), True) for s in sources]
            cells += [f"{f.latency_ms:.1f}" if f.latency_ms else "–", _db(f.mask_snr_db)]
            cells += [_db(f.sdr.get(s)) for s in sources]
            cells += [", ".join(f.fp32_layers) or "none"]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                else:
                    item.setToolTip(text)
                self.table.setItem(i, j, item)
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.resizeColumnToContents(0)
        self.table.setColumnWidth(0, min(self.table.columnWidth(0), self.NAME_WIDTH))
        self.chart.show_rows(rows, sources)
        self.setCurrentWidget(self.content)

    def showing_placeholder(self) -> bool:
        return self.currentWidget() is self.placeholder

    def cell(self, row: int, column: str) -> str:
        header = [self.table.horizontalHeaderItem(j).text() for j in range(self.table.columnCount())]
        return self.table.item(row, header.index(column)).text()
