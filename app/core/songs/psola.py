"""Pitch-synchronous overlap-add (TD-PSOLA): put a recorded syllable on any pitch and length.

``analyse`` tracks the fundamental (autocorrelation, 5 ms hop) and places one mark per
glottal period in voiced parts, and marks at a fixed hop in unvoiced parts (consonants).
``resynthesize`` walks along the output, maps each output time to an input time through a
piecewise-linear time warp, and adds the two-period Hann grain around the nearest input mark
at the output pitch period. The grains keep the spectral envelope (formants) while their
spacing sets the pitch, so a spoken vowel becomes a sung one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

F0_MIN, F0_MAX = 70.0, 800.0
HOP_SECONDS = 0.005
WINDOW_SECONDS = 0.035


@dataclass(frozen=True)
class Analysis:
    marks: np.ndarray        # (M,) sample positions, increasing
    periods: np.ndarray      # (M,) samples (float): the local period (the hop where unvoiced)
    voiced: np.ndarray       # (M,) bool
    frame_f0: np.ndarray     # (frames,) Hz, 0 where unvoiced
    hop: int


def frame_f0(x: np.ndarray, sr: int, hop: int, win: int, threshold: float = 0.5,
             fmin: float = F0_MIN, fmax: float = F0_MAX) -> np.ndarray:
    """Autocorrelation pitch per frame: ``(frames,)`` Hz, 0 for unvoiced/silent frames."""
    n_frames = max(1, 1 + (len(x) - win) // hop) if len(x) >= win else 1
    padded = np.pad(x, (0, max(0, (n_frames - 1) * hop + win - len(x))))
    idx = np.arange(win)[None, :] + hop * np.arange(n_frames)[:, None]
    frames = padded[idx] * np.hanning(win)[None, :]
    size = 1 << int(np.ceil(np.log2(2 * win)))
    spec = np.fft.rfft(frames, n=size, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :win]
    # unbias for the window's own autocorrelation
    w_ac = np.fft.irfft(np.abs(np.fft.rfft(np.hanning(win), n=size)) ** 2)[:win]
    ac = ac / np.maximum(w_ac[None, :], 1e-3 * w_ac[0])
    energy = ac[:, 0]
    lo, hi = int(sr / fmax), min(win - 1, int(np.ceil(sr / fmin)))
    norm = ac[:, lo:hi] / np.maximum(energy[:, None], 1e-12)
    lag = lo + _first_peak(norm)
    peak = norm[np.arange(n_frames), lag - lo]
    # parabolic refinement of the lag
    a = ac[np.arange(n_frames), lag - 1]
    b = ac[np.arange(n_frames), lag]
    c = ac[np.arange(n_frames), np.minimum(lag + 1, win - 1)]
    denom = a - 2 * b + c
    frac = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0.0)
    f0 = sr / (lag + np.clip(frac, -0.5, 0.5))
    loud = energy > (1e-3 * energy.max() if energy.max() > 0 else np.inf)
    return np.where((peak > threshold) & loud, f0, 0.0)


def _first_peak(norm: np.ndarray, ratio: float = 0.85) -> np.ndarray:
    """Per row, the first local maximum within ``ratio`` of the row's maximum: the shortest
    period that explains the signal, which avoids picking a multiple of it (octave errors)."""
    best = norm.max(axis=1, keepdims=True)
    above = norm >= ratio * best
    first = np.argmax(above, axis=1)
    out = np.empty(len(norm), dtype=np.int64)
    for i, j in enumerate(first):
        stop = min(norm.shape[1], j + j // 4 + 3)
        out[i] = j + int(np.argmax(norm[i, j:stop]))
    return out


def _smooth(f0: np.ndarray) -> np.ndarray:
    """Bridge one- or two-frame dropouts inside voiced runs, then a 5-frame median."""
    f0 = f0.copy()
    voiced = f0 > 0
    for gap in (1, 2):
        for i in range(1, len(f0) - gap):
            if voiced[i - 1] and voiced[i + gap] and not voiced[i:i + gap].any():
                f0[i:i + gap] = 0.5 * (f0[i - 1] + f0[i + gap])
                voiced[i:i + gap] = True
    padded = np.pad(np.where(voiced, f0, np.nan), 2, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 5)
    with np.errstate(all="ignore"):
        median = np.nanmedian(np.where(voiced[:, None], windows, 0.0), axis=1)
    return np.where(voiced, median, 0.0)


def _align(x: np.ndarray, previous: int, predicted: float, period: float) -> float:
    """The position near ``predicted`` where one period of ``x`` best matches the period
    at the previous mark: marks stay at the same point of the cycle instead of drifting
    with small f0 errors (a drifting mark makes every grain switch a phase jump)."""
    half = int(period / 2)
    reach = max(1, int(period / 5))
    lo, hi = int(round(predicted)) - reach, int(round(predicted)) + reach
    if previous - half < 0 or lo - half < 0 or hi + half + 1 > len(x):
        return predicted
    ref = x[previous - half:previous + half]
    cands = np.lib.stride_tricks.sliding_window_view(x[lo - half:hi + half + 1], 2 * half)
    score = cands @ ref / (np.sqrt((cands ** 2).sum(axis=1)) + 1e-12)
    return float(lo + int(np.argmax(score)))


def analyse(x: np.ndarray, sr: int, f0_hint: float | None = None) -> Analysis:
    """Pitch marks of ``x``: one per period in voiced parts, spaced by the smoothed f0 track
    and aligned period to period by waveform similarity, so that grains add coherently.

    ``f0_hint`` (the speaker's known pitch) limits the search to 0.8-1.25 times it: a vowel
    like /i/ whose first formant sits near f0, or a rough voice with alternating periods,
    otherwise fools autocorrelation by an octave."""
    hop, win = int(HOP_SECONDS * sr), int(WINDOW_SECONDS * sr)
    if f0_hint:
        raw = frame_f0(x, sr, hop, win, 0.3, 0.8 * f0_hint, 1.25 * f0_hint)
    else:
        raw = frame_f0(x, sr, hop, win)
    f0 = _smooth(raw)
    frame_time = np.arange(len(f0)) * hop + win / 2
    marks, periods, voiced = [], [], []
    t, n = 0.0, len(x)
    while t < n:
        i = int(np.clip(round((t - win / 2) / hop), 0, len(f0) - 1))
        if f0[i] > 0:
            if not voiced or not voiced[-1]:          # a voiced run starts: align to a peak
                period = sr / f0[i]
                seg = x[int(t):int(t + period)]
                t = t + float(np.argmax(seg)) if len(seg) else t
            hz = float(np.interp(t, frame_time, f0))
            hz = hz if hz > 0 else f0[i]
            if voiced and voiced[-1]:
                t = _align(x, marks[-1], t, sr / hz)
            marks.append(int(round(t))), periods.append(sr / hz), voiced.append(True)
            t += sr / hz
        else:
            marks.append(int(round(t))), periods.append(float(hop)), voiced.append(False)
            t += hop
    return Analysis(np.asarray(marks, dtype=np.int64), np.asarray(periods, dtype=float),
                    np.asarray(voiced, dtype=bool), f0, hop)


@lru_cache(maxsize=512)
def _hann(length: int) -> np.ndarray:
    return np.hanning(length + 2)[1:-1]


def resynthesize(x: np.ndarray, an: Analysis, f0_out: np.ndarray, sr: int,
                 warp_out: np.ndarray, warp_in: np.ndarray) -> np.ndarray:
    """``(len(f0_out),)`` samples: ``x`` time-warped (``warp_out`` -> ``warp_in`` knots, in
    samples) and sung at ``f0_out`` Hz per output sample."""
    n_out = len(f0_out)
    pad = int(sr / F0_MIN) + an.hop + 2
    src = np.pad(x, (pad, pad))
    out = np.zeros(n_out + 2 * pad)
    if len(an.marks) == 0:
        return out[pad:pad + n_out]
    t = 0.0
    while t < n_out:
        ti = float(np.interp(t, warp_out, warp_in))
        k = int(np.searchsorted(an.marks, ti))
        if k > 0 and (k == len(an.marks) or ti - an.marks[k - 1] < an.marks[k] - ti):
            k -= 1
        mark = int(an.marks[k]) + pad
        if an.voiced[k]:
            p_in = float(an.periods[k])
            p_out = sr / f0_out[min(n_out - 1, int(t))]
            half = max(2, int(min(p_in, p_out)))
            gain = np.sqrt(p_out / p_in) if p_out > p_in else 1.0
            step = p_out
        else:
            half, gain, step = an.hop, 1.0, an.hop
        grain = src[mark - half:mark + half] * _hann(2 * half) * gain
        at = int(round(t)) + pad - half
        out[at:at + len(grain)] += grain
        t += step
    return out[pad:pad + n_out]
