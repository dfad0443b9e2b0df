"""The "What to quantize" form: source model, mode, calibration method and songs, SDR budget,
sensitivity, where to save, Quantize / Cancel. It only holds choices and emits signals; the
tab starts the job."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QGridLayout,
                               QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox,
                               QWidget)

from ....core.quantization import QuantizeOptions
from .calibration_list import CalibrationList

MODE_LABELS = {
    "static": "Static INT8 (calibrated on songs, FP32 fallback within the budget)",
    "dynamic": "Dynamic INT8 (MatMul/Gemm, no calibration)",
    "fp16": "FP16 (half the size; fast on GPUs and browsers)",
    "qat": "INT8 by quantization-aware training",
}
METHOD_LABELS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile (99.999)"}


class SettingsPanel(QGroupBox):
    quantize_requested = Signal()
    cancel_requested = Signal()
    changed = Signal()

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__("What to quantize", parent)
        grid = QGridLayout(self)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(6)
        self.source_combo = QComboBox()
        self.source_combo.setToolTip("The checkpoint, or an FP32 ONNX export from the workspace")
        self.mode_combo = QComboBox()
        for key, label in MODE_LABELS.items():
            self.mode_combo.addItem(label, key)
        self.method_combo = QComboBox()
        for key, label in METHOD_LABELS.items():
            self.method_combo.addItem(label, key)
        self.segments_spin = QSpinBox()
        self.segments_spin.setRange(1, 256)
        self.segments_spin.setValue(8)
        self.segments_spin.setSuffix(" segments")
        self.budget_spin = QDoubleSpinBox()
        self.budget_spin.setRange(0.0, 10.0)
        self.budget_spin.setSingleStep(0.05)
        self.budget_spin.setValue(0.2)
        self.budget_spin.setSuffix(" dB per stem")
        self.eval_spin = QDoubleSpinBox()
        self.eval_spin.setRange(1.0, 600.0)
        self.eval_spin.setValue(10.0)
        self.eval_spin.setSuffix(" s")
        self.eval_spin.setToolTip("SDR is measured on this excerpt of the demo song (its true "
                                  "stems ship with it)")
        self.sensitivity_check = QCheckBox("Measure per-layer sensitivity even within the budget")
        self.sensitivity_check.setChecked(True)
        self.calibration = CalibrationList()
        self.path_edit = QLineEdit()
        self.browse_button = QPushButton("Browse…")
        self.quantize_button = QPushButton("Quantize")
        self.quantize_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.browse_button.clicked.connect(self._browse)
        self.quantize_button.clicked.connect(self.quantize_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        for signal in (self.source_combo.currentIndexChanged, self.mode_combo.currentIndexChanged):
            signal.connect(self._mode_changed)
        self._layout(grid)
        self._mode_changed()

    def _layout(self, grid: QGridLayout) -> None:
        right = Qt.AlignmentFlag.AlignRight
        grid.addWidget(QLabel("Source:"), 0, 0, right)
        grid.addWidget(self.source_combo, 0, 1, 1, 3)
        grid.addWidget(QLabel("Mode:"), 1, 0, right)
        grid.addWidget(self.mode_combo, 1, 1, 1, 3)
        self.calibration_label = QLabel("Calibration:")
        grid.addWidget(self.calibration_label, 2, 0, right | Qt.AlignmentFlag.AlignTop)
        grid.addWidget(self.calibration, 2, 1, 1, 3)
        self.method_label = QLabel("Method:")
        grid.addWidget(self.method_label, 3, 0, right)
        grid.addWidget(self.method_combo, 3, 1)
        grid.addWidget(self.segments_spin, 3, 2)
        self.budget_label = QLabel("SDR budget:")
        grid.addWidget(self.budget_label, 4, 0, right)
        grid.addWidget(self.budget_spin, 4, 1)
        grid.addWidget(self.sensitivity_check, 4, 2, 1, 2)
        grid.addWidget(QLabel("Measure on:"), 5, 0, right)
        grid.addWidget(self.eval_spin, 5, 1)
        grid.addWidget(QLabel("of the demo song (mixture and true stems)"), 5, 2, 1, 2)
        grid.addWidget(QLabel("Save as:"), 6, 0, right)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(self.browse_button)
        grid.addLayout(path_row, 6, 1, 1, 3)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.quantize_button)
        buttons.addWidget(self.cancel_button)
        grid.addLayout(buttons, 7, 0, 1, 4)
        grid.setColumnStretch(3, 1)

    # -- choices
    def set_sources(self, sources: Sequence[tuple[str, Path]]) -> None:
        """``(label, path)`` pairs; keeps the current choice when it is still there."""
        current = self.source_path()
        self.source_combo.blockSignals(True)
        self.source_combo.clear()
        for label, path in sources:
            self.source_combo.addItem(label, str(path))
            self.source_combo.setItemData(self.source_combo.count() - 1, str(path),
                                          Qt.ItemDataRole.ToolTipRole)
        index = self.source_combo.findData(str(current)) if current else -1
        self.source_combo.setCurrentIndex(max(index, 0))
        self.source_combo.blockSignals(False)
        self._mode_changed()

    def source_path(self) -> Optional[Path]:
        data = self.source_combo.currentData()
        return Path(data) if data else None

    def mode(self) -> str:
        return self.mode_combo.currentData()

    def set_mode(self, mode: str) -> None:
        self.mode_combo.setCurrentIndex(max(self.mode_combo.findData(mode), 0))

    def options(self, threads: Optional[int]) -> QuantizeOptions:
        mode = self.mode()
        static = mode == "static"
        return QuantizeOptions(
            mode=mode, calibration=tuple(self.calibration.paths()) if static else (),
            method=self.method_combo.currentData(),
            calibration_segments=self.segments_spin.value(),
            budget_db=self.budget_spin.value() if mode in ("static", "dynamic") else None,
            sensitivity="always" if self.sensitivity_check.isChecked() else "auto",
            eval_seconds=self.eval_spin.value(), threads=threads)

    def set_busy(self, has_model: bool, busy: bool) -> None:
        for w in (self.source_combo, self.mode_combo, self.method_combo, self.segments_spin,
                  self.budget_spin, self.sensitivity_check, self.calibration, self.path_edit,
                  self.eval_spin,
                  self.browse_button):
            w.setEnabled(has_model and not busy)
        self.quantize_button.setEnabled(has_model and not busy and self.source_path() is not None)
        self.cancel_button.setEnabled(busy)
        if not busy:
            self._mode_changed()

    def _mode_changed(self) -> None:
        mode = self.mode()
        static = mode == "static"
        for w in (self.calibration_label, self.calibration, self.method_label, self.method_combo,
                  self.segments_spin):
            w.setVisible(static)
        fallback = mode in ("static", "dynamic")
        for w in (self.budget_label, self.budget_spin, self.sensitivity_check):
            w.setVisible(fallback)
        self.changed.emit()

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save quantized model as",
                                              self.path_edit.text(), "ONNX models (*.onnx)")
        if path:
            self.path_edit.setText(path)
