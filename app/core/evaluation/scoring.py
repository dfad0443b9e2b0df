"""SDR of separated stems against the true stems shipped beside a mixture.

A song kept in the MUSDB18 layout (``{track}/mixture.flac`` next to ``vocals.flac``,
``accompaniment.flac``, ...) carries its own answer: after separating ``mixture.*``, each stem
can be scored against the file of the same name. The demo song ships this way, so the app
can show how well the model did. Files are read block by block: memory does not grow with the
song's length.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from ..audio.io import AudioReader
from ..jobs import CancelToken, ProgressFn, ensure_token, no_progress
from .metrics import sdr_from_energies

REFERENCE_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff")
BLOCK = 1 << 17


def find_reference_stems(mixture: Path | str, sources: Iterable[str]) -> Optional[dict[str, Path]]:
    """``{source: file}`` when ``mixture`` is a ``mixture.*`` file whose folder holds a file
    for every source; None otherwise."""
    mixture = Path(mixture)
    if mixture.stem.lower() != "mixture":
        return None
    found = {}
    for source in sources:
        candidates = [mixture.with_name(source + ext) for ext in REFERENCE_EXTENSIONS]
        match = next((c for c in candidates if c.is_file()), None)
        if match is None:
            return None
        found[source] = match
    return found


def stem_file_sdr(reference: Path, estimate: Path, sample_rate: int,
                  cancel: Optional[CancelToken] = None) -> float:
    """Utterance SDR (MDX) of ``estimate`` against ``reference``, both read at
    ``sample_rate``; the longer file is cropped to the shorter."""
    cancel = ensure_token(cancel)
    signal = error = 0.0
    with AudioReader(reference, sample_rate) as ref, AudioReader(estimate, sample_rate) as est:
        carry_r = np.zeros((2, 0), np.float32)
        carry_e = np.zeros((2, 0), np.float32)
        while True:
            cancel.check()
            r = np.concatenate([carry_r, ref.read(BLOCK)], axis=1)
            e = np.concatenate([carry_e, est.read(BLOCK)], axis=1)
            n = min(r.shape[1], e.shape[1])
            rr, ee = r[:, :n].astype(np.float64), e[:, :n].astype(np.float64)
            signal += float(np.sum(rr * rr))
            error += float(np.sum((rr - ee) ** 2))
            carry_r, carry_e = r[:, n:], e[:, n:]
            if ref.finished or est.finished:
                break
    return float(sdr_from_energies(signal, error))


def score_stems(estimates: dict[str, Path], references: dict[str, Path], sample_rate: int, *,
                progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelToken] = None) -> dict[str, float]:
    """SDR in dB per source present in both mappings."""
    progress = progress or no_progress
    names = [n for n in estimates if n in references]
    scores = {}
    for i, name in enumerate(names):
        progress(i / max(len(names), 1), f"scoring {name}")
        scores[name] = stem_file_sdr(references[name], estimates[name], sample_rate, cancel)
    progress(1.0, "scored")
    return scores
