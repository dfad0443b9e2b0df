"""SDR of a model on a MUSDB18-style folder, next to the floor and the ceiling.

For every track the model separates the mixture (any backend: checkpoint, TorchScript, ONNX),
and two references are scored on the same track with the same metric:

- ``mixture``: the mixture itself as every source's estimate, the floor any useful model beats;
- ``oracle``: the ideal ratio mask computed from the true stems,
  ``M_s = |S_s|^p / sum_j |S_j|^p`` over every component of the mix, applied to the mixture's
  STFT with the model's own STFT settings and inverted with the mixture phase. It is the
  ceiling a model of this kind (one real mask per source on the mixture STFT, mixture phase)
  can be expected to approach, and the yardstick of the issue's target ("model SDR as a
  percentage of the oracle's, in dB").

The default power is p = 2 (the Wiener-like IRM2): it scored higher than p = 1 (IRM1) on the
generated songs (median over 6 held-out songs, utterance SDR: IRM2 10.9 / 15.5 dB, IRM1
9.9 / 14.4 dB for vocals / accompaniment), so it is the stricter ceiling. Either way the
masks of all components sum to one and the oracle's stems add up to the mixture.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..audio.spectral import istft, stft
from ..audio.tracks import TrackSet, resolve_subset
from ..backends.registry import Backend, load_backend
from ..config import AudioConfig
from ..jobs import CancelToken, ProgressFn, ensure_token, no_progress, scaled_progress
from ..separation.separate import SeparationOptions, separate_array
from .metrics import median, require_museval, stem_sdr

REFERENCES = ("model", "mixture", "oracle")


def oracle_ratio_mask(mixture: np.ndarray, components: np.ndarray, audio: AudioConfig,
                      power: float = 2.0, chunk_seconds: float = 30.0) -> np.ndarray:
    """The ideal ratio mask's estimates ``(S, C, L)`` of a ``(C, L)``
    mixture from its true ``(S, C, L)`` parts.

    Computed in chunks of ``chunk_seconds`` with margins of at least ``n_fft`` samples, so
    memory stays bounded for long tracks; the result equals the whole-signal computation
    (frames are aligned to the same hop grid and every kept sample sees all its frames).
    """
    n_fft, hop = audio.n_fft, audio.hop_length
    total = mixture.shape[-1]
    margin = -(-n_fft // hop) * hop
    chunk = max(hop, int(chunk_seconds * audio.sample_rate) // hop * hop)
    out = np.zeros(components.shape, np.float32)
    for a in range(0, total, chunk):
        b = min(a + chunk, total)
        lo, hi = max(0, a - margin), min(total, b + margin)
        spec = stft(mixture[:, lo:hi], n_fft, hop)                      # (C, F, T)
        mags = np.abs(stft(components[:, :, lo:hi], n_fft, hop)) ** power  # (S, C, F, T)
        masks = mags / np.maximum(mags.sum(axis=0, keepdims=True), 1e-12)
        est = istft(masks * spec[None], n_fft, hop, hi - lo)
        out[:, :, a:b] = est[:, :, a - lo:b - lo]
    return out


@dataclass
class TrackScores:
    track: str
    seconds: float
    sdr: dict[str, dict[str, float]]        # reference ("model", ...) -> source -> dB


@dataclass
class EvaluationResult:
    model: str
    backend: str
    data: Path
    sources: list[str]
    metric: str
    tracks: list[TrackScores]
    median: dict[str, dict[str, float]]      # reference -> source -> median dB over tracks
    percent_of_oracle: dict[str, float]      # source -> 100 * model / oracle (medians, dB)
    audio_seconds: float
    elapsed_s: float
    segment_s: float
    overlap: float
    oracle: str
    notes: list[str] = field(default_factory=list)


def evaluate(model: Path | str | Backend, data: Path | str, *, tracks: Optional[int] = None,
             segment: Optional[float] = None, overlap: float = 0.25, metric: str = "mdx",
             subset: Optional[str] = None, threads: Optional[int] = None,
             oracle_power: float = 2.0, trust_torchscript: bool = False,
             device: Optional[str] = "cpu", progress: Optional[ProgressFn] = None,
             cancel: Optional[CancelToken] = None) -> EvaluationResult:
    """Score ``model`` on the tracks of ``data`` (MUSDB18 layout; ``test/`` when the folder
    has MUSDB18-HQ's train/test split, unless ``subset`` says otherwise). A TorchScript model
    runs only with ``trust_torchscript`` or when this app exported it (see load_backend).
    A model given as a file runs on ``device`` (see :mod:`app.core.devices`)."""
    progress = progress or no_progress
    cancel = ensure_token(cancel)
    start = time.perf_counter()
    backend = model if isinstance(model, Backend) else load_backend(
        model, threads=threads, trust_torchscript=trust_torchscript, device=device)
    audio = backend.audio
    sources = list(audio.sources)
    options = SeparationOptions(segment=segment, overlap=overlap)
    options.validate()
    root = Path(data)
    if subset is None and root.is_dir() and (root / "test").is_dir():
        subset = "test"
    folder = resolve_subset(root, subset)
    trackset = TrackSet.from_folder(folder, sources, audio.sample_rate, limit=tracks)
    if metric == "museval":  # fail before any work when museval is missing
        require_museval()
    scores: list[TrackScores] = []
    total = len(trackset)
    for i, track in enumerate(trackset.tracks):
        cancel.check()
        report = scaled_progress(progress, i / total, (i + 1) / total)
        report(0.0, f"{track.name}: reading")
        parts = trackset.read_sources(i)                           # (S, C, L)
        mixture = trackset.read_mixture(i)
        refs = parts[:len(sources)]
        separating = scaled_progress(report, 0.0, 0.8)
        estimates = {
            "model": separate_array(mixture, backend, options, cancel=cancel,
                                    progress=lambda f, m, n=track.name: separating(f, f"{n}: {m}")),
            "mixture": np.broadcast_to(mixture, refs.shape),
        }
        report(0.8, f"{track.name}: oracle")
        estimates["oracle"] = oracle_ratio_mask(mixture, parts, audio, oracle_power)[:len(sources)]
        values = {ref: dict(zip(sources, map(float, stem_sdr(refs, est, metric, audio.sample_rate))))
                  for ref, est in estimates.items()}
        scores.append(TrackScores(track.name, track.seconds, values))
        report(1.0, f"{track.name}: " + ", ".join(f"{s} {values['model'][s]:.2f} dB" for s in sources))
    medians = {ref: {s: median(t.sdr[ref][s] for t in scores) for s in sources}
               for ref in REFERENCES}
    percent = {s: (100.0 * medians["model"][s] / medians["oracle"][s]
                   if medians["oracle"][s] > 0 else float("nan")) for s in sources}
    notes = []
    if any(medians["oracle"][s] <= 0 for s in sources):
        notes.append("the oracle's median SDR is not positive for some source, so the "
                     "percentage of the oracle is undefined there")
    return EvaluationResult(
        model=str(getattr(backend, "path", None) or backend.name), backend=backend.name,
        data=folder, sources=sources,
        metric="utterance SDR (MDX)" if metric == "mdx" else "BSSEval v4 SDR (museval)",
        tracks=scores, median=medians, percent_of_oracle=percent,
        audio_seconds=float(sum(t.seconds for t in scores)),
        elapsed_s=time.perf_counter() - start,
        segment_s=options.segment_samples(audio) / audio.sample_rate, overlap=overlap,
        oracle=f"ratio mask |S|^{oracle_power:g} / sum |S_j|^{oracle_power:g}, n_fft "
               f"{audio.n_fft}, hop {audio.hop_length}, mixture phase",
        notes=notes)

