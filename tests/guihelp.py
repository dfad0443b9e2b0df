"""Helpers for GUI tests that look at what a user sees."""

from __future__ import annotations


def shown_height(tab, widget) -> int:
    """How many pixel rows of ``widget`` a tab's scroll area shows now."""
    from PySide6.QtCore import QPoint

    viewport = tab.scroll_area.viewport()
    top = widget.mapTo(viewport, QPoint(0, 0)).y()
    return max(0, min(top + widget.height(), viewport.height()) - max(top, 0))
