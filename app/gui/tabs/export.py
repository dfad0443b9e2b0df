"""The Export tab: the loaded model to ONNX or TorchScript, verified before it is kept.

The export runs :func:`app.core.export.export_bundle` in a worker; its progress messages
("stage: detail") light up the stage strip. The result shows the file, its graph, the time
each stage took, a clear verdict and the verification chart; a passing export joins the
workspace's variants, so the Separate tab lists it at once. The widgets are built in
:mod:`app.gui.tabs.export_panels`, the result's text in :mod:`app.gui.tabs.export_summary`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QMessageBox, QVBoxLayout, QWidget

from ...core.export import (DEFAULT_OPSETS, OPSET_RANGE, STAGES, ExportOptions, ExportResult,
                            VerificationFailed, export_bundle, variant_figures, variant_name)
from ...core.info import human_bytes
from ...core.jobs import UserError
from ...core.workspace import Variant
from ..jobs import Job, describe_error
from .base import SingleJobTab, TabContext
from .export_panels import IDLE_VERDICT, ExportPanels
from .export_summary import format_snr, html_escape, result_rows


class ExportTab(ExportPanels, SingleJobTab):
    title = "Export"
    tooltip = "Export the model to ONNX or TorchScript, verified against PyTorch"
    cancel_text = "Cancelling after the current step…"

    def __init__(self, ctx: TabContext, parent: Optional[QWidget] = None):
        super().__init__(ctx, parent)
        self.result: Optional[ExportResult] = None
        self.variant: Optional[Variant] = None
        self._suggested: Optional[Path] = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 8)
        layout.setSpacing(8)
        layout.addWidget(self._no_model_notice())
        layout.addWidget(self._settings())
        layout.addWidget(self._progress())
        layout.addWidget(self._results(), 1)
        self._restore_settings()
        self._format_changed()
        self._model_changed()

    # ------------------------------------------------------------------ settings
    def _restore_settings(self) -> None:
        fmt = self.setting("format", "onnx")
        self.format_combo.setCurrentIndex(max(self.format_combo.findData(fmt), 0))
        exporter = self.setting("exporter", "trace")
        self.exporter_combo.setCurrentIndex(max(self.exporter_combo.findData(exporter), 0))
        self._exporter_changed()
        self.opset_spin.setValue(int(self.setting(
            "opset", DEFAULT_OPSETS[self.exporter_combo.currentData()], int)))
        self.simplify_check.setChecked(self.setting("simplify", True, bool))
        method = self.setting("method", "trace")
        self.method_combo.setCurrentIndex(max(self.method_combo.findData(method), 0))
        self.fold_check.setChecked(self.setting("fold_batchnorm", True, bool))

    def _save_settings(self, options: ExportOptions) -> None:
        for key in ("format", "exporter", "opset", "simplify", "method", "fold_batchnorm"):
            self.set_setting(key, getattr(options, key))

    def options(self) -> ExportOptions:
        return ExportOptions(format=self.format_combo.currentData(),
                             opset=self.opset_spin.value(),
                             exporter=self.exporter_combo.currentData(),
                             simplify=self.simplify_check.isChecked(),
                             method=self.method_combo.currentData(),
                             fold_batchnorm=self.fold_check.isChecked())

    def _format_changed(self) -> None:
        onnx = self.format_combo.currentData() == "onnx"
        for widget in self.onnx_widgets:
            widget.setVisible(onnx)
        for widget in self.ts_widgets:
            widget.setVisible(not onnx)
        if not self.running:
            self.stages.set_stages(STAGES[self.format_combo.currentData()])
        self._suggest_path()

    def _exporter_changed(self) -> None:
        exporter = self.exporter_combo.currentData()
        self.opset_spin.setRange(*OPSET_RANGE[exporter])
        self.opset_spin.setValue(DEFAULT_OPSETS[exporter])

    def _suggest_path(self) -> None:
        """Beside the checkpoint, unless the user typed or chose a path."""
        bundle = self.ctx.workspace.bundle
        if bundle is None or (self._suggested is None and self.path_edit.text()):
            return
        source = bundle.path or (self.ctx.window.cache_dir("exports") / f"{bundle.name}.pt")
        self._suggested = self.options().default_path(source)
        self.path_edit.setText(str(self._suggested))

    def browse(self) -> None:
        fmt = self.format_combo.currentData()
        filters = "ONNX models (*.onnx)" if fmt == "onnx" else "TorchScript files (*.pt)"
        path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path_edit.text(), filters)
        if path:
            self._suggested = None
            self.path_edit.setText(path)

    # ------------------------------------------------------------------ state
    def refresh(self) -> None:
        has_model = self.ctx.workspace.bundle is not None
        busy = self.running
        self.notice.setVisible(not has_model)
        for w in (self.format_combo, self.exporter_combo, self.opset_spin, self.simplify_check,
                  self.method_combo, self.fold_check, self.path_edit, self.browse_button):
            w.setEnabled(has_model and not busy)
        self.export_button.setEnabled(has_model and not busy)
        self.cancel_button.setEnabled(busy)
        self.open_folder_button.setEnabled(self.result is not None and self.result.path.exists())

    def workspace_changed(self, event: str, payload: Any) -> None:
        if event == "bundle":
            self._model_changed()

    def _model_changed(self) -> None:
        self._suggested = None
        self._clear_result()
        self.path_edit.clear()
        self._suggest_path()
        if self.ctx.workspace.bundle is not None and not self.running:
            self.stages.reset()
            self._set_verdict("idle", IDLE_VERDICT)
        self.refresh()

    # ------------------------------------------------------------------ export
    def export(self, overwrite: Optional[bool] = None) -> Optional[Job]:
        """Start the export; ``overwrite`` None asks when the file exists."""
        bundle = self.ctx.workspace.bundle
        if bundle is None or self.running:
            return None
        options = self.options()
        text = self.path_edit.text().strip()
        if not text:
            self.ctx.window.show_error("Choose where to save the export", "")
            return None
        path = Path(text).expanduser()
        try:
            options.validate()
        except UserError as exc:
            self.ctx.window.show_error("These export options cannot be used", str(exc))
            return None
        if overwrite is None:
            overwrite = False
            if path.exists():
                if not self.confirm_overwrite(path):
                    self.ctx.jobs.log(f"Export cancelled: {path} already exists")
                    return None
                overwrite = True
        self._save_settings(options)
        self._clear_result()
        self.stages.set_stages(STAGES[options.format])
        self.progress_bar.setValue(0)
        self.progress_bar.setStyleSheet("")
        self.progress_bar.setFormat("Starting…")
        self._set_verdict("busy", f"Exporting <b>{bundle.name}</b> to {path.name}…")
        self.job = self.ctx.jobs.run(
            f"Export {bundle.name} to {path.name}", export_bundle,
            {"bundle": bundle, "output_path": path, "options": options,
             "overwrite": overwrite, "threads": self.ctx.window.threads()},
            on_result=self._exported, on_error=self._failed, on_aborted=self._aborted,
            on_finished=self.refresh)
        self.job.changed.connect(self._show_progress)
        self.refresh()
        return self.job

    def confirm_overwrite(self, path: Path) -> bool:
        answer = QMessageBox.question(
            self, "Replace existing file?", f"{path}\nalready exists. Replace it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _progress_shown(self, job: Job) -> None:
        stage = job.message.split(":", 1)[0].strip()
        self.stages.reached(stage)

    def _exported(self, result: ExportResult) -> None:
        self.result = result
        self.stages.finish(True)
        self.progress_bar.setValue(1000)
        self.progress_bar.setFormat(f"Done in {result.export_seconds:.1f} s")
        self.variant = self.ctx.workspace.add_variant(Variant(
            variant_name(result), result.format, result.path, result.precision,
            variant_figures(result)))
        v = result.verification
        self._set_verdict("pass", (
            f"<b>✔ Verified: the exported model matches PyTorch.</b> {len(v.checks)} input "
            f"shapes, worst MSE {v.worst_mse:.1e} (limit {v.mse_limit:g}), lowest SNR "
            f"{format_snr(v.min_snr_db)}.<br>Saved as <b>{result.path.name}</b> and added to the "
            f"models in the Separate tab as “{self.variant.name}”."))
        self.chart.show_report(v)
        self._fill_details(result_rows(result))
        self.ctx.jobs.log(f"Exported {result.path} ({human_bytes(result.file_size)}): verified, "
                          f"worst MSE {v.worst_mse:.1e}")

    def _failed(self, error: BaseException) -> None:
        self.stages.finish(False)
        self.progress_bar.setFormat("Failed: no file was written")
        self.progress_bar.setStyleSheet("QProgressBar::chunk { background: #c0392b; }")
        text = describe_error(error)
        if isinstance(error, VerificationFailed):
            self.chart.show_report(error.report)
        self._set_verdict("fail", "<b>✘ Export failed.</b> " + html_escape(text))
        if not self.isVisible():      # the verdict says it all while this tab is shown
            self.ctx.window.show_error("Export failed", text)

    def _aborted(self) -> None:
        self.stages.reset()
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Cancelled: nothing was written")
        self._set_verdict("idle", "Export cancelled: nothing was written.")

    def open_folder(self) -> None:
        if self.result is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.result.path.parent)))
