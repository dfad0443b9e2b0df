"""Where bundled resources live (the demo model and song ship inside the package)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
DEMO_DIR = RESOURCES / "demo"
DEMO_MODEL_NAMES = ("demo-model.safetensors", "demo-model.pt")


def demo_model() -> Optional[Path]:
    """The bundled demo model, or None when this install has none."""
    for name in DEMO_MODEL_NAMES:
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
