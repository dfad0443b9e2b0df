"""``tfswa-studio init``: write an untrained model bundle."""

from __future__ import annotations

import argparse

from ..core.checkpoint import init_bundle, save_bundle
from ..core.config import PRESETS


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("init", help="write an untrained model bundle (to try the pipeline or to train)",
                       description="Write an untrained TFSWA-UNet bundle.")
    p.add_argument("--preset", choices=list(PRESETS), default="small")
    p.add_argument("--sources", default="vocals,accompaniment",
                   help="comma-separated source names (default: vocals,accompaniment)")
    p.add_argument("--out", required=True, help="output file (.pt, .pth or .safetensors)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    return p


def run(args) -> int:
    sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    bundle = init_bundle(args.preset, sources, seed=args.seed)
    path = save_bundle(bundle, args.out, overwrite=args.overwrite)
    print(f"wrote {path}: untrained '{args.preset}' model, {bundle.n_parameters:,} parameters, "
          f"sources {', '.join(sources)}")
    return 0
