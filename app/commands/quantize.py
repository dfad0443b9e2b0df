"""``tfswa-studio quantize MODEL``: INT8 (dynamic, static) or FP16, the cost in SDR measured."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Optional

from ..core.info import human_bytes
from ..core.jobs import to_jsonable
from ..core.quantization import (METHODS, MODES, SENSITIVITY, STRATEGIES, QuantizeOptions,
                                 QuantizeResult, VariantFigures, quantize_model)
from ..terminal import TerminalProgress, table


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "quantize", help="quantize a model to INT8 or FP16, the SDR cost measured",
        description="Quantize a checkpoint or an exported FP32 .onnx. The result is measured "
                    "against FP32 (size, speed, mask SNR, SDR per stem on songs with true "
                    "stems) and kept only if it passes its check; static INT8 keeps the most "
                    "sensitive layers in FP32 until every stem loses at most --budget-db.")
    p.add_argument("model", help="checkpoint (.pt, .safetensors) or FP32 ONNX export")
    p.add_argument("--mode", choices=MODES, default="static",
                   help="dynamic / static INT8, qat (quantization-aware training), fp16")
    p.add_argument("--calibration", nargs="+", metavar="FILES_OR_DIR", default=[],
                   help="static: songs or folders to calibrate on (default: the demo song)")
    p.add_argument("--method", choices=METHODS, default="minmax", help="static: calibration method")
    p.add_argument("--segments", type=int, default=8,
                   help="static: calibration segments (default 8)")
    p.add_argument("--budget-db", type=float, default=0.2,
                   help="SDR a stem may lose against FP32 before layers stay FP32 (default 0.2)")
    p.add_argument("--no-fallback", action="store_true", help="never keep layers in FP32")
    p.add_argument("--sensitivity", choices=SENSITIVITY, default="auto",
                   help="per-layer sensitivity: auto (when over budget), always, never")
    p.add_argument("--strategy", choices=STRATEGIES, default="leave-one-out")
    p.add_argument("--ops", help="operator types to quantize, comma-separated (default: "
                                 "MatMul,Gemm for dynamic; Conv,MatMul,Gemm for static)")
    p.add_argument("--keep-fp32", nargs="+", default=[], metavar="GROUP",
                   help="layer groups to keep in FP32 (e.g. head downs.0)")
    p.add_argument("--eval-data", help="song with true stems or a folder of them "
                                       "(default: the demo song)")
    p.add_argument("--eval-songs", type=int, default=3, help="songs of --eval-data to use")
    p.add_argument("--eval-seconds", type=float, default=10.0,
                   help="excerpt of each song measured (default 10 s; 0 = whole songs)")
    p.add_argument("--steps", type=int, default=100,
                   help="qat: fine-tuning steps (default 100)")
    p.add_argument("--train-data", metavar="DIR",
                   help="qat: folder of songs with true stems to fine-tune on (default: songs "
                        "the built-in synthesizer makes)")
    p.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    p.add_argument("--out", help="output file (default: beside the model, -int8.onnx, ...)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def _db(value: Optional[float], signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def figures_table(rows: list[VariantFigures], sources: list[str]) -> str:
    header = ["model", "size", "ms/segment", "mask SNR dB"]
    header += [f"SDR {s}" for s in sources] + [f"d {s}" for s in sources]
    body = []
    for f in rows:
        body.append([f.name, human_bytes(f.file_size) if f.file_size else "-",
                     f"{f.latency_ms:.1f}" if f.latency_ms else "-", _db(f.mask_snr_db)]
                    + [_db(f.sdr.get(s)) for s in sources]
                    + [_db(f.sdr_delta.get(s), True) for s in sources])
    return table(body, header)


def format_result(r: QuantizeResult) -> str:
    sources = list(r.fp32.sdr) if r.fp32 else []
    rows = [f for f in (r.fp32, r.full_int8, r.quantized) if f is not None]
    lines = [f"Wrote        {r.path}",
             f"Mode         {r.mode} ({r.precision.upper()})"
             + (f", quantized {', '.join(r.op_types)}" if r.op_types else "")]
    if r.size_ratio:
        lines.append(f"Size         {human_bytes(r.file_size)} ({r.size_ratio:.2f}x smaller than FP32)")
    if r.speedup:
        lines.append(f"Speed        {r.speedup:.2f}x FP32 ({r.quantized.latency_ms:.1f} vs "
                     f"{r.fp32.latency_ms:.1f} ms per segment, {r.threads} threads)")
    if r.calibration:
        c = r.calibration
        lines.append(f"Calibration  {c.method}, {c.segments} segments of {c.segment_seconds:g} s "
                     f"from {', '.join(c.files)}")
    lines.append(f"Evaluated on {', '.join(r.eval_songs)}"
                 + (f" (first {r.eval_seconds:g} s)" if r.eval_seconds else ""))
    if r.budget_db is not None:
        lines.append(f"Budget       {r.budget_db:g} dB per stem: "
                     + ("met" if r.within_budget else "NOT met"))
    lines.append("Kept FP32    " + (", ".join(r.fp32_layers) or "none"))
    lines += ["", figures_table(rows, sources)]
    if r.sensitivity:
        lines += ["", "Sensitivity (SDR lost by quantizing the group, worst stem):",
                  table([[str(s.rank), s.group, str(s.nodes), _db(s.cost_db, True),
                          _db(s.mask_snr_db), "FP32" if s.kept_fp32 else ""]
                         for s in r.sensitivity],
                        ["rank", "group", "nodes", "cost dB", "mask SNR dB", "kept"])]
    lines += [f"Note         {n}" for n in r.notes]
    return "\n".join(lines)


def options_from(args) -> QuantizeOptions:
    return QuantizeOptions(
        mode=args.mode, calibration=tuple(Path(p) for p in args.calibration), method=args.method,
        calibration_segments=args.segments,
        op_types=tuple(o.strip() for o in args.ops.split(",") if o.strip()) if args.ops else None,
        budget_db=None if args.no_fallback else args.budget_db, sensitivity=args.sensitivity,
        strategy=args.strategy, keep_fp32=tuple(args.keep_fp32),
        eval_data=Path(args.eval_data) if args.eval_data else None, eval_songs=args.eval_songs,
        eval_seconds=args.eval_seconds or None, threads=args.threads, qat_steps=args.steps,
        qat_data=Path(args.train_data) if args.train_data else None)


def run(args) -> int:
    from ..cli import print_json

    options = options_from(args)
    options.validate()
    bar = TerminalProgress(f"quantize {Path(args.model).name}", quiet=args.json)
    result = quantize_model(args.model, args.out, options, overwrite=args.overwrite,
                            progress=bar)
    bar.done()
    if args.json:
        print_json({**to_jsonable(result), "size_ratio": result.size_ratio,
                    "speedup": result.speedup, "faster": result.faster,
                    "sdr_loss": result.sdr_loss})
    else:
        print(format_result(result))
    return 0
