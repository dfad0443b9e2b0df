"""Tiny MUSDB18-style folders made with numpy, for the data, training and evaluation tests.

Each track gets four stems with different spectra (a vibrato "voice" with syllable gating, a
drum of noise bursts, a low bass line, sustained chords) at random levels, plus
``accompaniment`` = drums + bass + other and ``mixture`` = the sum of all four, written as
44.1 kHz stereo float WAV through :func:`app.core.audio.write`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.core.audio.io import write

RATE = 44100


def _stems(rng: np.random.Generator, seconds: float) -> dict[str, np.ndarray]:
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    f0 = rng.uniform(180, 400)
    vib = 5 * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t)
    phase = 2 * np.pi * np.cumsum(f0 + vib) / RATE
    gate = (np.sin(2 * np.pi * rng.uniform(2, 4) * t) > -0.3).astype(np.float64)
    vocals = sum(np.sin(k * phase) / k for k in range(1, 6)) * gate * 0.3
    beat = rng.uniform(0.25, 0.5)
    env = np.exp(-((t % beat) * 40.0))
    drums = rng.standard_normal(n) * env * 0.4
    bass = 0.4 * np.sin(2 * np.pi * rng.uniform(45, 90) * t)
    root = rng.uniform(200, 300)
    other = sum(0.1 * np.sin(2 * np.pi * root * r * t) for r in (1.0, 1.25, 1.5))
    stems = {}
    for name, mono in (("vocals", vocals), ("drums", drums), ("bass", bass), ("other", other)):
        pan = rng.uniform(0.3, 0.7)
        stems[name] = (np.stack([mono * pan, mono * (1 - pan)]) * 2).astype(np.float32)
    return stems


def make_dataset(root: Path, tracks: int = 3, seconds: float = 2.0, seed: int = 0,
                 accompaniment: bool = True, prefix: str = "track") -> Path:
    """Write ``tracks`` track folders under ``root``; returns ``root``."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    for i in range(tracks):
        folder = root / f"{prefix}{i:02d}"
        stems = _stems(rng, seconds)
        for name, audio in stems.items():
            write(folder / f"{name}.wav", audio, RATE, subtype="float")
        if accompaniment:
            write(folder / "accompaniment.wav", stems["drums"] + stems["bass"] + stems["other"],
                  RATE, subtype="float")
        write(folder / "mixture.wav", sum(stems.values()), RATE, subtype="float")
    return root
