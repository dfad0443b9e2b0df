"""The numpy fallback singer: a source-filter voice without espeak-ng.

The glottal source is a harmonic series at the note's pitch contour (the same glide and
vibrato as the real singer, ``expression``); each harmonic's amplitude is read off a vowel's
formant envelope (resonances F1..F4 over a -12 dB/octave glottal tilt), so the spectrum has
the formant peaks of the vowel while the harmonics follow the melody. A word's first letter
gives an onset: a noise burst for fricatives and plosives, a darker, quieter start for nasals
and liquids. Good enough to be a voice-like stem in tests; the real data uses espeak-ng.
"""

from __future__ import annotations

import numpy as np
import soxr

from .arrangement import Arrangement
from .expression import Expression, envelope, f0_contour
from .synth import harmonic_sum

RATE = 22050        # internal rate: the voice lives below 11 kHz
# F1..F4 (Hz) of an adult male voice; a female voice scales them by 1.15.
VOWELS = {
    "a": (750, 1200, 2500, 3500), "e": (480, 1850, 2550, 3500), "i": (300, 2250, 2950, 3700),
    "o": (480, 850, 2450, 3400), "u": (330, 800, 2250, 3300),
}
BANDWIDTHS = (80, 100, 140, 200)
FRICATIVES, PLOSIVES, SOFT = set("sfhzvc"), set("bdgptk"), set("mnlrwy")


def vowel_of(word: str) -> str:
    """The vowel sung on a word, from its spelling (``sky`` -> a, ``moon`` -> u)."""
    w = word.lower()
    for pattern, vowel in (("oo", "u"), ("ou", "a"), ("ee", "i"), ("ea", "i"), ("igh", "a"),
                           ("ai", "e"), ("ay", "e"), ("ie", "a"), ("oh", "o")):
        if pattern in w:
            return vowel
    for ch in w:
        if ch in "aeiou":
            return {"a": "a", "e": "e", "i": "a", "o": "o", "u": "a"}[ch]
    return "a" if w.endswith("y") else "e"


def formant_gain(freqs: np.ndarray, formants, scale: float) -> np.ndarray:
    """Amplitude of a source harmonic at ``freqs`` Hz through the vowel's resonances."""
    gain = np.zeros_like(freqs)
    for f, bw, level in zip(formants, BANDWIDTHS, (1.0, 0.6, 0.3, 0.15)):
        fc = f * scale
        gain += level / np.sqrt(1 + ((freqs - fc) / (bw * scale / 2)) ** 2)
    tilt = 1.0 / np.maximum(freqs / 100.0, 1.0)
    return gain * tilt


def _band_noise(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / RATE)
    spec[(f < lo) | (f > hi)] = 0
    x = np.fft.irfft(spec, n)
    return x / (np.abs(x).max() + 1e-9)


def sing(word: str, pitch: int, seconds: float, female: bool, previous, expr, phase,
         rng: np.random.Generator) -> np.ndarray:
    """One sung word at ``RATE``."""
    n = max(int(seconds * RATE), 32)
    f0 = f0_contour(pitch, n, RATE, expr, previous, phase)
    phase_track = 2 * np.pi * np.cumsum(f0) / RATE
    count = int(5000 / f0.min())
    freqs = np.arange(1, count + 1) * float(np.median(f0))
    amps = formant_gain(freqs, VOWELS[vowel_of(word)], 1.15 if female else 1.0)
    (y,) = harmonic_sum(np.mod(phase_track, 2 * np.pi), amps / amps.max())
    onset = word[:1].lower()
    k = min(n, int(0.06 * RATE))
    if onset in SOFT:
        y[:k] *= np.linspace(0.3, 1.0, k)
    elif onset in FRICATIVES or onset in PLOSIVES:
        length = k if onset in FRICATIVES else k // 3
        lo, hi = (3500, 9000) if onset in "sz" else (1000, 7000)
        burst = 0.25 * _band_noise(rng, length, lo, hi) * np.hanning(length)
        y[:length] = y[:length] * np.linspace(0, 1, length) + burst
    return y * envelope(n, RATE, 0.02, min(0.08, 0.3 * seconds))


def render_lead(arr: Arrangement, female: bool, rng: np.random.Generator,
                sample_rate: int, cancel=None) -> np.ndarray:
    """``(samples,)`` the fallback lead vocal at ``sample_rate``."""
    expr = Expression.random(rng)
    total = int(round(arr.duration * RATE))
    track = np.zeros(total + RATE)
    for note, start, seconds, previous in arr.sung_phrasing(cancel):
        y = sing(note.syllable, note.pitch, seconds, female, previous, expr,
                 float(rng.uniform(0, 2 * np.pi)), rng)
        y *= 0.12 * (note.velocity / 100.0) / (np.sqrt(np.mean(y ** 2)) + 1e-9)
        at = int(round(start * RATE))
        end = min(len(track), at + len(y))
        track[at:end] += y[:end - at]
    out = soxr.resample(track[:total].astype(np.float32), RATE, sample_rate, quality="HQ")
    n = int(round(arr.duration * sample_rate))
    return np.pad(out, (0, max(0, n - len(out))))[:n]
