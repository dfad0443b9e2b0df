"""The app's icon as a QIcon, from the resources that app.core.resources finds."""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QSplashScreen

from ..core.resources import icon_files


def app_icon() -> QIcon:
    """Every PNG size of the icon (no SVG: that would need Qt's SVG plugin at run time), or an
    empty QIcon when the install has none."""
    icon = QIcon()
    for size, path in icon_files().items():
        if size:
            icon.addFile(str(path), QSize(size, size))
    return icon


def splash_screen():
    """A splash with the icon, shown at once while the window's modules load (None when the
    install has no icon)."""
    icon = app_icon()
    if icon.isNull():
        return None
    splash = QSplashScreen(icon.pixmap(256, 256))
    splash.show()
    splash.showMessage("TFSWA Studio is starting…")
    QApplication.processEvents()
    return splash
