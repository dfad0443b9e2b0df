"""The benchmark's settings: runs, warm-up, threads (one count or a list to sweep), segment
length, batch, the operator profile and the peak-memory measurement."""

from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtWidgets import (QCheckBox, QDoubleSpinBox, QFormLayout, QGroupBox, QLineEdit,
                               QSpinBox, QWidget)

from ....core.benchmarking import BenchmarkSettings
from ....core.jobs import UserError


class SettingsPanel(QGroupBox):
    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__("Settings", parent)
        self.runs_spin = QSpinBox()
        self.runs_spin.setRange(1, 100_000)
        self.runs_spin.setValue(20)
        self.runs_spin.setToolTip("Timed runs per variant, after the warm-up")
        self.warmup_spin = QSpinBox()
        self.warmup_spin.setRange(0, 1000)
        self.warmup_spin.setValue(3)
        self.warmup_spin.setToolTip("Untimed runs first: caches, allocators, lazy initialisation")
        self.threads_edit = QLineEdit()
        self.threads_edit.setPlaceholderText("the status bar's")
        self.threads_edit.setToolTip("CPU threads: one count, or a list such as 1,2 to sweep")
        self.segment_spin = QDoubleSpinBox()
        self.segment_spin.setRange(0.1, 60.0)
        self.segment_spin.setDecimals(1)
        self.segment_spin.setSingleStep(0.5)
        self.segment_spin.setValue(3.0)
        self.segment_spin.setSuffix(" s")
        self.segment_spin.setToolTip("Audio per segment (3 s is 2 x 1025 x 259 magnitudes)")
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 64)
        self.batch_spin.setToolTip("Segments per run")
        self.profile_check = QCheckBox("Operator profile (ONNX)")
        self.profile_check.setToolTip("ONNX Runtime's own per-operator timing after the runs")
        self.memory_check = QCheckBox("Peak memory (a process per variant)")
        self.memory_check.setToolTip("Load and run each variant in a process of its own to "
                                     "read its peak resident memory; adds a few seconds each")
        self.memory_check.setChecked(True)
        form = QFormLayout(self)
        form.addRow("Runs:", self.runs_spin)
        form.addRow("Warm-up:", self.warmup_spin)
        form.addRow("Threads:", self.threads_edit)
        form.addRow("Segment:", self.segment_spin)
        form.addRow("Batch:", self.batch_spin)
        form.addRow(self.profile_check)
        form.addRow(self.memory_check)

    def settings(self, default_threads: int) -> BenchmarkSettings:
        text = self.threads_edit.text().strip()
        try:
            threads = tuple(int(t) for t in text.split(",") if t.strip()) if text else ()
        except ValueError:
            raise UserError(f"threads '{text}' must be a number or a list such as 1,2") from None
        settings = BenchmarkSettings(
            runs=self.runs_spin.value(), warmup=self.warmup_spin.value(),
            threads=threads or (default_threads,), segments=(self.segment_spin.value(),),
            batch=self.batch_spin.value(), profile=self.profile_check.isChecked(),
            memory=self.memory_check.isChecked())
        settings.validate()
        return settings

    def restore(self, value: Callable) -> None:
        self.runs_spin.setValue(int(value("runs", 20, int)))
        self.warmup_spin.setValue(int(value("warmup", 3, int)))
        self.threads_edit.setText(str(value("threads", "") or ""))
        self.segment_spin.setValue(float(value("segment", 3.0, float)))
        self.batch_spin.setValue(int(value("batch", 1, int)))
        self.profile_check.setChecked(bool(value("profile", False, bool)))
        self.memory_check.setChecked(bool(value("memory", True, bool)))

    def save(self, set_value: Callable) -> None:
        set_value("runs", self.runs_spin.value())
        set_value("warmup", self.warmup_spin.value())
        set_value("threads", self.threads_edit.text().strip())
        set_value("segment", self.segment_spin.value())
        set_value("batch", self.batch_spin.value())
        set_value("profile", self.profile_check.isChecked())
        set_value("memory", self.memory_check.isChecked())
