"""The calibration songs: a list that takes audio files and folders by drag and drop or from
"Add files…" / "Add folder…"; empty means the bundled demo song. It emits ``changed`` and
holds paths only: the files are checked by the core when the job runs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QLabel, QListWidget,
                               QPushButton, QVBoxLayout, QWidget)

from ....core.audio import READ_FORMATS

AUDIO_FILTER = "Audio files (" + " ".join(f"*.{ext}" for ext in READ_FORMATS) + ")"
EMPTY_TEXT = "No songs chosen: the bundled demo song calibrates the model."


class DropList(QListWidget):
    """A list of paths that accepts dropped files and folders."""

    dropped = Signal(list)           # list[Path]

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.dropped.emit(paths)


class CalibrationList(QWidget):
    changed = Signal()

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.list = DropList()
        self.list.setToolTip("Drop songs or folders here (a MUSDB-style folder of tracks works)")
        self.list.setMaximumHeight(90)
        self.list.dropped.connect(self.add_paths)
        self.empty_label = QLabel(EMPTY_TEXT)
        self.empty_label.setStyleSheet("color:#666")
        self.add_files_button = QPushButton("Add songs…")
        self.add_folder_button = QPushButton("Add folder…")
        self.remove_button = QPushButton("Remove")
        self.add_files_button.clicked.connect(self._choose_files)
        self.add_folder_button.clicked.connect(self._choose_folder)
        self.remove_button.clicked.connect(self.remove_selected)
        buttons = QHBoxLayout()
        for b in (self.add_files_button, self.add_folder_button, self.remove_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addWidget(self.empty_label)
        layout.addLayout(buttons)
        self._refresh()

    def paths(self) -> list[Path]:
        return [Path(self.list.item(i).text()) for i in range(self.list.count())]

    def add_paths(self, paths: list[Path]) -> None:
        known = {str(p) for p in self.paths()}
        for path in paths:
            if str(path) not in known:
                self.list.addItem(str(path))
                known.add(str(path))
        self._refresh()
        self.changed.emit()

    def remove_selected(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))
        self._refresh()
        self.changed.emit()

    def clear(self) -> None:
        self.list.clear()
        self._refresh()
        self.changed.emit()

    def _refresh(self) -> None:
        self.empty_label.setVisible(self.list.count() == 0)

    def _choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Calibration songs", "", AUDIO_FILTER)
        if files:
            self.add_paths([Path(f) for f in files])

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of calibration songs")
        if folder:
            self.add_paths([Path(folder)])
