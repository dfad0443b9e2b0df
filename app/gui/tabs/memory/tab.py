"""The Memory tab: will a training run fit the GPU, and what gradient checkpointing and mixed
precision buy.

"Estimate" runs :func:`app.core.memory.plan_memory` in a worker: each mode (baseline,
checkpointing, mixed precision, both) is measured on a real forward/backward at small sizes
and fitted, and reaches the chart as soon as it is ready (the worker's ``yielded`` partial
results, delivered at the worker's steady timer pace). Changing the budget moves the budget
line and the "largest batch that fits" markers at once, from the fitted results. The audio
settings (sample rate, STFT window and hop, sub-bands, segment) start as the loaded model's
and are what is measured. "Save a training config…" writes the selected mode and batch, with
those audio settings, as ``training-config.json`` for
``tfswa-studio train --config``. The tab assembles the panels of
:mod:`app.gui.tabs.memory.panels` and keeps the measured modes and the selection.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QVBoxLayout, QWidget

from ....core.jobs import UserError
from ....core.memory import (DEFAULT_RESERVE_GB, TRAINING_CONFIG_NAME, ModeResult,
                             TrainingConfig, parse_batches, save_training_config)
from ...jobs import Job, describe_error
from ...tasks import plan_memory_live
from ...widgets import NoModelNotice
from ..base import SingleJobTab, TabContext
from .panels import BreakdownPanel, ChartPanel, SetupForm


class MemoryTab(SingleJobTab):
    title = "Memory"
    tooltip = ("Training memory per batch size with and without gradient checkpointing and "
               "mixed precision, measured; the largest batch that fits a GPU")

    def __init__(self, ctx: TabContext, parent: Optional[QWidget] = None):
        super().__init__(ctx, parent)
        self.results: list[ModeResult] = []
        self.selected: Optional[tuple[str, int]] = None
        self.user_selected = False          # a click or a batch choice: keep it
        self.plan_settings: dict[str, Any] = {}
        self.notice = NoModelNotice(
            "<b>No model loaded.</b> Open a checkpoint with File ▸ Open checkpoint… (Ctrl+O) "
            "to estimate its training memory.", ctx.window.open_checkpoint_dialog)
        self.setup = SetupForm()
        self.chart_panel = ChartPanel()
        self.breakdown = BreakdownPanel()
        self.progress_bar = self.setup.progress_bar
        self.chart = self.chart_panel.chart
        self._connect()
        layout = QVBoxLayout(self.page)
        layout.setContentsMargins(12, 10, 12, 8)
        layout.setSpacing(8)
        layout.addWidget(self.notice)
        layout.addWidget(self.setup)
        body = QHBoxLayout()
        body.setSpacing(10)
        body.addWidget(self.chart_panel, 3)
        body.addWidget(self.breakdown, 2)
        layout.addLayout(body, 1)
        self._restore_settings()
        self._model_changed()

    def _connect(self) -> None:
        self.setup.estimate_requested.connect(self.estimate)
        self.setup.cancel_requested.connect(self.cancel)
        self.setup.budget_changed.connect(self._budget_changed)
        self.chart_panel.point_clicked.connect(self._picked)
        self.breakdown.batch_changed.connect(lambda b: self._picked(self._selected_mode(), b))
        self.breakdown.mode_clicked.connect(lambda m: self._picked(m, self.breakdown.batch()))
        self.breakdown.save_requested.connect(self.save_config_dialog)

    # ------------------------------------------------------------------ settings
    def _restore_settings(self) -> None:
        self.setup.restore(str(self.setting("batches", "1-32")), self.setting("precision", "bf16"),
                           self.setting("optimizer", "adam"),
                           float(self.setting("budget_gb", 8.0, float)),
                           float(self.setting("reserve_gb", DEFAULT_RESERVE_GB, float)))

    def _save_settings(self) -> None:
        for key, value in self.setup.settings().items():
            self.set_setting(key, value)

    # ------------------------------------------------------------------ state
    def refresh(self) -> None:
        has_model = self.ctx.workspace.bundle is not None
        self.notice.setVisible(not has_model)
        self.setup.set_state(has_model, self.running)
        self.breakdown.save_button.setEnabled(self.selected is not None and self._result(
            self.selected[0]) is not None)

    def workspace_changed(self, event: str, payload: Any) -> None:
        if event == "bundle":
            self._model_changed()

    def _model_changed(self) -> None:
        if self.running:
            self.job.cancel()
        bundle = self.ctx.workspace.bundle
        if bundle is not None:
            self.setup.show_audio(bundle.audio)
        self._clear_results()
        self.chart_panel.status.setText(
            "Press <b>Estimate</b> to measure the loaded model's training memory in four modes."
            if bundle is not None else "")
        self.refresh()

    def _clear_results(self) -> None:
        """Forget every measured mode: empty chart (budget kept), table and selection."""
        self.results, self.selected, self.user_selected = [], None, False
        self.chart.clear_results()
        self.chart.set_budget(self.setup.budget(), self.setup.reserve())
        self.chart_panel.slot.show_chart(False)
        self._fill_table()

    # ------------------------------------------------------------------ estimating
    def estimate(self) -> Optional[Job]:
        bundle = self.ctx.workspace.bundle
        if bundle is None or self.running:
            return None
        try:
            batches = parse_batches(self.setup.batch_edit.text())
        except UserError as exc:
            self.ctx.window.show_error("These batch sizes cannot be read", str(exc))
            return None
        try:
            audio = replace(bundle.audio, **self.setup.audio_settings())
        except UserError as exc:
            self.ctx.window.show_error("These audio settings cannot be trained", str(exc))
            return None
        self._save_settings()
        self.plan_settings = {**self.setup.plan_settings(), "audio": audio}
        self._clear_results()
        self.chart_panel.slot.show_chart(True)      # the budget line while modes arrive
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Starting…")
        self.chart_panel.status.setText(
            f"Measuring {bundle.name}: each mode appears when it is measured.")
        self.job = self.ctx.jobs.run(
            f"Memory estimate for {bundle.name}", plan_memory_live,
            {"model_or_bundle": bundle, "batches": batches,
             "budget_gb": self.setup.budget(), "reserve_gb": self.setup.reserve(),
             "threads": self.ctx.window.threads(), "device": self.ctx.window.device(),
             **self.plan_settings},
            on_yielded=self._arrived, on_result=self._finished, on_error=self._failed,
            on_aborted=self._aborted, on_finished=self.refresh)
        self.job.changed.connect(self._show_progress)
        self.refresh()
        return self.job

    def _arrived(self, result: ModeResult) -> None:
        """A measured mode (UI thread, the worker's ``yielded``): draw it."""
        self.results.append(result)
        self.chart.set_results(self.results)
        if self.user_selected and self.selected is not None:
            self.select(*self.selected)
        else:
            self._select_default()

    def _finished(self, plan) -> None:
        self.progress_bar.setValue(1000)
        self.progress_bar.setFormat(f"Done in {plan.elapsed_s:.1f} s")
        fit = max((m.profile.fit_error for m in plan.modes), default=0.0)
        fit_text = "exactly" if fit < 1e-6 else f"within {fit * 100:.1f} %"
        where = plan.device
        mixed = "" if where.startswith("cuda") or plan.mixed_precision == "bf16" else \
            " (fp16 measured as bf16 on the CPU: same sizes)"
        audio = self.plan_settings.get("audio")
        stft = "" if audio is None else (f" at {audio.sample_rate} Hz, STFT {audio.n_fft} / "
                                         f"hop {audio.hop_length}, {audio.subbands} sub-bands")
        self.chart_panel.status.setText(
            f"{plan.model}: {plan.parameter_count:,} parameters, {plan.segment_seconds:g} s "
            f"segments ({plan.frames} frames){stft}. Activations measured on {where} at 7 small "
            f"sizes per mode; the fit reproduces them {fit_text}{mixed}.")

    def _failed(self, error: BaseException) -> None:
        self.progress_bar.setFormat("Failed")
        self.chart_panel.status.setText(f"<b>Estimate failed:</b> {describe_error(error)}")
        if not self.isVisible():
            self.ctx.window.show_error("Memory estimate failed", describe_error(error))

    def _aborted(self) -> None:
        self.progress_bar.setFormat("Cancelled")
        done = ", ".join(r.label for r in self.results) or "no mode"
        self.chart_panel.status.setText(f"Cancelled; measured before that: {done}.")

    # ------------------------------------------------------------------ budget and selection
    def _budget_changed(self, budget: float, reserve: float) -> None:
        self.chart.set_budget(budget, reserve)
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
        self.breakdown.set_batch(int(batch))
        self.chart.select(mode, int(batch))
        self._fill_table()
        self.refresh()

    def _fill_table(self) -> None:
        mode = self.selected[0] if self.selected else None
        self.breakdown.show_results({r.mode: r for r in self.results}, mode,
                                    self.chart.max_batches)
        result = self._result(mode)
        self.breakdown.describe(result, self.selected[1] if result else 0, self.setup.budget(),
                                self.setup.reserve())

    # ------------------------------------------------------------------ training config
    def training_config(self) -> Optional[TrainingConfig]:
        if self.selected is None or self._result(self.selected[0]) is None:
            return None
        mode, batch = self.selected
        return self._result(mode).training_config(batch, self.plan_settings.get(
            "segment_seconds", self.setup.segment_spin.value()))

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
