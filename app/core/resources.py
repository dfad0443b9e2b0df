"""Where bundled resources live, in a source checkout, a wheel and the PyInstaller bundle alike.

Run-time data (the demo model and song) ships inside the package, in ``app/resources/demo``.
The desktop resources (icons, desktop entry, AppStream metainfo) live in the top-level
``resources/`` folder of the source tree; a wheel and the bundle carry a copy of it as
``app/resources/desktop`` (setup.py's build step and packaging/tfswa-studio.spec put it there),
so :func:`desktop_dir` looks there first and falls back to the checkout's folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from .devices import torch_available

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
DEMO_DIR = RESOURCES / "demo"
# The slim runtime (no PyTorch) ships the demo model exported to ONNX instead.
DEMO_MODEL_NAMES = ("demo-model.safetensors", "demo-model.pt", "demo-model.onnx")
ONNX_DEMO_NAME = "demo-model.onnx"
PACKAGED_DESKTOP_DIR = RESOURCES / "desktop"
SOURCE_DESKTOP_DIR = RESOURCES.parent.parent / "resources"
APP_ID = "org.tfswa.Studio"
ICON_NAME = "tfswa-studio"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
_MARKER = Path("icons") / "hicolor" / "scalable" / "apps" / f"{ICON_NAME}.svg"


def demo_model() -> Optional[Path]:
    """The bundled demo model, or None when this install has none; without PyTorch only
    its ONNX export runs, so only that one counts."""
    names = DEMO_MODEL_NAMES if torch_available() else (ONNX_DEMO_NAME,)
    for name in names:
        path = DEMO_DIR / name
        if path.exists():
            return path
    return None


def demo_song() -> Optional[Path]:
    """The bundled demo song's mixture, or None."""
    for ext in ("flac", "wav"):
        path = DEMO_DIR / "song" / f"mixture.{ext}"
        if path.exists():
            return path
    return None


def desktop_dir() -> Optional[Path]:
    """The folder with the icons, desktop entry and metainfo, or None when missing."""
    for folder in (PACKAGED_DESKTOP_DIR, SOURCE_DESKTOP_DIR):
        if (folder / _MARKER).is_file():
            return folder
    return None


def icon_files() -> dict[int, Path]:
    """The app icon's PNGs by size in pixels, plus the SVG under key 0 (empty if missing)."""
    folder = desktop_dir()
    if folder is None:
        return {}
    hicolor = folder / "icons" / "hicolor"
    found = {0: hicolor / "scalable" / "apps" / f"{ICON_NAME}.svg"}
    for size in ICON_SIZES:
        png = hicolor / f"{size}x{size}" / "apps" / f"{ICON_NAME}.png"
        if png.is_file():
            found[size] = png
    return found


def desktop_entry() -> Optional[Path]:
    """The freedesktop ``.desktop`` launcher, or None."""
    folder = desktop_dir()
    path = folder / f"{APP_ID}.desktop" if folder else None
    return path if path is not None and path.is_file() else None


def metainfo() -> Optional[Path]:
    """The AppStream metainfo XML, or None."""
    folder = desktop_dir()
    path = folder / f"{APP_ID}.metainfo.xml" if folder else None
    return path if path is not None and path.is_file() else None
