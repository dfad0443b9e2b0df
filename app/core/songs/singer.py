"""The lead vocal from espeak-ng: each note's word is spoken, then sung with PSOLA.

The consonants before the vowel are placed just ahead of the beat (as singers do), keep
their spoken length, and the voiced nucleus is stretched to fill the note; the pitch follows
the note with a glide from the previous one and delayed vibrato (``expression``). The stem is
built at espeak's 22.05 kHz and resampled to the song's rate.
"""

from __future__ import annotations

import numpy as np
import soxr

from .arrangement import Arrangement
from .espeak import SyllableVoice
from .expression import Expression, envelope, f0_contour
from .psola import Analysis, analyse, resynthesize

EDGE = 0.04        # seconds of the nucleus kept unstretched at each end (vowel transitions)


def nucleus(an: Analysis, length: int) -> tuple[int, int]:
    """Start and end sample of the longest voiced run (the vowel), or the whole word."""
    best, run_start, bounds = 0, None, (0, length)
    for i, v in enumerate(np.append(an.voiced, False)):
        if v and run_start is None:
            run_start = i
        elif not v and run_start is not None:
            a = int(an.marks[run_start])
            b = int(an.marks[i - 1] + an.periods[i - 1])
            if b - a > best:
                best, bounds = b - a, (a, min(b, length))
            run_start = None
    return bounds


def time_warp(length: int, vowel: tuple[int, int], n_out: int, sr: int):
    """Knots (output samples, input samples): consonants at natural speed, the middle of the
    vowel stretched to fill ``n_out``. Consonants shrink when the note is too short."""
    a, b = vowel
    edge = min(int(EDGE * sr), (b - a) // 3)
    fixed = a + edge + edge + (length - b)
    scale = min(1.0, 0.8 * n_out / max(1, fixed))
    out = [0, a * scale, (a + edge) * scale, n_out - (length - b + edge) * scale,
           n_out - (length - b) * scale, n_out]
    inp = [0, a, a + edge, b - edge, b, length]
    return np.asarray(out, dtype=float), np.asarray(inp, dtype=float)


def sing_note(voice: SyllableVoice, word: str, pitch: int, seconds: float, previous, expr,
              phase: float, cache: dict) -> tuple[np.ndarray, int]:
    """A sung note and how many samples of consonant come before its beat."""
    sr = voice.sample_rate
    x = voice.speak(word)
    sr = voice.sample_rate
    if word not in cache:
        cache[word] = analyse(x, sr, voice.base_f0)
    an = cache[word]
    vowel = nucleus(an, len(x))
    lead = min(vowel[0], int(0.12 * sr))
    n_out = max(int(seconds * sr) + lead, 16)
    warp_out, warp_in = time_warp(len(x), vowel, n_out, sr)
    f0 = f0_contour(pitch, n_out, sr, expr, previous, phase)
    y = resynthesize(x, an, f0, sr, warp_out, warp_in)
    return y * envelope(n_out, sr, 0.01, min(0.08, 0.3 * seconds)), lead


def render_lead(arr: Arrangement, voice: SyllableVoice, rng: np.random.Generator,
                sample_rate: int, cancel=None) -> np.ndarray:
    """``(samples,)`` the lead vocal at ``sample_rate``, ``arr.duration`` long."""
    expr = Expression.random(rng)
    voice.speak("la")                     # learn espeak's sample rate
    sr = voice.sample_rate
    total = int(round(arr.duration * sr))
    track = np.zeros(total + sr)
    cache: dict = {}
    for note, start, seconds, previous in arr.sung_phrasing(cancel):
        y, lead = sing_note(voice, note.syllable, note.pitch, seconds, previous, expr,
                            float(rng.uniform(0, 2 * np.pi)), cache)
        rms = np.sqrt(np.mean(y ** 2)) + 1e-9
        y *= 0.12 * (note.velocity / 100.0) / rms
        at = max(0, int(round(start * sr)) - lead)
        end = min(len(track), at + len(y))
        track[at:end] += y[:end - at]
    track = track[:total]
    out = soxr.resample(track.astype(np.float32), sr, sample_rate, quality="HQ")
    n = int(round(arr.duration * sample_rate))
    return np.pad(out, (0, max(0, n - len(out))))[:n]
