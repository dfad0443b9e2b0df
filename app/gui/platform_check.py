"""Before Qt starts on Linux: can its X11 (xcb) platform plugin load? If a system library it
needs is missing, Qt aborts with "Reinstalling the application may fix this problem", which
names neither the library nor the package. This module asks the dynamic linker (``ldd``)
which libraries the plugin cannot find and turns them into one Debian/Ubuntu install command.
Imports no Qt: it runs before Qt is loaded."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

# Shared-library names to Debian/Ubuntu packages, for what Qt's xcb plugin and Qt GUI load.
PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0", "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1", "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0", "libxcb-render.so.0": "libxcb-render0",
    "libxcb-util.so.1": "libxcb-util1", "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-glx.so.0": "libxcb-glx0", "libxcb.so.1": "libxcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libxkbcommon.so.0": "libxkbcommon0",
    "libX11-xcb.so.1": "libx11-xcb1", "libX11.so.6": "libx11-6", "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6", "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0", "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6", "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0", "libdbus-1.so.3": "libdbus-1-3",
}
# Everything the app needs on a bare Debian 12 / Ubuntu machine (README's quick start).
ALL_PACKAGES = ("libegl1 libgl1 libglib2.0-0 libfontconfig1 libfreetype6 libdbus-1-3 "
                "libxkbcommon0 libxkbcommon-x11-0 libx11-xcb1 libxcb-cursor0 libxcb-icccm4 "
                "libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 "
                "libxcb-xfixes0 libxcb-xkb1 libpulse0")


def package_for(library: str) -> str:
    """The package that ships ``library`` (a guess from its name when it is not listed)."""
    if library in PACKAGES:
        return PACKAGES[library]
    match = re.match(r"lib(.+)\.so\.(\d+)", library)
    if not match:
        return library
    stem, major = match.group(1).lower(), match.group(2)
    return f"lib{stem}{'-' if stem[-1].isdigit() else ''}{major}"


def xcb_plugin() -> Optional[Path]:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0])
    for candidate in (root / "Qt" / "plugins" / "platforms" / "libqxcb.so",
                      root / "plugins" / "platforms" / "libqxcb.so"):
        if candidate.exists():
            return candidate
    return None


def unresolved_libraries(binary: Path) -> list[str]:
    """The shared libraries ``binary`` needs that the dynamic linker cannot find."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    try:
        out = subprocess.run([ldd, str(binary)], capture_output=True, text=True, timeout=20,
                             env={**os.environ, "LC_ALL": "C"}).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    missing = [line.split("=>")[0].strip() for line in out.splitlines() if "not found" in line]
    return sorted(set(missing))


def uses_xcb(environ: Optional[dict] = None) -> bool:
    env = os.environ if environ is None else environ
    platform = env.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(":")[0].split(";")[0] == "xcb"
    return sys.platform.startswith("linux") and not env.get("WAYLAND_DISPLAY")


def missing_packages() -> list[str]:
    """Debian/Ubuntu packages to install before Qt's xcb plugin can load (empty when fine
    or when the check does not apply)."""
    if not sys.platform.startswith("linux") or not uses_xcb():
        return []
    plugin = xcb_plugin()
    if plugin is None:
        return []
    return sorted({package_for(lib) for lib in unresolved_libraries(plugin)})


def install_hint(packages: list[str]) -> str:
    return ("TFSWA Studio cannot open its window: Qt's X11 platform plugin needs system "
            f"libraries that are not installed. Install them with:\n"
            f"    sudo apt-get install {' '.join(packages)}\n"
            "(Debian/Ubuntu; on other systems install the same X11/xcb libraries.) The command "
            "line (tfswa-studio separate ...) works without them.")
