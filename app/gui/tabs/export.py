"""The Export tab: the loaded model to ONNX or TorchScript, verified before it is kept.

The export runs :func:`app.core.export.export_bundle` in a worker; its progress messages
("stage: detail") light up the stage strip. The result shows the file, its graph, the time
each stage took, a clear verdict and the verification chart; a passing export joins the
workspace's variants, so the Separate tab lists it at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QFont
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QGridLayout,
                               QGroupBox, QHBoxLayout, QLabel, QLineEdit, QMessageBox,
                               QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from ...core.export import (DEFAULT_OPSETS, ONNX_EXPORTERS, OPSET_RANGE, STAGES, ExportOptions,
                            ExportResult, VerificationFailed, export_bundle, variant_figures,
                            variant_name)
from ...core.info import human_bytes
from ...core.jobs import UserError
from ...core.workspace import Variant
from ..jobs import Job, describe_error
from ..verification_chart import VerificationChart
from .base import Tab, TabContext

FORMATS = {"onnx": "ONNX (runs in ONNX Runtime, no PyTorch needed)",
           "torchscript": "TorchScript (runs in PyTorch / LibTorch)"}
EXPORTER_LABELS = {"trace": "TorchScript-based (dynamo=False): fast export",
                   "dynamo": "torch.export-based (dynamo=True)"}
VERDICT_STYLE = {
    "pass": "background:#e9f7ef; border:1px solid #7dcea0; color:#145a32;",
    "fail": "background:#fdecea; border:1px solid #e0a39c; color:#611a15;",
    "idle": "background:#f4f6f7; border:1px solid #d5d8dc; color:#424949;",
    "busy": "background:#eaf2f8; border:1px solid #a9cce3; color:#1b4f72;",
}
STAGE_STYLE = {
    "pending": "color:#7f8c8d; background:#f4f6f7; border:1px solid #d5d8dc;",
    "active": "color:#1b4f72; background:#d6eaf8; border:1px solid #5dade2; font-weight:bold;",
    "done": "color:#145a32; background:#e9f7ef; border:1px solid #7dcea0;",
    "failed": "color:#611a15; background:#fdecea; border:1px solid #e0a39c; font-weight:bold;",
}


class StageStrip(QWidget):
    """The export's stages in order, each pending, active, done or failed."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(0, 0, 0, 0)
        self.row.setSpacing(4)
        self.labels: dict[str, QLabel] = {}
        self.states: dict[str, str] = {}
        self.set_stages(STAGES["onnx"])

    def set_stages(self, names) -> None:
        while self.row.count():
            item = self.row.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        self.labels, self.states = {}, {}
        for i, name in enumerate(names):
            if i:
                arrow = QLabel("›")
                arrow.setStyleSheet("color:#95a5a6; font-size:14pt;")
                self.row.addWidget(arrow)
            label = QLabel(f"{i + 1}  {name.capitalize()}")
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setMinimumWidth(96)
            self.labels[name] = label
            self.row.addWidget(label)
            self.set_state(name, "pending")
        self.row.addStretch(1)

    def set_state(self, name: str, state: str) -> None:
        if name in self.labels:
            self.states[name] = state
            self.labels[name].setStyleSheet(f"QLabel {{ {STAGE_STYLE[state]} border-radius:3px;"
                                            " padding:3px 8px; }")

    def reached(self, name: str) -> None:
        """``name`` is running: earlier stages are done."""
        if name not in self.labels:
            return
        seen = False
        for stage in self.labels:
            if stage == name:
                seen = True
                self.set_state(stage, "active")
            elif not seen:
                self.set_state(stage, "done")

    def finish(self, ok: bool) -> None:
        """Mark all done, or the active stage (the one that failed) as failed."""
        for stage, state in self.states.items():
            if ok:
                self.set_state(stage, "done")
            elif state == "active":
                self.set_state(stage, "failed")

    def reset(self) -> None:
        for stage in self.labels:
            self.set_state(stage, "pending")


class ExportTab(Tab):
    title = "Export"
    tooltip = "Export the model to ONNX or TorchScript, verified against PyTorch"

    def __init__(self, ctx: TabContext, parent: Optional[QWidget] = None):
        super().__init__(ctx, parent)
        self.job: Optional[Job] = None
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

    # ------------------------------------------------------------------ building
    def _no_model_notice(self) -> QWidget:
        self.notice = QWidget()
        self.notice.setObjectName("NoModelNotice")
        self.notice.setStyleSheet("#NoModelNotice { background:#fff8e1; border:1px solid #f0d58c;"
                                  " border-radius:4px; }")
        text = QLabel("<b>No model loaded.</b> Open a checkpoint with File ▸ Open checkpoint… "
                      "(Ctrl+O) to export it.")
        text.setWordWrap(True)
        button = QPushButton("Open checkpoint…")
        button.clicked.connect(self.ctx.window.open_checkpoint_dialog)
        row = QHBoxLayout(self.notice)
        row.setContentsMargins(10, 6, 10, 6)
        row.addWidget(text, 1)
        row.addWidget(button)
        return self.notice

    def _settings(self) -> QWidget:
        box = QGroupBox("What to export")
        grid = QGridLayout(box)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(6)
        right = Qt.AlignmentFlag.AlignRight

        self.format_combo = QComboBox()
        for key, label in FORMATS.items():
            self.format_combo.addItem(label, key)
        self.format_combo.setToolTip("ONNX files run without PyTorch (ONNX Runtime) and are "
                                     "usually fastest on a CPU; TorchScript runs every "
                                     "PyTorch operator")
        self.format_combo.currentIndexChanged.connect(self._format_changed)
        grid.addWidget(QLabel("Format:"), 0, 0, right)
        grid.addWidget(self.format_combo, 0, 1, 1, 3)

        self.exporter_combo = QComboBox()
        for key, label in EXPORTER_LABELS.items():
            self.exporter_combo.addItem(label, key)
        self.exporter_combo.setToolTip(
            "Which PyTorch ONNX exporter: both give a dynamic, verified graph for this model; "
            "the TorchScript-based one exports in seconds and its graph runs faster in ONNX "
            "Runtime, the torch.export-based one takes a minute or more")
        self.exporter_combo.currentIndexChanged.connect(self._exporter_changed)
        self.opset_spin = QSpinBox()
        self.opset_spin.setToolTip("ONNX operator set version; newer opsets have more "
                                   "operators, older runtimes may not support them")
        self.simplify_check = QCheckBox("Simplify with onnxslim")
        self.simplify_check.setToolTip("Fold constants and remove redundant shape arithmetic; "
                                       "the simplified graph is checked and verified again")
        self.method_combo = QComboBox()
        self.method_combo.addItem("trace (records the shape arithmetic; any length)", "trace")
        self.method_combo.addItem("script (compiles the Python code)", "script")
        self.method_combo.setToolTip("Tracing works for TFSWA-UNet at every batch size and "
                                     "length (verified); scripting needs a scriptable model")
        self.fold_check = QCheckBox("Fold batch norms into convolutions")
        self.fold_check.setToolTip("Each batch norm that directly follows a convolution is "
                                   "merged into it (fewer operations, same outputs)")
        self.onnx_widgets = [QLabel("Exporter:"), self.exporter_combo, QLabel("Opset:"),
                             self.opset_spin, self.simplify_check]
        grid.addWidget(self.onnx_widgets[0], 1, 0, right)
        grid.addWidget(self.exporter_combo, 1, 1)
        grid.addWidget(self.onnx_widgets[2], 1, 2, right)
        grid.addWidget(self.opset_spin, 1, 3)
        grid.addWidget(self.simplify_check, 1, 4)
        self.ts_widgets = [QLabel("Method:"), self.method_combo]
        grid.addWidget(self.ts_widgets[0], 2, 0, right)
        grid.addWidget(self.method_combo, 2, 1)
        grid.addWidget(self.fold_check, 1, 5)

        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("Where to write the exported file")
        self.path_edit.textEdited.connect(lambda _t: setattr(self, "_suggested", None))
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self.browse)
        grid.addWidget(QLabel("Save as:"), 3, 0, right)
        grid.addWidget(self.path_edit, 3, 1, 1, 5)
        grid.addWidget(self.browse_button, 3, 6)

        self.export_button = QPushButton("Export and verify")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.export)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the export after the current step; no file is left")
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        grid.addLayout(buttons, 4, 1, 1, 6)
        grid.setColumnStretch(1, 3)
        grid.setColumnStretch(5, 2)
        return box

    def _progress(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        self.stages = StageStrip()
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("Idle")
        row.addWidget(self.stages)
        row.addWidget(self.progress_bar, 1)
        return box

    def _results(self) -> QWidget:
        box = QGroupBox("Result")
        layout = QVBoxLayout(box)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = QFont(self.verdict.font())
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.verdict.setFont(font)
        self.open_folder_button = QPushButton("Open folder")
        self.open_folder_button.setToolTip("Show the exported file in the file manager")
        self.open_folder_button.clicked.connect(self.open_folder)
        top = QHBoxLayout()
        top.addWidget(self.verdict, 1)
        top.addWidget(self.open_folder_button, 0, Qt.AlignmentFlag.AlignTop)
        self.details = QFormLayout()
        self.details.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.details.setHorizontalSpacing(12)
        self.details.setVerticalSpacing(3)
        self.chart = VerificationChart()
        self.chart.setToolTip("For each input shape tested (batch × frames): how far the "
                              "exported model's masks are from PyTorch's. Green passes.")
        body = QHBoxLayout()
        self.details_box = QWidget()
        self.details_box.setLayout(self.details)
        self.details_box.setMinimumWidth(380)
        self.details_box.setMaximumWidth(520)
        body.addWidget(self.details_box)
        body.addWidget(self.chart, 1)
        layout.addLayout(top)
        layout.addLayout(body, 1)
        self._set_verdict("idle", "Nothing exported yet. Choose a format and press "
                                  "<b>Export and verify</b>: the file is written only if it "
                                  "agrees with PyTorch on every tested input shape.")
        return box

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
        if self.job is None or not self.job.running:
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
    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

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
        self._suggested, self.result, self.variant = None, None, None
        self.path_edit.clear()
        self._suggest_path()
        self.chart.clear_report()
        self._fill_details([])
        if self.ctx.workspace.bundle is not None and not self.running:
            self.stages.reset()
            self._set_verdict("idle", "Nothing exported yet. Choose a format and press "
                                      "<b>Export and verify</b>: the file is written only if "
                                      "it agrees with PyTorch on every tested input shape.")
        self.refresh()

    def _set_verdict(self, kind: str, html: str) -> None:
        self.verdict_kind = kind
        self.verdict.setText(html)
        self.verdict.setStyleSheet(f"QLabel {{ {VERDICT_STYLE[kind]} border-radius:4px; "
                                   "padding:8px; }")

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
        self.result, self.variant = None, None
        self.chart.clear_report()
        self._fill_details([])
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

    def cancel(self) -> None:
        if self.running:
            self.job.cancel()
            self.progress_bar.setFormat("Cancelling after the current step…")

    def _show_progress(self) -> None:
        job = self.job
        if job is None or not job.running:
            return
        self.progress_bar.setValue(int(job.fraction * 1000))
        self.progress_bar.setFormat(f"{job.fraction * 100:.0f} % · {job.message}")
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
            f"{_snr(v.min_snr_db)}.<br>Saved as <b>{result.path.name}</b> and added to the "
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
        self._set_verdict("fail", "<b>✘ Export failed.</b> " + _html(text))
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

    def _fill_details(self, rows: list[tuple[str, str]]) -> None:
        while self.details.rowCount():
            self.details.removeRow(0)
        self.details_box.setVisible(bool(rows))
        for label, value in rows:
            field = QLabel(value)
            field.setWordWrap(True)
            field.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            field.setToolTip(value)
            self.details.addRow(f"{label}:", field)

    def detail(self, label: str) -> str:
        """The text shown for ``label`` in the result (for tests and tools)."""
        for row in range(self.details.rowCount()):
            item = self.details.itemAt(row, QFormLayout.ItemRole.LabelRole)
            if item and item.widget().text() == f"{label}:":
                return self.details.itemAt(row, QFormLayout.ItemRole.FieldRole).widget().text()
        raise KeyError(label)


def _snr(value: float) -> str:
    return "∞ dB (identical)" if value == float("inf") else f"{value:.1f} dB"


def _html(text: str) -> str:
    import html

    return html.escape(text).replace("\n", "<br>")


def result_rows(result: ExportResult) -> list[tuple[str, str]]:
    """The result's details as (label, text) rows."""
    if result.format == "onnx":
        how = f"ONNX opset {result.opset}, {ONNX_EXPORTERS[result.method]}" + \
              (", simplified by onnxslim" if result.simplified else "")
    else:
        how = f"TorchScript, torch.jit.{result.method}, frozen"
    top = sorted(result.operators.items(), key=lambda kv: -kv[1])[:6]
    axes = ", ".join(sorted({n for a in result.dynamic_axes.values() for n in a.values()}))
    rows = [
        ("File", str(result.path)),
        ("Format", how),
        ("Size", human_bytes(result.file_size)),
        ("Graph", f"{result.nodes:,} nodes, {len(result.operators)} operator types"),
        ("Most used", ", ".join(f"{k} {v}" for k, v in top)),
        ("Folded", f"{len(result.folded_batchnorms)} batch norms into convolutions"),
        ("Dynamic axes", axes or "none"),
        ("Export time", f"{result.export_seconds:.1f} s (" + ", ".join(
            f"{s.name} {s.seconds:.1f} s" for s in result.stages) + ")"),
    ]
    if result.verification is not None:
        rows.append(("Verified with", result.verification.runtime))
    rows += [("Warning", w) for w in result.warnings]
    return rows
