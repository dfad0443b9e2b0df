"""The Memory tab's panels, each a widget that shows what it is given and says what the user
did through signals; none of them starts a job or knows the tab:

* :class:`SetupForm`: batch sizes, segment, precision, optimizer, the training audio config
  (sample rate, STFT window and hop, sub-bands), GPU budget with presets, Estimate / Cancel
  and the progress bar;
* :class:`ChartPanel`: the memory chart and the status line under it;
* :class:`BreakdownPanel`: the batch choice, the per-mode table, the selection text,
  "Save a training config…" and how it is measured.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDoubleSpinBox, QGroupBox, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QPushButton, QSpinBox, QTableWidget,
                               QTableWidgetItem, QToolButton, QVBoxLayout, QWidget)

from ....core.config import AudioConfig
from ....core.memory import MODE_LABELS, MODES, GiB, ModeResult
from ...memory_chart import MODE_COLORS, MemoryChart
from ...widgets import ChartSlot, job_progress_bar

BUDGET_PRESETS = (6, 8, 12, 16, 24)
OPTIMIZERS = {"adam": "Adam (2 state buffers)", "adamw": "AdamW (2 state buffers)",
              "sgd": "SGD with momentum (1 buffer)", "none": "SGD, no momentum (none)"}
ROWS = ["Parameters", "Gradients", "Optimizer state", "Activations", "Total",
        "Largest batch that fits"]
SHORT_LABELS = {"baseline": "Baseline", "checkpointing": "Check-\npointing",
                "mixed": "Mixed\nprecision", "both": "Both"}


HOW_TEXT = (
    "<b>How this is measured.</b> Activations are the bytes autograd keeps for backward, "
    "counted during a real training step (STFT, model, inverse STFT, waveform L1, backward) at "
    "seven small sizes per mode, with what checkpointed blocks recompute in backward, and "
    "fitted over batch and segment length. Weights, gradients and optimizer state are fp32 "
    "and follow from the parameter count. Not counted: the CUDA context and short-lived "
    "temporaries, hence <i>Keep free</i>.")


def _labelled(row: QHBoxLayout, label: str, widget: QWidget) -> None:
    if row.count():
        row.addSpacing(12)
    row.addWidget(QLabel(label))
    row.addWidget(widget)


def gib(n: int) -> str:
    return f"{n / GiB:.2f} GiB" if n >= 0.1 * GiB else f"{n / 1024 ** 2:.1f} MiB"


def _spin(low: float, high: float, step: float, suffix: str, tip: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setDecimals(2)
    spin.setSingleStep(step)
    spin.setSuffix(suffix)
    spin.setToolTip(tip)
    return spin


class SetupForm(QGroupBox):
    """The training setup to measure and the GPU budget; Estimate, Cancel, progress."""

    estimate_requested = Signal()
    cancel_requested = Signal()
    budget_changed = Signal(float, float)        # budget GiB, kept free GiB

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__("Training setup", parent)
        self.batch_edit = QLineEdit()
        self.batch_edit.setToolTip("Batch sizes to chart: 1,2,4,8 or 1-32 (powers of two in the "
                                   "range) or 2:16:2 (every second)")
        self.batch_edit.setMaximumWidth(200)
        self.segment_spin = _spin(0.1, 60.0, 0.5, " s", "Length of each training example (the "
                                  "model's default is its own segment length)")
        self.precision_combo = QComboBox()
        self.precision_combo.addItem("bf16 autocast", "bf16")
        self.precision_combo.addItem("fp16 autocast", "fp16")
        self.precision_combo.setToolTip("The dtype of the two mixed-precision modes; weights, "
                                        "gradients and optimizer state stay fp32")
        self.optimizer_combo = QComboBox()
        for key, label in OPTIMIZERS.items():
            self.optimizer_combo.addItem(label, key)
        self.optimizer_combo.setToolTip("Optimizer state counted next to the weights")
        self.budget_spin = _spin(0.25, 1024.0, 1.0, " GiB", "Memory of the GPU you will train on")
        self.budget_spin.setMinimumWidth(110)
        self.reserve_spin = _spin(0.0, 64.0, 0.25, " GiB", "Part of the budget kept free for the "
                                  "CUDA context and allocator slack")
        for spin in (self.budget_spin, self.reserve_spin):
            spin.valueChanged.connect(lambda _v: self.budget_changed.emit(self.budget(),
                                                                          self.reserve()))
        self.estimate_button = QPushButton("Estimate")
        self.estimate_button.setDefault(True)
        self.estimate_button.setToolTip("Measure each mode on a real forward/backward pass at "
                                        "small sizes and chart the fitted totals")
        self.estimate_button.clicked.connect(self.estimate_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop measuring; the modes already measured stay")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.progress_bar = job_progress_bar()
        self._audio_spins()
        column = QVBoxLayout(self)
        column.setSpacing(6)
        column.addLayout(self._first_row())
        column.addLayout(self._audio_row())
        column.addLayout(self._second_row())

    def _audio_spins(self) -> None:
        def spin(low: int, high: int, step: int, suffix: str, tip: str) -> QSpinBox:
            box = QSpinBox()
            box.setRange(low, high)
            box.setSingleStep(step)
            box.setSuffix(suffix)
            box.setToolTip(tip)
            return box

        self.rate_spin = spin(8000, 384000, 100, " Hz", "Sample rate the model is trained at "
                              "(the training audio is resampled to it)")
        self.n_fft_spin = spin(16, 1 << 16, 256, "", "STFT window in samples (even); the "
                               "spectrogram has n_fft / 2 + 1 frequency bins")
        self.hop_spin = spin(1, 1 << 15, 1, "", "STFT hop in samples, at most half the window "
                             "(the paper used 441 at 44.1 kHz: 100 frames per second)")
        self.subbands_spin = spin(1, 64, 1, "", "Frequency sub-bands stacked as channels")
        self.audio_spins = (self.rate_spin, self.n_fft_spin, self.hop_spin, self.subbands_spin)

    def _audio_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        for label, widget in (("Sample rate:", self.rate_spin), ("STFT window:", self.n_fft_spin),
                              ("Hop:", self.hop_spin), ("Sub-bands:", self.subbands_spin)):
            _labelled(row, label, widget)
        row.addStretch(1)
        return row

    def _first_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        for label, widget in (("Batch sizes:", self.batch_edit), ("Segment:", self.segment_spin),
                              ("Mixed precision:", self.precision_combo),
                              ("Optimizer:", self.optimizer_combo)):
            _labelled(row, label, widget)
        row.addStretch(1)
        return row

    def _second_row(self) -> QHBoxLayout:
        presets = QHBoxLayout()
        presets.setSpacing(2)
        self.preset_buttons: dict[int, QToolButton] = {}
        for gb in BUDGET_PRESETS:
            button = QToolButton()
            button.setText(f"{gb}")
            button.setToolTip(f"A {gb} GB GPU")
            button.clicked.connect(lambda _c=False, gb=gb: self.budget_spin.setValue(gb))
            presets.addWidget(button)
            self.preset_buttons[gb] = button
        presets.addWidget(QLabel("GB"))
        row = QHBoxLayout()
        _labelled(row, "GPU budget:", self.budget_spin)
        row.addLayout(presets)
        _labelled(row, "Keep free:", self.reserve_spin)
        row.addSpacing(18)
        row.addWidget(self.estimate_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.progress_bar, 1)
        return row

    # -- values
    def budget(self) -> float:
        return self.budget_spin.value()

    def reserve(self) -> float:
        return self.reserve_spin.value()

    def settings(self) -> dict:
        """The values the tab remembers between sessions."""
        return {"batches": self.batch_edit.text(), "precision": self.precision_combo.currentData(),
                "optimizer": self.optimizer_combo.currentData(), "budget_gb": self.budget(),
                "reserve_gb": self.reserve()}

    def restore(self, batches: str, precision: str, optimizer: str, budget_gb: float,
                reserve_gb: float) -> None:
        self.batch_edit.setText(batches)
        self.precision_combo.setCurrentIndex(max(self.precision_combo.findData(precision), 0))
        self.optimizer_combo.setCurrentIndex(max(self.optimizer_combo.findData(optimizer), 0))
        self.budget_spin.setValue(budget_gb)
        self.reserve_spin.setValue(reserve_gb)

    def show_audio(self, audio: AudioConfig) -> None:
        """Fill the segment and the audio settings from a model's audio config."""
        self.segment_spin.setValue(audio.segment_seconds)
        for spin, value in zip(self.audio_spins, (audio.sample_rate, audio.n_fft,
                                                  audio.hop_length, audio.subbands)):
            spin.setValue(value)

    def audio_settings(self) -> dict:
        """The training audio config as :class:`~app.core.config.AudioConfig` fields."""
        return {"sample_rate": self.rate_spin.value(), "n_fft": self.n_fft_spin.value(),
                "hop_length": self.hop_spin.value(), "subbands": self.subbands_spin.value(),
                "segment_seconds": self.segment_spin.value()}

    def plan_settings(self) -> dict:
        """The measurement settings, as :func:`app.core.memory.plan_memory` keywords."""
        return {"segment_seconds": self.segment_spin.value(),
                "mixed_precision": self.precision_combo.currentData(),
                "optimizer": self.optimizer_combo.currentData()}

    def set_state(self, has_model: bool, busy: bool) -> None:
        for w in (self.batch_edit, self.segment_spin, self.precision_combo,
                  self.optimizer_combo, self.estimate_button, *self.audio_spins):
            w.setEnabled(has_model and not busy)
        self.cancel_button.setEnabled(busy)


class ChartPanel(QGroupBox):
    """The fitted totals per mode and batch (:class:`MemoryChart`), and a status line."""

    point_clicked = Signal(str, int)      # mode, batch

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__("Total memory per training step", parent)
        self.chart = MemoryChart()
        self.chart.setToolTip("One line per mode; the dashed line is the budget and the star on "
                              "each line the largest batch that fits. Click a point to see its "
                              "breakdown.")
        self.chart.point_clicked.connect(self.point_clicked)
        self.slot = ChartSlot(self.chart, "Press <b>Estimate</b> to measure the memory of a "
                                          "training step: one line per mode, against batch size, "
                                          "with your GPU budget.")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color:#555")
        layout = QVBoxLayout(self)
        layout.addWidget(self.slot, 1)
        layout.addWidget(self.status)


class BreakdownPanel(QGroupBox):
    """Memory of one training step at the chosen batch, per mode, and the chosen point."""

    batch_changed = Signal(int)           # the batch box
    mode_clicked = Signal(str)            # a column title
    save_requested = Signal()

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__("Breakdown", parent)
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(QLabel("At batch size:"))
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 1 << 16)
        self.batch_spin.setToolTip("The batch the table describes (click a point to choose)")
        self.batch_spin.valueChanged.connect(self.batch_changed)
        row.addWidget(self.batch_spin)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addWidget(self._table())
        self.selection_label = QLabel()
        self.selection_label.setWordWrap(True)
        layout.addWidget(self.selection_label)
        self.save_button = QPushButton("Save a training config…")
        self.save_button.setToolTip("Write the selected mode and batch to training-config.json "
                                    "(tfswa-studio train --config reads it)")
        self.save_button.clicked.connect(self.save_requested)
        layout.addWidget(self.save_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addSpacing(8)
        note = QLabel(HOW_TEXT)
        note.setWordWrap(True)
        note.setStyleSheet("color:#555")
        layout.addWidget(note)
        layout.addStretch(1)

    def _table(self) -> QTableWidget:
        self.table = QTableWidget(len(ROWS), len(MODES))
        self.table.setVerticalHeaderLabels(ROWS)
        self.table.setHorizontalHeaderLabels([SHORT_LABELS[m] for m in MODES])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().sectionClicked.connect(
            lambda col: self.mode_clicked.emit(MODES[col]))
        self.table.setToolTip("Memory of one training step at the chosen batch, per mode. "
                              "Activations are measured; the rest follows from the "
                              "parameter count. Click a column title to choose its mode.")
        self.table.resizeRowsToContents()
        rows = sum(self.table.rowHeight(r) for r in range(self.table.rowCount()))
        self.table.setFixedHeight(rows + self.table.horizontalHeader().sizeHint().height() + 6)
        return self.table

    def batch(self) -> int:
        return self.batch_spin.value()

    def set_batch(self, batch: int) -> None:
        """Show ``batch`` in the box without emitting ``batch_changed``."""
        if self.batch_spin.value() != batch:
            self.batch_spin.blockSignals(True)
            self.batch_spin.setValue(int(batch))
            self.batch_spin.blockSignals(False)

    def show_results(self, results: dict[str, ModeResult], selected: Optional[str],
                     max_batches: dict[str, int]) -> None:
        """Fill the table at the box's batch: one column per mode, ``selected`` in bold."""
        batch = self.batch()
        for col, name in enumerate(MODES):
            result = results.get(name)
            header = QTableWidgetItem(SHORT_LABELS[name])
            font = QFont(self.table.font())
            font.setBold(name == selected)
            header.setFont(font)
            header.setToolTip(MODE_LABELS[name])
            self.table.setHorizontalHeaderItem(col, header)
            values = ["—"] * len(ROWS)
            if result is not None:
                e = result.estimate_at(batch)
                best = max_batches.get(name)
                values = [gib(e.parameters), gib(e.gradients), gib(e.optimizer_state),
                          gib(e.activations), gib(e.total),
                          "—" if best is None else (str(best) if best else "none")]
            for row, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if name == selected:
                    item.setFont(font)
                    item.setForeground(QColor(MODE_COLORS[name]))
                self.table.setItem(row, col, item)

    def describe(self, result: Optional[ModeResult], batch: int, budget: float,
                 reserve: float) -> None:
        """The selection in words: its total and whether it fits the budget."""
        if result is None:
            self.selection_label.setText("Click a point on the chart to choose a mode and batch.")
            return
        e = result.estimate_at(batch)
        verdict = "fits" if result.fits(batch, budget, reserve) else "does <b>not</b> fit"
        self.selection_label.setText(
            f"<b>{MODE_LABELS[result.mode]}</b>, batch {batch}: {gib(e.total)} in total, which "
            f"{verdict} the {budget:g} GiB budget"
            + (f" with {reserve:g} GiB kept free." if reserve else "."))
