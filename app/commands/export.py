"""``tfswa-studio export CKPT``: ONNX or TorchScript, verified against PyTorch."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ..core.backends import set_torch_threads
from ..core.checkpoint import load_bundle
from ..core.export import (DEFAULT_OPSETS, ONNX_EXPORTERS, ExportOptions, ExportResult,
                           VerificationFailed, VerificationReport, export_bundle)
from ..core.info import human_bytes
from ..core.jobs import to_jsonable
from ..terminal import TerminalProgress, table


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("export", help="export a checkpoint to ONNX or TorchScript, verified",
                       description="Export a checkpoint to ONNX or TorchScript. The file is "
                                   "checked against PyTorch on several input shapes and kept "
                                   "only if it agrees (MSE <= 1e-5).")
    p.add_argument("checkpoint", help="model bundle file (.pt, .pth, .safetensors)")
    p.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    p.add_argument("--opset", type=int,
                   help="ONNX opset (default " + ", ".join(
                       f"{v} with --exporter {k}" for k, v in DEFAULT_OPSETS.items()) + ")")
    p.add_argument("--exporter", choices=list(ONNX_EXPORTERS), default="trace",
                   help="ONNX exporter: trace = torch.onnx.export(dynamo=False) (default), "
                        "dynamo = the torch.export-based one")
    p.add_argument("--no-simplify", action="store_true", help="skip onnxslim simplification")
    p.add_argument("--method", choices=["trace", "script"], default="trace",
                   help="TorchScript method (default trace)")
    p.add_argument("--frames", type=int, help="frames of the example input (default: one segment)")
    p.add_argument("--fixed", action="store_true",
                   help="ONNX: fix every axis to one segment (batch 1): masks and shapes "
                        "become constants (for NNAPI / CoreML)")
    p.add_argument("--mobile", choices=["coreml", "nnapi"],
                   help="ONNX for a mobile runtime (implies --fixed): swaps the operators it lacks")
    p.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    p.add_argument("--out", help="output file (default: beside the checkpoint)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def _num(value: float, fmt: str) -> str:
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return format(value, fmt)


def verification_table(report: VerificationReport) -> str:
    rows = [["x".join(map(str, c.shape)), _num(c.max_abs_error, ".2e"), _num(c.mse, ".2e"),
             _num(c.snr_db, ".1f"), f"{c.seconds * 1000:.0f}", "pass" if c.passed else "FAIL"]
            for c in report.checks]
    return table(rows, ["input shape", "max abs err", "MSE", "SNR dB", "ms", "verdict"])


def format_result(result: ExportResult) -> str:
    how = (f"{ONNX_EXPORTERS[result.method]}, opset {result.opset}"
           + (", simplified by onnxslim" if result.simplified else "")
           if result.format == "onnx" else f"torch.jit.{result.method}, frozen")
    lines = [
        f"Wrote        {result.path}",
        f"Format       {result.format} ({how})",
        f"Size         {human_bytes(result.file_size)}",
        f"Graph        {result.nodes} nodes, {len(result.operators)} operator types "
        f"(most: {', '.join(f'{k} {v}' for k, v in result.top_operators())})",
        f"Folded       {len(result.folded_batchnorms)} batch norms into convolutions",
        "Dynamic      " + ", ".join(f"{name} axis {a} '{n}'" for name, axes in
                                     result.dynamic_axes.items() for a, n in axes.items()),
        f"Time         {result.time_text()}",
    ]
    for warning in result.warnings:
        lines.append(f"Warning      {warning}")
    if result.verification is not None:
        v = result.verification
        lines += ["", f"Verification against PyTorch ({v.runtime}), MSE limit {v.mse_limit:g}:",
                  verification_table(v),
                  f"Verdict      {'PASSED' if v.passed else 'FAILED'}: worst MSE "
                  f"{v.worst_mse:.2e}, lowest SNR {_num(v.min_snr_db, '.1f')} dB"]
    return "\n".join(lines)


def run(args) -> int:
    from ..cli import print_json

    options = ExportOptions(format=args.format, opset=args.opset, exporter=args.exporter,
                            simplify=not args.no_simplify, method=args.method,
                            frames=args.frames, fixed_shapes=args.fixed, mobile=args.mobile)
    options.validate()
    set_torch_threads(args.threads)
    bundle = load_bundle(args.checkpoint)
    out = Path(args.out) if args.out else options.default_path(args.checkpoint)
    bar = TerminalProgress(f"export {out.name}", quiet=args.json)
    try:
        result = export_bundle(bundle, out, options, overwrite=args.overwrite,
                               threads=args.threads, progress=bar)
    except VerificationFailed as exc:
        bar.done()
        if args.json:
            print_json({"passed": False, "error": str(exc), "verification": exc.report})
        else:
            print(verification_table(exc.report), file=sys.stderr)
        raise
    bar.done()
    if args.json:
        data = to_jsonable(result)
        if result.verification is not None:
            data["verification"]["passed"] = result.verification.passed
        print_json({**data, "passed": result.passed})
    else:
        print(format_result(result))
    return 0
