"""The Export tab's panels, each a widget that shows what it is given and says what the user
did through signals; none of them starts a job or knows the tab:

* :class:`ExportForm`: "What to export" (format, ONNX exporter / opset / onnxslim,
  TorchScript method, batch-norm folding, where to save, Export / Cancel);
* :class:`ProgressRow`: the :class:`StageStrip` that lights up the export's stages, and the
  progress bar;
* :class:`ResultPanel`: the coloured verdict, the details form beside the verification chart,
  "Open folder".
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGridLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QVBoxLayout,
                               QWidget)

from ....core.export import DEFAULT_OPSETS, OPSET_RANGE, STAGES, ExportOptions
from ...verification_chart import VerificationChart
from ...widgets import ChartSlot, job_progress_bar

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


# The ONNX file's input: any batch and length, or one segment with every shape a constant
# (the layout mobile runtimes partition well; ``export --fixed`` / ``--mobile``).
SHAPE_TARGETS = {
    "dynamic": "any length and batch (dynamic axes)",
    "fixed": "one segment, fixed shapes (no shape arithmetic)",
    "coreml": "one segment, for Apple Core ML",
    "nnapi": "one segment, for Android NNAPI",
}
SHAPE_TIPS = {
    "dynamic": "The file takes any batch size and any number of frames: what separation, "
               "quantization and benchmarking on a computer use",
    "fixed": "Batch 1 and one training segment only: the Swin masks, windows and padding are "
             "constants, so mobile runtimes run the graph in one or a few pieces. No faster "
             "on a PC's CPU",
    "coreml": "Fixed shapes, and batch norms written as multiply-add (Core ML rates it 2 "
              "partitions, 99.9 % of nodes); rated by ONNX Runtime's checker, not run on a Mac",
    "nnapi": "Fixed shapes, and LayerNorm and GELU written out with operators NNAPI has (one "
             "partition); about 1.4x slower on a PC's CPU: use it on Android only",
}


class ExportForm(QGroupBox):
    """What to export and where: the options of :class:`~app.core.export.ExportOptions`."""

    format_changed = Signal(str)          # "onnx" | "torchscript"
    path_edited = Signal()                # the user typed a path
    browse_requested = Signal()
    export_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__("What to export", parent)
        grid = QGridLayout(self)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(6)
        self._format_row(grid)
        self._onnx_rows(grid)
        self._path_row(grid)
        self._buttons(grid)
        grid.setColumnStretch(1, 3)
        grid.setColumnStretch(5, 2)

    def _format_row(self, grid: QGridLayout) -> None:
        self.format_combo = QComboBox()
        for key, label in FORMATS.items():
            self.format_combo.addItem(label, key)
        self.format_combo.setToolTip("ONNX files run without PyTorch (ONNX Runtime) and are "
                                     "usually fastest on a CPU; TorchScript runs every "
                                     "PyTorch operator")
        self.format_combo.currentIndexChanged.connect(self._format_changed)
        grid.addWidget(QLabel("Format:"), 0, 0, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.format_combo, 0, 1, 1, 3)

    def _onnx_rows(self, grid: QGridLayout) -> None:
        right = Qt.AlignmentFlag.AlignRight
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
        self.shape_combo = QComboBox()
        for key, label in SHAPE_TARGETS.items():
            self.shape_combo.addItem(label, key)
            self.shape_combo.setItemData(self.shape_combo.count() - 1, SHAPE_TIPS[key],
                                         Qt.ItemDataRole.ToolTipRole)
        self.shape_combo.currentIndexChanged.connect(self._shape_changed)
        self.onnx_widgets = [QLabel("Exporter:"), self.exporter_combo, QLabel("Opset:"),
                             self.opset_spin, self.simplify_check, QLabel("Input:"),
                             self.shape_combo]
        grid.addWidget(self.onnx_widgets[0], 1, 0, right)
        grid.addWidget(self.exporter_combo, 1, 1)
        grid.addWidget(self.onnx_widgets[2], 1, 2, right)
        grid.addWidget(self.opset_spin, 1, 3)
        grid.addWidget(self.simplify_check, 1, 4)
        self.ts_widgets = [QLabel("Method:"), self.method_combo]
        grid.addWidget(self.ts_widgets[0], 2, 0, right)
        grid.addWidget(self.method_combo, 2, 1)
        grid.addWidget(self.onnx_widgets[5], 2, 0, right)     # shown instead of Method
        grid.addWidget(self.shape_combo, 2, 1)
        grid.addWidget(self.fold_check, 1, 5)

    def _path_row(self, grid: QGridLayout) -> None:
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("Where to write the exported file")
        self.path_edit.textEdited.connect(lambda _t: self.path_edited.emit())
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self.browse_requested)
        grid.addWidget(QLabel("Save as:"), 3, 0, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.path_edit, 3, 1, 1, 5)
        grid.addWidget(self.browse_button, 3, 6)

    def _buttons(self, grid: QGridLayout) -> None:
        self.export_button = QPushButton("Export and verify")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.export_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the export after the current step; no file is left")
        self.cancel_button.clicked.connect(self.cancel_requested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        grid.addLayout(buttons, 4, 1, 1, 6)

    # -- reacting to its own widgets
    def _format_changed(self) -> None:
        onnx = self.format() == "onnx"
        for widget in self.onnx_widgets:
            widget.setVisible(onnx)
        for widget in self.ts_widgets:
            widget.setVisible(not onnx)
        self.format_changed.emit(self.format())

    def _shape_changed(self) -> None:
        """Fixed-shape files are made by the trace exporter only: it is chosen, and locked,
        while a one-segment input is."""
        fixed = self.shape() != "dynamic"
        self.shape_combo.setToolTip(SHAPE_TIPS[self.shape()])
        if fixed and self.exporter_combo.currentData() != "trace":
            self.exporter_combo.setCurrentIndex(self.exporter_combo.findData("trace"))
        self.exporter_combo.setEnabled(not fixed and self.shape_combo.isEnabled())
        self.format_changed.emit(self.format())          # the suggested file name changes

    def _exporter_changed(self) -> None:
        exporter = self.exporter_combo.currentData()
        self.opset_spin.setRange(*OPSET_RANGE[exporter])
        self.opset_spin.setValue(DEFAULT_OPSETS[exporter])

    # -- values
    def format(self) -> str:
        return self.format_combo.currentData()

    def shape(self) -> str:
        """"dynamic", "fixed", "coreml" or "nnapi" (ONNX only)."""
        return self.shape_combo.currentData()

    def options(self) -> ExportOptions:
        onnx = self.format() == "onnx"
        return ExportOptions(format=self.format(), opset=self.opset_spin.value(),
                             exporter=self.exporter_combo.currentData(),
                             simplify=self.simplify_check.isChecked(),
                             method=self.method_combo.currentData(),
                             fold_batchnorm=self.fold_check.isChecked(),
                             fixed_shapes=onnx and self.shape() == "fixed",
                             mobile=self.shape() if onnx and self.shape() in ("coreml", "nnapi")
                             else None)

    def restore(self, format: str, exporter: str, opset: Optional[int], simplify: bool,
                method: str, fold_batchnorm: bool, shape: str = "dynamic") -> None:
        """Show saved options (``opset`` None: the exporter's default)."""
        self.format_combo.setCurrentIndex(max(self.format_combo.findData(format), 0))
        self.exporter_combo.setCurrentIndex(max(self.exporter_combo.findData(exporter), 0))
        self._exporter_changed()
        if opset is not None:
            self.opset_spin.setValue(opset)
        self.simplify_check.setChecked(simplify)
        self.method_combo.setCurrentIndex(max(self.method_combo.findData(method), 0))
        self.fold_check.setChecked(fold_batchnorm)
        self.shape_combo.setCurrentIndex(max(self.shape_combo.findData(shape), 0))
        self._shape_changed()
        self._format_changed()

    def set_state(self, has_model: bool, busy: bool) -> None:
        for w in (self.format_combo, self.exporter_combo, self.opset_spin, self.simplify_check,
                  self.method_combo, self.fold_check, self.shape_combo, self.path_edit,
                  self.browse_button, self.export_button):
            w.setEnabled(has_model and not busy)
        if self.shape() != "dynamic":
            self.exporter_combo.setEnabled(False)
        self.cancel_button.setEnabled(busy)


class ProgressRow(QWidget):
    """The stage strip and the progress bar, on one row."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.stages = StageStrip()
        self.progress_bar = job_progress_bar()
        row.addWidget(self.stages)
        row.addWidget(self.progress_bar, 1)


class ResultPanel(QGroupBox):
    """The last export: a verdict (pass, fail, idle, busy), its details and the chart."""

    open_folder_requested = Signal()

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__("Result", parent)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = QFont(self.verdict.font())
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.verdict.setFont(font)
        self.open_folder_button = QPushButton("Open folder")
        self.open_folder_button.setToolTip("Show the exported file in the file manager")
        self.open_folder_button.clicked.connect(self.open_folder_requested)
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
        self.details_box = QWidget()
        self.details_box.setLayout(self.details)
        self.details_box.setMinimumWidth(380)
        self.details_box.setMaximumWidth(520)
        self.slot = ChartSlot(self.chart, "Press <b>Export</b>: the exported file is checked "
                                          "against PyTorch on several input shapes, and the "
                                          "error of each appears here.")
        body = QHBoxLayout()
        body.addWidget(self.details_box)
        body.addWidget(self.slot, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(body, 1)
        self.set_verdict("idle", IDLE_VERDICT)

    def clear(self) -> None:
        """No result: empty chart and details (the verdict stays)."""
        self.chart.clear_report()
        self.slot.show_chart(False)
        self.fill_details([])

    def show_report(self, report) -> None:
        self.chart.show_report(report)
        self.slot.show_chart(True)

    def set_verdict(self, kind: str, html: str) -> None:
        self.verdict_kind = kind
        self.verdict.setText(html)
        self.verdict.setStyleSheet(f"QLabel {{ {VERDICT_STYLE[kind]} border-radius:4px; "
                                   "padding:8px; }")

    def fill_details(self, rows: list[tuple[str, str]]) -> None:
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
