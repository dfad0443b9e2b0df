"""How a singer shapes a note: the pitch contour (glide from the previous note, vibrato that
sets in after the attack, slow drift) and the loudness envelope. Shared by both singers so
that the real and the fallback vocals follow the melody the same way."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Expression:
    vibrato_rate: float = 5.5      # Hz
    vibrato_cents: float = 35.0    # peak deviation
    vibrato_delay: float = 0.18    # seconds before vibrato starts to fade in
    glide: float = 0.05            # seconds of portamento from the previous note
    drift_cents: float = 6.0

    @staticmethod
    def random(rng: np.random.Generator) -> "Expression":
        return Expression(vibrato_rate=float(rng.uniform(4.8, 6.3)),
                          vibrato_cents=float(rng.uniform(20, 55)),
                          vibrato_delay=float(rng.uniform(0.12, 0.3)),
                          glide=float(rng.uniform(0.03, 0.08)),
                          drift_cents=float(rng.uniform(3, 10)))


def midi_to_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69) / 12.0)


def f0_contour(pitch: int, n: int, sr: int, expr: Expression, previous: int | None,
               phase: float = 0.0) -> np.ndarray:
    """``(n,)`` fundamental frequency in Hz for a note of ``n`` samples."""
    t = np.arange(n) / sr
    cents = np.zeros(n)
    if previous is not None and previous != pitch:
        k = t < expr.glide
        cents[k] = (previous - pitch) * 100.0 * (1 - t[k] / expr.glide) ** 2
    fade = np.clip((t - expr.vibrato_delay) / 0.25, 0.0, 1.0)
    cents += expr.vibrato_cents * fade * np.sin(2 * np.pi * expr.vibrato_rate * t + phase)
    cents += expr.drift_cents * np.sin(2 * np.pi * 0.7 * t + 2 * phase)
    return midi_to_hz(pitch) * 2.0 ** (cents / 1200.0)


def envelope(n: int, sr: int, attack: float = 0.015, release: float = 0.06) -> np.ndarray:
    """Raised-cosine attack and release over ``n`` samples (both shrink on short notes)."""
    a = max(1, min(int(attack * sr), n // 3))
    r = max(1, min(int(release * sr), n // 2))
    env = np.ones(n)
    env[:a] = 0.5 - 0.5 * np.cos(np.pi * np.arange(a) / a)
    env[n - r:] = 0.5 + 0.5 * np.cos(np.pi * np.arange(r) / r)
    return env
