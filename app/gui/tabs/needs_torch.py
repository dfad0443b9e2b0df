"""The tab shown in place of one that needs PyTorch where PyTorch is missing (the slim
runtime): what the tab does, what works in this install, and what to install."""

from __future__ import annotations

from html import escape
from typing import Optional

from PySide6.QtWidgets import QVBoxLayout, QWidget

from ...core.devices import TORCH_INSTALL
from ..widgets import EmptyState
from .base import Tab, TabContext

HEADING = "This tab needs PyTorch"


def needs_torch_text(title: str, needs: str) -> str:
    """The panel's text (rich text): what the tab does, what to install, what works here."""
    what = f"The {escape(title)} tab {escape(needs)}." if needs else ""
    install = escape(TORCH_INSTALL).replace("`", "")
    return (f"{what} This is the slim runtime of TFSWA Studio: it runs exported ONNX models "
            f"with ONNX Runtime and leaves PyTorch out to stay small.<br><br>"
            f"To use this tab, {install}.<br><br>"
            "Here the <b>Model</b> tab shows an ONNX model, <b>Separate</b> separates songs "
            "with it and <b>Benchmark</b> times ONNX variants.")


class NeedsTorchTab(Tab):
    """A panel that says what to install; it never runs a job."""

    needs = ""

    def __init__(self, ctx: TabContext, parent: Optional[QWidget] = None):
        super().__init__(ctx, parent)
        self.notice = EmptyState(HEADING, needs_torch_text(self.title, self.needs))
        self.notice.setObjectName("NeedsTorch")
        QVBoxLayout(self.page).addWidget(self.notice)


def needs_torch_tab(title: str, needs: str) -> type[NeedsTorchTab]:
    """A :class:`NeedsTorchTab` class standing for the tab ``title``, which ``needs``."""
    return type(f"NeedsTorch{title}Tab", (NeedsTorchTab,), {
        "title": title, "needs": needs,
        "tooltip": f"{title}: needs PyTorch, which this install (the slim runtime) does not have"})
