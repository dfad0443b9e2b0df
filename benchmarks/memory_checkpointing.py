"""Gradient checkpointing on TFSWA-UNet: activation memory and training-step time, side by side.

    python benchmarks/memory_checkpointing.py [--preset medium] [--batch 4] [--seconds 3]
        [--steps 5] [--warmup 1] [--threads 1] [--policies baseline,blocks,attention,both,nested]

Policies (app.core.memory.checkpointing):
  baseline   no checkpointing
  blocks     the conv stages (stem, every Down, every Up, each whole)
  attention  the TFSWA blocks, each whole
  both       blocks + attention: ``enable_gradient_checkpointing(model)``, the default
  nested     both, plus every attention sublayer wrapped again inside its TFSWA block (what
             "checkpoint the attention sublayers too" would mean; kept to show its cost)

Memory: one training step per policy at the requested size while autograd's saved tensors
are counted (app.core.memory.activations.measure_activations: peak bytes held for backward,
recomputation included), next to what the fitted estimate (the ``memory`` command) predicts
for the same size from seven small measurements.

Time: the trainer's own step (app.core.training.optimizer_step: STFT, model, masked ISTFT,
waveform L1, backward, clipped Adam) on random audio, policies interleaved step by step so
they see the same machine load; after ``--warmup`` steps each, the median of ``--steps``.
Wall-clock and process CPU time are both reported; with one thread the CPU time is what the
step costs an otherwise idle core, the figure to trust on a shared machine. The time ratio to
the baseline is the median over rounds of each round's ratio (the policies of one round ran
back to back), which cancels most of the drift in machine load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

POLICIES = ("baseline", "blocks", "attention", "both", "nested")


def build(policy: str, model):
    from app.core.memory.checkpointing import (GradientCheckpointWrapper,
                                               enable_gradient_checkpointing)
    from app.core.model.tfswa import SequenceAttention, SwinLayer

    if policy == "baseline":
        return model
    blocks = policy in ("blocks", "both", "nested")
    attention = policy in ("attention", "both", "nested")
    wrapped = enable_gradient_checkpointing(model, blocks, attention)
    if policy == "nested":
        for block in [m for m in wrapped.modules() if isinstance(m, GradientCheckpointWrapper)]:
            for name, child in list(block.module.named_children()):
                if isinstance(child, (SequenceAttention, SwinLayer)):
                    setattr(block.module, name, GradientCheckpointWrapper(child))
    return wrapped


def paired(values: list[float], reference: list[float]) -> float:
    """Median over rounds of ``values[i] / reference[i]``."""
    if not values or not reference:
        return float("nan")
    return statistics.median(v / r for v, r in zip(values, reference))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--skip-time", action="store_true", help="memory only")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()

    import torch

    from app.core.memory.activations import measure_activations, profile_activations
    from app.core.config import AudioConfig, preset
    from app.core.model import build_model
    from app.core.training.trainer import optimizer_step
    from benchmarks.common import load_average, machine

    policies = [p for p in args.policies.split(",") if p]
    unknown = set(policies) - set(POLICIES)
    if unknown or "baseline" not in policies:
        raise SystemExit(f"policies must include baseline and come from {', '.join(POLICIES)}")
    torch.set_num_threads(args.threads)
    audio = AudioConfig(segment_seconds=args.seconds)
    frames = audio.segment_frames
    torch.manual_seed(0)
    base = build_model(preset(args.preset), audio).train()
    models = {p: build(p, base) for p in policies}
    print(f"{machine()}, {args.threads} thread(s); preset {args.preset}, batch {args.batch} "
          f"x {args.seconds:g} s ({frames} frames)", flush=True)

    memory = {}
    for p in policies:
        start = time.perf_counter()
        sample = measure_activations(models[p], audio, args.batch, frames)
        fit = None
        if p in ("baseline", "both"):
            profile = profile_activations(base, "fp32", p == "both", audio=audio, device="cpu")
            fit = profile.peak(args.batch, frames)
        memory[p] = {"peak": sample.peak_bytes, "forward": sample.forward_bytes, "fit": fit}
        print(f"memory {p:<10} peak {sample.peak_bytes / 2**20:8.1f} MiB  held after forward "
              f"{sample.forward_bytes / 2**20:8.1f} MiB"
              + (f"  fitted estimate {fit / 2**20:8.1f} MiB" if fit else "")
              + f"  ({time.perf_counter() - start:.0f} s)", flush=True)

    times = {p: [] for p in policies}
    cpu = {p: [] for p in policies}
    if not args.skip_time:
        gen = torch.Generator().manual_seed(1)
        mixture = 0.1 * torch.randn(args.batch, 2, audio.segment_samples, generator=gen)
        sources = 0.1 * torch.randn(args.batch, 2, 2, audio.segment_samples, generator=gen)
        optimizers = {p: torch.optim.Adam(m.parameters(), lr=1e-4) for p, m in models.items()}
        for step in range(args.warmup + args.steps):
            for p in policies:
                start, start_cpu = time.perf_counter(), time.process_time()
                optimizer_step(models[p], optimizers[p], mixture, sources, audio, lr=1e-4,
                               clip_grad=5.0)
                wall, used = time.perf_counter() - start, time.process_time() - start_cpu
                if step >= args.warmup:
                    times[p].append(wall)
                    cpu[p].append(used)
                print(f"step {step + 1}{' (warm-up)' if step < args.warmup else ''}: {p:<10} "
                      f"{wall:6.1f} s wall, {used:6.1f} s CPU", flush=True)

    load = load_average()
    ref = memory["baseline"]["peak"]
    print(f"\nload average at the end {load:.1f}\n")
    print("| policy | activations (MiB) | vs baseline | fitted estimate (MiB) "
          "| step wall (s) | step CPU (s) | CPU vs baseline, paired | wall vs baseline, paired |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    result = {"machine": machine(), "threads": args.threads, "preset": args.preset,
              "batch": args.batch, "seconds": args.seconds, "frames": frames, "load": load,
              "policies": {}}
    for p in policies:
        m = memory[p]
        wall = statistics.median(times[p]) if times[p] else float("nan")
        used = statistics.median(cpu[p]) if cpu[p] else float("nan")
        cpu_ratio = paired(cpu[p], cpu["baseline"])
        wall_ratio = paired(times[p], times["baseline"])
        fit = f"{m['fit'] / 2**20:.1f}" if m["fit"] else "-"
        print(f"| {p} | {m['peak'] / 2**20:.1f} | {m['peak'] / ref - 1:+.0%} | {fit} "
              f"| {wall:.1f} | {used:.1f} | {cpu_ratio - 1:+.0%} | {wall_ratio - 1:+.0%} |")
        result["policies"][p] = {**m, "wall_median": wall, "cpu_median": used,
                                 "cpu_ratio": cpu_ratio, "wall_ratio": wall_ratio,
                                 "wall": times[p], "cpu": cpu[p]}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
