"""Render resources/icons/hicolor/scalable/apps/tfswa-studio.svg to the PNG sizes desktops
want (hicolor NxN/apps/tfswa-studio.png). The PNGs are committed; rerun after editing the SVG:

    QT_QPA_PLATFORM=offscreen python packaging/render_icons.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HICOLOR = ROOT / "resources" / "icons" / "hicolor"
SVG = HICOLOR / "scalable" / "apps" / "tfswa-studio.svg"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
# The Windows and macOS bundles' icons (PyInstaller's icon=), written by Qt's image plugins.
PLATFORM_ICONS = {ROOT / "packaging" / "windows" / "tfswa-studio.ico": 256,
                  ROOT / "packaging" / "macos" / "tfswa-studio.icns": 512}


def render(svg: Path = SVG, sizes=SIZES) -> list[Path]:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 (fonts, painter)
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG")
    written = []
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        out = HICOLOR / f"{size}x{size}" / "apps" / "tfswa-studio.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(out)):
            raise SystemExit(f"{out}: could not write")
        written.append(out)
    for out, size in PLATFORM_ICONS.items():
        out.parent.mkdir(parents=True, exist_ok=True)
        image = QImage(str(HICOLOR / f"{size}x{size}" / "apps" / "tfswa-studio.png"))
        if not image.save(str(out)):
            raise SystemExit(f"{out}: could not write")
        written.append(out)
    return written


if __name__ == "__main__":
    for path in render():
        print(path.relative_to(ROOT))
    sys.exit(0)
