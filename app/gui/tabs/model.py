"""The Model tab: what ``tfswa-studio info`` prints, for the loaded checkpoint.

The summary and the per-stage table come from :func:`app.core.info.model_info`, which runs
a forward pass, so it is computed in a worker whenever the workspace gets a new bundle.
"""

from __future__ import annotations

from typing import Any, Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QFormLayout, QGroupBox, QHBoxLayout, QHeaderView,
                               QLabel, QStackedWidget, QTableWidget, QTableWidgetItem, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from ...core.checkpoint import ModelBundle
from ...core.info import ModelInfo, human_bytes, human_count, metadata_entries, model_info
from ..jobs import Job
from ..widgets import NO_MODEL_TEXT, EmptyState
from .base import Tab, TabContext

STAGE_COLUMNS = ["Stage", "Type", "Parameters", "Share", "Output shape"]


def shape_text(shape: list[int]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")" if shape else "-"


def config_text(config: dict[str, Any]) -> str:
    channels = "·".join(str(c) for c in config.get("channels", []))
    window = "×".join(str(w) for w in config.get("window", []))
    blocks = config.get("blocks", 0)
    return (f"channels {channels}, dim {config.get('dim')}, {blocks} TFSWA block"
            f"{'s' if blocks != 1 else ''}, {config.get('heads')} heads, window {window}, "
            f"MLP ×{config.get('mlp_ratio')}")


def summary_rows(info: ModelInfo) -> dict[str, list[tuple[str, str]]]:
    """The text of the summary, grouped as shown: {group: [(label, value)]}."""
    audio = info.audio_config
    rate = audio["sample_rate"]
    hop_ms = 1000 * audio["hop_length"] / rate
    frames = info.input_shape[-1]
    return {
        "Model": [
            ("Name", info.name),
            ("File", str(info.path) if info.path else "(not saved)"),
            ("Preset", info.preset),
            ("Parameters", f"{info.parameters:,} ({human_count(info.parameters)})"),
            ("Size on disk", human_bytes(info.size_bytes)),
            ("Architecture", config_text(info.model_config)),
        ],
        "Audio": [
            ("Sources", ", ".join(info.sources)),
            ("Sample rate", f"{rate:,} Hz"),
            ("STFT", f"n_fft {audio['n_fft']}, hop {audio['hop_length']} ({hop_ms:.1f} ms), "
                     f"{audio['window']} window"),
            ("Sub-bands", str(audio["subbands"])),
            ("Segment", f"{audio['segment_seconds']:g} s = {frames} frames"),
            ("Input", shape_text(info.input_shape)),
            ("Output (masks)", shape_text(info.output_shape)),
        ],
    }


class ModelTab(Tab):
    title = "Model"
    tooltip = "The loaded checkpoint: configuration, parameter count and per-stage table"

    def __init__(self, ctx: TabContext, parent: Optional[QWidget] = None):
        super().__init__(ctx, parent)
        self.info: Optional[ModelInfo] = None
        self._bundle: Optional[ModelBundle] = None
        self._job: Optional[Job] = None
        self.empty = EmptyState("No model loaded", NO_MODEL_TEXT,
                                [("Open checkpoint…", ctx.window.open_checkpoint_dialog)])
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self._content())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)
        if ctx.workspace.bundle is not None:
            self.describe(ctx.workspace.bundle)

    def _content(self) -> QWidget:
        page = QWidget()
        self.status = QLabel()
        self.status.setStyleSheet("color:#555")
        self.forms: dict[str, QFormLayout] = {}
        groups = QHBoxLayout()
        groups.setSpacing(10)
        for name, stretch in (("Model", 5), ("Audio", 4)):
            box = QGroupBox(name)
            form = QFormLayout(box)
            form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            form.setHorizontalSpacing(12)
            self.forms[name] = form
            groups.addWidget(box, stretch)
        # metadata is nested (training, validation, evaluation, ...): a tree
        meta_box = QGroupBox("Metadata")
        self.metadata_tree = QTreeWidget()
        self.metadata_tree.setHeaderLabels(["key", "value"])
        self.metadata_tree.setColumnCount(2)
        self.metadata_tree.setAlternatingRowColors(True)
        self.metadata_tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        QVBoxLayout(meta_box).addWidget(self.metadata_tree)
        groups.addWidget(meta_box, 5)
        self.table = QTableWidget(0, len(STAGE_COLUMNS))
        self.table.setHorizontalHeaderLabels(STAGE_COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.table.setToolTip("Each stage of the network: its parameters and the shape of its "
                              "output for one segment")
        stages = QGroupBox("Stages (one forward pass on one segment)")
        QVBoxLayout(stages).addWidget(self.table)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(8)
        layout.addWidget(self.status)
        layout.addLayout(groups, 3)
        layout.addWidget(stages, 2)
        return page

    # -- workspace
    def workspace_changed(self, event: str, payload: Any) -> None:
        if event == "bundle":
            self.describe(payload)

    def describe(self, bundle: ModelBundle) -> None:
        """Compute the summary of ``bundle`` in a worker; show it when it arrives."""
        if self._job is not None and self._job.running:
            self._job.cancel()
        self._bundle = bundle
        self.stack.setCurrentIndex(1)
        self.status.setText(f"Describing {bundle.name}…")
        self._job = self.ctx.jobs.run(
            f"Describe model {bundle.name}", model_info, {"bundle": bundle},
            on_result=lambda info, b=bundle: self._described(b, info), log_done=False)

    def _described(self, bundle: ModelBundle, info: ModelInfo) -> None:
        if bundle is not self._bundle:      # a newer model was loaded meanwhile
            return
        self.info = info
        self.status.setText(f"{info.name}: {human_count(info.parameters)} parameters, "
                            f"{len(info.stages)} stages, sources {', '.join(info.sources)}")
        for group, rows in summary_rows(info).items():
            self._fill_form(self.forms[group], rows)
        self._fill_metadata(info.metadata)
        self._fill_table(info)

    def _fill_metadata(self, metadata: dict) -> None:
        tree = self.metadata_tree
        tree.clear()
        nodes: dict[tuple[str, ...], QTreeWidgetItem] = {(): tree.invisibleRootItem()}
        for key_path, value in metadata_entries(metadata):
            for depth in range(1, len(key_path)):          # the groups above this value
                if key_path[:depth] not in nodes:
                    group = QTreeWidgetItem([key_path[depth - 1], ""])
                    nodes[key_path[:depth - 1]].addChild(group)
                    nodes[key_path[:depth]] = group
            item = QTreeWidgetItem([key_path[-1], value])
            item.setToolTip(1, value)
            nodes[key_path[:-1]].addChild(item)
        if not metadata:
            tree.addTopLevelItem(QTreeWidgetItem(["(none)", ""]))
        # open what is short (evaluation, validation); long groups (training options) stay
        # closed until clicked
        tree.expandAll()
        for i in range(tree.topLevelItemCount()):
            item = tree.topLevelItem(i)
            item.setExpanded(item.childCount() <= 10)

    def metadata_items(self) -> dict[str, str]:
        """Every metadata row as {"dotted.key": "shown value"} (for tests and tools)."""
        out: dict[str, str] = {}

        def walk(item, prefix: str) -> None:
            for i in range(item.childCount()):
                child = item.child(i)
                key = f"{prefix}{child.text(0)}"
                if child.childCount():
                    walk(child, key + ".")
                else:
                    out[key] = child.text(1)

        walk(self.metadata_tree.invisibleRootItem(), "")
        return out

    @staticmethod
    def _fill_form(form: QFormLayout, rows: list[tuple[str, str]]) -> None:
        while form.rowCount():
            form.removeRow(0)
        for label, value in rows:
            field = QLabel(value)
            field.setWordWrap(True)
            field.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            field.setToolTip(value)
            form.addRow(f"{label}:" if label else "", field)

    def _fill_table(self, info: ModelInfo) -> None:
        self.table.setRowCount(len(info.stages))
        total = max(info.parameters, 1)
        for r, stage in enumerate(info.stages):
            cells = [stage.name, stage.kind, f"{stage.parameters:,}",
                     f"{100 * stage.parameters / total:.1f} %", shape_text(stage.output_shape)]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c in (2, 3):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)

    def stage_names(self) -> list[str]:
        return [self.table.item(r, 0).text() for r in range(self.table.rowCount())]
