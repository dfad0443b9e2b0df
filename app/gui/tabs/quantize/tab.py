"""The Quantize tab: INT8 (dynamic, static) or FP16 of the loaded model or one of its FP32
exports, with the cost measured in SDR per stem and the per-layer sensitivity drawn live.

The job runs :func:`app.core.quantization.quantize_model` on a worker; the measured layer
groups arrive through its ``on_sensitivity`` callback into a :class:`SensitivityFeed` (worker
thread) that a UI timer drains into the chart, so the bars fill in as they are measured.
Each result joins the workspace's variants (the Separate and Benchmark tabs see it) and the
comparison table and charts below.
"""

from __future__ import annotations

import dataclasses
import html
import os
import threading
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QMessageBox, QSplitter, QVBoxLayout, QWidget

from ....core.info import human_bytes
from ....core.quantization import (LayerSensitivity, QuantizeResult, qat_available,
                                   quantize_model)
from ....core.resources import RESOURCES
from ....core.workspace import Variant
from ...jobs import Job, describe_error
from ...widgets import NoModelNotice, job_progress_bar
from ..base import SingleJobTab, TabContext
from .results_panel import ResultsPanel
from .sensitivity_chart import SensitivityChart
from .settings_panel import SettingsPanel

IDLE_TEXT = ("Choose a source and a mode, then Quantize. The result is measured against FP32 "
             "on songs with true stems and joins the models of the Separate tab.")
QAT_MISSING = ("Quantization-aware training needs PyTorch, which is not installed here; "
               "use static INT8 with the FP32 fallback, or install the full app.")


class SensitivityFeed:
    """Layer groups measured on the worker thread, collected for the UI thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[LayerSensitivity] = []

    def __call__(self, item: LayerSensitivity) -> None:
        with self._lock:
            self._items.append(dataclasses.replace(item, sdr_cost_db=dict(item.sdr_cost_db)))

    def drain(self) -> list[LayerSensitivity]:
        with self._lock:
            items, self._items = self._items, []
        return items


def variant_name(result: QuantizeResult) -> str:
    mode = {"static": "static", "dynamic": "dynamic", "qat": "QAT", "fp16": ""}[result.mode]
    return f"ONNX {result.precision.upper()} {mode}".rstrip() + f" - {result.path.name}"


def variant_figures(result: QuantizeResult) -> dict[str, Any]:
    q = result.quantized
    return {"file_size": q.file_size, "latency_ms": q.latency_ms, "speedup": result.speedup,
            "size_ratio": result.size_ratio, "mask_snr_db": q.mask_snr_db, "sdr": dict(q.sdr),
            "sdr_delta": dict(q.sdr_delta), "fp32_layers": list(result.fp32_layers),
            "mode": result.mode, "within_budget": result.within_budget}


class QuantizeTab(SingleJobTab):
    title = "Quantize"
    tooltip = "INT8 or FP16, with the cost measured in SDR and a per-layer FP32 fallback"
    cancel_text = "Cancelling after the current step…"

    def __init__(self, ctx: TabContext, parent: Optional[QWidget] = None):
        super().__init__(ctx, parent)
        self.result: Optional[QuantizeResult] = None
        self.variant: Optional[Variant] = None
        self._suggested: Optional[str] = None
        self.feed = SensitivityFeed()
        self.notice = NoModelNotice("<b>No model loaded.</b> Open a checkpoint to quantize it "
                                    "(File ▸ Open checkpoint…).",
                                    ctx.window.open_checkpoint_dialog)
        self.settings_panel = SettingsPanel()
        self.progress_bar = job_progress_bar()
        self.verdict = QLabel(IDLE_TEXT)
        self.verdict.setWordWrap(True)
        self.sensitivity_chart = SensitivityChart()
        self.results = ResultsPanel()
        split = QSplitter()
        split.addWidget(self.sensitivity_chart)
        split.addWidget(self.results)
        split.setSizes([400, 600])
        layout = QVBoxLayout(self.page)     # the page scrolls on small screens (Tab)
        layout.setContentsMargins(12, 10, 12, 8)
        for widget in (self.notice, self.settings_panel, self.progress_bar, self.verdict):
            layout.addWidget(widget)
        layout.addWidget(split, 1)
        self.timer = QTimer(self)
        self.timer.setInterval(150)
        self.timer.timeout.connect(self._draw_feed)
        s = self.settings_panel
        s.quantize_requested.connect(self.quantize)
        s.cancel_requested.connect(self.cancel)
        s.changed.connect(self._suggest_path)
        s.path_edit.textEdited.connect(lambda _t: setattr(self, "_suggested", None))
        s.set_mode(self.setting("mode", "static"))
        self._fill_sources()

    # ------------------------------------------------------------------ state
    def workspace_changed(self, event: str, payload: Any) -> None:
        if event in ("bundle", "variant", "variant-updated"):
            self._fill_sources()
        if event == "bundle":
            self.results.clear()
            self.sensitivity_chart.clear()

    def _fill_sources(self) -> None:
        ws = self.ctx.workspace
        sources = []
        if ws.bundle is not None and ws.bundle.path is not None:
            sources.append((f"Checkpoint: {ws.bundle.path.name}", ws.bundle.path))
        for v in ws.variants:
            if v.kind == "onnx" and v.precision == "fp32" and v.path is not None:
                sources.append((f"Export: {v.name}", v.path))
        self.settings_panel.set_sources(sources)
        self.refresh()

    def refresh(self) -> None:
        has_model = self.ctx.workspace.bundle is not None
        self.notice.setVisible(not has_model)
        self.settings_panel.set_busy(has_model, self.running)

    def _suggest_path(self) -> None:
        """Beside the source, unless the user chose a path; the session's cache folder when
        the source sits in the app's bundled resources or an unwritable folder."""
        panel = self.settings_panel
        source = panel.source_path()
        if source is None or (self._suggested is None and panel.path_edit.text()):
            return
        options = panel.options(None)
        target = options.default_path(source)
        if RESOURCES in source.resolve().parents or not os.access(source.parent, os.W_OK):
            target = self.ctx.window.cache_dir("quantized") / target.name
        self._suggested = str(target)
        panel.path_edit.setText(self._suggested)

    # ------------------------------------------------------------------ the job
    def quantize(self, overwrite: Optional[bool] = None) -> Optional[Job]:
        panel = self.settings_panel
        source = panel.source_path()
        if source is None or self.running:
            return None
        if panel.mode() == "qat" and not qat_available():
            self._set_verdict(QAT_MISSING)
            self.ctx.jobs.log(QAT_MISSING, "warning")
            return None
        text = panel.path_edit.text().strip()
        if not text:
            self.ctx.window.show_error("Choose where to save the quantized model", "")
            return None
        path = Path(text).expanduser()
        if overwrite is None:
            overwrite = path.exists() and self.confirm_overwrite(path)
            if path.exists() and not overwrite:
                return None
        options = panel.options(self.ctx.window.threads())
        self.set_setting("mode", options.mode)
        self.feed.drain()
        self.sensitivity_chart.clear()
        self.sensitivity_chart.set_budget(options.budget_db)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Starting…")
        self._set_verdict(f"Quantizing <b>{source.name}</b> ({options.mode}) to {path.name}…")
        self.job = self.ctx.jobs.run(
            f"Quantize {source.name} ({options.mode})", quantize_model,
            {"model": source, "output_path": path, "options": options, "overwrite": overwrite,
             "on_sensitivity": self.feed},
            on_result=self._done, on_error=self._failed, on_aborted=self._aborted,
            on_finished=self._finished)
        self.job.changed.connect(self._show_progress)
        self.timer.start()
        self.refresh()
        return self.job

    def confirm_overwrite(self, path: Path) -> bool:
        answer = QMessageBox.question(
            self, "Replace existing file?", f"{path}\nalready exists. Replace it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _draw_feed(self) -> None:
        for item in self.feed.drain():
            self.sensitivity_chart.add(item)

    def _finished(self) -> None:
        self.timer.stop()
        self._draw_feed()
        self.refresh()

    def _done(self, result: QuantizeResult) -> None:
        self._draw_feed()
        self.result = result
        self.progress_bar.setValue(1000)
        self.progress_bar.setFormat(f"Done in {result.seconds:.1f} s")
        self.sensitivity_chart.show_all(result.sensitivity)
        self.results.add_result(result)
        self.variant = self.ctx.workspace.add_variant(Variant(
            variant_name(result), "onnx", result.path, result.precision, variant_figures(result)))
        self._set_verdict(self._summary(result))
        self.reveal(self.progress_bar)           # the verdict, table and charts below it
        self.ctx.jobs.log(f"Quantized {result.path} ({human_bytes(result.file_size)})")

    def _summary(self, r: QuantizeResult) -> str:
        loss = ", ".join(f"{s} {-d:+.2f} dB" for s, d in r.quantized.sdr_delta.items())
        parts = [f"<b>Saved {r.path.name}</b>: {r.size_ratio or 0:.2f}× smaller, "
                 f"{r.speedup or 0:.2f}× the speed of FP32, SDR change {loss}."]
        if r.fp32_layers:
            parts.append(f"Kept in FP32: {', '.join(r.fp32_layers)}.")
        parts += r.notes
        parts.append(f"Added to the models of the Separate tab as “{self.variant.name}”."
                     if self.variant else "")
        return "<br>".join(p for p in parts if p)

    def _failed(self, error: BaseException) -> None:
        self.progress_bar.setFormat("Failed: no file was written")
        text = describe_error(error)
        self._set_verdict("<b>✘ Quantization failed.</b> " + html.escape(text))
        if not self.isVisible():
            self.ctx.window.show_error("Quantization failed", text)

    def _aborted(self) -> None:
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Cancelled: nothing was written")
        self._set_verdict("Quantization cancelled: nothing was written.")

    def _set_verdict(self, html: str) -> None:
        self.verdict.setText(html)
