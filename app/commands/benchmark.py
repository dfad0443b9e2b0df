"""``tfswa-studio benchmark VARIANT...``: every variant timed side by side, interleaved."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.benchmarking import (BenchmarkRun, BenchmarkSettings, BenchmarkVariant,
                                 benchmark_model, cuda_variants, reproduce_command,
                                 p50_interval, save_report, why_no_cuda_variants)
from ..core.jobs import UserError
from ..terminal import TerminalProgress, table


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "benchmark", help="time model variants side by side (latency, throughput, memory)",
        description="Time every variant on the same input, interleaved run by run so a busy "
                    "machine affects all alike: latency percentiles, throughput, x real time, "
                    "load time, file size and peak memory, with the machine recorded.")
    p.add_argument("variants", nargs="+", metavar="VARIANT",
                   help="checkpoint (PyTorch eager), .onnx file (ours or any with the input "
                        "magnitude (B,2,F,T) and output masks (B,S,2,F,T)), TorchScript file")
    p.add_argument("--runs", type=int, default=20, help="timed runs per variant (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    p.add_argument("--threads", help="CPU threads, or a list to sweep: 1,2 (default all cores)")
    p.add_argument("--segment", help="segment seconds, or a list to sweep: 1,3,6 (default: the "
                                     "model's, 3 s)")
    p.add_argument("--batch", type=int, default=1, help="segments per run (default 1)")
    p.add_argument("--song", help="time whole songs end to end (read, STFT, network, inverse "
                                  "STFT, write) instead of single segments")
    p.add_argument("--profile", action="store_true",
                   help="ONNX Runtime's per-operator profile for ONNX variants")
    p.add_argument("--no-memory", action="store_true",
                   help="skip the peak-memory measurement (a child process per variant)")
    p.add_argument("--cuda", action="store_true",
                   help="add the CUDA variants of every file: a checkpoint as PyTorch on CUDA "
                        "in FP32 and FP16, an ONNX file on ONNX Runtime's CUDA provider "
                        "(onnxruntime-gpu); those this machine cannot run are left out, saying why")
    p.add_argument("--trust-torchscript", action="store_true",
                   help="run TorchScript files (programs: only from sources you trust); "
                        "passed to the loader where it asks for trust")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--html", metavar="PATH", help="write the self-contained HTML report")
    p.add_argument("--csv", metavar="PATH", help="write one CSV row per variant")
    p.add_argument("--save-json", metavar="PATH", help="write the results as a JSON file")
    p.add_argument("--overwrite", action="store_true", help="replace existing report files")
    return p


def human_bytes(n: int) -> str:
    """Bytes as MB with one decimal (app.core.info has one too, but it imports torch)."""
    return f"{n / 1e6:.1f} MB"


def parse_list(text: str | None, kind, what: str) -> tuple:
    if not text:
        return ()
    try:
        return tuple(kind(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise UserError(f"--{what} '{text}' must be a number or a comma-separated list") from None


def settings_from(args) -> BenchmarkSettings:
    return BenchmarkSettings(runs=args.runs, warmup=args.warmup,
                             threads=parse_list(args.threads, int, "threads"),
                             segments=parse_list(args.segment, float, "segment"),
                             batch=args.batch, song=Path(args.song) if args.song else None,
                             profile=args.profile, memory=not args.no_memory)


def variants_from(args) -> list[BenchmarkVariant]:
    paths = [Path(v) for v in args.variants]
    for path in paths:
        if not path.exists():
            raise UserError("does not exist", path)
    items = [BenchmarkVariant(path=p, trust_torchscript=args.trust_torchscript) for p in paths]
    if args.cuda:
        found = cuda_variants(paths)
        if not found:
            print(f"note: no CUDA variants here ({why_no_cuda_variants()})", file=sys.stderr)
        items += found
    return items


def format_run(run: BenchmarkRun) -> str:
    rows = [[r.label, f"{r.latency.p50:.1f}", p50_interval(r), f"{r.latency.p95:.1f}",
             f"{r.latency.p99:.1f}",
             f"{r.latency.mean:.1f}", f"{r.latency.std:.1f}", f"{r.throughput:.2f}",
             f"{r.x_realtime:.1f}x", "-" if r.speedup is None else f"{r.speedup:.2f}x",
             human_bytes(r.file_size) if r.file_size else "-", f"{r.load_seconds:.2f}",
             human_bytes(r.peak_rss_bytes) if r.peak_rss_bytes else "-"]
            for r in run.results]
    m, s = run.machine, run.settings
    lines = [f"{m.summary()}; load average {m.load_before} before, "
             f"{max(m.load_during, default=float('nan')):.2f} at most during",
             ", ".join(f"{k} {v}" for k, v in m.versions.items()),
             f"{s.mode} mode, {s.runs} runs after {s.warmup} warm-up, batch {s.batch}, "
             f"interleaved: {' -> '.join(run.order)}", "",
             table(rows, ["variant", "p50 ms", "p50 95% CI", "p95 ms", "p99 ms", "mean ms",
                          "std ms",
                          "segments/s", "real time", "vs eager", "file", "load s", "peak RSS"])]
    for r in run.results:
        if r.profile is not None:
            lines += ["", f"ONNX Runtime profile, {r.label} ({r.profile.total_ms:.1f} ms of "
                          "kernels per run):"]
            lines += [f"  {t.name:<24} {t.ms:8.2f} ms  {t.share * 100:5.1f} %"
                      for t in r.profile.by_type[:10]]
    if m.high_load:
        lines += ["", f"warning: high load: {m.load_note}"]
    lines += [f"note: {n}" for n in run.notes]
    return "\n".join(lines)


def run(args) -> int:
    from ..cli import print_json

    settings = settings_from(args)
    settings.validate()
    items = variants_from(args)
    extra = ["--trust-torchscript"] if args.trust_torchscript else []
    if args.cuda:
        extra.append("--cuda")
    bar = TerminalProgress("benchmark", quiet=args.json)
    result = benchmark_model(items, settings, progress=bar,
                             command=reproduce_command(args.variants, settings, extra))
    bar.done()
    for path, fmt in ((args.html, "html"), (args.csv, "csv"), (args.save_json, "json")):
        if path:
            written = save_report(result, Path(path), [fmt], overwrite=args.overwrite)
            print(f"wrote {written[0]}", file=sys.stderr)
    if args.json:
        print_json(result)
    else:
        print(format_run(result))
    return 0
