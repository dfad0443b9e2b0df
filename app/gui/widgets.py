"""Small reusable widgets: the message banner and the empty-state panel."""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFont, QPainter
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy,
                               QStackedWidget, QToolButton, QVBoxLayout, QWidget)

STYLES = {
    "error": "background:#fdecea; border:1px solid #e0a39c; color:#611a15;",
    "info": "background:#e8f1fb; border:1px solid #9dbfe3; color:#0c2e52;",
}


class MessageBanner(QFrame):
    """A non-blocking message above the tabs: a bold title, details, a close button.

    It never blocks the app (unlike a modal dialog): the user keeps working and closes it
    when done. A new message replaces the previous one.
    """

    closed = Signal()

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setObjectName("MessageBanner")
        self.heading = QLabel()
        font = QFont(self.heading.font())
        font.setBold(True)
        self.heading.setFont(font)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Dismiss this message")
        self.close_button.clicked.connect(self.dismiss)
        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self.heading)
        text.addWidget(self.detail)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        layout.addLayout(text, 1)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.kind = ""
        self.hide()

    def show_message(self, kind: str, heading: str, detail: str = "") -> None:
        self.kind = kind
        self.setStyleSheet(f"#MessageBanner {{ {STYLES[kind]} border-radius:4px; }}"
                           f" #MessageBanner QLabel {{ border:none; background:transparent; }}")
        self.heading.setText(heading)
        self.detail.setText(detail)
        self.detail.setVisible(bool(detail))
        self.show()

    def text(self) -> str:
        return f"{self.heading.text()}\n{self.detail.text()}".strip()

    def dismiss(self) -> None:
        self.hide()
        self.closed.emit()


class ElidedLabel(QLabel):
    """A one-line label that ends in "…" when it is too narrow; the full text is its tooltip."""

    def __init__(self, text: str = "", parent: Optional[QWidget] = None):
        super().__init__(text, parent)
        self.setToolTip(text)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def minimumSizeHint(self) -> QSize:
        return QSize(40, super().minimumSizeHint().height())

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight,
                                             self.contentsRect().width())
        painter.drawText(self.contentsRect(), int(self.alignment()), text)


class EmptyState(QWidget):
    """A centred explanation with action buttons, shown where content will appear."""

    def __init__(self, heading: str, text: str,
                 actions: Sequence[tuple[str, Callable[[], None]]] = (),
                 parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.heading = QLabel(heading)
        font = QFont(self.heading.font())
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        self.heading.setFont(font)
        self.heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.body = QLabel(text)
        self.body.setWordWrap(True)
        self.body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.body.setTextFormat(Qt.TextFormat.RichText)
        self.body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body.setFixedWidth(560)      # a fixed width lets the wrapped text get its height
        self.buttons: list[QPushButton] = []
        row = QHBoxLayout()
        row.addStretch(1)
        for label, slot in actions:
            button = QPushButton(label)
            button.clicked.connect(slot)
            row.addWidget(button)
            self.buttons.append(button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(self.heading)
        layout.addSpacing(6)
        centred = QHBoxLayout()           # no alignment flag: the label keeps heightForWidth
        centred.addStretch(1)
        centred.addWidget(self.body)
        centred.addStretch(1)
        layout.addLayout(centred)
        layout.addSpacing(10)
        layout.addLayout(row)
        layout.addStretch(2)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)


NO_MODEL_TEXT = (
    "Open a TFSWA-UNet checkpoint (<b>.pt</b>, <b>.pth</b> or <b>.safetensors</b>) with "
    "<b>File ▸ Open checkpoint…</b> (Ctrl+O), or drop one onto this window. An exported "
    "<b>.onnx</b> model opens too.<br><br>"
    "Checkpoints are read as data and never run. A <b>TorchScript</b> file is a program: "
    "opening one runs the code inside it, so the app asks first unless it exported that very "
    "file itself.<br><br>"
    "No checkpoint yet? Make an untrained one to try the whole pipeline:<br>"
    "<code>tfswa-studio init --out model.pt</code>")


class NoModelNotice(QWidget):
    """The yellow strip a tab shows while no model is loaded: what to do, and a button that
    opens a checkpoint."""

    def __init__(self, text_html: str, open_checkpoint: Callable[[], None],
                 parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setObjectName("NoModelNotice")
        self.setStyleSheet("#NoModelNotice { background:#fff8e1; border:1px solid #f0d58c;"
                           " border-radius:4px; }")
        self.text = QLabel(text_html)
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.button = QPushButton("Open checkpoint…")
        self.button.clicked.connect(open_checkpoint)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 10, 6)
        row.addWidget(self.text, 1)
        row.addWidget(self.button)


def job_progress_bar() -> QProgressBar:
    """The progress bar a tab shows its job in: 0..1000 (per mille), text visible, Idle."""
    bar = QProgressBar()
    bar.setRange(0, 1000)
    bar.setValue(0)
    bar.setTextVisible(True)
    bar.setFormat("Idle")
    return bar


class ChartSlot(QStackedWidget):
    """A chart that shows a short sentence instead of empty axes until it has something to
    draw: before the first run a chart with dummy ticks and an empty legend only puzzles."""

    def __init__(self, chart: QWidget, placeholder: str, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.content = chart
        self.placeholder = QLabel(placeholder)
        self.placeholder.setWordWrap(True)
        self.placeholder.setTextFormat(Qt.TextFormat.RichText)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet("QLabel { color:#666; border:1px dashed #bbb; "
                                       "border-radius:4px; padding:16px; }")
        self.addWidget(self.placeholder)
        self.addWidget(chart)

    def show_chart(self, shown: bool = True) -> None:
        self.setCurrentIndex(1 if shown else 0)

    @property
    def chart_shown(self) -> bool:
        return self.currentIndex() == 1
