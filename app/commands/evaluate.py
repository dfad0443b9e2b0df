"""``tfswa-studio evaluate MODEL --data DIR``: SDR per stem next to the floor and the ceiling."""

from __future__ import annotations

import argparse

from ..core.evaluation import METHODS, REFERENCES, EvaluationResult, evaluate
from ..terminal import TerminalProgress, table


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "evaluate", help="SDR of a model on a folder of stems, with mixture and oracle references",
        description="Separate every track of DATA with MODEL (a checkpoint, TorchScript or ONNX "
                    "file) and report the SDR per stem: per track and the median, next to the "
                    "mixture as the estimate (the floor) and the oracle ratio mask from the "
                    "true stems (the ceiling of a magnitude-mask model).")
    p.add_argument("model", help="model file (any backend)")
    p.add_argument("--data", required=True, help="folder of track folders (MUSDB18 layout)")
    p.add_argument("--tracks", type=int, help="only the first N tracks (by name)")
    p.add_argument("--segment", type=float, help="separation segment in seconds (default: the model's)")
    p.add_argument("--overlap", type=float, default=0.25, help="overlap between segments (default 0.25)")
    p.add_argument("--metric", choices=list(METHODS), default="mdx",
                   help="mdx: utterance SDR of the Music Demixing challenge (default); "
                        "museval: BSSEval v4 (needs the optional 'eval' extra)")
    p.add_argument("--subset", choices=["train", "test", "valid"],
                   help="subfolder of a MUSDB18-HQ layout (default: test when present)")
    p.add_argument("--oracle-power", type=float, default=2.0,
                   help="power of the oracle ratio mask |S|^p / sum |S_j|^p (default 2; 1 = IRM1)")
    p.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    p.add_argument("--device", default="auto",
                   help="where the model runs: auto (a GPU when there is one, else the CPU; the "
                        "default), cpu, cuda, cuda:N (GPU N) or mps (Apple)")
    p.add_argument("--trust-torchscript", action="store_true",
                   help="allow a TorchScript model file this app did not export: loading "
                        "it runs the code inside it")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def _cell(value: float) -> str:
    return "-" if value != value else f"{value:.2f}"


def format_result(result: EvaluationResult) -> str:
    rows = [[s] + [_cell(result.median[r][s]) for r in REFERENCES]
            + [("-" if result.percent_of_oracle[s] != result.percent_of_oracle[s]
                else f"{result.percent_of_oracle[s]:.0f}%")] for s in result.sources]
    summary = table(rows, ["stem", "model", "mixture", "oracle", "model/oracle"])
    per_track = [[t.track, s] + [_cell(t.sdr[r][s]) for r in REFERENCES]
                 for t in result.tracks for s in result.sources]
    lines = [f"{result.model} on {result.data}: {len(result.tracks)} tracks, "
             f"{result.audio_seconds:.0f} s of audio, {result.metric} in dB",
             f"oracle: {result.oracle}", "",
             "median over tracks", summary, "",
             "per track", table(per_track, ["track", "stem", "model", "mixture", "oracle"]), "",
             f"evaluated in {result.elapsed_s:.1f} s (segment {result.segment_s:g} s, "
             f"overlap {result.overlap:g})"]
    lines += [f"note: {n}" for n in result.notes]
    return "\n".join(lines)


def run(args) -> int:
    from ..cli import print_json

    bar = TerminalProgress("evaluate", quiet=args.json)
    try:
        result = evaluate(args.model, args.data, tracks=args.tracks, segment=args.segment,
                          overlap=args.overlap, metric=args.metric, subset=args.subset,
                          threads=args.threads, oracle_power=args.oracle_power,
                          trust_torchscript=args.trust_torchscript, device=args.device,
                          progress=bar)
    finally:
        bar.done()
    if args.json:
        print_json(result)
    else:
        print(format_result(result))
    return 0
