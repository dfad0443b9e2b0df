"""The Model tab's panels, each a widget that shows what it is given: the plain-language
verdict on the model (:class:`QualityBanner`), the summary forms (:class:`SummaryForm`), the nested metadata (:class:`MetadataTree`) and the per-stage table
(:class:`StageTable`). None of them starts a job or knows the tab."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QFormLayout, QGroupBox, QHeaderView, QLabel,
                               QTableWidget, QTableWidgetItem, QTreeWidget, QTreeWidgetItem,
                               QWidget)

from ....core.evaluation import QualitySummary
from ....core.info import ModelInfo, metadata_entries
from .summary import shape_text

STAGE_COLUMNS = ["Stage", "Type", "Parameters", "Share", "Output shape"]
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class QualityBanner(QLabel):
    """Whether the model is trained, what it separates and how well, in words and numbers:
    for people who are not ML engineers, above the details. An untrained model stands out."""

    STYLES = {True: "background:#eef6ee; border:1px solid #9c9; color:#143",
              None: "background:#f4f4f4; border:1px solid #ccc; color:#333",
              False: "background:#fff1e0; border:1px solid #e0a050; color:#6a3a00"}

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary: Optional[QualitySummary] = None
        self.hide()

    def show_summary(self, summary: QualitySummary) -> None:
        self.summary = summary
        icon = {True: "✔", False: "⚠", None: "ℹ"}[summary.trained]
        lines = "".join(f"<br>&nbsp;&nbsp;• {line}" for line in summary.lines)
        self.setText(f"<b>{icon} {summary.headline}</b>{lines}")
        self.setStyleSheet(f"QLabel {{ {self.STYLES[summary.trained]}; border-radius:4px; "
                           f"padding:6px 10px; }}")
        self.show()


class SummaryForm(QGroupBox):
    """One group of the summary ("Model", "Audio") as label: value rows."""

    def __init__(self, title: str, parent: Optional[QWidget] = None):
        super().__init__(title, parent)
        self.form = QFormLayout(self)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setHorizontalSpacing(12)

    def show_rows(self, rows: list[tuple[str, str]]) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        for label, value in rows:
            field = QLabel(value)
            field.setWordWrap(True)
            field.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            field.setToolTip(value)
            self.form.addRow(f"{label}:" if label else "", field)

    def values(self) -> dict[str, str]:
        """``{label: value}`` as shown (labels without their colon)."""
        role = self.form.ItemRole
        return {self.form.itemAt(r, role.LabelRole).widget().text().rstrip(":"):
                self.form.itemAt(r, role.FieldRole).widget().text()
                for r in range(self.form.rowCount())
                if self.form.itemAt(r, role.LabelRole) is not None}


class MetadataTree(QTreeWidget):
    """The checkpoint's free-form metadata (training, validation, evaluation, ...) as a tree."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setHeaderLabels(["key", "value"])
        self.setColumnCount(2)
        self.setAlternatingRowColors(True)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)

    def show_metadata(self, metadata: dict) -> None:
        self.clear()
        nodes: dict[tuple[str, ...], QTreeWidgetItem] = {(): self.invisibleRootItem()}
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
            self.addTopLevelItem(QTreeWidgetItem(["(none)", ""]))
        # open what is short (evaluation, validation); long groups (training options) stay
        # closed until clicked
        self.expandAll()
        for i in range(self.topLevelItemCount()):
            item = self.topLevelItem(i)
            item.setExpanded(item.childCount() <= 10)

    def items(self) -> dict[str, str]:
        """Every row as {"dotted.key": "shown value"} (for tests and tools)."""
        out: dict[str, str] = {}

        def walk(item, prefix: str) -> None:
            for i in range(item.childCount()):
                child = item.child(i)
                key = f"{prefix}{child.text(0)}"
                if child.childCount():
                    walk(child, key + ".")
                else:
                    out[key] = child.text(1)

        walk(self.invisibleRootItem(), "")
        return out


class StageTable(QTableWidget):
    """Each stage of the network: its parameters and the shape of its output."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(0, len(STAGE_COLUMNS), parent)
        self.setHorizontalHeaderLabels(STAGE_COLUMNS)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.setToolTip("Each stage of the network: its parameters and the shape of its "
                        "output for one segment")

    def show_stages(self, info: ModelInfo) -> None:
        self.setRowCount(len(info.stages))
        total = max(info.parameters, 1)
        for r, stage in enumerate(info.stages):
            cells = [stage.name, stage.kind, f"{stage.parameters:,}",
                     f"{100 * stage.parameters / total:.1f} %", shape_text(stage.output_shape)]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c in (2, 3):
                    item.setTextAlignment(RIGHT)
                self.setItem(r, c, item)

    def names(self) -> list[str]:
        return [self.item(r, 0).text() for r in range(self.rowCount())]
