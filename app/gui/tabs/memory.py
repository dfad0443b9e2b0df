"""The Memory tab: will a training run fit the GPU, and what gradient checkpointing and mixed
precision buy.

"Estimate" runs :func:`app.core.memory.plan_memory` in a worker: each mode (baseline,
checkpointing, mixed precision, both) is measured on a real forward/backward at small sizes
and fitted, and reaches the chart as soon as it is ready (the worker hands results over
through a list that a UI timer drains, so the chart redraws at a steady pace). Changing the
budget moves the budget line and the "largest batch that fits" markers at once, from the
fitted results. "Save a training config…" writes the selected mode and batch as
``training-config.json`` for ``tfswa-studio train --config``. The widgets and the breakdown
table are built and filled in :mod:`app.gui.tabs.memory_panels`.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QVBoxLayout, QWidget

from ...core.jobs import UserError
from ...core.memory import (DEFAULT_RESERVE_GB, TRAINING_CONFIG_NAME, ModeResult,
                            TrainingConfig, parse_batches, plan_memory, save_training_config)
from ..jobs import Job, describe_error
from .base import SingleJobTab, TabContext
from .memory_panels import MemoryPanels


class MemoryTab(MemoryPanels, SingleJobTab):
    title = "Memory"
    tooltip = ("Training memory per batch size with and without gradient checkpointing and "
               "mixed precision, measured; the largest batch that fits a GPU")

    REDRAW_MS = 150

    def __init__(self, ctx: TabContext, parent: Optional[QWidget] = None):
        super().__init__(ctx, parent)
        self.results: list[ModeResult] = []
        self._incoming: list[ModeResult] = []
        self._lock = threading.Lock()
        self.selected: Optional[tuple[str, int]] = None
        self.user_selected = False          # a click or a batch choice: keep it
        self.plan_settings: dict[str, Any] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 8)
        layout.setSpacing(8)
        layout.addWidget(self._no_model_notice())
        layout.addWidget(self._settings())
        body = QHBoxLayout()
        body.setSpacing(10)
        body.addWidget(self._chart_box(), 3)
        body.addWidget(self._breakdown_box(), 2)
        layout.addLayout(body, 1)
        self._redraw = QTimer(self)
        self._redraw.setInterval(self.REDRAW_MS)
        self._redraw.timeout.connect(self._drain)
        self._restore_settings()
        self._model_changed()

    # ------------------------------------------------------------------ settings
    def _restore_settings(self) -> None:
        self.batch_edit.setText(str(self.setting("batches", "1-32")))
        precision = self.setting("precision", "bf16")
        self.precision_combo.setCurrentIndex(max(self.precision_combo.findData(precision), 0))
        optimizer = self.setting("optimizer", "adam")
        self.optimizer_combo.setCurrentIndex(max(self.optimizer_combo.findData(optimizer), 0))
        self.budget_spin.setValue(float(self.setting("budget_gb", 8.0, float)))
        self.reserve_spin.setValue(float(self.setting("reserve_gb", DEFAULT_RESERVE_GB, float)))

    def _save_settings(self) -> None:
        self.set_setting("batches", self.batch_edit.text())
        self.set_setting("precision", self.precision_combo.currentData())
        self.set_setting("optimizer", self.optimizer_combo.currentData())
        self.set_setting("budget_gb", self.budget_spin.value())
        self.set_setting("reserve_gb", self.reserve_spin.value())

    # ------------------------------------------------------------------ state
    def refresh(self) -> None:
        has_model = self.ctx.workspace.bundle is not None
        busy = self.running
        self.notice.setVisible(not has_model)
        for w in (self.batch_edit, self.segment_spin, self.precision_combo,
                  self.optimizer_combo):
            w.setEnabled(has_model and not busy)
        self.estimate_button.setEnabled(has_model and not busy)
        self.cancel_button.setEnabled(busy)
        self.save_button.setEnabled(self.selected is not None and self._result(
            self.selected[0]) is not None)

    def workspace_changed(self, event: str, payload: Any) -> None:
        if event == "bundle":
            self._model_changed()

    def _model_changed(self) -> None:
        if self.running:
            self.job.cancel()
        bundle = self.ctx.workspace.bundle
        if bundle is not None:
            self.segment_spin.setValue(bundle.audio.segment_seconds)
        self._clear_results()
        self.status.setText("Press <b>Estimate</b> to measure the loaded model's training memory "
                            "in four modes." if bundle is not None else "")
        self.refresh()

    def _clear_results(self) -> None:
        """Forget every measured mode: empty chart (budget kept), table and selection."""
        self.results, self.selected, self.user_selected = [], None, False
        with self._lock:
            self._incoming.clear()
        self.chart.clear_results()
        self.chart.set_budget(self.budget_spin.value(), self.reserve_spin.value())
        self._fill_table()

    def shutdown(self) -> None:
        self._redraw.stop()

    # ------------------------------------------------------------------ estimating
    def estimate(self) -> Optional[Job]:
        bundle = self.ctx.workspace.bundle
        if bundle is None or self.running:
            return None
        try:
            batches = parse_batches(self.batch_edit.text())
        except UserError as exc:
            self.ctx.window.show_error("These batch sizes cannot be read", str(exc))
            return None
        self._save_settings()
        self.plan_settings = {"segment_seconds": self.segment_spin.value(),
                              "mixed_precision": self.precision_combo.currentData(),
                              "optimizer": self.optimizer_combo.currentData()}
        self._clear_results()
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Starting…")
        self.status.setText(f"Measuring {bundle.name}: each mode appears when it is measured.")
        self.job = self.ctx.jobs.run(
            f"Memory estimate for {bundle.name}", plan_memory,
            {"model_or_bundle": bundle, "batches": batches,
             "budget_gb": self.budget_spin.value(), "reserve_gb": self.reserve_spin.value(),
             "threads": self.ctx.window.threads(), "on_mode": self._arrived,
             **self.plan_settings},
            on_result=self._finished, on_error=self._failed, on_aborted=self._aborted,
            on_finished=self._ended)
        self.job.changed.connect(self._show_progress)
        self._redraw.start()
        self.refresh()
        return self.job

    def _arrived(self, result: ModeResult) -> None:
        """Worker thread: hand a measured mode over to the UI timer."""
        with self._lock:
            self._incoming.append(result)

    def _drain(self) -> None:
        """UI timer: draw the modes that arrived since the last tick."""
        with self._lock:
            new, self._incoming = self._incoming, []
        if not new:
            return
        self.results.extend(new)
        self.chart.set_results(self.results)
        if self.user_selected and self.selected is not None:
            self.select(*self.selected)
        else:
            self._select_default()

    def _finished(self, plan) -> None:
        self._drain()
        self.progress_bar.setValue(1000)
        self.progress_bar.setFormat(f"Done in {plan.elapsed_s:.1f} s")
        fit = max((m.profile.fit_error for m in plan.modes), default=0.0)
        fit_text = "exactly" if fit < 1e-6 else f"within {fit * 100:.1f} %"
        where = plan.device
        mixed = "" if where.startswith("cuda") or plan.mixed_precision == "bf16" else \
            " (fp16 measured as bf16 on the CPU: same sizes)"
        self.status.setText(
            f"{plan.model}: {plan.parameter_count:,} parameters, {plan.segment_seconds:g} s "
            f"segments ({plan.frames} frames). Activations measured on {where} at 7 small "
            f"sizes per mode; the fit reproduces them {fit_text}{mixed}.")

    def _failed(self, error: BaseException) -> None:
        self._drain()
        self.progress_bar.setFormat("Failed")
        self.status.setText(f"<b>Estimate failed:</b> {describe_error(error)}")
        if not self.isVisible():
            self.ctx.window.show_error("Memory estimate failed", describe_error(error))

    def _aborted(self) -> None:
        self._drain()
        self.progress_bar.setFormat("Cancelled")
        done = ", ".join(r.label for r in self.results) or "no mode"
        self.status.setText(f"Cancelled; measured before that: {done}.")

    def _ended(self) -> None:
        self._redraw.stop()
        self.refresh()

    # ------------------------------------------------------------------ budget and selection
    def _budget_changed(self) -> None:
        self.chart.set_budget(self.budget_spin.value(), self.reserve_spin.value())
        self._fill_table()

    def _result(self, mode: Optional[str]) -> Optional[ModeResult]:
        return next((r for r in self.results if r.mode == mode), None)

    def _selected_mode(self) -> Optional[str]:
        if self.selected is not None:
            return self.selected[0]
        return self.results[0].mode if self.results else None

    def _select_default(self) -> None:
        """The checkpointing mode (else the first measured) at the largest charted batch that
        fits."""
        result = self._result("checkpointing") or self.results[0]
        fits = self.chart.max_batches.get(result.mode, 0)
        batches = [e.batch_size for e in result.estimates]
        inside = [b for b in batches if b <= fits]
        self.select(result.mode, inside[-1] if inside else batches[0])

    def _picked(self, mode: Optional[str], batch: int) -> None:
        """The user chose a point (chart click, batch box, column title)."""
        if mode is not None and self._result(mode) is not None:
            self.user_selected = True
            self.select(mode, batch)

    def select(self, mode: Optional[str], batch: int) -> None:
        if mode is None or self._result(mode) is None:
            return
        self.selected = (mode, int(batch))
        if self.batch_spin.value() != batch:
            self.batch_spin.blockSignals(True)
            self.batch_spin.setValue(int(batch))
            self.batch_spin.blockSignals(False)
        self.chart.select(mode, int(batch))
        self._fill_table()
        self.refresh()

    # ------------------------------------------------------------------ training config
    def training_config(self) -> Optional[TrainingConfig]:
        if self.selected is None or self._result(self.selected[0]) is None:
            return None
        mode, batch = self.selected
        result = self._result(mode)
        return result.training_config(batch, self.plan_settings.get(
            "segment_seconds", self.segment_spin.value()))

    def save_config_dialog(self) -> None:
        config = self.training_config()
        if config is None:
            return
        bundle = self.ctx.workspace.bundle
        folder = bundle.path.parent if bundle is not None and bundle.path else Path.home()
        path, _ = QFileDialog.getSaveFileName(self, "Save a training config",
                                              str(folder / TRAINING_CONFIG_NAME),
                                              "Training config (*.json)")
        if path:
            # the dialog has asked before replacing an existing file
            self.save_config(Path(path), config, overwrite=True)

    def save_config(self, path: Path, config: TrainingConfig, overwrite: bool = False) -> Job:
        return self.ctx.jobs.run(
            f"Save training config {path.name}", save_training_config,
            {"config": config, "path": path, "overwrite": overwrite},
            on_result=lambda p: self.ctx.window.show_message(
                f"Training config saved to {p}: batch {config.batch_size}, {config.precision}, "
                f"gradient checkpointing {'on' if config.gradient_checkpointing else 'off'}."))

