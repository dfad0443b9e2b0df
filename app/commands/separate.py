"""``tfswa-studio separate AUDIO...``: split songs into stems."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.audio import NONFINITE_CHOICES
from ..core.backends import load_backend
from ..core.jobs import UserError
from ..core.resources import demo_model
from ..core.separation import DEFAULT_NAME, SeparationOptions, plan_outputs, separate_file
from ..terminal import TerminalProgress


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("separate", help="separate audio files into stems",
                       description="Separate audio files into stems, written as "
                                   "OUT/{track}/{stem}.{format} (see --name). A mono file "
                                   "gives mono stems.")
    p.add_argument("audio", nargs="+", help="audio files (WAV, FLAC, OGG, MP3, M4A/AAC)")
    p.add_argument("--model", help="checkpoint or exported model (default: the bundled demo model)")
    p.add_argument("--out", default="separated", help="output folder (default: ./separated)")
    p.add_argument("--format", choices=["wav", "flac"], default="wav")
    p.add_argument("--name", default=DEFAULT_NAME,
                   help="where each stem goes inside OUT (default '" + DEFAULT_NAME.replace(
                       "%", "%%") + "'): {track} is the file's name, or its folder's for "
                       "a MUSDB-style mixture.wav; {parent} the folder's name; {stem}; {ext}. "
                       "Two inputs never write the same file")
    p.add_argument("--bits", choices=["16", "24", "float"], default="24",
                   help="sample format of the stems (default 24-bit; float is WAV only)")
    p.add_argument("--segment", type=float, help="segment length in seconds (default: the model's)")
    p.add_argument("--overlap", type=float, default=0.25, help="overlap between segments, 0..0.9")
    p.add_argument("--rate", choices=("input", "model"), default="input",
                   help="sample rate of the stems: the input file's (default) or the model's")
    p.add_argument("--exact-sum", action="store_true",
                   help="make the stems add up to the mixture exactly (last stem takes the rest)")
    p.add_argument("--nan", choices=NONFINITE_CHOICES, default="error",
                   help="NaN or infinite samples in the input: stop with the file and time "
                        "(error, the default) or replace them by silence with a warning (zero)")
    p.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    p.add_argument("--device", default="auto",
                   help="where the model runs: auto (a GPU when there is one, else the CPU; "
                        "the default), cpu, cuda, cuda:N (GPU N) or mps (Apple); ONNX files "
                        "run on cuda with onnxruntime-gpu")
    p.add_argument("--trust-torchscript", action="store_true",
                   help="allow a TorchScript model file this app did not export: loading "
                        "it runs the code inside it")
    p.add_argument("--overwrite", action="store_true", help="replace existing stem files")
    p.add_argument("--json", action="store_true", help="print results as JSON")
    return p


def run(args) -> int:
    from ..cli import print_json

    model = args.model or demo_model()
    if model is None:
        raise UserError("no model given and no demo model is installed",
                        hint="Pass --model CKPT (make an untrained one with "
                             "'tfswa-studio init --out model.pt').")
    if args.model is None and not args.json:
        print(f"model: the bundled demo model ({model})", file=sys.stderr)
    backend = load_backend(model, threads=args.threads,
                           trust_torchscript=args.trust_torchscript, device=args.device)
    if backend.device != "cpu" and not args.json:
        print(f"device: {backend.device} ({backend.provider})", file=sys.stderr)
    if backend.trained is False:
        print(f"warning: {Path(model).name} was never trained (made by 'tfswa-studio init'): "
              "its stems will not be separated sources", file=sys.stderr)
    options = SeparationOptions(segment=args.segment, overlap=args.overlap,
                                exact_sum=args.exact_sum)
    options.validate()
    plan = plan_outputs(args.audio, args.out, backend.sources, args.format, args.name)
    results, failures = [], 0
    for audio, track in plan.items():
        bar = TerminalProgress(Path(audio).name, quiet=args.json)
        try:
            result = separate_file(audio, backend, args.out, options, fmt=args.format,
                                   subtype=args.bits, overwrite=args.overwrite,
                                   output_rate=args.rate, nonfinite=args.nan,
                                   name=args.name, track=track,
                                   progress=bar)
        except UserError as exc:
            bar.done()
            print(f"error: {exc}", file=sys.stderr)
            failures += 1
            continue
        bar.done()
        results.append(result)
        if not args.json:
            for warning in result.warnings:
                print(f"warning: {warning}", file=sys.stderr)
            print(f"{result.input.name}: {result.duration_s:.1f} s of audio in "
                  f"{result.elapsed_s:.1f} s = {result.speed:.1f}x real time "
                  f"(real-time factor {result.realtime_factor:.3f}) with {backend.name}")
            for stem, path in result.outputs.items():
                print(f"  {stem:<14} {path}")
    if args.json:
        print_json([{**r.__dict__, "speed": r.speed, "realtime_factor": r.realtime_factor}
                    for r in results])
    return 1 if failures else 0

