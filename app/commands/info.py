"""``tfswa-studio info CKPT``: what a checkpoint holds."""

from __future__ import annotations

import argparse
import sys

from ..core.backends import ArtifactInfo, TensorInfo, describe_model_file, is_exported_model
from ..core.checkpoint import load_bundle
from ..core.evaluation import quality_summary
from ..core.jobs import UserError
from ..core.info import ModelInfo, human_bytes, human_count, metadata_rows, model_info
from ..terminal import table


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("info", help="describe a checkpoint: preset, size, audio config, stages",
                       description="Describe a model checkpoint (.pt, .pth, .safetensors) "
                                   "or an exported model (.onnx, trusted TorchScript).")
    p.add_argument("checkpoint", nargs="+",
                   help="model files, each described in turn: checkpoints (.pt, .pth, "
                        ".safetensors) and exported models (.onnx, TorchScript)")
    p.add_argument("--trust-torchscript", action="store_true",
                   help="describe a TorchScript file this app did not export (loading it "
                        "runs the code inside it)")
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
    quality = quality_summary(info.metadata, info.sources)
    lines.append(f"Quality      {quality.headline}")
    lines += [f"             {line}" for line in quality.lines]
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
        return _describe(args.checkpoint[0], args, print_json)
    failures = 0
    for index, path in enumerate(args.checkpoint):
        if index and not args.json:
            print()
        try:
            _describe(path, args, print_json)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failures += 1
    return 2 if failures else 0


def _describe(path: str, args, print_json) -> int:
    if is_exported_model(path):
        info = describe_model_file(path, trust_torchscript=args.trust_torchscript)
        text = format_artifact
    else:
        info = model_info(load_bundle(path))
        text = format_info
    if args.json:
        print_json(info)
    else:
        print(text(info))
    return 0


def _shape(t: TensorInfo) -> str:
    return "(" + ", ".join(map(str, t.shape)) + ")"


def format_artifact(info: ArtifactInfo) -> str:
    """An exported model: what it is, what it takes and gives, what its graph is made of."""
    a = info.audio_config or {}
    lines = [f"Model        {info.path.name}  ({info.path})",
             f"Format       {info.format.upper() if info.format == 'onnx' else 'TorchScript'}"
             f", {info.precision.upper()}" + (f", produced by {info.producer}" if info.producer
                                             else ""),
             f"Size on disk {human_bytes(info.file_size)}"]
    if info.parameters is not None:
        lines.append(f"Weights      {info.parameters:,} values ({human_count(info.parameters)})")
    if info.opsets:
        lines.append("Opsets       " + ", ".join(f"{d} {v}" for d, v in info.opsets.items())
                     + (f" (IR version {info.ir_version})" if info.ir_version else ""))
    lines.append(f"Sources      {', '.join(info.sources) or '-'}")
    if a:
        lines.append(f"Audio        {a.get('sample_rate')} Hz, n_fft {a.get('n_fft')}, hop "
                     f"{a.get('hop_length')}, {a.get('segment_seconds')} s segments")
    for kind, tensors in (("Input", info.inputs), ("Output", info.outputs)):
        for t in tensors:
            dyn = ", ".join(f"axis {i} '{n}'" for i, n in t.dynamic_axes.items())
            lines.append(f"{kind:<12} {t.name} {t.dtype} {_shape(t)}"
                         + (f", dynamic: {dyn}" if dyn else ""))
    if info.operators:
        top = ", ".join(f"{k} {v}" for k, v in list(info.operators.items())[:8])
        lines.append(f"Graph        {info.nodes} nodes, {len(info.operators)} operator types "
                     f"(most: {top})")
    lines += [f"Note         {n}" for n in info.notes]
    return "\n".join(lines)
