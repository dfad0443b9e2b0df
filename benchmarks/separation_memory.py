"""Peak resident memory while separating a 60-minute stereo file (streamed).

    python benchmarks/separation_memory.py [--minutes 60] [--preset small] [--threads 2]

The file is generated block by block (FLAC, so it stays small on disk), then separated in a
child process whose peak resident set size (ru_maxrss) is read by the parent. The baseline
is a child that only imports torch and builds the model, so the figure separates what the
streaming pipeline adds from the libraries' fixed cost.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, resource, sys, time
import torch
from app.core.backends import TorchBackend
from app.core.checkpoint import init_bundle
from app.core.separation import separate_file
torch.set_num_threads(int(sys.argv[3]))
bundle = init_bundle(sys.argv[4])
backend = TorchBackend(bundle.build(), bundle.audio)
result = None
if sys.argv[1] != "-":
    result = separate_file(sys.argv[1], backend, sys.argv[2], overwrite=True)
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_mb": peak_kb / 1024,
                  "duration_s": result.duration_s if result else 0,
                  "elapsed_s": result.elapsed_s if result else 0}))
"""


def write_long_file(path: Path, minutes: float) -> None:
    from app.core.audio.io import AudioWriter
    from benchmarks.common import music_like

    block = music_like(10.0)
    with AudioWriter(path, 44100, "flac", "16") as writer:
        for _ in range(int(minutes * 6)):
            writer.write(block)


def run_child(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD] + args, cwd=ROOT, capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        song = Path(tmp) / "long.flac"
        t = time.perf_counter()
        write_long_file(song, args.minutes)
        print(f"wrote {args.minutes:g} min test file ({song.stat().st_size / 1e6:.0f} MB FLAC) "
              f"in {time.perf_counter() - t:.0f} s", flush=True)
        base = run_child(["-", tmp, str(args.threads), args.preset])
        full = run_child([str(song), str(Path(tmp) / "out"), str(args.threads), args.preset])
    print(f"preset {args.preset}, {args.threads} threads")
    print(f"baseline (libraries + model, no audio): {base['peak_mb']:.0f} MB peak RSS")
    print(f"separating {full['duration_s'] / 60:.1f} min: {full['peak_mb']:.0f} MB peak RSS "
          f"({full['peak_mb'] - base['peak_mb']:.0f} MB above baseline), "
          f"{full['elapsed_s']:.0f} s = {full['duration_s'] / full['elapsed_s']:.1f}x real time")


if __name__ == "__main__":
    main()
