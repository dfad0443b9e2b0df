"""The numpy fallback synthesizer for instruments (no FluidSynth, no SoundFont).

Pitched notes are additive: harmonics of a timbre's spectrum with per-harmonic decay,
computed with the sine recurrence sin((k+1)p) = 2 cos(p) sin(kp) - sin((k-1)p), which costs
a multiply-add per harmonic instead of a sine; a note rendered once is reused when the same
pitch and length come again. Drums are noise and swept sines, one sample per sound per song.
It sounds like a cheap keyboard, not like the SoundFonts; it is for tests and CI.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrangement import Arrangement, Part
from .expression import midi_to_hz


@dataclass(frozen=True)
class Timbre:
    slope: float          # harmonic amplitude ~ 1 / k**slope
    harmonics: int
    decay: float          # seconds for the fundamental to fall by 1/e (0: sustained)
    attack: float
    release: float
    odd_only: bool = False
    drive: float = 0.0    # tanh saturation amount


TIMBRES = {
    "piano": Timbre(1.6, 14, 1.2, 0.004, 0.15),
    "epiano": Timbre(2.2, 8, 1.5, 0.004, 0.2),
    "mallet": Timbre(2.5, 6, 0.6, 0.002, 0.3),
    "pluck": Timbre(1.3, 16, 0.7, 0.003, 0.1),
    "organ": Timbre(1.0, 8, 0.0, 0.01, 0.05, odd_only=True),
    "strings": Timbre(1.0, 16, 0.0, 0.15, 0.3),
    "pad": Timbre(1.4, 10, 0.0, 0.3, 0.5),
    "brass": Timbre(0.9, 14, 0.0, 0.05, 0.15),
    "drive": Timbre(1.0, 16, 2.0, 0.005, 0.1, drive=3.0),
    "bass": Timbre(1.8, 10, 1.0, 0.005, 0.08),
    "synthbass": Timbre(1.0, 12, 0.8, 0.003, 0.05),
}


def harmonic_sum(phase: np.ndarray, *amps: np.ndarray) -> list[np.ndarray]:
    """For each amplitude vector a: sum_k a[k] * sin((k+1) * phase), all from one pass of
    the sine recurrence (float32: the error stays far below audibility for a few dozen
    harmonics)."""
    phase = np.asarray(phase, dtype=np.float32)
    cos2 = np.float32(2.0) * np.cos(phase)
    prev, cur = np.zeros_like(phase), np.sin(phase)
    outs = [np.float32(a[0]) * cur for a in amps]
    for k in range(1, len(amps[0])):
        prev, cur = cur, cos2 * cur - prev
        for out, a in zip(outs, amps):
            if a[k]:
                out += np.float32(a[k]) * cur
    return outs


def tone(timbre: Timbre, pitch: int, seconds: float, sr: int) -> np.ndarray:
    """One note, release included."""
    f0 = midi_to_hz(pitch)
    n = int((seconds + timbre.release) * sr)
    t = np.arange(n) / sr
    k = np.arange(1, timbre.harmonics + 1)
    amps = np.where(k * f0 < 0.45 * sr, 1.0 / k ** timbre.slope, 0.0)
    if timbre.odd_only:
        amps = np.where(k % 2 == 1, amps, 0.3 * amps)
    phase = np.mod(2 * np.pi * f0 * t, 2 * np.pi)
    if timbre.decay:                      # brighter at the attack: upper harmonics decay faster
        y, bright = harmonic_sum(phase, amps, amps * (k > 2))
        slow = np.exp(-t / timbre.decay).astype(np.float32)
        fast = np.exp(-t / (0.2 * timbre.decay)).astype(np.float32)
        y = y * slow + bright * (fast - slow)
    else:
        (y,) = harmonic_sum(phase, amps)
    if timbre.drive:
        y = np.tanh(timbre.drive * y) / np.tanh(timbre.drive)
    env = np.minimum(1.0, t / max(timbre.attack, 1e-4))
    held = int(seconds * sr)
    env[held:] *= np.exp(-(t[held:] - seconds) / (timbre.release / 4))
    return (y * env).astype(np.float32)


def _noise(rng: np.random.Generator, n: int, highpass: int = 0) -> np.ndarray:
    x = rng.standard_normal(n)
    for _ in range(highpass):
        x = np.diff(x, prepend=0.0)
    return x / (np.abs(x).max() + 1e-9)


def drum_sounds(rng: np.random.Generator, sr: int, electronic: bool) -> dict[int, np.ndarray]:
    """A sample per GM percussion key used by ``parts`` (missing keys fall back to a click)."""
    t = np.arange(int(1.5 * sr)) / sr

    def sweep(f_hi, f_lo, decay, length=0.5):
        tt = t[:int(length * sr)]
        f = f_lo + (f_hi - f_lo) * np.exp(-tt / 0.03)
        return np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-tt / decay)

    def hiss(length, decay, hp=2):
        n = int(length * sr)
        return _noise(rng, n, hp) * np.exp(-t[:n] / decay)

    kick_decay = 0.45 if electronic else 0.18
    snare = hiss(0.3, 0.08, 1) * 0.8
    snare[:int(0.15 * sr)] += 0.5 * sweep(260, 180, 0.05, 0.15)
    sounds = {
        36: sweep(150, 48, kick_decay, 0.8),
        37: hiss(0.05, 0.01, 2),
        38: snare, 40: snare,
        39: sum(np.roll(np.pad(hiss(0.2, 0.03, 1), (0, 1000)), d) for d in (0, 300, 700))[:9000],
        42: hiss(0.08, 0.015, 3) * 0.5,
        44: hiss(0.08, 0.02, 3) * 0.4,
        46: hiss(0.5, 0.12, 3) * 0.5,
        49: hiss(1.5, 0.5, 2) * 0.6,
        51: (hiss(0.8, 0.25, 3) * 0.4 + 0.2 * sweep(3100, 3000, 0.3, 0.8)),
        54: hiss(0.2, 0.04, 3) * 0.4,
        45: sweep(160, 90, 0.2), 47: sweep(200, 120, 0.2), 50: sweep(260, 160, 0.18),
    }
    return {k: v.astype(np.float32) for k, v in sounds.items()}


def _place(track: np.ndarray, sound: np.ndarray, at: int, gain: float) -> None:
    end = min(len(track), at + len(sound))
    if end > at >= 0:
        track[at:end] += gain * sound[:end - at]


def render_part(part: Part, arr: Arrangement, sr: int, rng: np.random.Generator) -> np.ndarray:
    """``(samples,)`` mono audio of one part, ``arr.duration`` long."""
    n = int(round(arr.duration * sr))
    track = np.zeros(n, dtype=np.float32)
    if part.stem == "drums":
        kit = drum_sounds(rng, sr, part.instrument.timbre == "electronic")
        for note in part.notes:
            sound = kit.get(note.pitch, kit[37])
            _place(track, sound, int(arr.seconds(note.start) * sr), note.velocity / 127)
        return track
    timbre = TIMBRES.get(part.instrument.timbre, TIMBRES["piano"])
    cache: dict[tuple[int, int], np.ndarray] = {}
    for note in part.notes:
        key = (note.pitch, int(round(note.length * 8)))
        if key not in cache:
            cache[key] = tone(timbre, note.pitch, arr.seconds(key[1] / 8), sr)
        _place(track, cache[key], int(arr.seconds(note.start) * sr), note.velocity / 127 * 0.3)
    return track


def pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power pan law: -1 left, 0 centre, 1 right."""
    angle = (pan + 1) * np.pi / 4
    return float(np.cos(angle)), float(np.sin(angle))


def render_instruments(arr: Arrangement, stems: list[str], sample_rate: int,
                       rng: np.random.Generator, cancel=None) -> dict[str, np.ndarray]:
    """``{stem: (C, L) float32}`` like ``fluid.render_instruments``."""
    n = int(round(arr.duration * sample_rate))
    out = {}
    for stem in stems:
        mix = np.zeros((2, n), dtype=np.float32)
        for part in arr.stem_parts(stem):
            if cancel is not None:
                cancel.check()
            mono = render_part(part, arr, sample_rate, rng) * 10 ** (part.level_db / 20)
            left, right = pan_gains(part.pan)
            mix[0] += left * mono
            mix[1] += right * mono
        out[stem] = mix
    return out
