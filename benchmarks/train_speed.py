"""Training-step speed of a preset: seconds per optimizer step and seconds of audio per second.

    python benchmarks/train_speed.py [--preset small] [--runs 3] [--steps 6]
        [--configs "fp32,cl,4x3,t2 fp32,cl,4x3,t1 ..."]

A config is comma-separated words: the precision (fp32, bf16), the memory layout (cl for
channels-last, nchw), BATCHxSECONDS, tN threads, and optionally "passive" (OMP_WAIT_POLICY=
PASSIVE: OpenMP threads sleep instead of spinning while they wait, which matters when other
processes share the cores). Each config runs in its own process (thread settings and the
OpenMP environment only take effect at start-up); configs are interleaved run by run so they
see the same machine load. A run times ``--steps`` steps after two warm-up steps of the real
training step (app.core.training.optimizer_step: STFT, model, masked ISTFT, L1, backward, clipped
Adam), on random stereo audio (the cost does not depend on the content); the figure is the
median over runs of each run's median step time.

Next to the wall-clock time the process's CPU time per step is reported. With one thread it
is what the step costs on an otherwise idle core, whatever else the machine is doing, so it
is the figure to trust on a shared machine (with spinning OpenMP threads it also counts the
spinning).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_CONFIGS = ("fp32,cl,4x3,t2 fp32,nchw,4x3,t2 bf16,cl,4x3,t2 fp32,cl,4x3,t1 "
                   "fp32,cl,4x3,t2,passive fp32,cl,2x3,t2 fp32,cl,8x1.5,t2")


def parse(config: str) -> dict:
    out = {"precision": "fp32", "channels_last": True, "batch": 4, "seconds": 3.0,
           "threads": 2, "passive": False, "name": config}
    for word in config.split(","):
        if word in ("fp32", "bf16", "fp16"):
            out["precision"] = word
        elif word in ("cl", "nchw"):
            out["channels_last"] = word == "cl"
        elif "x" in word:
            b, s = word.split("x")
            out["batch"], out["seconds"] = int(b), float(s)
        elif word.startswith("t"):
            out["threads"] = int(word[1:])
        elif word == "passive":
            out["passive"] = True
        else:
            raise SystemExit(f"unknown config word '{word}' in '{config}'")
    return out


def worker(args) -> None:
    import statistics
    import time

    import torch

    from app.core.config import AudioConfig, preset
    from app.core.model import build_model
    from app.core.training.trainer import optimizer_step

    cfg = parse(args.worker)
    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(0)
    audio = AudioConfig(segment_seconds=cfg["seconds"])
    model = build_model(preset(args.preset), audio).train()
    if cfg["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    length = audio.segment_samples
    gen = torch.Generator().manual_seed(1)
    mixture = 0.1 * torch.randn(cfg["batch"], 2, length, generator=gen)
    sources = 0.1 * torch.randn(cfg["batch"], 2, 2, length, generator=gen)

    def step():
        optimizer_step(model, optimizer, mixture, sources, audio, lr=1e-3,
                       precision=cfg["precision"], channels_last=cfg["channels_last"],
                       clip_grad=5.0)

    for _ in range(2):
        step()
    times, cpu = [], []
    for _ in range(args.steps):
        start, start_cpu = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    print(json.dumps({"median": statistics.median(times), "cpu": statistics.median(cpu),
                      "times": times}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--configs", default=DEFAULT_CONFIGS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    from benchmarks.common import load_average, machine, median

    configs = [parse(c) for c in args.configs.split()]
    results: dict[str, list[float]] = {c["name"]: [] for c in configs}
    cpu: dict[str, list[float]] = {c["name"]: [] for c in configs}
    for run in range(args.runs):
        for c in configs:
            env = dict(os.environ)
            env.pop("OMP_WAIT_POLICY", None)
            if c["passive"]:
                env["OMP_WAIT_POLICY"] = "PASSIVE"
            proc = subprocess.run([sys.executable, __file__, "--worker", c["name"], "--preset",
                                   args.preset, "--steps", str(args.steps)],
                                  capture_output=True, text=True, env=env, cwd=ROOT)
            if proc.returncode:
                raise SystemExit(proc.stderr)
            record = json.loads(proc.stdout.strip().splitlines()[-1])
            value = record["median"]
            results[c["name"]].append(value)
            cpu[c["name"]].append(record["cpu"])
            audio = c["batch"] * c["seconds"] / value
            print(f"run {run + 1}: {c['name']:<26} {value:6.2f} s/step  {audio:5.1f} s audio/s  "
                  f"(CPU {record['cpu']:.2f} s/step)", flush=True)
    load = load_average()
    print(f"\n{machine()}, preset {args.preset}, load average at the end {load:.1f}")
    print(f"{'config':<26} {'s/step':>8} {'steps/s':>8} {'audio s/s':>10} {'CPU s/step':>11}"
          f" {'audio s/CPU s':>14}  runs (s/step)")
    for c in configs:
        value = median(results[c["name"]])
        cpu_value = median(cpu[c["name"]])
        print(f"{c['name']:<26} {value:8.2f} {1 / value:8.3f} "
              f"{c['batch'] * c['seconds'] / value:10.1f} {cpu_value:11.2f} "
              f"{c['batch'] * c['seconds'] / cpu_value:14.1f}  "
              + ", ".join(f"{v:.2f}" for v in results[c["name"]]))


if __name__ == "__main__":
    main()
