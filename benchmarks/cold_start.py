"""Cold start to a usable window: the time from starting a command to the window drawn and
saved (``--screenshot FILE --no-demo``), and to the demo model and song loaded
(``--screenshot FILE``). Variants are run interleaved, medians over ``--runs``:

    python benchmarks/cold_start.py --runs 5 \\
        --variant source="python -m app" --variant bundle=dist/tfswa-studio/tfswa-studio

Each run uses a fresh HOME and settings file. Needs a display: run under ``xvfb-run -a``
(or QT_QPA_PLATFORM=offscreen). Prints a table and the ratios to the first variant.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_once(command: list[str], demo: bool) -> float:
    with tempfile.TemporaryDirectory() as home:
        shot = Path(home) / "shot.png"
        args = command + ["--screenshot", str(shot), "--settings", f"{home}/s.ini"]
        if not demo:
            args.append("--no-demo")
        env = dict(os.environ, HOME=home, PYTHONPATH=str(ROOT))
        start = time.perf_counter()
        proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0 or not shot.exists():
            raise SystemExit(f"{' '.join(args)} failed:\n{proc.stderr[-2000:]}")
        return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", action="append", required=True, metavar="NAME=COMMAND")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    variants = {v.split("=", 1)[0]: shlex.split(v.split("=", 1)[1]) for v in args.variant}
    times: dict[tuple[str, bool], list[float]] = {}
    for name, command in variants.items():          # warm-up: page cache, font cache
        start_once(command, demo=False)
    for _ in range(args.runs):
        for demo in (False, True):
            for name, command in variants.items():
                times.setdefault((name, demo), []).append(start_once(command, demo))
    print(f"{'variant':<12} {'window (s)':>11} {'demo loaded (s)':>16}   runs={args.runs}")
    first = next(iter(variants))
    for name in variants:
        window = statistics.median(times[(name, False)])
        loaded = statistics.median(times[(name, True)])
        ratio = window / statistics.median(times[(first, False)])
        print(f"{name:<12} {window:>11.2f} {loaded:>16.2f}   window x{ratio:.2f} of {first}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
