"""What the checks against hostile input cost: reading a float WAV with and without the
NaN/Inf and 0 dBFS check (AudioReader's SampleCheck), checking a checkpoint's weights for
NaN/Inf, counting a network's parameters on the meta device before building it, and the
SHA-256 that tells this app's own TorchScript exports from others.

Variants are interleaved in one run (warm-up, several runs, medians); ratios are measured
side by side.

    python -m benchmarks.hostile_checks [--seconds 600] [--runs 5]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks.common import load_average, machine, median, music_like


def read_all(path: Path, check: bool) -> None:
    from app.core.audio import io

    with io.AudioReader(path, 44100) as reader:
        if not check:
            reader.check = lambda raw, start: raw
        while reader.read(1 << 16).shape[1]:
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    import time

    import torch

    from app.core.audio import io
    from app.core.checkpoint import check_finite, init_bundle, parameter_count, save_bundle
    from app.core.config import AudioConfig
    from app.core.userdata import sha256_file

    torch.set_num_threads(1)
    print(f"machine: {machine()}; load average {load_average():.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        wav = io.write(Path(tmp) / "long.wav", music_like(args.seconds), 44100, subtype="float")
        times = {True: [], False: []}
        read_all(wav, True)                                   # warm-up (page cache)
        for _ in range(args.runs):
            for check in (False, True):                       # interleaved
                start = time.perf_counter()
                read_all(wav, check)
                times[check].append(time.perf_counter() - start)
        plain, checked = median(times[False]), median(times[True])
        print(f"read {args.seconds:g} s float WAV: {plain * 1000:.0f} ms plain, "
              f"{checked * 1000:.0f} ms with the sample check ({checked / plain:.2f}x)")

        for name in ("small", "large"):
            bundle = init_bundle(name, audio=AudioConfig())
            path = save_bundle(bundle, Path(tmp) / f"{name}.safetensors")
            finite, count, digest = [], [], []
            for _ in range(args.runs):
                start = time.perf_counter(); check_finite(bundle.state_dict)
                finite.append(time.perf_counter() - start)
                start = time.perf_counter(); parameter_count(bundle.model_config, bundle.audio)
                count.append(time.perf_counter() - start)
                start = time.perf_counter(); sha256_file(path)
                digest.append(time.perf_counter() - start)
            size = path.stat().st_size / 2 ** 20
            print(f"{name} ({bundle.n_parameters / 1e6:.1f} M parameters, {size:.1f} MiB): "
                  f"NaN/Inf check {median(finite) * 1000:.1f} ms, meta-device count "
                  f"{median(count) * 1000:.1f} ms, SHA-256 {median(digest) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
