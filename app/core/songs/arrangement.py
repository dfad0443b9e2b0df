"""A song's arrangement, composed from a seed: tempo, key, chords, sections and the notes of
every part (drums, bass, harmony instruments, the vocal line).

Everything here is in beats; ``Arrangement.seconds`` converts. The same seed and options give
the same arrangement on every machine (numpy's PCG64 generator).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .instruments import Instrument
from .theory import PROGRESSIONS, Chord, Key

STEMS = ("vocals", "drums", "bass", "other")


@dataclass(frozen=True)
class Note:
    start: float             # beats from the song start
    length: float            # beats
    pitch: int               # MIDI pitch (drums: the GM percussion key)
    velocity: int            # 1..127
    syllable: str = ""       # lyrics, vocal notes only


@dataclass
class Part:
    stem: str                # one of STEMS
    instrument: Instrument
    style: str
    pan: float               # -1 (left) .. 1 (right)
    level_db: float          # balance inside its stem
    notes: list[Note] = field(default_factory=list)


@dataclass(frozen=True)
class Section:
    name: str                # intro, verse, chorus, bridge, outro
    start_bar: int
    bars: int
    chords: tuple[Chord, ...]     # one per bar
    vocals: bool


@dataclass
class Arrangement:
    seed: int
    bpm: float
    key: Key
    duration: float          # seconds
    sections: list[Section]
    parts: list[Part]
    voice_register: tuple[int, int]

    @property
    def beat_seconds(self) -> float:
        return 60.0 / self.bpm

    def seconds(self, beats: float) -> float:
        return beats * self.beat_seconds

    def stem_parts(self, stem: str) -> list[Part]:
        return [p for p in self.parts if p.stem == stem]

    @property
    def vocal_notes(self) -> list[Note]:
        part = next(p for p in self.parts if p.stem == "vocals" and p.style == "lead")
        return part.notes

    def sung_phrasing(self, cancel=None):
        """The lead vocal's notes with their timing: ``(note, start_s, seconds, glide_from)``.

        ``seconds`` is the sung length (the written length, cut to the next note's start,
        5 % short for a breath); ``glide_from`` is the previous note's pitch, or None at the
        start of a phrase (after a rest longer than 0.3 s), where the voice does not glide.
        """
        notes = self.vocal_notes
        previous = None
        for i, note in enumerate(notes):
            if cancel is not None and i % 8 == 0:
                cancel.check()
            start = self.seconds(note.start)
            nxt = self.seconds(notes[i + 1].start) if i + 1 < len(notes) else start + 8
            seconds = min(self.seconds(note.length), nxt - start) * 0.95
            if nxt - (start + self.seconds(note.length)) > 0.3:
                previous = None                   # a rest: no glide into the next phrase
            yield note, start, seconds, previous
            previous = note.pitch

    def describe(self) -> dict:
        """A JSON-friendly summary (for song.json and the model card)."""
        return {
            "seed": self.seed, "tempo_bpm": round(self.bpm, 2), "key": self.key.name,
            "duration_s": self.duration,
            "sections": [{"name": s.name, "start_bar": s.start_bar, "bars": s.bars,
                          "chords": [c.name for c in s.chords], "vocals": s.vocals}
                         for s in self.sections],
            "parts": [{"stem": p.stem, "instrument": p.instrument.name,
                       "program": p.instrument.program, "style": p.style,
                       "pan": round(p.pan, 2), "notes": len(p.notes)} for p in self.parts],
            "lyrics": " ".join(n.syllable for n in self.vocal_notes),
        }


FORMS = (
    ("intro", "verse", "chorus", "verse", "chorus", "bridge", "chorus", "outro"),
    ("intro", "verse", "verse", "chorus", "verse", "chorus", "chorus", "outro"),
    ("intro", "chorus", "verse", "chorus", "bridge", "chorus", "outro"),
    ("verse", "chorus", "verse", "chorus", "bridge", "chorus", "outro"),
)
SECTION_BARS = {"intro": (2, 4), "verse": (8,), "chorus": (8,), "bridge": (4,), "outro": (4,)}


def choose(rng: np.random.Generator, items, weights=None):
    """One element of ``items`` (a sequence), optionally weighted."""
    items = list(items)
    if weights is not None:
        w = np.asarray(list(weights), dtype=float)
        return items[int(rng.choice(len(items), p=w / w.sum()))]
    return items[int(rng.integers(len(items)))]


def plan_sections(rng: np.random.Generator, key: Key, total_bars: int) -> list[Section]:
    """Sections (with one chord per bar) until ``total_bars`` are covered."""
    progressions = PROGRESSIONS[key.mode]
    prog = {name: choose(rng, progressions) for name in ("verse", "chorus", "bridge")}
    prog["intro"] = prog["outro"] = prog["verse"] if rng.random() < 0.5 else prog["chorus"]
    sevenths = rng.random() < 0.3
    form = choose(rng, FORMS)
    sections, bar = [], 0
    for name in form * 4:
        if bar >= total_bars:
            break
        options = SECTION_BARS[name]
        if name == "intro" and total_bars < 8:       # very short songs: no intro at all
            continue
        if name == "intro" and total_bars < 24:      # short songs: get to the singing soon
            options = (1, 2, 2)
        bars = min(choose(rng, options), total_bars - bar)
        degrees = prog[name]
        chords = tuple(key.chord(degrees[i % len(degrees)], sevenths) for i in range(bars))
        sections.append(Section(name, bar, bars, chords, vocals=name in ("verse", "chorus", "bridge")))
        bar += bars
    return sections
