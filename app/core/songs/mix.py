"""Mixing stems into a song: levels, stereo placement, a little room, headroom.

Every stem is balanced to a loudness with a random offset, then ONE gain brings the mixture's
peak (and every stem's) to the song's headroom target, so the stems still add up to the
mixture exactly: ``accompaniment = drums + bass + other`` and ``mixture = vocals +
accompaniment`` are computed in float32 in that order, and written as float WAV.
"""

from __future__ import annotations

import numpy as np

STEM_LEVELS_DB = {        # loudness offsets (dB, uniform range) around a common level
    "vocals": (-2.0, 3.0), "drums": (-4.0, 1.0), "bass": (-5.0, -1.0), "other": (-5.0, 0.0),
}
LEVEL_DBFS = -20.0
FADE_SECONDS = 0.5


def pan(mono: np.ndarray, position: float) -> np.ndarray:
    """``(C, L)`` constant-power placement of a mono signal (-1 left .. 1 right)."""
    angle = (position + 1) * np.pi / 4
    return np.stack([np.cos(angle) * mono, np.sin(angle) * mono]).astype(np.float32)


def fast_size(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n: an FFT length pocketfft handles quickly, often far
    below the next power of two."""
    best = 1 << int(np.ceil(np.log2(max(n, 1))))
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            size = p35 << max(0, int(np.ceil(np.log2(n / p35))))
            best = min(best, size)
            p35 *= 3
        p5 *= 5
    return best


def reverb(stereo: np.ndarray, sr: int, rng: np.random.Generator, seconds: float,
           wet: float) -> np.ndarray:
    """A small room: convolution with decaying noise, different per channel (width)."""
    n_ir = int(seconds * sr)
    t = np.arange(n_ir) / sr
    decay = np.exp(-6.9 * t / seconds)           # -60 dB at ``seconds``
    ir = rng.standard_normal((2, n_ir)) * decay
    ir[:, :int(0.01 * sr)] = 0                    # 10 ms pre-delay
    ir /= np.sqrt((ir ** 2).sum(axis=1, keepdims=True))
    n = stereo.shape[1]
    size = fast_size(n + n_ir)
    spec = np.fft.rfft(stereo, size, axis=1) * np.fft.rfft(ir, size, axis=1)
    tail = np.fft.irfft(spec, size, axis=1)[:, :n]
    return (stereo + wet * tail).astype(np.float32)


def active_rms(audio: np.ndarray, sr: int) -> float:
    """RMS over the blocks that are not near-silent (so rests do not make a stem louder)."""
    block = max(1, sr // 10)
    n = audio.shape[-1] // block * block
    if n == 0:
        return 0.0
    power = (audio[..., :n] ** 2).reshape(-1, n // block, block).mean(axis=(0, 2))
    loud = power[power > power.max() * 1e-4] if power.max() > 0 else power
    return float(np.sqrt(loud.mean())) if len(loud) else 0.0


def balance(stems: dict[str, np.ndarray], sr: int, rng: np.random.Generator) -> dict[str, float]:
    """Per-stem gains (linear) that set each stem to its random level."""
    gains = {}
    for name, audio in stems.items():
        lo, hi = STEM_LEVELS_DB.get(name, (-3.0, 0.0))
        target = 10 ** ((LEVEL_DBFS + rng.uniform(lo, hi)) / 20)
        rms = active_rms(audio, sr)
        gains[name] = target / rms if rms > 1e-7 else 0.0
    return gains


def finish(stems: dict[str, np.ndarray], sr: int, rng: np.random.Generator,
           peak_dbfs: float | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Balanced, faded, headroom-scaled stems plus ``accompaniment`` and ``mixture``."""
    gains = balance(stems, sr, rng)
    n = next(iter(stems.values())).shape[1]
    fade = np.ones(n, dtype=np.float32)
    k = min(n, int(FADE_SECONDS * sr))
    fade[n - k:] = np.linspace(1, 0, k, dtype=np.float32)
    scaled = {s: (a * np.float32(gains[s]) * fade).astype(np.float32) for s, a in stems.items()}
    peak_dbfs = float(rng.uniform(-6, -1)) if peak_dbfs is None else peak_dbfs
    accompaniment = scaled["drums"] + scaled["bass"] + scaled["other"]
    mixture = scaled["vocals"] + accompaniment
    peak = max(float(np.abs(x).max()) for x in (*scaled.values(), accompaniment, mixture))
    master = np.float32(10 ** (peak_dbfs / 20) / max(peak, 1e-9))
    out = {s: scaled[s] * master for s in ("vocals", "drums", "bass", "other")}
    out["accompaniment"] = out["drums"] + out["bass"] + out["other"]
    out["mixture"] = out["vocals"] + out["accompaniment"]
    info = {"stem_gain_db": {s: round(20 * np.log10(max(g * master, 1e-12)), 2)
                             for s, g in gains.items()},
            "peak_dbfs": round(peak_dbfs, 2)}
    return out, info
