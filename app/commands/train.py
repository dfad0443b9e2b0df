"""``tfswa-studio train``: train a model on a MUSDB18-style folder of stems."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.config import PRESETS
from ..core.jobs import Cancelled
from ..core.memory import PRECISIONS, load_training_config
from ..core.training import (CHECKPOINT_NAME, CONFIG_NAME, TrainOptions, apply_training_config,
                             detect_distributed, saved_options, train)
from ..terminal import TerminalProgress, format_seconds, table

# argparse destination -> TrainOptions field, for the options a user may give.
FIELDS = {"data": "data", "out": "out", "preset": "preset", "sources": "sources",
          "valid_data": "valid_data", "valid_tracks": "valid_tracks",
          "valid_seconds": "valid_seconds", "batch": "batch_size", "segment": "segment_seconds",
          "lr": "lr", "lr_decay": "lr_decay", "lr_decay_epochs": "lr_decay_epochs",
          "epochs": "epochs", "steps_per_epoch": "steps_per_epoch",
          "max_minutes": "max_minutes", "clip": "clip_grad", "seed": "seed",
          "threads": "threads", "precision": "precision", "remix": "remix",
          "log_every": "log_every", "checkpoint_minutes": "checkpoint_minutes",
          "device": "device", "sample_rate": "sample_rate", "n_fft": "n_fft",
          "hop": "hop_length", "subbands": "subbands"}


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train", help="train a model on a folder of stems (MUSDB18 layout)",
        description="Train a TFSWA-UNet with the paper's recipe (L1 loss on the waveform, Adam, "
                    "lr 1e-3 x0.9 every 1.5 epochs) on DATA/{track}/{mixture,vocals,drums,bass,"
                    "other}.wav. Writes OUT/best.safetensors (best validation SDR), "
                    "OUT/last.safetensors, OUT/checkpoint.pt (resume with --resume) and "
                    "OUT/log.jsonl (loss, lr and validation SDR). On several GPUs or machines, "
                    "start it with torchrun: torchrun --nproc_per_node N -m app train ... "
                    "(--batch is then per process: each optimizer step uses N x BATCH "
                    "segments).")
    p.add_argument("--data", required=True, help="training folder (MUSDB18 / MUSDB18-HQ layout)")
    p.add_argument("--out", required=True, help="output folder for checkpoints, models and log")
    p.add_argument("--preset", choices=list(PRESETS), help="model size (default small)")
    p.add_argument("--sources", help="comma-separated sources (default vocals,accompaniment)")
    p.add_argument("--valid-data", help="validation folder (default: hold out tracks of --data)")
    p.add_argument("--valid-tracks", type=int,
                   help="tracks of --data held out for validation (default 10%%, 1..10)")
    p.add_argument("--valid-seconds", type=float, help="seconds per validation track (default 12)")
    p.add_argument("--batch", type=int,
                   help="segments per step and process (default 4); under torchrun the "
                        "global batch is N x BATCH")
    p.add_argument("--segment", type=float, help="training segment in seconds (default 3)")
    p.add_argument("--sample-rate", type=int,
                   help="sample rate the model works at, Hz (default 44100; audio is resampled)")
    p.add_argument("--n-fft", type=int, help="STFT window size (default 2048)")
    p.add_argument("--hop", type=int,
                   help="STFT hop in samples (default 512; the paper used 441 at 44.1 kHz)")
    p.add_argument("--subbands", type=int,
                   help="frequency sub-bands stacked as channels (default 4)")
    p.add_argument("--lr", type=float, help="learning rate (default 1e-3)")
    p.add_argument("--lr-decay", type=float, help="lr factor per decay interval (default 0.9)")
    p.add_argument("--lr-decay-epochs", type=float, help="epochs per lr decay (default 1.5)")
    p.add_argument("--epochs", type=int, help="epochs to train (default 20)")
    p.add_argument("--steps-per-epoch", type=int,
                   help="optimizer steps per epoch (default: one pass over the training audio)")
    p.add_argument("--max-minutes", type=float,
                   help="stop after this many minutes (validates and saves within the limit)")
    p.add_argument("--clip", type=float, help="gradient-norm clipping (default 5; 0 = off)")
    p.add_argument("--seed", type=int, help="seed of the weights and the data order (default 0)")
    p.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    p.add_argument("--device",
                   help="auto, cpu, cuda, cuda:N or mps (default auto: a GPU when present); "
                        "may change on --resume. Under torchrun each process uses the GPU "
                        "of its local rank")
    p.add_argument("--precision", choices=list(PRECISIONS),
                   help="compute precision of the model (default fp32)")
    p.add_argument("--remix", type=float,
                   help="probability that each stem comes from another random song (default 1)")
    p.add_argument("--log-every", type=int, help="steps between loss records (default 25)")
    p.add_argument("--checkpoint-minutes", type=float,
                   help="also save OUT/checkpoint.pt this often within an epoch (default 10)")
    p.add_argument("--config", help=f"training settings saved by the Memory tab (default: "
                                    f"OUT/{CONFIG_NAME} when it exists)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in OUT")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def build_options(args) -> tuple[TrainOptions, list[str]]:
    """Options from the command line, over the saved run's (with --resume) or the defaults,
    with a training config applied to what the command line leaves open."""
    given = {}
    for dest, name in FIELDS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if name == "sources":
            value = tuple(s.strip() for s in value.split(",") if s.strip())
        given[name] = value
    notes: list[str] = []
    base = saved_options(args.out) if args.resume else None
    if base is not None:
        values = base.to_dict()
        values.update({k: (str(v) if isinstance(v, Path) else v) for k, v in given.items()})
        options = TrainOptions.from_dict({**values, "resume": True})
        return options, notes
    options = TrainOptions(**given, resume=args.resume)
    config = Path(args.config) if args.config else Path(args.out) / CONFIG_NAME
    if args.config or config.exists():
        settings = load_training_config(config)
        applied = apply_training_config(options, settings, explicit=set(given))
        options.config = config
        notes.append(f"applied {config}: {', '.join(applied) or 'nothing (all set explicitly)'}")
    return options, notes


def run(args) -> int:
    from ..cli import print_json

    options, notes = build_options(args)
    distributed = detect_distributed()
    if distributed is not None and not distributed.is_main:
        return run_quietly(options, distributed)        # rank 0 speaks for the job
    quiet = args.json
    for note in notes:
        print(note, file=sys.stderr)
    bar = TerminalProgress("train", quiet=quiet)

    def say(message: str) -> None:
        if not quiet:
            if bar.tty:
                sys.stderr.write("\r" + " " * 100 + "\r")
            print(message, file=sys.stderr)

    try:
        result = train(options, progress=bar, log=say, distributed=distributed)
    except (KeyboardInterrupt, Cancelled):
        bar.done()
        if (Path(options.out) / CHECKPOINT_NAME).exists():
            print(f"\nstopped; the progress is saved in {Path(options.out) / CHECKPOINT_NAME}: "
                  f"continue with --resume", file=sys.stderr)
        raise
    bar.done()
    if args.json:
        print_json(result)
        return 0
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    rows = [[f"{h.epoch:.2f}", str(h.step), f"{h.lr:.2e}",
             "-" if h.train_loss != h.train_loss else f"{h.train_loss:.5f}"]
            + [f"{h.valid_sdr[s]:.2f}" for s in options.sources] for h in result.history]
    print(table(rows, ["epoch", "step", "lr", "train loss"] + [f"{s} SDR" for s in options.sources]))
    print(f"\n{result.stopped}: {result.steps} steps ({result.epochs:.2f} epochs) in "
          f"{format_seconds(result.session_time_s)} this session, "
          f"{format_seconds(result.training_time_s)} in all; "
          f"{result.steps_per_second:.2f} steps/s = {result.audio_seconds_per_second:.1f} s of "
          f"audio per second")
    if result.best_model:
        best = ", ".join(f"{s} {v:.2f} dB" for s, v in result.best_sdr.items())
        print(f"best model (step {result.best_step}): {result.best_model}  [{best}]")
    again = f"train --data {options.data} --out {options.out} --resume"
    print(f"last model: {result.last_model}\nresume with: " + (
        f"tfswa-studio {again}" if distributed is None else
        f"torchrun ... -m app {again} ({distributed.world_size} processes in all, as now)"))
    return 0


def run_quietly(options: TrainOptions, distributed) -> int:
    """A torchrun rank other than 0: train, print nothing (rank 0 reports the job)."""
    train(options, distributed=distributed)
    return 0
