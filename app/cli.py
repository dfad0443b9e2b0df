"""The ``tfswa-studio`` command line: one subcommand per task, over the same core as the GUI.

Each subcommand lives in ``app/commands/<name>.py`` with ``add_parser(subparsers)`` and
``run(args) -> int``; this module only wires them and turns errors into messages.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any, Optional, Sequence

from . import __version__
from .core.jobs import Cancelled, UserError, to_jsonable

# Subcommands in the order ``--help`` lists them.
COMMANDS = ["info", "init", "separate", "songs", "train", "evaluate", "export", "quantize",
            "memory"]


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfswa-studio",
        description="TFSWA Studio: inspect, export, quantize, benchmark and run TFSWA-UNet "
                    "music-separation models. Without a subcommand, opens the desktop app.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"app.commands.{name}")
        p = module.add_parser(sub)
        p.set_defaults(_run=module.run)
    return parser


def print_json(value: Any) -> None:
    json.dump(to_jsonable(value), sys.stdout, indent=2)
    sys.stdout.write("\n")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = get_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Cancelled):
        print("\ncancelled: no partial output was left behind", file=sys.stderr)
        return 130
