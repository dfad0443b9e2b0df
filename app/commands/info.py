"""``tfswa-studio info CKPT``: what a checkpoint holds."""

from __future__ import annotations

import argparse
import sys

from ..core.checkpoint import load_bundle
from ..core.jobs import UserError
from ..core.info import ModelInfo, human_bytes, human_count, metadata_rows, model_info
from ..terminal import table


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("info", help="describe a checkpoint: preset, size, audio config, stages",
                       description="Describe a model checkpoint (.pt, .pth, .safetensors).")
    p.add_argument("checkpoint", nargs="+", help="model files (each described in turn)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def format_info(info: ModelInfo) -> str:
    a = info.audio_config
    m = info.model_config
    lines = [
        f"Model        {info.name}  ({info.path})",
        f"Preset       {info.preset}",
        f"Parameters   {info.parameters:,} ({human_count(info.parameters)})",
        f"Size on disk {human_bytes(info.size_bytes)}",
        f"Sources      {', '.join(info.sources)}",
        f"Audio        {a['sample_rate']} Hz, {a['channels']} channels, n_fft {a['n_fft']}, "
        f"hop {a['hop_length']}, {a['window']} window, {a['subbands']} sub-bands, "
        f"{a['segment_seconds']:g} s segments",
        f"Network      channels {m['channels']}, bottleneck dim {m['dim']}, "
        f"{_plural(m['blocks'], 'TFSWA block')}, {_plural(m['heads'], 'head')}, "
        f"window {m['window']}",
        f"Input        {tuple(info.input_shape)} -> masks {tuple(info.output_shape)}",
    ]
    trained = info.metadata.get("trained")
    if trained is not None:
        lines.append(f"Trained      {'yes' if trained else 'no (initialised by tfswa-studio init)'}")
    rows = [[s.name, s.kind, f"{s.parameters:,}", "x".join(map(str, s.output_shape))]
            for s in info.stages]
    text = "\n".join(lines) + "\n\n" + table(rows, ["stage", "type", "parameters", "output shape"])
    meta = metadata_rows(info.metadata)
    if meta:
        width = max(len(k) for k, _ in meta)
        text += "\n\nMetadata\n" + "\n".join(f"  {k.ljust(width)}  {v}" for k, v in meta)
    return text


def run(args) -> int:
    """Describe each file; a file that cannot be read is one error line and the others
    are still described (exit status 2 if any failed)."""
    from ..cli import print_json

    if len(args.checkpoint) == 1:
        return _describe(args.checkpoint[0], args.json, print_json)
    failures = 0
    for index, path in enumerate(args.checkpoint):
        if index and not args.json:
            print()
        try:
            _describe(path, args.json, print_json)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failures += 1
    return 2 if failures else 0


def _describe(path: str, as_json: bool, print_json) -> int:
    info = model_info(load_bundle(path))
    if as_json:
        print_json(info)
    else:
        print(format_info(info))
    return 0
