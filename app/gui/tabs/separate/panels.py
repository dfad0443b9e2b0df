"""The Separate tab's panels, each a widget that shows what it is given and says what the user
did through signals; none of them starts a job or knows the tab:

* :class:`SongForm`: the song and the settings (audio file, recent files, variant, segment,
  overlap, exact sum) and Separate / Cancel / progress / Save stems;
* :class:`PlotArea`: the empty state, or the stem plots (:class:`~app.gui.stemview.StemView`);
* :class:`Transport`: play / pause, the track to hear, the playhead time, the view mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QGridLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QMenu, QPushButton, QScrollArea,
                               QSpinBox, QStackedWidget, QToolButton, QWidget)

from ....core.config import AudioConfig
from ....core.jobs import format_seconds
from ....core.separation import SeparationOptions
from ....core.workspace import Variant
from ...stemview import MODES, StemView
from ...widgets import EmptyState, job_progress_bar


class SongForm(QGroupBox):
    """Which song, which variant, how to cut it; the buttons that act on it."""

    choose_requested = Signal()
    recent_requested = Signal()           # the Recent menu is about to open: fill it
    audio_chosen = Signal(object)         # a Path picked from the Recent menu
    separate_requested = Signal()
    cancel_requested = Signal()
    save_requested = Signal()

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__("Song and settings", parent)
        grid = QGridLayout(self)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(6)
        self._song_row(grid)
        self._settings_row(grid)
        self._actions_row(grid)
        for column, stretch in ((1, 3), (3, 1), (5, 1), (7, 1), (9, 2)):
            grid.setColumnStretch(column, stretch)

    def _song_row(self, grid: QGridLayout) -> None:
        self.audio_edit = QLineEdit()
        self.audio_edit.setReadOnly(True)
        self.audio_edit.setPlaceholderText("Choose an audio file, or drop one onto the window")
        self.choose_button = QPushButton("Choose audio…")
        self.choose_button.setToolTip("Open an audio file to separate (Ctrl+Shift+O)")
        self.choose_button.clicked.connect(self.choose_requested)
        self.recent_button = QToolButton()
        self.recent_button.setText("Recent")
        self.recent_button.setToolTip("Audio files opened recently")
        self.recent_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recent_menu = QMenu(self.recent_button)
        self.recent_menu.aboutToShow.connect(self.recent_requested)
        self.recent_button.setMenu(self.recent_menu)
        self.audio_info = QLabel("")
        self.audio_info.setStyleSheet("color:#555")
        grid.addWidget(QLabel("Audio file:"), 0, 0, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.audio_edit, 0, 1, 1, 5)
        grid.addWidget(self.choose_button, 0, 6)
        grid.addWidget(self.recent_button, 0, 7)
        grid.addWidget(self.audio_info, 0, 8, 1, 2)

    def _settings_row(self, grid: QGridLayout) -> None:
        self.variant_combo = QComboBox()
        self.variant_combo.setMinimumWidth(220)
        self.variant_combo.setToolTip("Which variant of the model separates: the PyTorch model, "
                                      "or an exported / quantized file made from it")
        self.segment_spin = QDoubleSpinBox()
        self.segment_spin.setRange(0.5, 60.0)
        self.segment_spin.setSingleStep(0.5)
        self.segment_spin.setDecimals(2)
        self.segment_spin.setSuffix(" s")
        self.segment_spin.setValue(AudioConfig().segment_seconds)
        self.segment_spin.setToolTip("Length of each chunk given to the model (default: the "
                                     "model's training segment)")
        self.overlap_spin = QSpinBox()
        self.overlap_spin.setRange(0, 90)
        self.overlap_spin.setSingleStep(5)
        self.overlap_spin.setValue(25)
        self.overlap_spin.setSuffix(" %")
        self.overlap_spin.setToolTip("Share of each segment that overlaps the next one; the "
                                     "overlap is cross-faded so there are no seams")
        self.exact_sum_check = QCheckBox("Stems add up to the mix exactly")
        self.exact_sum_check.setToolTip("The last stem takes the residual, so the stems sum to "
                                        "the mixture sample for sample")
        right = Qt.AlignmentFlag.AlignRight
        grid.addWidget(QLabel("Model:"), 1, 0, right)
        grid.addWidget(self.variant_combo, 1, 1)
        grid.addWidget(QLabel("Segment:"), 1, 2, right)
        grid.addWidget(self.segment_spin, 1, 3)
        grid.addWidget(QLabel("Overlap:"), 1, 4, right)
        grid.addWidget(self.overlap_spin, 1, 5)
        grid.addWidget(self.exact_sum_check, 1, 6, 1, 4)

    def _actions_row(self, grid: QGridLayout) -> None:
        self.separate_button = QPushButton("Separate")
        self.separate_button.setDefault(True)
        self.separate_button.setMinimumWidth(110)
        self.separate_button.clicked.connect(self.separate_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the separation (Esc); no file is left behind")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.progress_bar = job_progress_bar()
        self.save_button = QPushButton("Save stems…")
        self.save_button.setToolTip("Copy the stems to a folder as {track}/{stem}.wav (Ctrl+S)")
        self.save_button.clicked.connect(self.save_requested)
        actions = QHBoxLayout()
        actions.setSpacing(8)
        actions.addWidget(self.separate_button)
        actions.addWidget(self.cancel_button)
        actions.addWidget(self.progress_bar, 1)
        actions.addWidget(self.save_button)
        grid.addLayout(actions, 2, 1, 1, 9)

    # -- what it shows
    def set_recent(self, paths: Sequence[Path]) -> None:
        self.recent_menu.clear()
        for path in paths:
            action = self.recent_menu.addAction(path.name)
            action.setToolTip(str(path))
            action.triggered.connect(lambda _=False, p=path: self.audio_chosen.emit(p))
        if not paths:
            self.recent_menu.addAction("(no recent audio files)").setEnabled(False)

    def set_variants(self, variants: Sequence[Variant]) -> None:
        """List ``variants``, keeping the current choice when it is still there."""
        current = self.variant()
        key = (current.kind, str(current.path)) if current is not None else None
        combo = self.variant_combo
        combo.blockSignals(True)
        combo.clear()
        for variant in variants:
            combo.addItem(variant.name, variant)
            combo.setItemData(combo.count() - 1, str(variant.path or ""),
                              Qt.ItemDataRole.ToolTipRole)
            if key == (variant.kind, str(variant.path)):
                combo.setCurrentIndex(combo.count() - 1)
        if not variants:
            combo.addItem("(no model loaded)", None)
        combo.blockSignals(False)

    def variant(self) -> Optional[Variant]:
        return self.variant_combo.currentData()

    def options(self) -> SeparationOptions:
        return SeparationOptions(segment=self.segment_spin.value(),
                                 overlap=self.overlap_spin.value() / 100.0,
                                 exact_sum=self.exact_sum_check.isChecked())

    def set_state(self, *, has_model: bool, has_audio: bool, separating: bool, reading: bool,
                  can_save: bool) -> None:
        for w in (self.variant_combo, self.segment_spin, self.overlap_spin, self.exact_sum_check):
            w.setEnabled(has_model and not separating)
        self.choose_button.setEnabled(not separating)
        self.recent_button.setEnabled(not separating)
        self.separate_button.setEnabled(has_model and has_audio and not separating
                                        and not reading)
        self.separate_button.setToolTip(
            "Open a model first (Ctrl+O)" if not has_model else
            "Choose an audio file first (Ctrl+Shift+O)" if not has_audio else
            "Separate the song into stems (Ctrl+Enter)")
        self.cancel_button.setEnabled(separating)
        self.save_button.setEnabled(can_save)


class PlotArea(QStackedWidget):
    """The empty state until a song is open, then the stem plots in a scroll area."""

    choose_requested = Signal()

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.stem_view = StemView()
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll.setWidget(self.stem_view)
        self.empty = EmptyState(
            "Choose a song to separate",
            "Click <b>Choose audio…</b> (Ctrl+Shift+O) or drop a WAV, FLAC, OGG or MP3 file "
            "onto the window. Its waveform and spectrogram appear here, then those of each "
            "stem after <b>Separate</b> (Ctrl+Enter).",
            [("Choose audio…", self.choose_requested.emit)])
        self.addWidget(self.empty)
        self.addWidget(self.scroll)

    def show_plots(self, shown: bool) -> None:
        self.setCurrentIndex(1 if shown else 0)


class Transport(QWidget):
    """Play / pause, the track to hear, the playhead and what to draw for each track."""

    play_requested = Signal()             # play or pause
    track_chosen = Signal(object)         # the chosen track's Path, or None
    mode_chosen = Signal(str)             # a stemview.MODES key

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.play_button = QPushButton("Play")
        self.play_button.setMinimumWidth(80)
        self.play_button.setToolTip("Play or pause the chosen track (Space)")
        self.play_button.clicked.connect(self.play_requested)
        self.track_combo = QComboBox()
        self.track_combo.setMinimumWidth(160)
        self.track_combo.setToolTip("The track to listen to")
        self.track_combo.currentIndexChanged.connect(self._track_chosen)
        self.time_label = QLabel("0:00.0 / 0:00.0")
        self.time_label.setToolTip("Playhead position / duration (m:ss)")
        self.playback_label = QLabel("")
        self.playback_label.setStyleSheet("color:#8a6d3b")
        self.mode_combo = QComboBox()
        for key, label in MODES.items():
            self.mode_combo.addItem(label, key)
        self.mode_combo.setToolTip("What to draw for each track")
        self.mode_combo.currentIndexChanged.connect(
            lambda: self.mode_chosen.emit(self.mode_combo.currentData()))
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        row.addWidget(self.play_button)
        row.addWidget(QLabel("Track:"))
        row.addWidget(self.track_combo)
        row.addWidget(self.time_label)
        row.addWidget(self.playback_label, 1)
        row.addWidget(QLabel("View:"))
        row.addWidget(self.mode_combo)

    def _track_chosen(self) -> None:
        path = self.track_combo.currentData()
        self.track_chosen.emit(Path(path) if path else None)

    def set_tracks(self, tracks: Sequence[tuple[str, Path]]) -> None:
        """List ``(name, path)`` tracks, keeping the chosen name if it is still there, and
        emit ``track_chosen`` for the one chosen now."""
        combo = self.track_combo
        combo.blockSignals(True)
        current = combo.currentText()
        combo.clear()
        for name, path in tracks:
            combo.addItem(name, str(path))
        combo.setCurrentIndex(max(combo.findText(current), 0))
        combo.blockSignals(False)
        self._track_chosen()

    def set_playing(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")

    def show_time(self, seconds: float, duration: float) -> None:
        self.time_label.setText(f"{format_seconds(seconds, 1)} / {format_seconds(duration, 1)}")

    def show_problem(self, text: str) -> None:
        self.playback_label.setText(text)
