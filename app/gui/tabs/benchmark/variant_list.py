"""The variants to benchmark: the workspace's (ticked by the user) and files added by hand
(any checkpoint, ONNX or TorchScript file). Emits ``changed`` when the choice changes; the
tab asks it for :meth:`VariantList.chosen` when Run is pressed."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QFileDialog, QGroupBox, QHBoxLayout, QListWidget,
                               QListWidgetItem, QPushButton, QVBoxLayout, QWidget)

from ....core.benchmarking import figures_sdr

FILE_FILTER = ("Models (*.onnx *.pt *.pth *.safetensors);;ONNX (*.onnx);;"
               "Checkpoints and TorchScript (*.pt *.pth *.safetensors);;All files (*)")
ROLE = Qt.ItemDataRole.UserRole


class VariantList(QGroupBox):
    """A checkable list; each item holds ``("workspace", Variant)`` or ``("file", Path)``."""

    changed = Signal()

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__("Variants", parent)
        self.list = QListWidget()
        self.list.setToolTip("Tick the variants to time side by side")
        self.list.itemChanged.connect(lambda _item: self.changed.emit())
        self.add_button = QPushButton("Add files…")
        self.add_button.setToolTip("Time any model file: a checkpoint, an ONNX file (also a "
                                   "third party's with the same input and output) or TorchScript")
        self.add_button.clicked.connect(self.browse)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected added file from the list")
        self.remove_button.clicked.connect(self.remove_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)

    # ------------------------------------------------------------------ filling
    def set_workspace_variants(self, variants: Sequence[Any]) -> None:
        """Show the workspace's variants, then the added files. A variant listed before keeps
        its tick; a new one (a fresh export or quantized file) comes ticked."""
        ticked = {self._key(d) for d in self._data(checked=True)}
        listed = {self._key(d) for d in self._data()}
        files = [d for d in self._data() if d[0] == "file"]
        self.list.blockSignals(True)
        self.list.clear()
        for v in variants:
            key = self._key(("workspace", v))
            self._add(("workspace", v), self._describe(v), key in ticked or key not in listed)
        for d in files:
            self._add(d, f"{d[1].name} (file)", self._key(d) in ticked)
        self.list.blockSignals(False)
        self.changed.emit()

    def add_file(self, path: Path | str, checked: bool = True) -> None:
        path = Path(path)
        if any(self._key(d) == ("file", str(path)) for d in self._data()):
            return
        self._add(("file", path), f"{path.name} (file)", checked)
        self.changed.emit()

    def browse(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add model files", "", FILE_FILTER)
        for p in paths:
            self.add_file(p)

    def remove_selected(self) -> None:
        for item in self.list.selectedItems():
            if item.data(ROLE)[0] == "file":
                self.list.takeItem(self.list.row(item))
        self.changed.emit()

    # ------------------------------------------------------------------ reading
    def chosen(self) -> list[tuple[str, Any]]:
        return self._data(checked=True)

    def set_checked(self, labels: Sequence[str]) -> None:
        """Tick exactly the items whose text starts with one of ``labels`` (tests, settings)."""
        for i in range(self.list.count()):
            item = self.list.item(i)
            on = any(item.text().startswith(label) for label in labels)
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def texts(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _describe(v: Any) -> str:
        sdr = figures_sdr(v.figures)
        return v.name if sdr is None else f"{v.name} · SDR {sdr:.2f} dB"

    @staticmethod
    def _key(data: tuple[str, Any]) -> tuple[str, str]:
        kind, obj = data
        return (kind, str(obj.path if kind == "workspace" else obj))

    def _add(self, data: tuple[str, Any], text: str, checked: bool) -> None:
        item = QListWidgetItem(text)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        item.setData(ROLE, data)
        path = data[1].path if data[0] == "workspace" else data[1]
        item.setToolTip(str(path or "the loaded model (not saved to a file)"))
        self.list.addItem(item)

    def _data(self, checked: bool = False) -> list[tuple[str, Any]]:
        out = []
        for i in range(self.list.count()):
            item = self.list.item(i)
            if not checked or item.checkState() == Qt.CheckState.Checked:
                out.append(item.data(ROLE))
        return out
