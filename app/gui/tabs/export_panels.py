"""The Export tab's widgets: the "What to export" form (format, ONNX exporter / opset /
onnxslim, TorchScript method, batch-norm folding, where to save, Export / Cancel), the stage
strip with the progress bar, and the result panel (the coloured verdict, the details form beside
the verification chart, "Open folder"). :class:`StageStrip` lights up the export's stages;
:class:`ExportPanels` is mixed into :class:`~app.gui.tabs.export.ExportTab`, so every widget
stays an attribute of the tab (``tab.path_edit``, ``tab.verdict``, ``tab.chart``, ...) and the
buttons call the tab's methods; nothing here starts a job or computes anything.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGridLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QVBoxLayout,
                               QWidget)

from ...core.export import STAGES
from ..verification_chart import VerificationChart
from ..widgets import NoModelNotice, job_progress_bar

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


IDLE_VERDICT = ("Nothing exported yet. Choose a format and press <b>Export and verify</b>: the "
                "file is written only if it agrees with PyTorch on every tested input shape.")


class ExportPanels:
    """Builds the Export tab's widgets onto the tab and fills its result panel (a mixin for
    ``ExportTab``)."""

    # ------------------------------------------------------------------ building
    def _no_model_notice(self) -> QWidget:
        self.notice = NoModelNotice(
            "<b>No model loaded.</b> Open a checkpoint with File ▸ Open checkpoint… (Ctrl+O) "
            "to export it.",
            self.ctx.window.open_checkpoint_dialog)
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
        self.progress_bar = job_progress_bar()
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
        self._set_verdict("idle", IDLE_VERDICT)
        return box

    # ------------------------------------------------------------------ result panel
    def _clear_result(self) -> None:
        """Forget the last export: no result, no variant, empty chart and details."""
        self.result, self.variant = None, None
        self.chart.clear_report()
        self._fill_details([])

    def _set_verdict(self, kind: str, html: str) -> None:
        self.verdict_kind = kind
        self.verdict.setText(html)
        self.verdict.setStyleSheet(f"QLabel {{ {VERDICT_STYLE[kind]} border-radius:4px; "
                                   "padding:8px; }")

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
