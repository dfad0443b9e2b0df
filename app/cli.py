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
from .core.devices import TORCH_INSTALL
from .core.jobs import Cancelled, UserError, to_jsonable

# Subcommands in the order ``--help`` lists them, with the one-line help shown there. A
# subcommand's module is imported only when it runs (``separate`` of an ONNX file needs no
# torch; five others import it), so a slim install without PyTorch still runs the CLI.
COMMANDS = {
    "info": "describe a checkpoint: preset, size, audio config, stages",
    "init": "write an untrained model bundle (to try the pipeline or to train)",
    "separate": "separate audio files into stems",
    "songs": "generate multi-stem songs (training / evaluation data)",
    "train": "train a model on a folder of stems (MUSDB18 layout)",
    "evaluate": "SDR of a model on a folder of stems, with mixture and oracle references",
    "export": "export a checkpoint to ONNX or TorchScript, verified",
    "quantize": "quantize a model to INT8 or FP16, the SDR cost measured",
    "memory": "estimate training memory; gradient checkpointing and mixed precision",
    "benchmark": "time model variants side by side (latency, throughput, memory)",
}
TORCH_HINT = ("needs PyTorch, which this install does not have (the slim runtime only "
              f"separates with ONNX models): {TORCH_INSTALL}")


def chosen_command(argv: Sequence[str]) -> Optional[str]:
    """The subcommand named on the command line (the first argument that is not an option)."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def is_torch_missing(exc: ModuleNotFoundError) -> bool:
    return bool(exc.name) and exc.name.split(".")[0] == "torch"


def load_command(name: str):
    """Import ``app.commands.<name>``; a missing PyTorch becomes a UserError that says so."""
    try:
        return importlib.import_module(f"app.commands.{name}")
    except ModuleNotFoundError as exc:
        if is_torch_missing(exc):
            raise UserError(f"'{name}' {TORCH_HINT}") from None
        raise


def get_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser; only the subcommand on ``argv`` is imported and gets its full options,
    the others are listed by name and help."""
    parser = argparse.ArgumentParser(
        prog="tfswa-studio",
        description="TFSWA Studio: inspect, export, quantize, benchmark and run TFSWA-UNet "
                    "music-separation models. Without a subcommand, opens the desktop app.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = chosen_command(argv)
    for name, help_text in COMMANDS.items():
        if name == chosen:
            module = load_command(name)
            module.add_parser(sub).set_defaults(_run=module.run)
        else:
            sub.add_parser(name, help=help_text)
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


RANK_ZERO_GRACE_S = 3.0


def _let_rank_zero_speak() -> None:
    """Stay up a moment before failing, so that torchrun, which stops the whole job when one
    process ends, does not stop rank 0 before it has printed the message; torchrun's SIGTERM
    then ends this process silently."""
    if not threading_is_main():
        return
    import time

    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(2))
    time.sleep(RANK_ZERO_GRACE_S)


def torchrun_rank() -> Optional[int]:
    """This process's rank in a torchrun job of several processes; None outside one."""
    from .core.torchrun import detect_distributed

    try:
        info = detect_distributed()
    except UserError:
        return None
    return None if info is None else info.rank


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    previous = signal.signal(signal.SIGTERM, _terminate) if threading_is_main() else None
    try:
        parser = get_parser(argv)
        args = parser.parse_args(argv)
        if not getattr(args, "_run", None):
            parser.print_help()
            return 2
        try:
            status = int(args._run(args) or 0)
        except ModuleNotFoundError as exc:
            # A command that imports PyTorch only where it needs it (init, info of a
            # checkpoint), run where it is missing.
            if is_torch_missing(exc):
                raise UserError(f"'{args.command}' {TORCH_HINT}") from None
            raise
        sys.stdout.flush()        # a closed stdout fails here, inside the handlers below
        return status
    except UserError as exc:
        rank = torchrun_rank()
        if rank:
            # Another process of a torchrun job: rank 0 meets the same check with the same
            # arguments and files, and says it once; only a failure of this process's own
            # (its GPU) is said here too.
            if getattr(exc, "rank_specific", False):
                print(f"error (rank {rank}): {exc}", file=sys.stderr)
            else:
                _let_rank_zero_speak()
            return 2
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
