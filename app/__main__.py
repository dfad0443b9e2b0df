"""``python -m app`` and ``tfswa-studio``: no arguments (or only files and GUI options) opens
the desktop app, a subcommand runs headless."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Sequence

GUI_OPTIONS = ("--no-demo", "--settings", "--screenshot", "--self-test")


def main_gui(argv: Optional[Sequence[str]] = None) -> int:
    freeze_support()
    from .gui.app import run_gui

    return run_gui(list(argv) if argv is not None else [])


def wants_gui(args: Sequence[str]) -> bool:
    """True for no arguments, ``gui ...``, or a first argument that is a file to open or a
    GUI option (``tfswa-studio song.flac model.pt`` opens them in the app)."""
    if not args or args[0] in ("gui", "--gui"):
        return True
    first = args[0]
    return first.startswith(GUI_OPTIONS) or (not first.startswith("-") and Path(first).is_file())


def freeze_support() -> None:
    """A frozen app (PyInstaller) starts spawned processes (the Benchmark tab's) through its
    own executable: let multiprocessing take over before arguments are parsed."""
    import multiprocessing

    multiprocessing.freeze_support()


def main(argv: Optional[Sequence[str]] = None) -> int:
    freeze_support()
    args = list(sys.argv[1:] if argv is None else argv)
    if wants_gui(args):
        return main_gui(args[1:] if args and args[0] in ("gui", "--gui") else args)
    from .cli import main as cli_main

    return cli_main(args)


def run() -> int:
    """``main`` with a Ctrl-C during start-up (imports take seconds) ending quietly."""
    try:
        return main()
    except KeyboardInterrupt:
        print("\ncancelled", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(run())
