"""Models side by side: :func:`compare_models` (size, latency, masks, SDR per stem) and
:func:`benchmark_quantized_model` (latency alone), the report's names, over any backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..backends import Backend, load_backend
from ..jobs import CancelToken, ProgressFn, ensure_token, no_progress
from .measure import (EvalSong, interleaved_latency, load_eval_songs, mask_snr_db, median_sdr,
                      separate_songs, test_segments)
from .result import VariantFigures


@dataclass
class ModelComparison:
    """Rows in the order given, the reference first; SDR medians over ``songs``."""
    reference: str
    sources: list[str]
    songs: list[str]
    rows: list[VariantFigures]
    threads: Optional[int]
    rounds: int
    notes: list[str] = field(default_factory=list)

    def row(self, name: str) -> VariantFigures:
        return next(r for r in self.rows if r.name == name)


@dataclass
class LatencyComparison:
    reference_ms: float
    quantized_ms: float
    input_shape: list[int]
    rounds: int

    @property
    def speedup(self) -> float:
        return self.reference_ms / self.quantized_ms


def _backend(model: Path | str | Backend, threads: Optional[int]) -> Backend:
    return model if isinstance(model, Backend) else load_backend(model, threads)


def _label(backend: Backend) -> str:
    return backend.path.name if backend.path is not None else backend.name


def compare_models(reference: Path | str | Backend, candidates: Sequence[Path | str | Backend],
                   songs: Optional[Path | str | Sequence[EvalSong]] = None, *,
                   seconds: Optional[float] = 10.0, count: int = 3,
                   threads: Optional[int] = None, rounds: int = 5,
                   progress: Optional[ProgressFn] = None,
                   cancel: Optional[CancelToken] = None) -> ModelComparison:
    """Every candidate against ``reference``: file size, median latency (one training
    segment, all models round-robin), lowest mask SNR, SDR per stem against the true stems
    and against the reference's stems. ``songs``: evaluation songs (see
    :func:`~app.core.quantization.measure.load_eval_songs`; default the demo song)."""
    progress = progress or no_progress
    cancel = ensure_token(cancel)
    ref = _backend(reference, threads)
    others = [_backend(c, threads) for c in candidates]
    audio = ref.audio
    if songs is None or isinstance(songs, (str, Path)):
        songs = load_eval_songs(songs, audio, count, seconds)
    songs = list(songs)
    sources = list(audio.sources)
    inputs = test_segments(songs, audio)
    ref_masks = [ref.run(x) for x in inputs]
    truth = [s.stems for s in songs]
    models = [ref, *others]
    stems = []
    for i, backend in enumerate(models):
        cancel.check()
        progress(i / (len(models) + 1), f"separating with {_label(backend)}")
        stems.append(separate_songs(backend, songs, cancel))
    progress(len(models) / (len(models) + 1), "latency, side by side")
    ms = interleaved_latency({str(i): (lambda b=b: b.run(inputs[0])) for i, b in enumerate(models)},
                             rounds, cancel=cancel)
    ref_sdr = median_sdr(truth, stems[0], sources)
    rows = []
    for i, backend in enumerate(models):
        q_sdr = median_sdr(truth, stems[i], sources)
        rows.append(VariantFigures(
            _label(backend), backend.path, backend.precision, backend.file_size,
            latency_ms=ms[str(i)] * 1000.0,
            mask_snr_db=float("inf") if i == 0 else mask_snr_db(ref_masks, backend, inputs),
            sdr=q_sdr, sdr_delta={s: q_sdr[s] - ref_sdr[s] for s in sources},
            sdr_vs_reference=({s: float("inf") for s in sources} if i == 0 else
                              median_sdr(stems[0], stems[i], sources)),
            fp32_layers=_fp32_layers(backend)))
    progress(1.0, "compared")
    return ModelComparison(_label(ref), sources, [s.name for s in songs], rows, threads, rounds)


def _fp32_layers(backend: Backend) -> list[str]:
    import json

    raw = getattr(backend, "metadata", {}).get("fp32_layers")
    try:
        return list(json.loads(raw)) if raw else []
    except ValueError:
        return []


def benchmark_quantized_model(reference: Path | str | Backend, quantized: Path | str | Backend,
                              input_shape: Optional[Sequence[int]] = None, *, rounds: int = 7,
                              threads: Optional[int] = None,
                              cancel: Optional[CancelToken] = None) -> LatencyComparison:
    """Median latency of both models on the same input (default: one training segment),
    run round-robin after a warm-up."""
    ref = _backend(reference, threads)
    q = _backend(quantized, threads)
    audio = ref.audio
    shape = list(input_shape or (1, 2, audio.n_bins, audio.frames_for(audio.segment_samples)))
    x = (np.random.default_rng(0).standard_normal(shape) ** 2).astype(np.float32)
    ms = interleaved_latency({"ref": lambda: ref.run(x), "q": lambda: q.run(x)}, rounds,
                             cancel=cancel)
    return LatencyComparison(ms["ref"] * 1000.0, ms["q"] * 1000.0, shape, rounds)
