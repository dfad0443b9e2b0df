"""What a quantized model costs, measured: mask SNR against the FP32 model, SDR per stem on
songs with true stems, latency side by side.

Evaluation songs (:func:`load_eval_songs`): the bundled demo song by default (its folder holds
the mixture and the true stems), a ``mixture.*`` file with its stems beside it, one such track
folder, or a MUSDB-style folder of tracks (``tfswa-studio songs --split heldout`` writes one).
Excerpts of ``seconds`` from the start of each song keep the measurement short.

Latency (:func:`interleaved_latency`) runs the variants round-robin on the same input after a
warm-up and takes medians, so machine noise hits all of them alike.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

import numpy as np

from ..audio import Spectrogram, TrackSet, load
from ..backends import Backend
from ..config import AudioConfig
from ..evaluation import find_reference_stems, sdr
from ..jobs import CancelToken, UserError, ensure_token
from ..resources import demo_song
from ..separation import separate_array


@dataclass
class EvalSong:
    """One song to score on: mixture ``(2, N)`` and true stems ``(S, 2, N)`` (model order)."""
    name: str
    mixture: np.ndarray
    stems: np.ndarray


def _crop(x: np.ndarray, frames: Optional[int]) -> np.ndarray:
    return np.ascontiguousarray(x[..., :frames]) if frames else x


def _song_from_mixture(mixture: Path, audio: AudioConfig, frames: Optional[int]) -> EvalSong:
    refs = find_reference_stems(mixture, audio.sources)
    if refs is None:
        raise UserError(f"has no true stems beside it ({', '.join(audio.sources)}), so the SDR "
                        "cannot be measured", mixture,
                        "Use a folder with mixture and stem files (the demo song, or songs "
                        "made by 'tfswa-studio songs').")
    mix = _crop(load(mixture, audio.sample_rate)[0], frames)
    stems = [_crop(load(refs[s], audio.sample_rate)[0], frames) for s in audio.sources]
    n = min([mix.shape[1]] + [s.shape[1] for s in stems])
    return EvalSong(mixture.parent.name, mix[:, :n], np.stack([s[:, :n] for s in stems]))


def _mixture_in(folder: Path) -> Optional[Path]:
    return next((p for p in sorted(folder.glob("mixture.*")) if p.is_file()), None)


def load_eval_songs(source: Optional[Path | str], audio: AudioConfig, count: int = 3,
                    seconds: Optional[float] = 10.0) -> list[EvalSong]:
    """Songs with true stems, each cropped to ``seconds`` (None: whole)."""
    frames = int(round(seconds * audio.sample_rate)) if seconds else None
    if source is None:
        song = demo_song()
        if song is None:
            raise UserError("no evaluation songs given and this install has no demo song",
                            hint="Pass --eval-data with a folder of songs with true stems.")
        return [_song_from_mixture(song, audio, frames)]
    path = Path(source).expanduser()
    if not path.exists():
        raise UserError("does not exist", path)
    if path.is_file():
        return [_song_from_mixture(path, audio, frames)]
    if (mixture := _mixture_in(path)) is not None:
        return [_song_from_mixture(mixture, audio, frames)]
    tracks = TrackSet.from_folder(path, audio.sources, audio.sample_rate, limit=count)
    songs = []
    for i, track in enumerate(tracks.tracks):
        n = min(frames or track.frames, track.frames)
        parts = tracks.read_sources(i, 0, n)[:len(audio.sources)]
        songs.append(EvalSong(track.name, tracks.read_mixture(i, 0, n), parts))
    return songs


def test_segments(songs: Sequence[EvalSong], audio: AudioConfig, count: int = 4) -> list[np.ndarray]:
    """``count`` magnitude segments ``(1, 2, F, T)`` of one training segment each, spread
    over the evaluation songs: the inputs the mask SNR is measured on."""
    spec = Spectrogram(audio)
    length = audio.segment_samples
    out = []
    for i in range(count):
        song = songs[i % len(songs)]
        total = song.mixture.shape[1]
        starts = np.linspace(0, max(total - length, 0), -(-count // len(songs)) + 1).astype(int)
        start = int(starts[(i // len(songs)) % len(starts)])
        chunk = np.zeros((2, length), np.float32)
        piece = song.mixture[:, start:start + length]
        chunk[:, :piece.shape[1]] = piece
        out.append(np.abs(spec.stft(chunk))[None].astype(np.float32))
    return out


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """10 log10 of reference energy over error energy (inf when identical)."""
    ref = np.asarray(reference, np.float64)
    err = np.asarray(estimate, np.float64) - ref
    noise = float(np.sum(err * err))
    if not np.isfinite(noise):
        return float("-inf")
    if noise == 0.0:
        return float("inf")
    return float(10.0 * np.log10(max(float(np.sum(ref * ref)), 1e-30) / noise))


def mask_snr_db(reference_masks: Sequence[np.ndarray], backend: Backend,
                inputs: Sequence[np.ndarray]) -> float:
    """The lowest mask SNR of ``backend`` against the reference's masks over ``inputs``."""
    return min(snr_db(ref, backend.run(x)) for ref, x in zip(reference_masks, inputs))


def separate_songs(backend: Backend, songs: Sequence[EvalSong],
                   cancel: Optional[CancelToken] = None) -> list[np.ndarray]:
    cancel = ensure_token(cancel)
    return [separate_array(song.mixture, backend, cancel=cancel) for song in songs]


def median_sdr(references: Sequence[np.ndarray], estimates: Sequence[np.ndarray],
               sources: Sequence[str]) -> dict[str, float]:
    """Median over songs of the utterance SDR per stem."""
    values = np.array([sdr(ref, est) for ref, est in zip(references, estimates)])  # (songs, S)
    return {s: float(np.median(values[:, i])) for i, s in enumerate(sources)}


def interleaved_latency(runners: Mapping[str, Callable[[], object]], rounds: int = 5,
                        warmup: int = 1, cancel: Optional[CancelToken] = None
                        ) -> dict[str, float]:
    """Median seconds per call of each runner, run round-robin after ``warmup`` calls each."""
    cancel = ensure_token(cancel)
    for run in runners.values():
        for _ in range(warmup):
            run()
    times: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(max(1, rounds)):
        cancel.check()
        for key, run in runners.items():
            start = time.perf_counter()
            run()
            times[key].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}
