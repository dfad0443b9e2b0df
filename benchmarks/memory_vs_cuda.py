"""The training-memory estimate checked against the CUDA allocator, on a GPU.

    python benchmarks/memory_vs_cuda.py [--preset large] [--sources 4] [--batches 1,2,4,8]
        [--precisions fp32,fp16,bf16] [--steps 3] [--budget-gb 24] [--no-fit] [--json OUT]
        [--tests]

For every mode (fp32 / fp16 / bf16, each with gradient checkpointing off and on) and batch
size it trains ``--steps`` real training steps (app.core.training.optimizer_step: STFT, the
model under autocast, masked inverse STFT, waveform L1, backward, Adam, a GradScaler for
fp16) on random audio on the GPU and prints the memory estimate (app.core.memory.plan_memory:
the saved-tensor estimate, and the allocator-fitted one it records on CUDA) beside
``torch.cuda.max_memory_allocated`` over those steps, with the error of each (the aim: within
10 %). Then, with the allocator capped at ``--budget-gb`` (torch's per-process memory
fraction), it finds the largest batch whose training steps really fit, beside the largest
batch the estimate predicts for that budget.

The defaults are the paper's model: the large preset (44.3 M parameters), 4 sources, 3 s
segments of 44.1 kHz stereo. Without a CUDA GPU the script says so and exits 0.
``--device cpu`` runs the same code path on the CPU as a check that it works (no allocator
figures, no fit search).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PRECISIONS = ("fp32", "fp16", "bf16")
SOURCES = ("vocals", "drums", "bass", "other")
GiB = 2 ** 30


@dataclass
class Row:
    precision: str
    checkpointing: bool
    batch: int
    estimate: int                       # parameters + gradients + optimizer + activations
    allocator_estimate: Optional[int]   # the fit of the allocator's peak (CUDA only)
    measured: Optional[int]             # torch.cuda.max_memory_allocated over the steps
    step_s: float = float("nan")
    note: str = ""

    def error(self, value: Optional[int]) -> Optional[float]:
        return None if value is None or not self.measured else value / self.measured - 1


@dataclass
class Fit:
    precision: str
    checkpointing: bool
    predicted: int
    real: Optional[int]
    probes: dict[int, bool] = field(default_factory=dict)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N (or cpu: a code check)")
    parser.add_argument("--preset", default="large")
    parser.add_argument("--sources", type=int, default=4, help="number of sources (default 4)")
    parser.add_argument("--segment", type=float, default=3.0, help="seconds (default 3)")
    parser.add_argument("--batches", default="1,2,4,8")
    parser.add_argument("--precisions", default=",".join(PRECISIONS))
    parser.add_argument("--steps", type=int, default=3, help="training steps per measurement")
    parser.add_argument("--budget-gb", type=float, default=24.0,
                        help="allocator cap for the largest-batch search (default 24, the "
                             "Memory tab's largest preset; at most the GPU's memory)")
    parser.add_argument("--max-batch", type=int, default=512, help="search no further")
    parser.add_argument("--no-fit", action="store_true", help="skip the largest-batch search")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--tests", action="store_true",
                        help="first run the GPU-only pytest tests (skipped without a GPU)")
    return parser.parse_args(argv)


def build(bundle, device, checkpointing: bool):
    import torch

    from app.core.memory import enable_gradient_checkpointing

    model = bundle.build().to(device).train()
    if checkpointing:    # what the trainer does for gradient_checkpointing + attention
        model = enable_gradient_checkpointing(model, checkpoint_blocks=True,
                                              checkpoint_attention=True, inplace=True)
    return model, torch.optim.Adam(model.parameters(), lr=1e-4)


def train_steps(bundle, device, precision: str, checkpointing: bool, batch: int,
                steps: int) -> tuple[Optional[int], float]:
    """Peak allocated bytes over ``steps`` training steps (None on the CPU) and the median
    step time; raises torch.cuda.OutOfMemoryError when they do not fit."""
    import torch

    from app.core.devices import synchronize
    from app.core.training import optimizer_step

    audio = bundle.audio
    cuda = device.type == "cuda"
    model = optimizer = mixture = sources = None
    try:
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        model, optimizer = build(bundle, device, checkpointing)
        gen = torch.Generator(device="cpu").manual_seed(batch)
        length = audio.segment_samples
        mixture = (0.1 * torch.randn(batch, 2, length, generator=gen)).to(device)
        sources = (0.1 * torch.randn(batch, len(audio.sources), 2, length,
                                     generator=gen)).to(device)
        scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            optimizer_step(model, optimizer, mixture, sources, audio, lr=1e-4,
                           precision=precision, clip_grad=5.0, scaler=scaler)
            synchronize(device)
            times.append(time.perf_counter() - start)
        peak = int(torch.cuda.max_memory_allocated(device)) if cuda else None
        return peak, sorted(times)[len(times) // 2]
    finally:
        del model, optimizer, mixture, sources
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()


def fits(bundle, device, precision, checkpointing, batch) -> bool:
    import torch

    try:
        train_steps(bundle, device, precision, checkpointing, batch, steps=2)
        return True
    except torch.cuda.OutOfMemoryError:
        return False


def largest_real_batch(bundle, device, precision, checkpointing, start: int,
                       limit: int) -> tuple[Optional[int], dict[int, bool]]:
    """The largest batch whose two training steps (the second holds Adam's moments) fit
    under the allocator cap: doubling from the predicted batch, then bisection."""
    probes: dict[int, bool] = {}

    def ok(b: int) -> bool:
        if b not in probes:
            probes[b] = fits(bundle, device, precision, checkpointing, b)
            print(f"    batch {b}: {'fits' if probes[b] else 'out of memory'}", flush=True)
        return probes[b]

    low, high = 0, None           # low fits (0: none known), high does not
    b = max(1, min(start, limit))
    while high is None:
        if ok(b):
            low = b
            if b >= limit:
                return b, probes
            b = min(limit, b * 2)
        else:
            high = b
            if b == 1:
                return 0, probes
            if low == 0:          # walk down until something fits
                b = max(1, b // 2)
                while not ok(b):
                    high = b
                    if b == 1:
                        return 0, probes
                    b = max(1, b // 2)
                low = b
    while high - low > 1:
        mid = (low + high) // 2
        if ok(mid):
            low = mid
        else:
            high = mid
    return low, probes


GPU_TESTS = ("tests/core/test_devices.py", "tests/core/test_backend_devices.py",
             "tests/core/test_benchmarking.py")


def run_gpu_tests() -> None:
    """The tests that need a GPU (skipped elsewhere): the device vocabulary, the backends on
    CUDA against the CPU, the Benchmark's CUDA variants."""
    import subprocess

    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
           "-k", "gpu or cuda", *GPU_TESTS]
    print("$ " + " ".join(cmd[2:]), flush=True)
    code = subprocess.call(cmd, cwd=ROOT)
    print(f"GPU tests: {'passed' if code == 0 else f'FAILED (exit {code})'}\n", flush=True)


def mib(n: Optional[int]) -> str:
    return "-" if n is None else f"{n / 2**20:,.0f}"


def pct(x: Optional[float]) -> str:
    return "-" if x is None else f"{x * 100:+.1f} %"


def main(argv=None) -> int:
    args = parse_args(argv)
    from app.core.jobs import UserError

    try:
        import torch

        from app.core.devices import describe_device, resolve_device
        device = resolve_device(args.device)
    except (ImportError, UserError) as exc:
        why = exc.message if isinstance(exc, UserError) else str(exc)
        print(f"memory_vs_cuda.py needs a CUDA GPU and PyTorch with CUDA: {why}.\n"
              "Nothing was measured. Run it on a machine with an NVIDIA GPU:\n"
              "    python benchmarks/memory_vs_cuda.py --json memory_vs_cuda.json")
        return 0
    if device.type not in ("cuda", "cpu"):
        print(f"memory_vs_cuda.py measures the CUDA allocator; {device} has none. Use a "
              "CUDA GPU.")
        return 0
    from app.core.checkpoint import init_bundle
    from app.core.config import AudioConfig
    from app.core.memory import parse_batches, plan_memory

    cuda = device.type == "cuda"
    gpu = describe_device(device)
    if args.tests:
        run_gpu_tests()
    batches = parse_batches(args.batches)
    precisions = [p for p in args.precisions.split(",") if p]
    if set(precisions) - set(PRECISIONS):
        raise SystemExit(f"--precisions: choose from {', '.join(PRECISIONS)}")
    sources = list(SOURCES[:args.sources]) if args.sources <= len(SOURCES) else \
        [f"source{i + 1}" for i in range(args.sources)]
    bundle = init_bundle(args.preset, sources=sources,
                         audio=AudioConfig(segment_seconds=args.segment, sources=tuple(sources)))
    print(f"{gpu.description} ({gpu.name}); torch {torch.__version__}, CUDA "
          f"{torch.version.cuda}; preset {args.preset}, {bundle.n_parameters:,} parameters, "
          f"{len(sources)} sources, {args.segment:g} s segments, Adam, {args.steps} steps per "
          "measurement", flush=True)
    if not cuda:
        print("note: on the CPU there is no allocator to compare with: a check of the code "
              "path only", flush=True)

    # The estimate: measured at small sizes on this device and fitted, per mode.
    modes = {}
    for mixed in [p for p in precisions if p != "fp32"] or ["bf16"]:
        wanted = (["baseline", "checkpointing"] if "fp32" in precisions and not modes else []) \
            + ["mixed", "both"] * (mixed in precisions)
        if not wanted:
            continue
        start = time.perf_counter()
        plan = plan_memory(bundle, batches, args.segment, mixed_precision=mixed, modes=wanted,
                           device=device)
        for m in plan.modes:
            modes[(m.precision, m.checkpointing)] = m
        print(f"estimate ({', '.join(wanted)}, mixed = {mixed}) in "
              f"{time.perf_counter() - start:.0f} s", flush=True)

    rows: list[Row] = []
    for (precision, ckpt), mode in modes.items():
        for batch in batches:
            e = mode.estimate_at(batch)
            row = Row(precision, ckpt, batch, e.total, e.allocator_total, None)
            try:
                row.measured, row.step_s = train_steps(bundle, device, precision, ckpt, batch,
                                                       args.steps)
            except torch.cuda.OutOfMemoryError:
                row.note = "out of memory"
            rows.append(row)
            print(f"{precision} checkpointing {'on ' if ckpt else 'off'} batch {batch:>3}: "
                  f"estimate {mib(row.estimate)} MiB (allocator fit "
                  f"{mib(row.allocator_estimate)}), CUDA peak {mib(row.measured)} MiB "
                  f"{pct(row.error(row.estimate))} {row.note}", flush=True)

    fitted: list[Fit] = []
    if cuda and not args.no_fit:
        total = gpu.total_bytes or 0
        budget = min(args.budget_gb * GiB, total)
        torch.cuda.set_per_process_memory_fraction(budget / total, device)
        print(f"\nlargest batch under an allocator cap of {budget / GiB:.1f} GiB:", flush=True)
        for (precision, ckpt), mode in modes.items():
            predicted = mode.max_batch_for(budget / GiB)
            print(f"  {precision} checkpointing {'on' if ckpt else 'off'}: predicted "
                  f"{predicted}", flush=True)
            real, probes = largest_real_batch(bundle, device, precision, ckpt, predicted,
                                              args.max_batch)
            fitted.append(Fit(precision, ckpt, predicted, real, probes))
        torch.cuda.set_per_process_memory_fraction(1.0, device)

    print(f"\n{gpu.description}, preset {args.preset}, {len(sources)} sources, "
          f"{args.segment:g} s, Adam\n")
    print("| precision | checkpointing | batch | estimate (MiB) | allocator fit (MiB) "
          "| CUDA peak (MiB) | estimate vs peak | allocator fit vs peak | step (s) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r.precision} | {'on' if r.checkpointing else 'off'} | {r.batch} "
              f"| {mib(r.estimate)} | {mib(r.allocator_estimate)} | {mib(r.measured)} "
              f"| {pct(r.error(r.estimate))} | {pct(r.error(r.allocator_estimate))} "
              f"| {r.step_s:.2f} |" + (f" {r.note}" if r.note else ""))
    if fitted:
        print(f"\n| precision | checkpointing | largest batch predicted | largest batch that "
              f"fits ({budget / GiB:.0f} GiB cap) |")
        print("|---|---|---:|---:|")
        for f in fitted:
            print(f"| {f.precision} | {'on' if f.checkpointing else 'off'} | {f.predicted} "
                  f"| {f.real} |")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "gpu": gpu.description, "device": gpu.name, "torch": torch.__version__,
            "cuda": torch.version.cuda, "preset": args.preset,
            "parameters": bundle.n_parameters, "sources": sources, "segment_s": args.segment,
            "steps": args.steps, "rows": [r.__dict__ for r in rows],
            "largest_batch": [f.__dict__ for f in fitted]}, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
