"""The original report's CPU inference table (PyTorch FP32, ONNX FP32, TorchScript, ONNX +
INT8: size, latency, throughput) measured here with one command, into one HTML report with
the claimed figures beside the measured ones, and the tool's repeatability: PyTorch eager and
ONNX FP32 are entered twice, so the spread between two entries of the same variant in one
run is on the page too (the benchmark's own note: both medians, how far apart, and whether
their 95 % intervals overlap).

    python benchmarks/benchmark_variants.py [--preset medium] [--runs 20] [--warmup 3]
        [--threads 2] [--html benchmark_variants.html] [--no-memory] [--profile]

An untrained model of the preset (the report's model has 15.4 M parameters: the medium
preset) is saved as a checkpoint, exported to ONNX and TorchScript (both verified against
PyTorch), and quantized to dynamic INT8 when ``app.core.quantization`` exists in this
checkout. All variants are then timed by :func:`app.core.benchmarking.benchmark_model`:
interleaved round-robin on one 3 s segment (1 x 2 x 1025 x 259) after a warm-up.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# ORIGINAL_PHASE4_REPORT.md, "Inference Performance (CPU)": the claims to compare with.
CLAIMS = {
    "PyTorch FP32": {"size_mb": 58.7, "latency_ms": 245, "throughput": 4.1},
    "ONNX FP32": {"size_mb": 58.5, "latency_ms": 198, "throughput": 5.1},
    "TorchScript": {"size_mb": 58.7, "latency_ms": 220, "throughput": 4.5},
    "ONNX + INT8": {"size_mb": 15.2, "latency_ms": 87, "throughput": 11.5},
}


def make_variants(preset: str, folder: Path, threads: int):
    """Checkpoint, verified ONNX and TorchScript exports, and INT8 where available."""
    from app.core.benchmarking import BenchmarkVariant
    from app.core.checkpoint import init_bundle, save_bundle
    from app.core.export import ExportOptions, export_bundle

    bundle = init_bundle(preset, seed=0)
    ckpt = save_bundle(bundle, folder / f"{preset}.pt")
    bundle.path = ckpt
    onnx = export_bundle(bundle, folder / f"{preset}.onnx", ExportOptions(verify_frames=(37,)),
                         threads=threads).path
    print(f"exported {onnx.name}", flush=True)
    ts = export_bundle(bundle, folder / f"{preset}-torchscript.pt",
                       ExportOptions(format="torchscript", verify_frames=(37,)),
                       threads=threads).path
    print(f"exported {ts.name}", flush=True)
    variants = [BenchmarkVariant(ckpt, "PyTorch FP32"), BenchmarkVariant(onnx, "ONNX FP32"),
                BenchmarkVariant(ts, "TorchScript", trust_torchscript=True)]
    int8 = quantize_int8(onnx, folder / f"{preset}-int8.onnx")
    if int8 is not None:
        variants.append(BenchmarkVariant(int8, "ONNX + INT8"))
    variants += [BenchmarkVariant(ckpt, "PyTorch FP32 (again)"),
                 BenchmarkVariant(onnx, "ONNX FP32 (again)")]
    return variants


def quantize_int8(onnx: Path, out: Path):
    """Dynamic INT8 through the app's quantizer, when this checkout has one."""
    if importlib.util.find_spec("app.core.quantization") is None:
        print("app.core.quantization is not in this checkout: no INT8 row", flush=True)
        return None
    from app.core.quantization import quantize_dynamic

    try:
        result = quantize_dynamic(onnx, out, overwrite=True, budget_db=None, sensitivity="never")
    except TypeError:            # an older signature: defaults only
        result = quantize_dynamic(onnx, out, overwrite=True)
    print(f"quantized {Path(result.path).name}", flush=True)
    return Path(result.path)


def markdown(run) -> str:
    from app.core.benchmarking import p50_interval

    lines = ["| variant | size (claimed) | size | p50 ms (claimed) | p50 | p50 95 % interval | "
             "p95 | p99 | "
             "segments/s (claimed) | segments/s | vs eager | peak RSS |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in run.results:
        c = run.claims.get(r.label, {})
        claim = lambda key, fmt: format(c[key], fmt) if key in c else ""   # noqa: E731
        rss = f"{r.peak_rss_bytes / 1e6:.0f} MB" if r.peak_rss_bytes else "–"
        lines.append(
            f"| {r.label} | {claim('size_mb', '.1f')} | {(r.file_size or 0) / 1e6:.1f} MB | "
            f"{claim('latency_ms', '.0f')} | {r.latency.p50:.0f} | "
            f"{p50_interval(r)} | {r.latency.p95:.0f} | "
            f"{r.latency.p99:.0f} | {claim('throughput', '.1f')} | {r.throughput:.2f} | "
            f"{r.speedup:.2f}x | {rss} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--html", default="benchmark_variants.html")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    from app.core.benchmarking import benchmark_model, save_report
    from app.terminal import TerminalProgress

    with tempfile.TemporaryDirectory(prefix="tfswa-variants-") as tmp:
        variants = make_variants(args.preset, Path(tmp), args.threads)
        command = "python " + " ".join(sys.argv)
        run = benchmark_model(variants, runs=args.runs, warmup=args.warmup,
                              threads=(args.threads,), memory=not args.no_memory,
                              profile=args.profile, command=command,
                              progress=TerminalProgress("benchmark"))
    run.claims = {k: v for k, v in CLAIMS.items() if any(r.label == k for r in run.results)}
    written = save_report(run, Path(args.html), ["html", "json", "csv"], overwrite=True)
    print(f"\n{run.machine.summary()}, load average {run.machine.load_before} before, "
          f"{max(run.machine.load_during, default=float('nan')):.2f} at most during; "
          + ", ".join(f"{k} {v}" for k, v in run.machine.versions.items()))
    print(f"preset {args.preset}, {args.threads} threads, {args.runs} interleaved runs after "
          f"{args.warmup} warm-up, order {' -> '.join(run.order)}\n")
    print(markdown(run))
    for note in run.notes:
        print(f"\n{note}")
    if run.machine.high_load:
        print(f"\nhigh load: {run.machine.load_note}")
    print(f"\nreport: {', '.join(map(str, written))}")


if __name__ == "__main__":
    main()
