"""The FP32 model's answers, kept once, and any candidate measured against them.

:class:`Evaluator` separates the evaluation songs with the FP32 model once (its SDR per stem
against the true stems, its stems, its masks on the test segments); each candidate file is
then opened in ONNX Runtime and measured: lowest mask SNR against FP32, median SDR per stem
against the true stems, and the difference to FP32. :meth:`Evaluator.verify` runs a candidate
on several batch sizes and lengths and checks that its masks are finite and close to FP32's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..audio import Spectrogram
from ..backends import Backend, OnnxRuntimeBackend
from ..jobs import CancelToken, ensure_token
from .measure import (EvalSong, interleaved_latency, mask_snr_db, median_sdr, separate_songs,
                      snr_db, test_segments)
from .result import QuantCheck, VariantFigures

VERIFY_BATCHES = ((1, 1), (1, 37), (1, None), (2, 100), (1, 1000))   # (batch, frames)


class Evaluator:
    def __init__(self, fp32_path: Path, songs: Sequence[EvalSong], threads: Optional[int],
                 cancel: Optional[CancelToken] = None, test_count: int = 4):
        self.cancel = ensure_token(cancel)
        self.threads = threads
        self.fp32 = OnnxRuntimeBackend(fp32_path, threads, name="ONNX FP32")
        self.audio = self.fp32.audio
        self.sources = list(self.audio.sources)
        self.songs = list(songs)
        self.inputs = test_segments(self.songs, self.audio, test_count)
        self.ref_masks = [self.fp32.run(x) for x in self.inputs]
        self.ref_stems = separate_songs(self.fp32, self.songs, self.cancel)
        self.true_stems = [s.stems for s in self.songs]
        self.fp32_sdr = median_sdr(self.true_stems, self.ref_stems, self.sources)

    def fp32_figures(self, temporary: bool = False) -> VariantFigures:
        """The FP32 model's figures (no path when its file is a temporary export)."""
        return VariantFigures("ONNX FP32", None if temporary else self.fp32.path, "fp32",
                              self.fp32.file_size,
                              mask_snr_db=float("inf"), sdr=dict(self.fp32_sdr),
                              sdr_delta={s: 0.0 for s in self.sources},
                              sdr_vs_reference={s: float("inf") for s in self.sources})

    def open(self, path: Path) -> Backend:
        return OnnxRuntimeBackend(path, self.threads)

    def measure(self, path: Path, name: str, precision: str,
                fp32_layers: Sequence[str] = ()) -> VariantFigures:
        backend = self.open(path)
        try:
            snr = mask_snr_db(self.ref_masks, backend, self.inputs)
            stems = separate_songs(backend, self.songs, self.cancel)
        finally:
            backend.close()
        q_sdr = median_sdr(self.true_stems, stems, self.sources)
        return VariantFigures(
            name, path, precision, path.stat().st_size, mask_snr_db=snr, sdr=q_sdr,
            sdr_delta={s: q_sdr[s] - self.fp32_sdr[s] for s in self.sources},
            sdr_vs_reference=median_sdr(self.ref_stems, stems, self.sources),
            fp32_layers=list(fp32_layers))

    def verification_input(self, batch: int, frames: int) -> np.ndarray:
        """Real magnitudes ``(batch, 2, F, frames)`` from the evaluation songs (tiled when a
        song is shorter)."""
        spec = Spectrogram(self.audio)
        mix = self.songs[0].mixture
        hop = self.audio.hop_length
        need = (frames - 1) * hop
        reps = -(-max(need, 1) // max(mix.shape[1], 1))
        audio = np.tile(mix, (1, reps))[:, :need] if need else np.zeros((2, 0), np.float32)
        mag = np.abs(spec.stft(audio))[..., :frames].astype(np.float32)     # (2, F, frames)
        return np.stack([np.roll(mag, 7 * b, axis=-1) for b in range(batch)])

    def verify_shapes(self, backend: Backend) -> list[tuple[int, int]]:
        """``VERIFY_BATCHES`` (the model's segment for None), or the one shape a fixed-shape
        export takes."""
        fixed = {**self.fp32.fixed_dims, **backend.fixed_dims}
        shapes = []
        for batch, frames in VERIFY_BATCHES:
            shape = (fixed.get(0, batch), fixed.get(3, frames or self.audio.segment_frames))
            if shape not in shapes:
                shapes.append(shape)
        return shapes

    def verify(self, path: Path, min_snr_db: float) -> list[QuantCheck]:
        backend = self.open(path)
        checks = []
        try:
            for batch, frames in self.verify_shapes(backend):
                self.cancel.check()
                x = self.verification_input(batch, frames)
                out = backend.run(x)
                ref = self.fp32.run(x)
                finite = bool(np.isfinite(out).all())
                snr = snr_db(ref, out) if finite and out.shape == ref.shape else float("-inf")
                checks.append(QuantCheck(list(x.shape), snr, finite,
                                         finite and out.shape == ref.shape and snr >= min_snr_db))
        finally:
            backend.close()
        return checks

    def latencies(self, paths: dict[str, Path], rounds: int) -> dict[str, float]:
        """Median milliseconds for one training segment, batch 1, FP32 and ``paths`` run
        round-robin."""
        x = self.inputs[0]
        backends = {key: self.open(p) for key, p in paths.items()}
        runners = {"fp32": lambda: self.fp32.run(x)}
        runners.update({k: (lambda b=b: b.run(x)) for k, b in backends.items()})
        try:
            seconds = interleaved_latency(runners, rounds, cancel=self.cancel)
        finally:
            for b in backends.values():
                b.close()
        return {k: v * 1000.0 for k, v in seconds.items()}
