"""The Export tab: the loaded model to ONNX or TorchScript, verified before it is kept.

The export runs :func:`app.core.export.export_bundle` in a worker; its progress messages
("stage: detail") light up the stage strip. The result shows the file, its graph, the time
each stage took, a clear verdict and the verification chart; a passing export joins the
workspace's variants, so the Separate tab lists it at once. The tab assembles the panels of
:mod:`app.gui.tabs.export.panels`; the result's text comes from
:mod:`app.gui.tabs.export.summary`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QStandardPaths, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QMessageBox, QVBoxLayout, QWidget

from ....core.export import (STAGES, ExportOptions, ExportResult,
                             VerificationFailed, export_bundle, variant_figures, variant_name)
from ....core.info import human_bytes
from ....core.jobs import UserError
from ....core.workspace import Variant
from ...jobs import Job, describe_error
from ...widgets import NoModelNotice
from ..base import SingleJobTab, TabContext
from .panels import IDLE_VERDICT, ExportForm, ProgressRow, ResultPanel
from .summary import format_snr, html_escape, result_rows


def documents_folder() -> Path:
    """``Documents/TFSWA Studio`` (the platform's documents folder; home if it has none)."""
    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(docs or Path.home()) / "TFSWA Studio"


def export_folder(last_used: str, checkpoint: Optional[Path]) -> Path:
    """Where an export goes by default: the folder of the last export while it exists; else
    the checkpoint's folder if the user can write there and it is not inside the installed
    app (the bundled demo model lives there); else the user's documents."""
    if last_used and Path(last_used).is_dir():
        return Path(last_used)
    if checkpoint is not None:
        folder = Path(checkpoint).resolve().parent
        app_dir = Path(__file__).resolve().parents[3]          # the installed app package
        if (os.access(folder, os.W_OK) and app_dir not in (folder, *folder.parents)
                and "site-packages" not in folder.parts):
            return folder
    return documents_folder()


class ExportTab(SingleJobTab):
    title = "Export"
    tooltip = "Export the model to ONNX or TorchScript, verified against PyTorch"
    cancel_text = "Cancelling after the current step…"

    def __init__(self, ctx: TabContext, parent: Optional[QWidget] = None):
        super().__init__(ctx, parent)
        self.result: Optional[ExportResult] = None
        self.variant: Optional[Variant] = None
        self._suggested: Optional[Path] = None
        self.notice = NoModelNotice(
            "<b>No model loaded.</b> Open a checkpoint with File ▸ Open checkpoint… (Ctrl+O) "
            "to export it.", ctx.window.open_checkpoint_dialog)
        self.form = ExportForm()
        self.progress_row = ProgressRow()
        self.result_panel = ResultPanel()
        self.progress_bar = self.progress_row.progress_bar
        self.stages = self.progress_row.stages
        layout = QVBoxLayout(self.page)
        layout.setContentsMargins(12, 10, 12, 8)
        layout.setSpacing(8)
        layout.addWidget(self.notice)
        layout.addWidget(self.form)
        layout.addWidget(self.progress_row)
        layout.addWidget(self.result_panel, 1)
        self._restore_settings()
        self._connect()
        self._format_changed(self.form.format())
        self._model_changed()

    def _connect(self) -> None:
        self.form.format_changed.connect(self._format_changed)
        self.form.path_edited.connect(lambda: setattr(self, "_suggested", None))
        self.form.browse_requested.connect(self.browse)
        self.form.export_requested.connect(self.export)
        self.form.cancel_requested.connect(self.cancel)
        self.result_panel.open_folder_requested.connect(self.open_folder)

    # ------------------------------------------------------------------ settings
    def _restore_settings(self) -> None:
        self.form.restore(self.setting("format", "onnx"), self.setting("exporter", "trace"),
                          self.setting("opset", None, int), self.setting("simplify", True, bool),
                          self.setting("method", "trace"),
                          self.setting("fold_batchnorm", True, bool),
                          self.setting("shape", "dynamic"))

    def _save_settings(self, options: ExportOptions) -> None:
        for key in ("format", "exporter", "opset", "simplify", "method", "fold_batchnorm"):
            self.set_setting(key, getattr(options, key))
        if options.format == "onnx":
            self.set_setting("shape", self.form.shape())

    def options(self) -> ExportOptions:
        return self.form.options()

    def _format_changed(self, fmt: str) -> None:
        if not self.running:
            self.stages.set_stages(STAGES[fmt])
        self._suggest_path()

    def _suggest_path(self) -> None:
        """In the folder of the last export, else beside the checkpoint when the user may
        write there, else in the user's documents; unless the user typed or chose a path."""
        bundle = self.ctx.workspace.bundle
        path_edit = self.form.path_edit
        if bundle is None or (self._suggested is None and path_edit.text()):
            return
        name = (bundle.path.stem if bundle.path else bundle.name) + ".pt"
        source = export_folder(self.ctx.settings.store.value("paths/exports", ""),
                               bundle.path) / name
        self._suggested = self.options().default_path(source)
        path_edit.setText(str(self._suggested))

    def browse(self) -> None:
        filters = ("ONNX models (*.onnx)" if self.form.format() == "onnx"
                   else "TorchScript files (*.pt)")
        path, _ = QFileDialog.getSaveFileName(self, "Export to", self.form.path_edit.text(),
                                              filters)
        if path:
            self._suggested = None
            self.form.path_edit.setText(path)

    # ------------------------------------------------------------------ state
    def refresh(self) -> None:
        has_model = self.ctx.workspace.bundle is not None
        self.notice.setVisible(not has_model)
        self.form.set_state(has_model, self.running)
        self.result_panel.open_folder_button.setEnabled(self.result is not None
                                                        and self.result.path.exists())

    def workspace_changed(self, event: str, payload: Any) -> None:
        if event == "bundle":
            self._model_changed()

    def _model_changed(self) -> None:
        self._suggested = None
        self._clear_result()
        self.form.path_edit.clear()
        self._suggest_path()
        if self.ctx.workspace.bundle is not None and not self.running:
            self.stages.reset()
            self.result_panel.set_verdict("idle", IDLE_VERDICT)
        self.refresh()

    # ------------------------------------------------------------------ export
    def export(self, overwrite: Optional[bool] = None) -> Optional[Job]:
        """Start the export; ``overwrite`` None asks when the file exists."""
        bundle = self.ctx.workspace.bundle
        if bundle is None or self.running:
            return None
        options = self.options()
        text = self.form.path_edit.text().strip()
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
        if path.parent == documents_folder():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                self.ctx.window.show_error(f"Could not create the folder {path.parent}", str(exc))
                return None
        self._save_settings(options)
        if path.parent.is_dir():
            self.ctx.settings.remember_dir("exports", path.parent)
        self._clear_result()
        self.stages.set_stages(STAGES[options.format])
        self.progress_bar.setValue(0)
        self.progress_bar.setStyleSheet("")
        self.progress_bar.setFormat("Starting…")
        self.result_panel.set_verdict("busy", f"Exporting <b>{bundle.name}</b> to {path.name}…")
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
        self.result_panel.set_verdict("pass", (
            f"<b>✔ Verified: the exported model matches PyTorch.</b> {len(v.checks)} input "
            f"shapes, worst MSE {v.worst_mse:.1e} (limit {v.mse_limit:g}), lowest SNR "
            f"{format_snr(v.min_snr_db)}.<br>Saved as <b>{result.path.name}</b> and added to the "
            f"models in the Separate tab as “{self.variant.name}”."))
        self.result_panel.show_report(v)
        self.result_panel.fill_details(result_rows(result))
        self.ctx.jobs.log(f"Exported {result.path} ({human_bytes(result.file_size)}): verified, "
                          f"worst MSE {v.worst_mse:.1e}")

    def _failed(self, error: BaseException) -> None:
        self.stages.finish(False)
        self.progress_bar.setFormat("Failed: no file was written")
        self.progress_bar.setStyleSheet("QProgressBar::chunk { background: #c0392b; }")
        text = describe_error(error)
        if isinstance(error, VerificationFailed):
            self.result_panel.show_report(error.report)
        self.result_panel.set_verdict("fail", "<b>✘ Export failed.</b> " + html_escape(text))
        if not self.isVisible():      # the verdict says it all while this tab is shown
            self.ctx.window.show_error("Export failed", text)

    def _aborted(self) -> None:
        self.stages.reset()
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Cancelled: nothing was written")
        self.result_panel.set_verdict("idle", "Export cancelled: nothing was written.")

    def _clear_result(self) -> None:
        """Forget the last export: no result, no variant, empty chart and details."""
        self.result, self.variant = None, None
        self.result_panel.clear()

    def open_folder(self) -> None:
        if self.result is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.result.path.parent)))
