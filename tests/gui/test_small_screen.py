"""Small screens (netbooks, 1366x768 laptops with a panel, 1024x600): the first window fits
the screen, and every tab at 1024x600 shows its panels without one drawn over another or
cut off: a tab too tall for the window scrolls instead."""

from __future__ import annotations

from itertools import combinations

import pytest
from PySide6.QtCore import QRect, QSize
from PySide6.QtWidgets import QApplication, QLayout, QWidget

from app.gui.main_window import DEFAULT_SIZE, first_size


def test_the_first_window_fits_the_screen():
    assert first_size(QSize(1366, 728)).height() <= 728 - 30
    assert first_size(QSize(1366, 728)).width() == DEFAULT_SIZE[0]
    assert first_size(QSize(1024, 600)).width() <= 1024
    assert first_size(QSize(2560, 1440)) == QSize(*DEFAULT_SIZE)
    assert first_size(None) == QSize(*DEFAULT_SIZE)


def visible_items(layout: QLayout) -> list[QWidget]:
    items = (layout.itemAt(i) for i in range(layout.count()))
    return [it.widget() for it in items if it.widget() is not None and it.widget().isVisible()]


def overlaps(page: QWidget) -> list[str]:
    """Pairs of visible widgets in one layout whose rectangles intersect, and widgets squeezed
    below their minimum size."""
    problems = []
    for layout in page.findChildren(QLayout):
        widgets = visible_items(layout)
        for a, b in combinations(widgets, 2):
            inter = a.geometry().intersected(b.geometry())
            if inter.width() > 1 and inter.height() > 1:
                problems.append(f"{type(a).__name__} '{a.objectName()}' overlaps "
                                f"{type(b).__name__} '{b.objectName()}'")
        for w in widgets:
            hint = w.minimumSizeHint()
            if hint.isValid() and (w.width() + 1 < hint.width() or w.height() + 1 < hint.height()):
                problems.append(f"{type(w).__name__} squeezed to {w.width()}x{w.height()} "
                                f"below its minimum {hint.width()}x{hint.height()}")
    return problems


@pytest.mark.parametrize("size", [(1024, 600), (1280, 720)])
def test_every_tab_fits_a_small_window_without_overlap(qtbot, loaded, size, tmp_path):
    window = loaded
    window.resize(*size)
    qtbot.waitUntil(lambda: window.width() <= size[0] and window.height() <= size[1],
                    timeout=3000)
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        QApplication.processEvents()
        tab = window.tabs.currentWidget()
        assert window.width() <= size[0] and window.height() <= size[1]
        assert overlaps(tab.page) == [], tab.title
        viewport = tab.scroll_area.viewport()
        # The page is at least as large as it needs: what does not fit scrolls.
        assert tab.page.width() >= min(tab.page.minimumSizeHint().width(), 10_000)
        assert viewport.width() > 0 and viewport.height() > 0
        window.grab().save(str(tmp_path / f"{tab.title}-{size[0]}x{size[1]}.png"))
    assert len(list(tmp_path.glob("*.png"))) == window.tabs.count()


def test_the_overlap_check_sees_an_overlap(qtbot):
    from PySide6.QtWidgets import QLabel, QVBoxLayout

    page = QWidget()
    layout = QVBoxLayout(page)
    a, b = QLabel("a"), QLabel("b")
    layout.addWidget(a)
    layout.addWidget(b)
    qtbot.addWidget(page)
    page.show()
    a.setGeometry(QRect(0, 0, 100, 40))
    b.setGeometry(QRect(0, 20, 100, 40))
    assert overlaps(page)
