"""Waveforms and spectrograms of a mixture and its stems, linked in time, with a playhead.

Only drawing happens here: the envelopes and spectrogram images come ready-made from
:mod:`app.core.audio.display` (computed in a worker). Every plot shares the first plot's time axis
(``setXLink``), so zooming or panning one moves all; the playhead is a line in every plot,
dragged or clicked to seek, and redrawn by a timer at a steady rate while audio plays.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Signal

from ..core.audio import TrackDisplay

MODES = {"both": "Waveforms and spectrograms", "waveform": "Waveforms",
         "spectrogram": "Spectrograms"}
COLORS = ["#2c3e50", "#d35400", "#2471a3", "#1e8449", "#7d3c98", "#117a65", "#b7950b"]
PLAYHEAD = "#e74c3c"
DYNAMIC_RANGE_DB = 80.0
AXIS_WIDTH = 58
LABEL_WIDTH = 110


def frequency_ticks(frequencies: np.ndarray, scale: str) -> list[tuple[float, str]]:
    """Tick positions (image rows) for round frequencies within the image's range."""
    rows = np.arange(len(frequencies)) + 0.5
    marks = [100, 1000, 10_000] if scale == "log" else [0, 10_000, 20_000]
    ticks = []
    lo, hi = float(frequencies[0]), float(frequencies[-1])
    for f in marks:
        if lo <= f <= hi:
            if scale == "log":
                row = float(np.interp(math.log(f), np.log(frequencies), rows))
            else:
                row = float(np.interp(f, frequencies, rows))
            ticks.append((row, f"{f / 1000:g} kHz" if f >= 1000 else f"{f} Hz"))
    return ticks


def amplitude_mark(peak: float) -> float:
    """A round amplitude well inside ``[-peak, peak]`` for the waveform axis ticks."""
    for mark in (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001):
        if mark <= 0.7 * peak:
            return mark
    return 0.001


class StemView(pg.GraphicsLayoutWidget):
    """One labelled row per track (mixture first): waveform and/or spectrogram."""

    seek_requested = Signal(float)      # seconds, from a drag or click by the user

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground("w")
        self.ci.layout.setContentsMargins(4, 4, 12, 4)
        self.ci.layout.setVerticalSpacing(3)
        self.tracks: dict[str, TrackDisplay] = {}
        self.notes: dict[str, str] = {}
        self.mode = "both"
        self.plots: list[pg.PlotItem] = []
        self.playheads: list[pg.InfiniteLine] = []
        self.images: list[pg.ImageItem] = []
        self.position = 0.0
        self._shown_position = 0.0
        self._redraw = QTimer(self)           # playhead redraw at a steady 25 Hz
        self._redraw.setInterval(40)
        self._redraw.timeout.connect(self._draw_playhead)
        self._redraw.start()
        self.scene().sigMouseClicked.connect(self._clicked)

    # -- content
    def set_tracks(self, tracks: dict[str, TrackDisplay],
                   notes: Optional[dict[str, str]] = None) -> None:
        """``notes``: an extra line under a track's name (e.g. its SDR against the truth)."""
        self.tracks = dict(tracks)
        self.notes = dict(notes or {})
        self.rebuild()

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown view mode {mode}")
        self.mode = mode
        self.rebuild()

    @property
    def duration(self) -> float:
        return max((t.duration for t in self.tracks.values()), default=0.0)

    def rows_per_track(self) -> int:
        return 2 if self.mode == "both" else 1

    def rebuild(self) -> None:
        self.clear()
        self.plots, self.playheads, self.images = [], [], []
        self.setMinimumHeight(0)
        if not self.tracks:
            return
        peak = max(max(t.peak for t in self.tracks.values()), 1e-3) * 1.05
        top_db = max(t.spectrogram.peak_db for t in self.tracks.values())
        row = 0
        for i, (name, track) in enumerate(self.tracks.items()):
            color = COLORS[i % len(COLORS)]
            note = self.notes.get(name)
            extra = f"<br><span style='color:#222'>{note}</span>" if note else ""
            label = self.addLabel(f"<b>{name}</b><br><span style='color:#666'>"
                                  f"peak {20 * math.log10(max(track.peak, 1e-6)):.1f} dBFS</span>"
                                  + extra,
                                  row=row, col=0, rowspan=self.rows_per_track(), color=color)
            label.setFixedWidth(LABEL_WIDTH)
            if self.mode in ("both", "waveform"):
                self._waveform(row, track, color, peak)
                self.ci.layout.setRowStretchFactor(row, 2)
                row += 1
            if self.mode in ("both", "spectrogram"):
                self._spectrogram(row, track, top_db)
                self.ci.layout.setRowStretchFactor(row, 3)
                row += 1
        first = self.plots[0]
        for plot in self.plots:
            plot.setXLink(first)
            plot.setLimits(xMin=0.0, xMax=max(self.duration, 1e-3))
        for plot in self.plots[:-1]:
            plot.getAxis("bottom").setStyle(showValues=False)
            plot.getAxis("bottom").setHeight(4)
        self.plots[-1].setLabel("bottom", "Time", units="s")
        self.plots[-1].getAxis("bottom").setHeight(40)
        first.setXRange(0.0, max(self.duration, 1e-3), padding=0)
        self.setMinimumHeight(self.minimum_content_height())   # the scroll area scrolls below
        self._shown_position = -1.0
        self._draw_playhead()

    def _plot(self, row: int) -> pg.PlotItem:
        plot = self.addPlot(row=row, col=1)
        plot.setMouseEnabled(x=True, y=False)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.getAxis("left").setWidth(AXIS_WIDTH)
        plot.setMinimumHeight(56)
        for side in ("left", "bottom"):
            plot.getAxis(side).setTextPen("#444")
            plot.getAxis(side).setPen("#999")
        line = pg.InfiniteLine(pos=self.position, angle=90, movable=True,
                               pen=pg.mkPen(PLAYHEAD, width=1.5),
                               hoverPen=pg.mkPen(PLAYHEAD, width=3))
        line.setZValue(10)
        line.setToolTip("Playhead: drag or click in any plot to seek")
        line.sigDragged.connect(self._dragged)
        plot.addItem(line)
        self.plots.append(plot)
        self.playheads.append(line)
        return plot

    def _waveform(self, row: int, track: TrackDisplay, color: str, peak: float) -> None:
        plot = self._plot(row)
        env = track.envelope
        x = np.append(env.times, track.duration)           # step ends at the last sample
        pen = pg.mkPen(color, width=1)
        upper = pg.PlotDataItem(x, np.append(env.upper, env.upper[-1:]), pen=pen)
        lower = pg.PlotDataItem(x, np.append(env.lower, env.lower[-1:]), pen=pen)
        fill = pg.FillBetweenItem(lower, upper, brush=pg.mkBrush(pg.mkColor(color).lighter(130)))
        for item in (fill, upper, lower):
            plot.addItem(item)
        plot.setYRange(-peak, peak, padding=0)
        plot.setLimits(yMin=-peak, yMax=peak)
        mark = amplitude_mark(peak)
        plot.getAxis("left").setTicks([[(-mark, f"{-mark:g}"), (0.0, "0"), (mark, f"{mark:g}")]])
        plot.getAxis("left").setToolTip("Amplitude (full scale = 1)")
        plot.addItem(pg.InfiniteLine(pos=0.0, angle=0, pen=pg.mkPen("#bbb", width=1)))

    def _spectrogram(self, row: int, track: TrackDisplay, top_db: float) -> None:
        plot = self._plot(row)
        spec = track.spectrogram
        image = pg.ImageItem(spec.db, axisOrder="row-major")
        image.setColorMap(pg.colormap.get("inferno"))
        image.setLevels((top_db - DYNAMIC_RANGE_DB, top_db))
        bands = spec.db.shape[0]
        image.setRect(QRectF(0.0, 0.0, max(spec.duration, 1e-3), bands))
        plot.addItem(image)
        plot.setYRange(0, bands, padding=0)
        plot.setLimits(yMin=0, yMax=bands)
        plot.getAxis("left").setTicks([frequency_ticks(spec.frequencies, spec.scale)])
        plot.getAxis("left").setToolTip(f"Frequency ({spec.scale} scale); colour: level in dB, "
                                        f"{DYNAMIC_RANGE_DB:.0f} dB range")
        self.images.append(image)

    # -- playhead
    def set_position(self, seconds: float) -> None:
        """Move the playhead (drawn at the next timer tick)."""
        self.position = min(max(float(seconds), 0.0), self.duration or 0.0)

    def _draw_playhead(self) -> None:
        if self.position == self._shown_position:
            return
        self._shown_position = self.position
        for line in self.playheads:
            line.blockSignals(True)
            line.setValue(self.position)
            line.blockSignals(False)

    def _dragged(self, line: pg.InfiniteLine) -> None:
        self.set_position(line.value())
        self._draw_playhead()
        self.seek_requested.emit(self.position)

    def _clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        for plot in self.plots:
            if plot.vb.sceneBoundingRect().contains(event.scenePos()):
                self.set_position(plot.vb.mapSceneToView(event.scenePos()).x())
                self._draw_playhead()
                self.seek_requested.emit(self.position)
                return

    def minimum_content_height(self) -> int:
        return len(self.plots) * 58 + 40
