"""``python -m app`` and ``tfswa-studio``: no arguments opens the desktop app, subcommands
run headless."""

from __future__ import annotations

import sys
from typing import Optional, Sequence


def main_gui(argv: Optional[Sequence[str]] = None) -> int:
    from .gui.app import run_gui

    return run_gui(list(argv) if argv is not None else [])


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("gui", "--gui"):
        return main_gui(args[1:])
    from .cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
