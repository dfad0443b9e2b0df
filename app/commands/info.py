"""``tfswa-studio info CKPT``: what a checkpoint holds."""

from __future__ import annotations

import argparse

from ..core.checkpoint import load_bundle
from ..core.info import ModelInfo, human_bytes, human_count, metadata_rows, model_info
from ..terminal import table


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("info", help="describe a checkpoint: preset, size, audio config, stages",
                       description="Describe a model checkpoint (.pt, .pth, .safetensors).")
    p.add_argument("checkpoint", help="model bundle file")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p


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
        f"{m['blocks']} TFSWA blocks, {m['heads']} heads, window {m['window']}",
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
    from ..cli import print_json

    info = model_info(load_bundle(args.checkpoint))
    if args.json:
        print_json(info)
    else:
        print(format_info(info))
    return 0
