"""The Separate tab's widgets: the song-and-settings form (audio file, recent files, variant
picker, segment, overlap, exact sum, Separate / Cancel / progress / Save), the stack that shows
the empty state or the stem plots, the playback transport row and the tab's keyboard shortcuts.
:class:`SeparatePanels` is mixed into :class:`~app.gui.tabs.separate.SeparateTab`, so every
widget stays an attribute of the tab (``tab.exact_sum_check``, ``tab.stem_view``, ...) and the
buttons call the tab's methods; nothing here starts a job or computes anything.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QGridLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QMenu, QPushButton, QScrollArea,
                               QSpinBox, QStackedWidget, QToolButton, QWidget)

from ...core.config import AudioConfig
from ..stemview import MODES, StemView
from ..widgets import EmptyState, NoModelNotice, job_progress_bar


def clock(seconds: float) -> str:
    minutes, rest = divmod(max(seconds, 0.0), 60)
    return f"{int(minutes)}:{rest:04.1f}"


class SeparatePanels:
    """Builds the Separate tab's widgets onto the tab (a mixin for ``SeparateTab``)."""

    # ------------------------------------------------------------------ building
    def _no_model_notice(self) -> QWidget:
        self.notice = NoModelNotice(
            "<b>No model loaded.</b> Open a checkpoint with File ▸ Open checkpoint… (Ctrl+O) "
            "or drop one here. To make an untrained one: "
            "<code>tfswa-studio init --out model.pt</code>",
            self.ctx.window.open_checkpoint_dialog)
        return self.notice

    def _controls(self) -> QWidget:
        box = QGroupBox("Song and settings")
        grid = QGridLayout(box)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(6)

        self.audio_edit = QLineEdit()
        self.audio_edit.setReadOnly(True)
        self.audio_edit.setPlaceholderText("Choose an audio file, or drop one onto the window")
        self.choose_button = QPushButton("Choose audio…")
        self.choose_button.setToolTip("Open an audio file to separate (Ctrl+Shift+O)")
        self.choose_button.clicked.connect(self.choose_audio)
        self.recent_button = QToolButton()
        self.recent_button.setText("Recent")
        self.recent_button.setToolTip("Audio files opened recently")
        self.recent_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recent_menu = QMenu(self.recent_button)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.recent_button.setMenu(self.recent_menu)
        self.audio_info = QLabel("")
        self.audio_info.setStyleSheet("color:#555")
        grid.addWidget(QLabel("Audio file:"), 0, 0, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.audio_edit, 0, 1, 1, 5)
        grid.addWidget(self.choose_button, 0, 6)
        grid.addWidget(self.recent_button, 0, 7)
        grid.addWidget(self.audio_info, 0, 8, 1, 2)

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
        grid.addWidget(QLabel("Model:"), 1, 0, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.variant_combo, 1, 1)
        grid.addWidget(QLabel("Segment:"), 1, 2, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.segment_spin, 1, 3)
        grid.addWidget(QLabel("Overlap:"), 1, 4, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.overlap_spin, 1, 5)
        grid.addWidget(self.exact_sum_check, 1, 6, 1, 4)

        self.separate_button = QPushButton("Separate")
        self.separate_button.setDefault(True)
        self.separate_button.setMinimumWidth(110)
        self.separate_button.clicked.connect(self.separate)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the separation (Esc); no file is left behind")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_bar = job_progress_bar()
        self.save_button = QPushButton("Save stems…")
        self.save_button.setToolTip("Copy the stems to a folder as {track}/{stem}.wav")
        self.save_button.clicked.connect(lambda: self.save_stems())
        actions = QHBoxLayout()
        actions.setSpacing(8)
        actions.addWidget(self.separate_button)
        actions.addWidget(self.cancel_button)
        actions.addWidget(self.progress_bar, 1)
        actions.addWidget(self.save_button)
        grid.addLayout(actions, 2, 1, 1, 9)
        grid.setColumnStretch(1, 3)
        grid.setColumnStretch(3, 1)
        grid.setColumnStretch(5, 1)
        grid.setColumnStretch(7, 1)
        grid.setColumnStretch(9, 2)
        return box

    def _plots(self) -> QWidget:
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
            [("Choose audio…", self.choose_audio)])
        self.plot_stack = QStackedWidget()
        self.plot_stack.addWidget(self.empty)
        self.plot_stack.addWidget(self.scroll)
        return self.plot_stack

    def _transport(self) -> QHBoxLayout:
        self.play_button = QPushButton("Play")
        self.play_button.setMinimumWidth(80)
        self.play_button.setToolTip("Play or pause the chosen track (Space)")
        self.play_button.clicked.connect(self.toggle_playback)
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
            lambda: self._set_mode(self.mode_combo.currentData()))
        row = QHBoxLayout()
        row.setSpacing(8)
        row.addWidget(self.play_button)
        row.addWidget(QLabel("Track:"))
        row.addWidget(self.track_combo)
        row.addWidget(self.time_label)
        row.addWidget(self.playback_label, 1)
        row.addWidget(QLabel("View:"))
        row.addWidget(self.mode_combo)
        if not self.player.available:
            self.playback_label.setText(f"Playback unavailable: {self.player.reason}")
        return row

    def _actions(self) -> None:
        """Shortcuts that work while this tab is shown."""
        specs = [("Separate", [QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")],
                  self.separate),
                 ("Cancel separation", [QKeySequence("Esc")], self.cancel),
                 ("Play / pause", [QKeySequence("Space")], self.toggle_playback),
                 ("Save stems…", [QKeySequence.StandardKey.Save], lambda: self.save_stems())]
        self.shortcut_actions: dict[str, QAction] = {}
        for text, keys, slot in specs:
            action = QAction(text, self)
            action.setShortcuts(keys)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(slot)
            self.addAction(action)
            self.shortcut_actions[text] = action
        self.separate_button.setText("Separate")
        self.separate_button.setToolTip("Separate the song into stems (Ctrl+Enter)")
        self.save_button.setToolTip("Copy the stems to a folder as {track}/{stem}.wav (Ctrl+S)")
