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
    parser.add_argument("--self-test", action="store_true",
                        help="open the window with the demo model, separate 5 s of the demo "
                             "song, check the stems, print a report and quit (exit status 0 "
                             "when everything works; paste the report into a bug report)")
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

    from ..core.resources import APP_ID
    from .branding import app_icon, splash_screen
    from .settings import APPLICATION, ORGANIZATION

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "tfswa-studio"])
    app.setWindowIcon(app_icon())
    app.setDesktopFileName(APP_ID)      # Wayland matches the window to its .desktop entry
    # The window's modules and the tabs' take a second or more to import on a cold start
    # (PyTorch where it is installed): show the icon meanwhile.
    splash = splash_screen() if args.screenshot is None else None
    from .collector import MainThreadCollector
    from .main_window import APP_NAME, MainWindow

    app.setApplicationName(APPLICATION)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationDisplayName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setStyle("Fusion")
    collector = MainThreadCollector(app)
    store = QSettings(args.settings, QSettings.Format.IniFormat) if args.settings else None
    window = MainWindow(settings=store)
    window.show()
    if splash is not None:
        splash.finish(window)
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
    if args.self_test:
        self_test_when_idle(window)
    try:
        return int(app.exec())
    finally:
        collector.stop()


SCREENSHOT_TIMEOUT_S = 120


def when_idle(window, action) -> None:
    """Call ``action(waited_too_long)`` once no job runs (the files are loaded)."""
    import time

    from PySide6.QtCore import QTimer

    start = time.monotonic()
    timer = QTimer(window)

    def check() -> None:
        waited = time.monotonic() - start
        if window.jobs.running() and waited < SCREENSHOT_TIMEOUT_S:
            return
        timer.stop()
        action(waited >= SCREENSHOT_TIMEOUT_S)

    timer.timeout.connect(check)
    timer.start(500)


def screenshot_when_idle(window, path: Path) -> None:
    """Once no job runs (the files are loaded), save the window to ``path`` and quit; exit
    status 0 only when the picture was written."""
    from PySide6.QtWidgets import QApplication

    def save(too_long: bool) -> None:
        ok = window.grab().save(str(path)) and not too_long
        print(f"screenshot {'saved to ' + str(path) if ok else 'failed'}", file=sys.stderr)
        QApplication.instance().exit(0 if ok else 1)

    when_idle(window, save)


def self_test_when_idle(window) -> None:
    """Once the demo is loaded, run core's self_test as a job of the window (the worker
    thread, the jobs dock), add what the window itself showed, print the report and quit
    with 0 (passed) or 1."""
    from PySide6.QtWidgets import QApplication

    from ..core.separation import print_report, self_test

    def finish(result) -> None:
        workspace = window.workspace
        name = workspace.model_name or "none"
        result.checks.insert(0, ("window", workspace.has_model and window.isVisible(),
                                 f"opened with model {name}"))
        QApplication.instance().exit(print_report(result))

    def failed(exc: BaseException) -> None:
        print(f"TFSWA Studio self-test: FAILED\n  error    {exc}", flush=True)
        QApplication.instance().exit(1)

    def start(too_long: bool) -> None:
        window.jobs.run("Self-test", self_test, {"model": loaded_model(window.workspace),
                                                 "threads": window.threads()},
                        on_result=finish, on_error=failed)

    when_idle(window, start)


def loaded_model(workspace) -> Optional[Path]:
    """The file of the model the window has open: a checkpoint, or an exported model (the
    slim runtime opens the demo's ONNX export)."""
    if workspace.bundle is not None:
        return workspace.bundle.path
    return workspace.artifact.path if workspace.artifact is not None else None
