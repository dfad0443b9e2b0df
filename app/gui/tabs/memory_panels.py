"""The Memory tab's widgets and its breakdown table: the training-setup form (batch sizes,
segment, precision, optimizer, GPU budget with presets, Estimate / Cancel / progress), the chart
box, the breakdown box (batch choice, per-mode table, selection text, "Save a training config…",
how it is measured), and filling that table and text from the measured
:class:`app.core.memory.ModeResult` figures. :class:`MemoryPanels` is mixed into
:class:`~app.gui.tabs.memory.MemoryTab`, so every widget stays an attribute of the tab
(``tab.batch_edit``, ``tab.budget_spin``, ``tab.table``, ...); only formatting happens here.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDoubleSpinBox, QGroupBox, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QPushButton, QSpinBox, QTableWidget,
                               QTableWidgetItem, QToolButton, QVBoxLayout, QWidget)

from ...core.memory import MODE_LABELS, MODES, GiB
from ..memory_chart import MODE_COLORS, MemoryChart
from ..widgets import NoModelNotice, job_progress_bar

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


class MemoryPanels:
    """Builds the Memory tab's widgets onto the tab and fills its breakdown table (a mixin
    for ``MemoryTab``)."""

    # ------------------------------------------------------------------ building
    def _no_model_notice(self) -> QWidget:
        self.notice = NoModelNotice(
            "<b>No model loaded.</b> Open a checkpoint with File ▸ Open checkpoint… (Ctrl+O) "
            "to estimate its training memory.",
            self.ctx.window.open_checkpoint_dialog)
        return self.notice

    def _settings(self) -> QWidget:
        box = QGroupBox("Training setup")
        self.batch_edit = QLineEdit()
        self.batch_edit.setToolTip("Batch sizes to chart: 1,2,4,8 or 1-32 (powers of two in the "
                                   "range) or 2:16:2 (every second)")
        self.segment_spin = QDoubleSpinBox()
        self.segment_spin.setRange(0.1, 60.0)
        self.segment_spin.setDecimals(2)
        self.segment_spin.setSingleStep(0.5)
        self.segment_spin.setSuffix(" s")
        self.segment_spin.setToolTip("Length of each training example (the model's default is "
                                     "its own segment length)")
        self.precision_combo = QComboBox()
        self.precision_combo.addItem("bf16 autocast", "bf16")
        self.precision_combo.addItem("fp16 autocast", "fp16")
        self.precision_combo.setToolTip("The dtype of the two mixed-precision modes; weights, "
                                        "gradients and optimizer state stay fp32")
        self.optimizer_combo = QComboBox()
        for key, label in OPTIMIZERS.items():
            self.optimizer_combo.addItem(label, key)
        self.optimizer_combo.setToolTip("Optimizer state counted next to the weights")
        self.budget_spin = QDoubleSpinBox()
        self.budget_spin.setRange(0.25, 1024.0)
        self.budget_spin.setDecimals(2)
        self.budget_spin.setSingleStep(1.0)
        self.budget_spin.setSuffix(" GiB")
        self.budget_spin.setToolTip("Memory of the GPU you will train on")
        self.budget_spin.valueChanged.connect(self._budget_changed)
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
        self.reserve_spin = QDoubleSpinBox()
        self.reserve_spin.setRange(0.0, 64.0)
        self.reserve_spin.setDecimals(2)
        self.reserve_spin.setSingleStep(0.25)
        self.reserve_spin.setSuffix(" GiB")
        self.reserve_spin.setToolTip("Part of the budget kept free for the CUDA context and "
                                     "allocator slack")
        self.reserve_spin.valueChanged.connect(self._budget_changed)
        self.estimate_button = QPushButton("Estimate")
        self.estimate_button.setDefault(True)
        self.estimate_button.setToolTip("Measure each mode on a real forward/backward pass at "
                                        "small sizes and chart the fitted totals")
        self.estimate_button.clicked.connect(self.estimate)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop measuring; the modes already measured stay")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_bar = job_progress_bar()
        self.batch_edit.setMaximumWidth(200)
        self.budget_spin.setMinimumWidth(110)
        first, second = QHBoxLayout(), QHBoxLayout()
        for label, widget in (("Batch sizes:", self.batch_edit), ("Segment:", self.segment_spin),
                              ("Mixed precision:", self.precision_combo),
                              ("Optimizer:", self.optimizer_combo)):
            _labelled(first, label, widget)
        first.addStretch(1)
        _labelled(second, "GPU budget:", self.budget_spin)
        second.addLayout(presets)
        _labelled(second, "Keep free:", self.reserve_spin)
        second.addSpacing(18)
        second.addWidget(self.estimate_button)
        second.addWidget(self.cancel_button)
        second.addWidget(self.progress_bar, 1)
        column = QVBoxLayout(box)
        column.setSpacing(6)
        column.addLayout(first)
        column.addLayout(second)
        return box

    def _chart_box(self) -> QWidget:
        box = QGroupBox("Total memory per training step")
        layout = QVBoxLayout(box)
        self.chart = MemoryChart()
        self.chart.setToolTip("One line per mode; the dashed line is the budget and the star on "
                              "each line the largest batch that fits. Click a point to see its "
                              "breakdown.")
        self.chart.point_clicked.connect(self._picked)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color:#555")
        layout.addWidget(self.chart, 1)
        layout.addWidget(self.status)
        return box

    def _breakdown_box(self) -> QWidget:
        box = QGroupBox("Breakdown")
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        row.addWidget(QLabel("At batch size:"))
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 1 << 16)
        self.batch_spin.setToolTip("The batch the table describes (click a point to choose)")
        self.batch_spin.valueChanged.connect(lambda b: self._picked(self._selected_mode(), b))
        row.addWidget(self.batch_spin)
        row.addStretch(1)
        layout.addLayout(row)
        self.table = QTableWidget(len(ROWS), len(MODES))
        self.table.setVerticalHeaderLabels(ROWS)
        self.table.setHorizontalHeaderLabels([SHORT_LABELS[m] for m in MODES])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().sectionClicked.connect(
            lambda col: self._picked(MODES[col], self.batch_spin.value()))
        self.table.setToolTip("Memory of one training step at the chosen batch, per mode. "
                              "Activations are measured; the rest follows from the "
                              "parameter count. Click a column title to choose its mode.")
        self.table.setFixedHeight(self._table_height())
        layout.addWidget(self.table)
        self.selection_label = QLabel()
        self.selection_label.setWordWrap(True)
        layout.addWidget(self.selection_label)
        self.save_button = QPushButton("Save a training config…")
        self.save_button.setToolTip("Write the selected mode and batch to training-config.json "
                                    "(tfswa-studio train --config reads it)")
        self.save_button.clicked.connect(self.save_config_dialog)
        layout.addWidget(self.save_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addSpacing(8)
        note = QLabel(HOW_TEXT)
        note.setWordWrap(True)
        note.setStyleSheet("color:#555")
        layout.addWidget(note)
        layout.addStretch(1)
        return box

    def _table_height(self) -> int:
        self.table.resizeRowsToContents()
        rows = sum(self.table.rowHeight(r) for r in range(self.table.rowCount()))
        return rows + self.table.horizontalHeader().sizeHint().height() + 6

    # ------------------------------------------------------------------ breakdown table
    def _fill_table(self) -> None:
        batch = self.batch_spin.value()
        mode = self.selected[0] if self.selected else None
        for col, name in enumerate(MODES):
            result = self._result(name)
            header = QTableWidgetItem(SHORT_LABELS[name])
            font = QFont(self.table.font())
            font.setBold(name == mode)
            header.setFont(font)
            header.setToolTip(MODE_LABELS[name])
            self.table.setHorizontalHeaderItem(col, header)
            values = ["—"] * len(ROWS)
            if result is not None:
                e = result.estimate_at(batch)
                best = self.chart.max_batches.get(name)
                values = [gib(e.parameters), gib(e.gradients), gib(e.optimizer_state),
                          gib(e.activations), gib(e.total),
                          "—" if best is None else (str(best) if best else "none")]
            for row, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if name == mode:
                    item.setFont(font)
                    item.setForeground(QColor(MODE_COLORS[name]))
                self.table.setItem(row, col, item)
        self._describe_selection()

    def _describe_selection(self) -> None:
        if self.selected is None or self._result(self.selected[0]) is None:
            self.selection_label.setText("Click a point on the chart to choose a mode and batch.")
            return
        mode, batch = self.selected
        result = self._result(mode)
        e = result.estimate_at(batch)
        fits = result.fits(batch, self.budget_spin.value(), self.reserve_spin.value())
        verdict = "fits" if fits else "does <b>not</b> fit"
        self.selection_label.setText(
            f"<b>{MODE_LABELS[mode]}</b>, batch {batch}: {gib(e.total)} in total, which "
            f"{verdict} the {self.budget_spin.value():g} GiB budget"
            + (f" with {self.reserve_spin.value():g} GiB kept free." if self.reserve_spin.value()
               else "."))
