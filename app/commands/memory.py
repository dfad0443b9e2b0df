"""``tfswa-studio memory CKPT``: training memory per batch size, with and without gradient
checkpointing and mixed precision, and the largest batch that fits a GPU budget."""

from __future__ import annotations

import argparse
import sys

from ..core.config import PRESETS
from ..core.jobs import UserError
from ..core.memory import (DEFAULT_RESERVE_GB, MODES, OPTIMIZER_STATES, PRECISIONS, GiB,
                           MemoryPlan, MiB, TrainingConfig, parse_batches, plan_memory,
                           save_training_config)
from ..terminal import TerminalProgress, table


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "memory", help="estimate training memory; gradient checkpointing and mixed precision",
        description="Estimate the GPU memory one training step needs (parameters, gradients, "
                    "optimizer state and measured activations) for each batch size, in four "
                    "modes: baseline, gradient checkpointing, mixed precision, both. "
                    "Activations are measured on a real forward/backward at small sizes and "
                    "extrapolated.")
    p.add_argument("checkpoint", nargs="?",
                   help="model bundle (default: the bundled demo model, or --preset)")
    p.add_argument("--preset", choices=list(PRESETS),
                   help="estimate an untrained model of this preset instead of a checkpoint")
    p.add_argument("--batch", default="1,2,4,8,16",
                   help="batch sizes: 1,2,4,8 or 1-32 (powers of two) or 2:16:2 (default 1,2,4,8,16)")
    p.add_argument("--segment", type=float, help="segment length in seconds (default: the model's)")
    p.add_argument("--budget-gb", type=float, help="GPU memory budget in GiB: report the largest batch")
    p.add_argument("--keep-free", "--reserve-gb", dest="reserve_gb", type=float,
                   default=DEFAULT_RESERVE_GB,
                   help="GiB of the budget kept free (CUDA context, allocator slack; default "
                        f"{DEFAULT_RESERVE_GB:g}, as in the app's Memory tab)")
    p.add_argument("--precision", choices=[p for p in PRECISIONS if p != "fp32"], default="bf16",
                   help="dtype of the mixed-precision modes (default bf16)")
    p.add_argument("--optimizer", choices=sorted(OPTIMIZER_STATES), default="adam",
                   help="optimizer state to count: adam/adamw 2x, sgd (momentum) 1x, none")
    p.add_argument("--modes", default=",".join(MODES),
                   help=f"modes to estimate (default {','.join(MODES)})")
    p.add_argument("--no-checkpoint-attention", action="store_true",
                   help="checkpoint whole blocks only, not also each attention sublayer")
    p.add_argument("--device", default="auto",
                   help="where to measure the activations: auto (a GPU when there is one, else "
                        "the CPU; the default), cpu, cuda, cuda:N (GPU N) or mps (Apple)")
    p.add_argument("--save-config", metavar="PATH",
                   help="write the settings of --config-mode to a training-config.json")
    p.add_argument("--config-mode", choices=MODES,
                   help="mode to save (default: the one allowing the largest batch)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing config file")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return p


def format_plan(plan: MemoryPlan) -> str:
    def _fmt(n: int) -> str:
        """Each size in its own unit: a 3 MiB gradient is not "0.00 GiB"."""
        return f"{n / GiB:,.2f} GiB" if n >= GiB else f"{n / MiB:,.1f} MiB"

    head = (f"{plan.model}: {plan.parameter_count:,} parameters, {plan.segment_seconds:g} s "
            f"segments ({plan.frames} frames), optimizer {plan.optimizer}, measured on "
            f"{plan.device} in {plan.elapsed_s:.1f} s.")
    blocks = [head]
    for mode in plan.modes:
        rows = []
        for e in mode.estimates:
            fits = ""
            if plan.budget_gb is not None:
                fits = "yes" if mode.fits(e.batch_size, plan.budget_gb, plan.reserve_gb) else "no"
            row = [str(e.batch_size), _fmt(e.parameters), _fmt(e.gradients),
                   _fmt(e.optimizer_state), _fmt(e.activations), _fmt(e.total)]
            if e.allocator_total is not None:
                row.append(_fmt(e.allocator_total))
            rows.append(row + ([fits] if fits else []))
        header = ["batch", "parameters", "gradients", "optimizer", "activations", "total"]
        if mode.estimates and mode.estimates[0].allocator_total is not None:
            header.append("CUDA peak")
        if plan.budget_gb is not None:
            header.append(f"fits {plan.budget_gb:g} GiB")
        title = f"{mode.label} ({mode.precision}"
        title += ", gradient checkpointing)" if mode.checkpointing else ")"
        blocks.append(title + "\n" + table(rows, header))
    if plan.budget_gb is not None:
        reserve = f", {plan.reserve_gb:g} GiB kept free" if plan.reserve_gb else ""
        lines = [f"Largest batch for {plan.budget_gb:g} GiB{reserve}:"]
        lines += [f"  {m.label:<33} {m.max_batch}" for m in plan.modes]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _modes(text: str) -> list[str]:
    modes = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise UserError(f"unknown mode(s) {', '.join(unknown) or '(none)'}; "
                        f"choose from {', '.join(MODES)}")
    return modes


def _source(args):
    from ..core.checkpoint import init_bundle, load_bundle
    from ..core.resources import demo_model

    if args.checkpoint and args.preset:
        raise UserError("give either a checkpoint or --preset, not both")
    if args.preset:
        return init_bundle(args.preset)
    path = args.checkpoint or demo_model()
    if path is None:
        raise UserError("no checkpoint given and no demo model is installed",
                        hint="Pass a checkpoint, or --preset small|medium|large.")
    return load_bundle(path)


def training_config_for(plan: MemoryPlan, mode_name: str | None) -> TrainingConfig:
    """The settings of one mode of ``plan``: its largest fitting batch when a budget was
    given, else the largest batch estimated."""
    if mode_name is None:
        fitting = [m for m in plan.modes if m.max_batch is not None]
        mode = max(fitting, key=lambda m: m.max_batch) if fitting else plan.modes[-1]
    else:
        mode = plan.mode(mode_name)
    asked = max(plan.batches)
    # The largest batch that fits, but never beyond the largest one asked for.
    batch = min(mode.max_batch, asked) if mode.max_batch is not None else asked
    if batch < 1:
        raise UserError(f"not even batch 1 fits {plan.budget_gb:g} GiB in mode {mode.label}; "
                        "no training config written")
    return mode.training_config(batch, plan.segment_seconds)


def run(args) -> int:
    from ..cli import print_json

    batches = parse_batches(args.batch)
    modes = _modes(args.modes)
    if args.config_mode and args.config_mode not in modes:
        raise UserError(f"--config-mode {args.config_mode} is not among --modes {args.modes}")
    bundle = _source(args)
    bar = TerminalProgress("memory", quiet=False)
    try:
        plan = plan_memory(bundle, batches, args.segment, args.precision, args.optimizer,
                           args.budget_gb, modes=modes,
                           checkpoint_attention=not args.no_checkpoint_attention,
                           reserve_gb=args.reserve_gb, device=args.device, progress=bar)
    finally:
        bar.done()
    saved = None
    if args.save_config:
        config = training_config_for(plan, args.config_mode)
        saved = save_training_config(config, args.save_config, overwrite=args.overwrite)
    if args.json:
        print_json({"plan": plan, "training_config": str(saved) if saved else None})
    else:
        print(format_plan(plan))
        if saved:
            print(f"\nTraining config written to {saved}", file=sys.stderr)
    return 0
