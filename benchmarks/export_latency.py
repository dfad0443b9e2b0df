"""Latency of one 3 s segment (1 x 2 x 1025 x 259) through PyTorch eager, TorchScript and
ONNX Runtime, side by side, plus file sizes.

    python benchmarks/export_latency.py [--preset medium] [--runs 20] [--threads 2]
        [--exporters trace,dynamo] [--opset N] [--profile] [--spinning]

The variants are exported with app.core.export (verified against PyTorch first) and run
through the same backends separation uses: PyTorch eager is TorchBackend (channels-last,
``--threads`` threads), TorchScript is the frozen trace loaded by TorchScriptBackend
(optimize_for_inference), ONNX Runtime is OnnxRuntimeBackend (all graph optimizations,
``--threads`` intra-op threads, sequential). After a warm-up, the variants run in turn, run
after run, so that all see the same machine load; the figures are medians and the ratios
are to PyTorch eager. ``--profile`` adds ONNX Runtime's own per-operator profile.

PyTorch's OpenMP threads spin while they wait: when another process keeps one of two cores
busy, eager PyTorch with 2 threads can be several times slower than with 1. Run once more
with ``OMP_WAIT_POLICY=PASSIVE`` in the environment for the baseline without that penalty
(ONNX Runtime does not use OpenMP; its own pool is told not to spin).
"""

from __future__ import annotations

import argparse
import os
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine  # noqa: E402


def ort_profile(path: Path, x, threads: int, runs: int = 5) -> list[tuple[str, float, float]]:
    """(operator type, mean ms per inference, share of the total) from ORT's profiler."""
    import onnxruntime as ort

    from app.core.backends.onnx_runtime import session_options

    so = session_options(threads)
    so.enable_profiling = True
    so.profile_file_prefix = str(path.with_suffix(""))
    session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for _ in range(runs + 1):
        session.run(None, {name: x})
    trace = json.loads(Path(session.end_profiling()).read_text())
    per_op: dict[str, float] = defaultdict(float)
    for event in trace:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            per_op[event["args"]["op_name"]] += event["dur"] / 1000.0
    total = sum(per_op.values())
    rows = [(op, ms / (runs + 1), ms / total) for op, ms in per_op.items()]
    return sorted(rows, key=lambda r: -r[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--frames", type=int, default=259)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's default)")
    parser.add_argument("--exporters", default="trace", help="trace,dynamo")
    parser.add_argument("--no-torchscript", action="store_true")
    parser.add_argument("--profile", action="store_true", help="ONNX Runtime operator profile")
    parser.add_argument("--spinning", action="store_true",
                        help="add the first ONNX file once more with spinning pool threads "
                             "(ONNX Runtime's default; the backend turns it off)")
    args = parser.parse_args()

    import torch

    from app.core.backends.pytorch import TorchBackend
    from app.core.backends.registry import load_backend
    from app.core.checkpoint import init_bundle
    from app.core.export.pipeline import ExportOptions, export_bundle, test_magnitudes
    import onnxruntime as ort

    from app.core.backends.onnx_runtime import OnnxRuntimeBackend, session_options

    torch.set_num_threads(args.threads)
    bundle = init_bundle(args.preset, seed=0)
    x = test_magnitudes((1, 2, bundle.audio.n_bins, args.frames), seed=1)
    verify = (37,)   # plus the export's length at batch 1 and 2
    backends = {"PyTorch eager": TorchBackend(bundle.build(), bundle.audio, threads=args.threads)}
    exports = {}
    with tempfile.TemporaryDirectory() as tmp:
        bundle.path = Path(tmp) / f"{args.preset}.pt"
        plans = []
        if not args.no_torchscript:
            plans.append(("TorchScript (trace, frozen)", ExportOptions(
                format="torchscript", frames=args.frames, verify_frames=verify)))
        for exporter in args.exporters.split(","):
            options = ExportOptions(exporter=exporter, opset=args.opset, frames=args.frames,
                                    verify_frames=verify)
            plans.append((f"ONNX Runtime ({exporter} exporter, opset {options.onnx_opset})",
                          options))
        for label, options in plans:
            path = Path(tmp) / f"{label.split()[0].lower()}-{options.exporter}{options.suffix}"
            result = export_bundle(bundle, path, options, threads=args.threads)
            exports[label] = result
            print(f"exported {label}: {result.export_seconds:.1f} s, {result.nodes} nodes, "
                  f"verified (worst MSE {result.verification.worst_mse:.1e})", flush=True)
            backends[label] = load_backend(path, args.threads)
            if args.spinning and options.format == "onnx" and not any(
                    k.endswith("spinning") for k in backends):
                spin = OnnxRuntimeBackend(path, args.threads)
                so = session_options(args.threads)
                so.add_session_config_entry("session.intra_op.allow_spinning", "1")
                spin.session = ort.InferenceSession(str(path), so,
                                                    providers=["CPUExecutionProvider"])
                backends[f"{label}, spinning"] = spin
                exports[f"{label}, spinning"] = result

        for backend in backends.values():
            for _ in range(args.warmup):
                backend.run(x)
        times: dict[str, list[float]] = {k: [] for k in backends}
        for _ in range(args.runs):
            for label, backend in backends.items():
                start = time.perf_counter()
                backend.run(x)
                times[label].append(time.perf_counter() - start)

        eager = statistics.median(times["PyTorch eager"])
        sizes = {k: v.file_size for k, v in exports.items()}
        with tempfile.NamedTemporaryFile(suffix=".pt") as f:
            torch.save(bundle.state_dict, f.name)
            sizes["PyTorch eager"] = Path(f.name).stat().st_size
        print(f"\n{machine()}, onnxruntime {__import__('onnxruntime').__version__}, "
              f"{args.threads} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}, "
              f"preset {args.preset}, input 1x2x{bundle.audio.n_bins}x"
              f"{args.frames}, median of {args.runs} interleaved runs after {args.warmup} warm-up")
        print("| variant | median ms | min ms | max ms | vs eager | file |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, values in times.items():
            med = statistics.median(values)
            print(f"| {label} | {med * 1000:.0f} | {min(values) * 1000:.0f} | "
                  f"{max(values) * 1000:.0f} | {eager / med:.2f}x | "
                  f"{sizes[label] / 2**20:.1f} MB |")
        if args.profile:
            for label, result in exports.items():
                if result.format != "onnx" or label.endswith("spinning"):
                    continue
                rows = ort_profile(result.path, x, args.threads)
                print(f"\nONNX Runtime profile, {label} (kernel time per inference):")
                for op, ms, share in rows[:12]:
                    print(f"  {op:<28} {ms:8.1f} ms  {share * 100:5.1f}%")
                rest = rows[12:]
                print(f"  {len(rest)} other operator types together: "
                      f"{sum(r[1] for r in rest):.1f} ms, {sum(r[2] for r in rest) * 100:.1f}% ("
                      + ", ".join(f"{op} {share * 100:.2f}%" for op, _, share in rest) + ")")


if __name__ == "__main__":
    main()
