"""The ``tfswa-studio`` command line: one subcommand per task, over the same core as the GUI.

Each subcommand lives in ``app/commands/<name>.py`` with ``add_parser(subparsers)`` and
``run(args) -> int``; this module only wires them and turns errors into messages.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
from typing import Any, Optional, Sequence

from . import __version__
from .core.jobs import Cancelled, UserError, to_jsonable

# Subcommands in the order ``--help`` lists them.
COMMANDS = ["info", "init", "separate", "songs", "train", "evaluate", "export", "quantize",
            "memory", "benchmark"]


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


def _terminate(signum, frame) -> None:
    """SIGTERM ends a job like Ctrl-C: the same clean-up, no partial file."""
    raise KeyboardInterrupt


def _quiet_stdout() -> None:
    """After the reader of stdout went away (``| head -1``), send what is left to /dev/null
    so Python's final flush does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Optional[Sequence[str]] = None) -> int:
    previous = signal.signal(signal.SIGTERM, _terminate) if threading_is_main() else None
    try:
        parser = get_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "_run", None):
            parser.print_help()
            return 2
        status = int(args._run(args) or 0)
        sys.stdout.flush()        # a closed stdout fails here, inside the handlers below
        return status
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Cancelled):
        print("\ncancelled: no partial output was left behind", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 141
    except MemoryError:
        print("error: out of memory; try a smaller --segment or --batch, or close other "
              "programs", file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
