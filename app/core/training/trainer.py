"""Training a TFSWA-UNet on MUSDB18-style folders: the paper's recipe, resumable exactly.

One optimizer step: the mixture's complex STFT ``X`` is computed once (no gradient), the model
maps ``|X|`` to masks, the masked spectra ``mask * X`` go through the inverse STFT (so the
mixture phase is used, as in separation), and the loss is the L1 distance between those
waveforms and the true source waveforms (the paper's loss). Adam, the paper's schedule
(lr 1e-3, x0.9 every 1.5 epochs) and gradient-norm clipping.

An *epoch* is ``steps_per_epoch`` optimizer steps; by default as many steps as it takes for
the random segments to add up to the training audio's duration once
(``total seconds / (batch * segment)``). Validation (median utterance SDR per source over the
validation tracks) runs after every epoch; the best model is written as a bundle.

Everything needed to continue is saved in ``OUT/checkpoint.pt``: weights, optimizer moments,
the step (the learning rate is a pure function of it), the running epoch loss, the RNG states
of python, numpy and torch, and the options. Training items are a pure function of
``(seed, index)`` (see :mod:`app.core.training.data`), so the data order needs no saved state beyond
the step; resuming reproduces the uninterrupted run bit for bit.

Files in OUT: ``checkpoint.pt`` (resume state), ``best.safetensors`` (best validation SDR),
``last.safetensors`` (the final weights), ``log.jsonl`` (a record per session start with its
device and world size, per logged step and per epoch: loss, lr, validation SDR, time),
``options.json`` (the options used), ``train.lock`` (while a trainer runs in the folder).
Checkpoints and bundles hold CPU tensors, so a run resumes on any device.

Devices: the model and the batches live on ``options.device`` (CUDA: pinned host memory and
asynchronous copies, fp16 autocast with a CUDA GradScaler, bf16 where the GPU has it). Under
torchrun the run is distributed (:mod:`app.core.training.distributed`): DDP averages the
gradients, each rank trains on its own shard of every step's global batch, and rank 0 alone
validates, logs and writes files while the others wait for it.

This module holds the trainer (:class:`Trainer`, :func:`train`); every name other code
imports from it stays importable here. The parts live beside it: :mod:`.results` (what a run
reports), :mod:`.runfiles` (the log, CPU copies for the checkpoint), :mod:`.state` (what
``checkpoint.pt`` holds and how a resumed run takes it back), :mod:`.validation` (the SDR
measured after every epoch),
:mod:`.distributed` (torchrun, collectives between ranks, the world-size check),
:mod:`app.core.training.options` (file names, :class:`TrainOptions`, the training config,
reading a saved run), :mod:`app.core.training.step` (schedule, loss, one optimizer step, RNG
states) and :mod:`app.core.training.runtime` (thread tuning, batch prefetching).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from ..audio.tracks import TrackSet, describe
from ..backends.registry import torch_threads
from ..checkpoint import ModelBundle, save_bundle
from ..devices import describe_device, supports_bf16
from ..files import atomic_path
from ..jobs import Cancelled, CancelToken, ProgressFn, UserError, ensure_token, no_progress
from ..memory import enable_gradient_checkpointing
from ..model import build_model, count_parameters
from ..model.waveform import PRECISIONS, autocast_dtype, separate_waveforms, waveform_l1
from .data import TrainingSegments, ValidationSegments
from .distributed import (DistributedInfo, RunLock, all_reduce_values, distributed_session,
                          process_device, rank0_flag, rank0_value, sync_batch_norm)
from .options import (BEST_NAME, CHECKPOINT_NAME, CONFIG_NAME, LAST_NAME, LOG_NAME, OPTIONS_NAME,
                      RESUME_OVERRIDES, STATE_FORMAT, STATE_VERSION, TrainOptions,
                      apply_training_config, read_state, saved_options)
from .results import EpochRecord, TrainResult
from .validation import validation_sdr
from .runfiles import append_log, trim_log
from .runtime import BatchLoader, ThreadTuner
from .state import restore_state, trainer_state
from .step import lr_at, optimizer_step, rng_state, set_rng_state

__all__ = [
    # the trainer
    "Trainer", "train", "EpochRecord", "TrainResult",
    # options and saved runs
    "STATE_FORMAT", "STATE_VERSION", "CHECKPOINT_NAME", "BEST_NAME", "LAST_NAME", "LOG_NAME",
    "OPTIONS_NAME", "CONFIG_NAME", "PRECISIONS", "RESUME_OVERRIDES", "TrainOptions",
    "apply_training_config", "read_state", "saved_options",
    # the step
    "lr_at", "autocast_dtype", "separate_waveforms", "waveform_l1", "optimizer_step",
    "rng_state", "set_rng_state",
    # runtime helpers
    "ThreadTuner", "BatchLoader",
]


# ----------------------------------------------------------------------------- the trainer

class Trainer:
    """One training run: build or resume, then :meth:`fit`. See :func:`train`."""

    def __init__(self, options: TrainOptions, log: Callable[[str], None] = lambda m: None,
                 distributed: Optional[DistributedInfo] = None,
                 device: Optional[torch.device] = None):
        """``distributed``: this process's place in a torchrun job whose process group is
        initialised (see :func:`train`); None for a single process. ``device``: where to
        train (default: ``options.device`` resolved)."""
        options.validate()
        self.options = options
        self.dist = distributed
        self.rank = distributed.rank if distributed else 0
        self.world_size = distributed.world_size if distributed else 1
        self.is_main = self.rank == 0
        self.say = log if self.is_main else (lambda message: None)
        self.notes: list[str] = []
        self.out = Path(options.out)
        self.checkpoint_path = self.out / CHECKPOINT_NAME
        self.log_path = self.out / LOG_NAME
        self.audio = options.audio_config()
        self.model_config = options.resolved_model_config()
        self.device = device if device is not None else process_device(options.device,
                                                                          distributed)
        if options.precision == "bf16" and not supports_bf16(self.device):
            raise UserError(f"bf16 is not supported on {describe_device(self.device).description}",
                            hint="Use --precision fp16 or fp32.")
        cores = os.cpu_count() or 1
        self.tuner = (ThreadTuner([1, cores]) if not options.threads and cores > 1
                      and self.device.type == "cpu" and distributed is None else None)

        self._prepare_data()
        self._build()
        self.lock = RunLock(self._out_folder()) if self.is_main else None
        try:
            self._start_or_resume()
        except BaseException:
            if self.lock is not None:
                self.lock.release()
            raise

    def _start_or_resume(self) -> None:
        options = self.options
        self.step = 0
        self.elapsed_before = 0.0
        self.loss_sum = 0.0
        self.loss_count = 0
        self.best_score = -math.inf
        self.best_sdr: dict[str, float] = {}
        self.best_step = -1
        self.history: list[EpochRecord] = []
        self.valid_time = 0.0
        if options.resume and self.checkpoint_path.exists():
            self._load_state()
        else:
            self._check_fresh_out()
        self._log_start()

    # -- setup

    def _prepare_data(self) -> None:
        o = self.options
        rate = self.audio.sample_rate
        tracks = TrackSet.from_folder(o.data, o.sources, rate)
        if o.valid_data is not None:
            valid = TrackSet.from_folder(o.valid_data, o.sources, rate, subset=None)
        else:
            count = o.valid_tracks if o.valid_tracks is not None else min(10, max(1, len(tracks) // 10))
            tracks, valid = tracks.split(count)
        self.train_tracks, self.valid_tracks = tracks, valid
        seg = self.audio.segment_samples
        self.global_batch = o.batch_size * self.world_size
        if o.steps_per_epoch is None:
            covered = tracks.total_seconds / (self.global_batch * o.segment_seconds)
            o.steps_per_epoch = max(1, int(round(covered)))
        self.steps_per_epoch = int(o.steps_per_epoch)
        self.total_steps = self.steps_per_epoch * o.epochs
        self.dataset = TrainingSegments(tracks, seg, o.seed, o.augmentation,
                                        epoch_items=self.steps_per_epoch * self.global_batch)
        self.validation = ValidationSegments(valid, seg, o.valid_seconds)
        self.say(f"training data: {describe(tracks)} from {o.data}; validation: "
                 f"{describe(valid)} ({self.validation.seconds:.0f} s in fixed windows)")

    def _build(self) -> None:
        o = self.options
        torch.manual_seed(o.seed)
        self.model = build_model(self.model_config, self.audio)
        if o.gradient_checkpointing or o.checkpoint_attention:
            self._enable_checkpointing()
        self.model = self.model.to(self.device)
        if o.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.model.train()
        self.net: torch.nn.Module = self.model          # what the steps run (DDP's wrapper)
        if self.dist is not None:
            from torch.nn.parallel import DistributedDataParallel

            self.model = sync_batch_norm(self.model, self.device)
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=o.lr)
        self.scaler = None
        if o.precision == "fp16":
            self.scaler = torch.amp.GradScaler(self.device.type)
        batch = (f"batch {o.batch_size} x {self.world_size} processes" if self.dist
                 else f"batch {o.batch_size}")
        self.say(f"model: {self.model_config.preset} ({count_parameters(self.model):,} parameters), "
                 f"sources {', '.join(o.sources)}; {batch} x {o.segment_seconds:g} s, "
                 f"{self.steps_per_epoch} steps per epoch, {o.epochs} epochs, {o.precision} on "
                 f"{describe_device(self.device).name}")

    def _enable_checkpointing(self) -> None:
        o = self.options
        self.model = enable_gradient_checkpointing(
            self.model, checkpoint_blocks=o.gradient_checkpointing,
            checkpoint_attention=o.checkpoint_attention, inplace=True)
        self.say(f"gradient checkpointing: blocks {o.gradient_checkpointing}, "
                 f"attention {o.checkpoint_attention}")

    def _out_folder(self) -> Path:
        self.out.mkdir(parents=True, exist_ok=True)
        return self.out

    def _check_fresh_out(self) -> None:
        if self.checkpoint_path.exists():
            raise UserError("already holds a training run", self.out,
                            "Pass --resume to continue it, or choose another output folder.")
        for name in (BEST_NAME, LAST_NAME, LOG_NAME):
            if (self.out / name).exists():
                raise UserError(f"already holds {name}; not overwriting it", self.out,
                                "Choose another output folder.")
        self.out.mkdir(parents=True, exist_ok=True)
        rank0_value(self.dist, None)      # every rank has looked before rank 0 writes anything
        self._write_options()

    def _write_options(self) -> None:
        if not self.is_main:
            return
        with atomic_path(self.out / OPTIONS_NAME, overwrite=True) as tmp:
            tmp.write_text(json.dumps(self.options.to_dict(), indent=2) + "\n")

    # -- state

    def state_dict(self) -> dict[str, Any]:
        return trainer_state(self)

    def save_state(self) -> Path:
        """Write ``checkpoint.pt`` (rank 0 only: every rank holds the same weights)."""
        if not self.is_main:
            return self.checkpoint_path
        with atomic_path(self.checkpoint_path, overwrite=True) as tmp:
            torch.save(self.state_dict(), tmp)
        self._saved_at = time.perf_counter()
        return self.checkpoint_path

    def _load_state(self) -> None:
        restore_state(self, read_state(self.checkpoint_path))
        if self.is_main:
            trim_log(self.log_path, self.step)
        self._write_options()
        self.say(f"resuming at step {self.step} (epoch {self.step / self.steps_per_epoch:.2f})")

    def _log(self, record: dict[str, Any]) -> None:
        if self.is_main:
            append_log(self.log_path, record)

    def _log_start(self) -> None:
        """The session's record: where it trains (the log's tail after a resume)."""
        info = describe_device(self.device)
        self._log({"kind": "start", "step": self.step, "device": info.name,
                   "device_name": info.description, "world_size": self.world_size,
                   "global_batch": self.global_batch, "precision": self.options.precision,
                   "resumed": self.step > 0,
                   "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})

    # -- steps

    def train_step(self, mixture: torch.Tensor, sources: torch.Tensor) -> float:
        """One optimizer step on a batch; returns the loss."""
        o = self.options
        if self.dist is not None:
            # dropout (if any) drawn per (seed, rank, step): exact on resume with no saved
            # RNG state of the other ranks
            torch.manual_seed(int(np.random.SeedSequence([o.seed, self.rank, self.step])
                                  .generate_state(1)[0]))
        loss = optimizer_step(self.net, self.optimizer, mixture, sources, self.audio,
                              lr=lr_at(self.step, o, self.steps_per_epoch),
                              precision=o.precision, channels_last=o.channels_last,
                              clip_grad=o.clip_grad, scaler=self.scaler)
        self.step += 1
        if self.dist is not None:             # the global batch's loss, as one process has it
            loss = float(all_reduce_values([loss], self.device)[0]) / self.world_size
        return loss

    def validate(self, cancel: Optional[CancelToken] = None) -> dict[str, float]:
        """Median over validation tracks of the utterance SDR of each source."""
        start = time.perf_counter()
        try:
            return validation_sdr(self.model, self.validation, self.audio, self.options.sources,
                                  self.device, self.options.channels_last, cancel)
        finally:
            self.valid_time = time.perf_counter() - start

    # -- the loop

    def _session_elapsed(self) -> float:
        return time.perf_counter() - self._t0 if hasattr(self, "_t0") else 0.0

    def _time_left(self) -> float:
        if self.options.max_minutes is None:
            return math.inf
        return self.options.max_minutes * 60.0 - self._session_elapsed()

    def fit(self, progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelToken] = None) -> TrainResult:
        """Train until the last epoch or the time limit; torch's thread count is restored
        afterwards."""
        try:
            with torch_threads(self.options.threads):
                return self._fit(progress or no_progress, ensure_token(cancel))
        finally:
            if self.lock is not None:
                self.lock.release()

    def _fit(self, progress: ProgressFn, cancel: CancelToken) -> TrainResult:
        o = self.options
        self._t0 = self._saved_at = time.perf_counter()
        start_step = self.step
        if self.step % self.steps_per_epoch == 0 and not (self.history and
                                                          self.history[-1].step == self.step):
            # epoch 0 (the untrained model), or an epoch whose validation was cancelled
            self._end_epoch(cancel, partial=False)
        loader = BatchLoader(self.dataset, o.batch_size, self.rank, self.world_size, self.device)
        stopped = "finished"
        step_times: list[float] = []
        last_loss = float("nan")
        try:
            while self.step < self.total_steps:
                cancel.check()
                # Stop early enough to validate and save within the time limit.
                typical = float(np.median(step_times)) if step_times else 0.0
                if rank0_flag(self.dist, self.device,
                              self._time_left() <= self.valid_time * 1.2 + typical):
                    stopped = "time limit"
                    break
                last_loss, seconds = self._timed_step(loader)
                step_times.append(seconds)
                if self.step % o.log_every == 0:
                    self._log({"kind": "step", "step": self.step,
                               "epoch": self.step / self.steps_per_epoch, "loss": last_loss,
                               "lr": lr_at(self.step - 1, o, self.steps_per_epoch),
                               "step_s": seconds, "threads": torch.get_num_threads(),
                               "elapsed_s": self.elapsed_before + self._session_elapsed()})
                if self.step % self.steps_per_epoch == 0:
                    self._end_epoch(cancel, partial=False)
                    self.save_state()
                elif time.perf_counter() - self._saved_at > o.checkpoint_minutes * 60.0:
                    self.save_state()
                if self.is_main:
                    self._report(progress, start_step, last_loss)
            if stopped != "finished" and self.loss_count:
                self._end_epoch(cancel, partial=True)
            self.save_state()
        except (Cancelled, KeyboardInterrupt):
            self.save_state()           # Cancel and Ctrl-C keep the progress: --resume
            raise
        finally:
            loader.close()
        return self._finish(stopped, start_step, step_times)

    def _timed_step(self, loader: BatchLoader) -> tuple[float, float]:
        """Load and train one step (with the thread tuner's choice); (loss, seconds)."""
        if self.tuner is not None:
            self.tuner.before_step(self.step)
        start = time.perf_counter()
        mixture, sources = loader.get(self.step, prefetch=self.step + 1 < self.total_steps)
        loss = self.train_step(mixture, sources)
        seconds = time.perf_counter() - start
        if self.tuner is not None:
            self.tuner.after_step(self.step, seconds)
        self.loss_sum += loss
        self.loss_count += 1
        return loss, seconds

    def _report(self, progress: ProgressFn, start_step: int, loss: float) -> None:
        o = self.options
        done = (self.step - start_step) / max(1, self.total_steps - start_step)
        if o.max_minutes:
            done = max(done, self._session_elapsed() / (o.max_minutes * 60.0))
        epoch = self.step / self.steps_per_epoch
        val = ""
        if self.history:
            val = f"  val {self.history[-1].valid_score:.2f} dB"
        progress(min(done, 1.0), f"epoch {epoch:.2f}/{o.epochs} step {self.step}/{self.total_steps} "
                                 f"loss {loss:.4f} lr {lr_at(self.step, o, self.steps_per_epoch):.2e}{val}")

    def _end_epoch(self, cancel: CancelToken, partial: bool) -> EpochRecord:
        o = self.options
        # rank 0 validates; the others wait for its scores
        scores = rank0_value(self.dist, self.validate(cancel) if self.is_main else None)
        score = float(np.mean([v for v in scores.values()]))
        record = EpochRecord(
            epoch=self.step / self.steps_per_epoch, step=self.step,
            lr=lr_at(max(self.step - 1, 0), o, self.steps_per_epoch),
            train_loss=self.loss_sum / self.loss_count if self.loss_count else float("nan"),
            valid_sdr=scores, valid_score=score,
            elapsed_s=self.elapsed_before + self._session_elapsed(), partial=partial)
        self.history.append(record)
        self.loss_sum, self.loss_count = 0.0, 0
        self._log({"kind": "epoch", **dataclasses.asdict(record),
                   "valid_time_s": self.valid_time})
        self.say(f"epoch {record.epoch:.2f}: train loss {record.train_loss:.5f}, validation SDR "
                 + ", ".join(f"{k} {v:.2f} dB" for k, v in scores.items()))
        if score > self.best_score and self.step > 0:
            self.best_score, self.best_sdr, self.best_step = score, scores, self.step
            if self.is_main:
                save_bundle(self._bundle("best"), self.out / BEST_NAME, overwrite=True)
        return record

    def _bundle(self, which: str) -> ModelBundle:
        o = self.options
        metadata = {
            "trained": True, "created_by": "tfswa-studio train", "weights": which,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "training": {
                "data": str(Path(o.data).resolve()), "tracks": len(self.train_tracks),
                "data_minutes": round(self.train_tracks.total_seconds / 60, 2),
                "valid_data": str(Path(o.valid_data).resolve()) if o.valid_data else None,
                "valid_tracks": [t.name for t in self.valid_tracks.tracks],
                "steps": self.step, "epochs": round(self.step / self.steps_per_epoch, 3),
                "steps_per_epoch": self.steps_per_epoch, "batch_size": o.batch_size,
                "world_size": self.world_size, "global_batch_size": self.global_batch,
                "device": describe_device(self.device).name,
                "segment_seconds": o.segment_seconds,
                "audio_seconds_seen": self.step * self.global_batch * o.segment_seconds,
                "training_time_s": round(self.elapsed_before + self._session_elapsed(), 1),
                "threads": o.threads or "auto", "lr": o.lr, "lr_decay": o.lr_decay,
                "lr_decay_epochs": o.lr_decay_epochs, "clip_grad": o.clip_grad, "seed": o.seed,
                "precision": o.precision, "loss": "L1 on the waveform",
                "augmentation": {"remix": o.remix, "gain": list(o.gain), "swap": o.swap},
            },
            "validation": {"sdr": self.best_sdr if which == "best" else
                           (self.history[-1].valid_sdr if self.history else {}),
                           "metric": "utterance SDR (MDX), median over validation tracks",
                           "seconds_per_track": o.valid_seconds, "step": self.best_step
                           if which == "best" else self.step},
        }
        model = self.model
        state = {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}
        return ModelBundle(self.model_config, self.audio, state, metadata)

    def _finish(self, stopped: str, start_step: int, step_times: list[float]) -> TrainResult:
        o = self.options
        last = self.out / LAST_NAME
        if self.is_main:
            save_bundle(self._bundle("last"), last, overwrite=True)
        rank0_value(self.dist, None)                  # the others wait for the files
        best = self.out / BEST_NAME
        session = self._session_elapsed()
        if self.tuner is not None and self.tuner.history:
            self.notes.append("threads chosen by timing (step: threads): " + ", ".join(
                f"{step}: {threads}" for step, threads in self.tuner.history))
        per_step = float(np.median(step_times)) if step_times else float("nan")
        sps = 1.0 / per_step if step_times else 0.0
        return TrainResult(
            out=self.out, best_model=best if best.exists() else None, last_model=last,
            checkpoint=self.checkpoint_path, log=self.log_path, steps=self.step,
            epochs=self.step / self.steps_per_epoch, stopped=stopped,
            training_time_s=self.elapsed_before + session, session_time_s=session,
            best_sdr=self.best_sdr, best_step=self.best_step, steps_per_second=sps,
            audio_seconds_per_second=sps * self.global_batch * o.segment_seconds,
            history=list(self.history), notes=list(self.notes))


def train(options: TrainOptions, *, progress: Optional[ProgressFn] = None,
          cancel: Optional[CancelToken] = None,
          log: Callable[[str], None] = lambda message: None,
          distributed: Optional[DistributedInfo] = None) -> TrainResult:
    """Train (or, with ``options.resume``, continue) a model; the job-contract entry point.

    ``distributed``: this process's place in a torchrun job
    (:func:`app.core.training.distributed.detect_distributed`); its process group is joined
    here and left when training ends, on errors and Ctrl-C too."""
    if distributed is None:
        return Trainer(options, log).fit(progress=progress, cancel=cancel)
    device = process_device(options.device, distributed)
    with distributed_session(distributed, device):
        trainer = Trainer(options, log, distributed, device)
        return trainer.fit(progress=progress, cancel=cancel)
