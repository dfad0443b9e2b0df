"""The vocal line: phrases with rests, a melody that lands on chord tones, and lyrics.

A section's melody is written once per section name and sung again (with new words) when
the section repeats, the way verses and choruses do.
"""

from __future__ import annotations

import numpy as np

from .arrangement import Arrangement, Note, Part, Section, choose
from .instruments import Instrument
from .theory import nearest_pitch

WORDS = (
    "love", "you", "me", "night", "light", "day", "way", "home", "sky", "fly", "high",
    "heart", "time", "go", "know", "say", "stay", "run", "sun", "come", "one", "dream",
    "see", "be", "free", "rain", "fire", "hold", "gold", "soul", "rise", "eyes", "true",
    "blue", "down", "town", "far", "moon", "sea", "road", "song", "wind", "feel", "real",
    "star", "shine", "mine", "try", "cry", "fall", "call", "all", "more", "door",
)
VOCALISES = ("oh", "la", "yeah", "na", "ooh", "ah", "hey")
LEAD = Instrument("Lead vocal", -1, ("lead",), "voice", 0)
DURATIONS = (0.5, 0.5, 1.0, 1.0, 1.0, 1.5, 2.0)


def _rhythm(rng: np.random.Generator, span: float) -> list[tuple[float, float]]:
    """(offset, length) of the notes of one phrase filling ``span`` beats, rest at the end."""
    start = choose(rng, (0.0, 0.0, 0.5, 1.0))
    end = span - choose(rng, (1.0, 1.5, 2.0))
    notes, t = [], start
    while t < end - 0.25:
        length = min(choose(rng, DURATIONS), end - t)
        notes.append((t, length))
        t += length
    if notes and notes[-1][1] < 1.5 and span - notes[-1][0] >= 2.5:
        notes[-1] = (notes[-1][0], 1.5)         # hold the phrase's last note
    return notes


def _melody(rng: np.random.Generator, arr: Arrangement, sec: Section, bar0: int,
            rhythm, low: int, high: int) -> list[int]:
    scale = arr.key.scale
    pitches = []
    pitch = nearest_pitch(choose(rng, sec.chords[0].tones), (low + high) // 2)
    for offset, _ in rhythm:
        beat = bar0 * 4 + offset
        chord = sec.chords[min(int(beat // 4), len(sec.chords) - 1)]
        step = int(choose(rng, (-2, -1, -1, 0, 1, 1, 2, 3, -3), None))
        degree_pcs = [pc for pc in range(12) if pc in scale]
        cands = [p for p in range(pitch - 5, pitch + 6) if p % 12 in degree_pcs]
        idx = int(np.argmin([abs(c - pitch) for c in cands]))
        pitch = cands[max(0, min(len(cands) - 1, idx + step))]
        if offset == int(offset) and int(offset) % 2 == 0:       # strong beat: chord tone
            pitch = min((nearest_pitch(pc, pitch) for pc in chord.tones), key=lambda p: abs(p - pitch))
        pitch = pitch - 12 if pitch > high else pitch + 12 if pitch < low else pitch
        pitches.append(pitch)
    return pitches


def _lyrics(rng: np.random.Generator, n: int, section: str) -> list[str]:
    pool = VOCALISES if section == "bridge" and rng.random() < 0.6 else WORDS
    return [choose(rng, pool) for _ in range(n)]


def vocal_part(rng: np.random.Generator, arr: Arrangement) -> Part:
    part = Part("vocals", LEAD, "lead", pan=float(rng.uniform(-0.05, 0.05)), level_db=0.0)
    low, high = arr.voice_register
    written: dict[str, list[list[tuple[float, float, int]]]] = {}
    for sec in arr.sections:
        if not sec.vocals:
            continue
        lift = 3 if sec.name == "chorus" else 0
        phrase_bars = 2 if sec.bars >= 2 else 1
        phrases = written.setdefault(sec.name, [])
        for i, bar0 in enumerate(range(0, sec.bars, phrase_bars)):
            span = min(phrase_bars, sec.bars - bar0) * 4.0
            if i >= len(phrases):
                rhythm = _rhythm(rng, span)
                pitches = _melody(rng, arr, sec, bar0, rhythm, low + lift, high)
                phrases.append([(o, l, p) for (o, l), p in zip(rhythm, pitches)])
            phrase = [(o, l, p) for o, l, p in phrases[i] if o < span]
            words = _lyrics(rng, len(phrase), sec.name)
            start = (sec.start_bar + bar0) * 4.0
            for (offset, length, pitch), word in zip(phrase, words):
                vel = int(rng.integers(85, 111))
                part.notes.append(Note(start + offset, length, pitch, vel, word))
    return part


def voice_layer(rng: np.random.Generator, arr: Arrangement, inst: Instrument) -> Part:
    """A soundfont choir patch doubling the chorus melody quietly (backing vocals)."""
    part = Part("vocals", inst, "double", pan=float(rng.uniform(-0.4, 0.4)),
                level_db=float(rng.uniform(-16, -10)))
    lead = next(p for p in arr.parts if p.stem == "vocals" and p.style == "lead")
    choruses = [(s.start_bar * 4, (s.start_bar + s.bars) * 4) for s in arr.sections
                if s.name == "chorus"]
    shift = choose(rng, (0, -12, 12, -5))
    for n in lead.notes:
        if any(a <= n.start < b for a, b in choruses):
            part.notes.append(Note(n.start, n.length, n.pitch + shift, 70))
    return part
