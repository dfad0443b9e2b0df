"""Compose a song's arrangement from a seed: sections and chords, then every part (drums,
bass, harmony, the vocal line and sometimes a second voice layer)."""

from __future__ import annotations

import math

import numpy as np

from .arrangement import Arrangement, choose, plan_sections
from .instruments import BASSES, DRUM_KITS, HARMONY, SUSTAINED_STYLES, VOICE_LAYERS
from .melody import vocal_part, voice_layer
from .parts import bass_part, drum_part, harmony_parts
from .theory import MODE_WEIGHTS, Key


def compose(seed: int, duration: float, voice_gender: str = "female") -> Arrangement:
    """The arrangement of song ``seed``, ``duration`` seconds long."""
    rng = np.random.default_rng(seed)
    mode = choose(rng, MODE_WEIGHTS, MODE_WEIGHTS.values())
    key = Key(int(rng.integers(12)), mode)
    bpm = float(rng.integers(76, 141))
    total_bars = max(1, math.ceil(duration / (4 * 60.0 / bpm)))
    sections = plan_sections(rng, key, total_bars)
    register = (57, 74) if voice_gender == "female" else (45, 64)
    arr = Arrangement(seed, bpm, key, float(duration), sections, [], register)
    arr.parts.append(drum_part(rng, arr, choose(rng, DRUM_KITS)))
    arr.parts.append(bass_part(rng, arr, choose(rng, BASSES)))
    arr.parts.extend(harmony_parts(rng, arr, HARMONY, SUSTAINED_STYLES))
    arr.parts.append(vocal_part(rng, arr))
    if rng.random() < 0.3:
        arr.parts.append(voice_layer(rng, arr, choose(rng, VOICE_LAYERS)))
    end = duration / arr.beat_seconds
    for part in arr.parts:
        part.notes = [n for n in part.notes if n.start < end]
    return arr
