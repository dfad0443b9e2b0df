"""Start the desktop app: ``run_gui(argv)`` (what ``tfswa-studio`` with no subcommand calls)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import Optional, Sequence

from .. import __version__


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tfswa-studio", description="TFSWA Studio desktop app. Files given are opened: a "
        "checkpoint (.pt, .pth, .safetensors) as the model, an audio file as the song.")
    parser.add_argument("files", nargs="*", help="a checkpoint and/or an audio file to open")
    parser.add_argument("--no-demo", action="store_true",
                        help="do not open the bundled demo model and song")
    parser.add_argument("--screenshot", metavar="FILE.png", type=Path,
                        help="open the window, wait until the files are loaded, save a "
                             "screenshot of it and quit (checks that the app really starts)")
    parser.add_argument("--settings", metavar="FILE.ini",
                        help="keep settings in this ini file instead of the user's settings "
                             "(a portable install, tests, screenshots)")
    return parser.parse_args(list(argv))


def startup_files(files: Sequence[str], use_demo: bool = True) -> list[Path]:
    """The files to open at start: those given, else the bundled demo model and song."""
    from ..core.resources import demo_model, demo_song
    from .main_window import classify

    paths = [Path(f) for f in files]
    checkpoints, audio, _ = classify(paths)
    if use_demo and not checkpoints and (demo := demo_model()) is not None:
        paths.insert(0, demo)
    if use_demo and not audio and (song := demo_song()) is not None:
        paths.append(song)
    return paths


def run_gui(argv: Optional[Sequence[str]] = None) -> int:
    """Create the QApplication and the main window, open the files on ``argv``, run."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .platform_check import install_hint, missing_packages

    if missing := missing_packages():
        print(install_hint(missing), file=sys.stderr)
        return 1
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from .collector import MainThreadCollector
    from .main_window import APP_NAME, MainWindow
    from .settings import APPLICATION, ORGANIZATION

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "tfswa-studio"])
    app.setApplicationName(APPLICATION)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationDisplayName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setStyle("Fusion")
    collector = MainThreadCollector(app)
    store = QSettings(args.settings, QSettings.Format.IniFormat) if args.settings else None
    window = MainWindow(settings=store)
    window.show()
    # Ctrl+C in the terminal closes the window (jobs are cancelled, settings saved); the
    # timer lets Python see the signal while Qt's event loop runs.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    wake = QTimer(window)
    wake.start(250)
    wake.timeout.connect(lambda: None)
    files = startup_files(args.files, use_demo=not args.no_demo)
    if files:
        QTimer.singleShot(0, lambda: window.open_paths(files))
    if args.screenshot is not None:
        screenshot_when_idle(window, args.screenshot)
    try:
        return int(app.exec())
    finally:
        collector.stop()


SCREENSHOT_TIMEOUT_S = 120


def screenshot_when_idle(window, path: Path) -> None:
    """Once no job runs (the files are loaded), save the window to ``path`` and quit; exit
    status 0 only when the picture was written."""
    import time

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    start = time.monotonic()
    timer = QTimer(window)

    def check() -> None:
        waited = time.monotonic() - start
        if window.jobs.running() and waited < SCREENSHOT_TIMEOUT_S:
            return
        timer.stop()
        ok = window.grab().save(str(path)) and waited < SCREENSHOT_TIMEOUT_S
        print(f"screenshot {'saved to ' + str(path) if ok else 'failed'}", file=sys.stderr)
        QApplication.instance().exit(0 if ok else 1)

    timer.timeout.connect(check)
    timer.start(500)
