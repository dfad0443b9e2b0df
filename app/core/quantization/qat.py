"""Quantization-aware training: fine-tune a checkpoint with ONNX Runtime's INT8 rounding in
the loop, then write the QDQ INT8 file ONNX Runtime runs with integer kernels.

:func:`quantize_qat` runs the job: the bundle's network is prepared
(:func:`~app.core.quantization.fake_quant.prepare_qat`: batch norms folded, fake
quantization where ORT's static QDQ quantizes), its ranges calibrated on a few training
batches, then trained for ``steps`` optimizer steps with the trainer's own forward pass and
loss (waveform L1 through the STFT, :func:`~app.core.training.optimizer_step`) on songs with
true stems: a folder of tracks, or songs made on the spot by the fallback renderer of
:mod:`app.core.songs`. The trained weights are exported to FP32 ONNX, and ONNX Runtime's
``quantize_static`` turns that into QDQ INT8 with the trained ranges
(:mod:`app.core.quantization.qat_onnx`). The file is written under a temporary name and
renamed only when complete; Cancel between steps leaves nothing behind.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from ..artifacts import artifact_metadata
from ..audio import Spectrogram, TrackSet
from ..checkpoint import ModelBundle, load_bundle
from ..files import atomic_path, check_writable
from ..jobs import CancelToken, ProgressFn, UserError, ensure_token, no_progress, scaled_progress
from ..training import NO_AUGMENTATION, Augmentation, TrainingSegments, optimizer_step
from .fake_quant import prepare_qat, set_fake_quant
from .qat_onnx import OP_TYPES, quantize_qdq, set_metadata
from .options import QUANTIZE_OPSET

DEFAULT_STEPS = 200
DEFAULT_LR = 3e-5
DEFAULT_SEGMENT_SECONDS = 2.0
DEFAULT_BATCH = 4
DEFAULT_DISTILL = 1.0       # targets: the FP32 model's estimates (1) .. the true stems (0)
CALIBRATION_BATCHES = 4
DEFAULT_SONGS = 8           # songs generated when no data is given
SONG_SECONDS = 20.0
SONG_SEED = 910000          # seeds no training or held-out preset uses
EVAL_SEGMENTS = 4


@dataclass
class QatResult:
    path: Path
    mode: str
    size_bytes: int
    steps: int
    seconds: float                    # the whole job
    train_seconds: float              # calibration and the training steps
    initial_loss: float               # mean loss of the first steps (waveform L1)
    final_loss: float                 # mean loss of the last steps
    losses: list[float]               # every step's loss, for the chart
    mask_snr_db: float                # INT8 file's masks against the source FP32 model
    data: str                         # what it trained on
    ranges_from_training: int         # activation ranges ORT took from the training
    calibrated_tensors: list[str]     # activation tensors ORT calibrated itself (none expected)
    metadata: dict[str, str]
    warnings: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- data

def generate_training_songs(folder: Path, count: int = DEFAULT_SONGS,
                            seconds: float = SONG_SECONDS, *, progress: Optional[ProgressFn] = None,
                            cancel: Optional[CancelToken] = None) -> Path:
    """``count`` songs rendered by the fallback (numpy) synthesizer into ``folder``; songs
    already there are reused."""
    from ..songs import generate_songs, track_name

    folder = Path(folder)
    missing = [SONG_SEED + i for i in range(count)
               if not (folder / track_name(SONG_SEED + i) / "mixture.wav").exists()]
    for i, seed in enumerate(missing):
        ensure_token(cancel).check()
        generate_songs(folder, 1, seed=seed, duration=seconds, split="train", fallback=True,
                       jobs=1, overwrite=True, cancel=cancel)
        (progress or no_progress)((i + 1) / len(missing), f"song {i + 1} of {len(missing)}")
    return folder


def training_tracks(data: Path, bundle: ModelBundle) -> TrackSet:
    return TrackSet.from_folder(data, bundle.sources, bundle.audio.sample_rate)


def magnitudes(tracks: TrackSet, bundle: ModelBundle, count: int, samples: int
               ) -> list[np.ndarray]:
    """``count`` mixture magnitudes ``(1, C, F, T)`` of ``samples`` samples, spread over the
    tracks' middles (no augmentation): calibration and evaluation inputs."""
    spec = Spectrogram(bundle.audio)
    per_track = -(-count // len(tracks))
    out = []
    for i in range(count):
        t, k = i % len(tracks), i // len(tracks)
        start = max(0, (tracks.tracks[t].frames - samples) * (k + 1) // (per_track + 1))
        mix = tracks.read_sources(t, start, samples).sum(axis=0)
        out.append(np.abs(spec.stft(mix))[None].astype(np.float32))
    return out


# ----------------------------------------------------------------------------- training

def calibrate(model: torch.nn.Module, segments: TrainingSegments, batch: int, batches: int,
              bundle: ModelBundle, cancel: Optional[CancelToken] = None) -> None:
    """MinMax ranges from ``batches`` training batches (no gradient), then "ema"."""
    from ..audio.spectral import stft_torch

    cancel = ensure_token(cancel)
    set_fake_quant(model, observer="minmax")
    with torch.no_grad():
        for b in range(batches):
            cancel.check()
            mixture, _ = segments.batch(b, batch)
            spec = stft_torch(torch.from_numpy(mixture), bundle.audio.n_fft,
                              bundle.audio.hop_length)
            model(spec.abs())
    set_fake_quant(model, observer="ema")


def train_qat(model: torch.nn.Module, segments: TrainingSegments, bundle: ModelBundle, *,
              steps: int, lr: float, batch: int, distill: float, progress: ProgressFn,
              cancel: CancelToken) -> list[float]:
    """``steps`` Adam steps of the trainer's loss on the fake-quantized model; the losses.

    The target is ``distill`` x the FP32 model's own estimate + (1 - ``distill``) x the true
    stems: distillation teaches the INT8 network to do what the FP32 one does (so songs
    unlike the model's training data do not pull it elsewhere), the true stems what it
    should do."""
    from ..model.waveform import separate_waveforms

    teacher = bundle.build() if distill > 0 else None
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    losses = []
    for step in range(steps):
        cancel.check()
        mixture, sources = (torch.from_numpy(a) for a in
                            segments.batch(CALIBRATION_BATCHES + step, batch))
        if teacher is not None:
            with torch.no_grad():
                estimate = separate_waveforms(teacher, mixture, bundle.audio)
            sources = distill * estimate + (1.0 - distill) * sources
        loss = optimizer_step(model, optimizer, mixture, sources, bundle.audio, lr=lr)
        if not np.isfinite(loss):
            raise UserError(f"the training loss became {loss} at step {step + 1}",
                            hint="Use a smaller learning rate (--lr).")
        losses.append(loss)
        progress((step + 1) / max(steps, 1), f"step {step + 1}/{steps} loss {loss:.5f}")
    return losses


# ----------------------------------------------------------------------------- the job

def _bundle(bundle_or_path: ModelBundle | Path | str) -> ModelBundle:
    if isinstance(bundle_or_path, ModelBundle):
        return bundle_or_path
    return load_bundle(bundle_or_path)


def _check_options(steps: int, lr: float, segment_seconds: float, batch: int,
                   distill: float) -> None:
    if not 0.0 <= distill <= 1.0:
        raise UserError(f"the distillation weight must be between 0 and 1, not {distill}")
    if steps < 0:
        raise UserError(f"--steps must be 0 or more, not {steps}")
    if not 0.0 < lr < 1.0:
        raise UserError(f"--lr must be between 0 and 1, not {lr}")
    if not 0.25 <= segment_seconds <= 30.0:
        raise UserError(f"the segment must be 0.25 to 30 seconds long, not {segment_seconds}")
    if not 1 <= batch <= 64:
        raise UserError(f"the batch must hold 1 to 64 segments, not {batch}")


def quantize_qat(bundle_or_path: ModelBundle | Path | str, out: Path | str, *,
                 data: Optional[Path | str] = None, steps: int = DEFAULT_STEPS,
                 lr: float = DEFAULT_LR, segment_seconds: float = DEFAULT_SEGMENT_SECONDS,
                 batch: int = DEFAULT_BATCH, seed: int = 0, distill: float = DEFAULT_DISTILL,
                 songs: int = DEFAULT_SONGS,
                 cache_dir: Optional[Path | str] = None,
                 augmentation: Augmentation = NO_AUGMENTATION,
                 op_types: Sequence[str] = OP_TYPES, fp32_out: Optional[Path | str] = None,
                 overwrite: bool = False,
                 threads: Optional[int] = None, progress: Optional[ProgressFn] = None,
                 cancel: Optional[CancelToken] = None) -> QatResult:
    """Fine-tune ``bundle_or_path`` (a bundle or a checkpoint file) with fake quantization
    for ``steps`` steps on ``data`` (a folder of track folders with true stems; default:
    ``songs`` songs made by the fallback synthesizer, in ``cache_dir`` when given so a next
    run reuses them; ``distill`` weighs the FP32 model's estimates against the true stems as
    targets), then write the QDQ INT8 ONNX file ``out`` (and, when ``fp32_out`` is
    given, the fine-tuned weights in FP32 ONNX there too: what the training alone did)."""
    start = time.perf_counter()
    progress, cancel = progress or no_progress, ensure_token(cancel)
    _check_options(steps, lr, segment_seconds, batch, distill)
    out = Path(out)
    for target in (out, fp32_out):
        if target is not None:
            check_writable(Path(target), overwrite)
    bundle = _bundle(bundle_or_path)
    with tempfile.TemporaryDirectory(prefix="tfswa-qat-") as tmp:
        data_path, data_text = _data(data, cache_dir, songs, Path(tmp), progress, cancel)
        tracks = training_tracks(data_path, bundle)
        train_start = time.perf_counter()
        model, losses = _fine_tune(bundle, tracks, steps=steps, lr=lr, batch=batch, seed=seed,
                                   distill=distill, segment_seconds=segment_seconds,
                                   augmentation=augmentation, progress=progress, cancel=cancel)
        train_seconds = time.perf_counter() - train_start
        cancel.check()
        evals = magnitudes(tracks, bundle, EVAL_SEGMENTS, bundle.audio.segment_samples)
        meta = artifact_metadata(
            bundle.audio, bundle.model_config, "int8", mode="qat", quant_format="QDQ",
            weights="int8 per-channel symmetric", activations="uint8 per-tensor",
            qat_steps=str(steps), qat_lr=str(lr), qat_distill=str(distill), qat_data=data_text,
            op_types=",".join(op_types),
            source_checkpoint=bundle.path.name if bundle.path else None)
        progress(0.8, "export: FP32 ONNX of the trained weights")
        with atomic_path(out, overwrite) as partial:
            paired, unpaired = _export(model, bundle, Path(tmp), partial, evals, op_types,
                                       meta, threads, cancel)
            snr = _mask_snr(partial, bundle, evals, threads)
            if fp32_out is not None:
                _keep_fp32(Path(tmp) / "qat-fp32.onnx", Path(fp32_out), meta, overwrite)
    progress(1.0, f"saved {out.name}")
    k = max(1, min(10, len(losses) // 4))
    return QatResult(
        path=out, mode="qat", size_bytes=out.stat().st_size, steps=steps,
        seconds=time.perf_counter() - start, train_seconds=train_seconds,
        initial_loss=float(np.mean(losses[:k])) if losses else float("nan"),
        final_loss=float(np.mean(losses[-k:])) if losses else float("nan"),
        losses=losses, mask_snr_db=snr, data=data_text, ranges_from_training=paired,
        calibrated_tensors=unpaired, metadata=meta,
        warnings=[f"{len(unpaired)} activation tensors had no trained range and were "
                  "calibrated by ONNX Runtime"] if unpaired else [])


def _fine_tune(bundle: ModelBundle, tracks: TrackSet, *, steps: int, lr: float, batch: int,
               seed: int, distill: float, segment_seconds: float, augmentation: Augmentation,
               progress: ProgressFn, cancel: CancelToken) -> tuple[torch.nn.Module, list[float]]:
    """The prepared model, calibrated then trained; its step losses."""
    torch.manual_seed(seed)
    model = prepare_qat(bundle.build())
    frames = int(round(segment_seconds * bundle.audio.sample_rate))
    segments = TrainingSegments(tracks, frames, seed, augmentation)
    progress(0.1, f"calibrating on {CALIBRATION_BATCHES} batches")
    calibrate(model, segments, batch, CALIBRATION_BATCHES, bundle, cancel)
    losses = train_qat(model, segments, bundle, steps=steps, lr=lr, batch=batch, distill=distill,
                       progress=scaled_progress(progress, 0.1, 0.8), cancel=cancel)
    return model, losses


def _data(data, cache_dir, songs: int, tmp: Path, progress: ProgressFn,
          cancel: CancelToken) -> tuple[Path, str]:
    if data is not None:
        return Path(data), str(data)
    folder = Path(cache_dir) if cache_dir is not None else tmp / "songs"
    progress(0.0, f"making {songs} training songs (fallback synthesizer)")
    generate_training_songs(folder, songs, progress=scaled_progress(progress, 0.0, 0.1),
                            cancel=cancel)
    return folder, f"{songs} generated songs (fallback synthesizer, seeds {SONG_SEED}+)"


def _export(model, bundle: ModelBundle, tmp: Path, partial: Path, evals, op_types, meta,
            threads, cancel: CancelToken) -> tuple[int, list[str]]:
    from ..export import export_to_onnx
    from .fake_quant import strip_qat

    fp32 = tmp / "qat-fp32.onnx"
    export_to_onnx(strip_qat(model), torch.from_numpy(evals[0]), fp32, audio=bundle.audio,
                   opset_version=QUANTIZE_OPSET, verify=False, overwrite=True, threads=threads, cancel=cancel)
    cancel.check()
    paired, unpaired, _ = quantize_qdq(model, fp32, partial, evals, op_types)
    set_metadata(partial, meta)
    return paired, unpaired


def _keep_fp32(fp32: Path, target: Path, meta: dict[str, str], overwrite: bool) -> None:
    import shutil

    with atomic_path(target, overwrite) as partial:
        shutil.copyfile(fp32, partial)
        set_metadata(partial, {**meta, "precision": "fp32", "mode": "qat-fp32"})


def _mask_snr(path: Path, bundle: ModelBundle, evals: list[np.ndarray],
              threads: Optional[int]) -> float:
    """SNR (dB) of the file's masks against the source model's FP32 masks."""
    from ..backends import OnnxRuntimeBackend

    reference = bundle.build()
    backend = OnnxRuntimeBackend(path, threads)
    num = den = 0.0
    try:
        for mag in evals:
            with torch.no_grad():
                ref = reference(torch.from_numpy(mag)).numpy().astype(np.float64)
            est = backend.run(mag).astype(np.float64)
            num += float(np.sum(ref ** 2))
            den += float(np.sum((ref - est) ** 2))
    finally:
        backend.close()
    return float(10.0 * np.log10(num / max(den, 1e-30)))

