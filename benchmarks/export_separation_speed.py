"""End-to-end separation speed through exported models: a 60 s stereo 44.1 kHz WAV file
read, STFT, network, inverse STFT and written, with the medium preset exported to ONNX
(and optionally TorchScript), beside PyTorch eager.

    python benchmarks/export_separation_speed.py [--preset medium] [--seconds 60] [--runs 3]
        [--threads 2] [--backends onnx,pytorch]

Every backend gets the same number of threads; backends run in turn, run after run, so they
see the same machine load. The figure is seconds of audio per second of compute ("x real
time"), median over runs after a warm-up on an 8 s file.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine, median, music_like  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backends", default="onnx,pytorch",
                        help="any of onnx, torchscript, pytorch (comma-separated)")
    args = parser.parse_args()

    import torch

    from app.core.audio import io as audio
    from app.core.backends.pytorch import TorchBackend
    from app.core.backends.registry import load_backend
    from app.core.checkpoint import init_bundle
    from app.core.export.pipeline import ExportOptions, export_bundle
    from app.core.separation.separate import SeparationOptions, separate_file

    torch.set_num_threads(args.threads)
    bundle = init_bundle(args.preset, seed=0)
    names = args.backends.split(",")
    backends = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bundle.path = tmp / f"{args.preset}.pt"
        for name in names:
            if name == "pytorch":
                backends[name] = TorchBackend(bundle.build(), bundle.audio, threads=args.threads)
                continue
            options = ExportOptions(format="onnx" if name == "onnx" else "torchscript",
                                    verify_frames=(37,))
            result = export_bundle(bundle, tmp / f"model{options.suffix}", options,
                                   threads=args.threads)
            backends[name] = load_backend(result.path, args.threads)
            print(f"exported {name}: {result.file_size / 2**20:.1f} MB, verified", flush=True)
        song = audio.write(tmp / "song.wav", music_like(args.seconds), 44100)
        warm = audio.write(tmp / "warm.wav", music_like(8.0), 44100)
        for name, backend in backends.items():
            separate_file(warm, backend, tmp / "warm" / name, overwrite=True)
        speeds: dict[str, list[float]] = {n: [] for n in backends}
        for run in range(args.runs):
            for name, backend in backends.items():
                result = separate_file(song, backend, tmp / "out" / name, SeparationOptions(),
                                       overwrite=True)
                speeds[name].append(result.speed)
                print(f"run {run + 1}: {backend.name:<18} {result.speed:6.2f}x real time "
                      f"({result.elapsed_s:.2f} s for {result.duration_s:.0f} s)", flush=True)
    print(f"\n{machine()}, {args.threads} threads, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}, preset {args.preset}, "
          f"{args.seconds:g} s stereo 44.1 kHz WAV, segment 3 s, overlap 0.25")
    print("| backend | median x real time | runs |")
    print("|---|---:|---|")
    for name, backend in backends.items():
        print(f"| {backend.name} | {median(speeds[name]):.2f}x | "
              + ", ".join(f"{s:.2f}" for s in speeds[name]) + " |")


if __name__ == "__main__":
    main()
