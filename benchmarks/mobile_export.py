"""Fixed-segment ONNX exports for mobile runtimes against the dynamic export: how ONNX
Runtime's mobile checker rates each for NNAPI and CoreML (partitions, share of the nodes a
runtime takes) and how fast each runs on this CPU through ONNX Runtime, side by side.

    python benchmarks/mobile_export.py [--preset medium] [--runs 15] [--threads 2]

Every file is made by app.core.export (verified against PyTorch first): the dynamic export,
``--fixed`` (one 3 s segment, batch 1: masks and shapes constant), ``--mobile coreml`` and
``--mobile nnapi`` (fixed, plus the operator swaps those runtimes need). The timings run the
variants in turn, run after run, so all see the same machine load; medians, ratios to the
dynamic export.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import load_average, machine  # noqa: E402

VARIANTS = {"dynamic": {}, "fixed": {"fixed_shapes": True}, "coreml": {"mobile": "coreml"},
            "nnapi": {"mobile": "nnapi"}}
RUNTIMES = ("NNAPI", "CoreML MLProgram", "CoreML NeuralNetwork")


def checker(path: Path) -> dict[str, str]:
    text = subprocess.run([sys.executable, "-m",
                           "onnxruntime.tools.check_onnx_model_mobile_usability", str(path)],
                          capture_output=True, text=True, timeout=600)
    out = text.stdout + text.stderr
    rated = {}
    for runtime in RUNTIMES:
        m = re.search(rf"(\d+) partitions with a total of (\d+)/(\d+) nodes can be handled by "
                      rf"the {runtime} EP", out)
        rated[runtime] = (f"{m.group(1)} partitions, {int(m.group(2)) / int(m.group(3)):.1%}"
                          if m else "n/a")
    return rated


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from app.core.benchmarking import BenchmarkVariant, benchmark_model
    from app.core.checkpoint import init_bundle
    from app.core.export import ExportOptions, export_bundle

    print(machine(), f"load average {load_average():.2f}")
    bundle = init_bundle(args.preset, seed=0)
    work = Path(tempfile.mkdtemp(prefix="mobile-export-"))
    files = {}
    for name, extra in VARIANTS.items():
        opts = ExportOptions(**extra)
        result = export_bundle(bundle, opts.default_path(work / "model.pt"), opts, threads=args.threads)
        files[name] = result.path
        v = result.verification
        print(f"{name:8s} {result.nodes:5d} nodes, verified: max error {v.worst_max_abs_error:.2e}, "
              f"MSE {v.worst_mse:.2e}")
    for name, path in files.items():
        print(f"{name:8s} " + "; ".join(f"{rt}: {r}" for rt, r in checker(path).items()))

    # Interleaved round-robin timing (app.core.benchmarking): a fixed file gets its own shape.
    run = benchmark_model([BenchmarkVariant(path=p, name=n) for n, p in files.items()],
                          runs=args.runs, warmup=1, threads=(args.threads,), memory=False)
    p50 = {r.label: r.latency.p50 for r in run.results}
    base = p50["dynamic"]
    for name, ms in p50.items():
        print(f"{name:8s} ONNX Runtime CPU median {ms:7.1f} ms  x{base / ms:.2f} of dynamic")
    print(f"load average after: {load_average():.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
