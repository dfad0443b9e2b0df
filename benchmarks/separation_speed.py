"""Separation speed of the small and medium presets (PyTorch eager) on a 60 s stereo
44.1 kHz file with 2 threads, end to end (read, STFT, network, ISTFT, write).

    python benchmarks/separation_speed.py [--seconds 60] [--runs 3] [--threads 2]

Presets are interleaved run by run so that both see the same machine load; the figure is
seconds of audio per second of compute ("x real time"), median over runs after a warm-up.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine, median, music_like  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--presets", default="small,medium")
    args = parser.parse_args()

    import torch

    from app.core.audio import io as audio
    from app.core.backends.pytorch import TorchBackend
    from app.core.checkpoint import init_bundle
    from app.core.separation.separate import SeparationOptions, separate_file

    torch.set_num_threads(args.threads)
    presets = args.presets.split(",")
    backends = {}
    for name in presets:
        bundle = init_bundle(name)
        backends[name] = TorchBackend(bundle.build(), bundle.audio, threads=args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        song = audio.write(Path(tmp) / "song.wav", music_like(args.seconds), 44100)
        warm = audio.write(Path(tmp) / "warm.wav", music_like(8.0), 44100)
        speeds: dict[str, list[float]] = {n: [] for n in presets}
        for name in presets:
            separate_file(warm, backends[name], Path(tmp) / "warm", overwrite=True)
        for run in range(args.runs):
            for name in presets:
                result = separate_file(song, backends[name], Path(tmp) / "out",
                                       SeparationOptions(), overwrite=True)
                speeds[name].append(result.speed)
                print(f"run {run + 1}: {name:<7} {result.speed:6.1f}x real time "
                      f"({result.elapsed_s:.2f} s for {result.duration_s:.0f} s)", flush=True)
    print(f"\n{machine()}, {args.threads} threads, segment 3 s, overlap 0.25")
    print(f"{'preset':<8} {'median speed':>14}  runs")
    for name in presets:
        print(f"{name:<8} {median(speeds[name]):>12.1f}x  "
              + ", ".join(f"{s:.1f}" for s in speeds[name]))


if __name__ == "__main__":
    main()
