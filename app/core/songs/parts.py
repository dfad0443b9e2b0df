"""The band: drum, bass and harmony parts written over an arrangement's sections."""

from __future__ import annotations

import numpy as np

from .arrangement import Arrangement, Note, Part, choose
from .instruments import Instrument
from .theory import nearest_pitch, voice_chord

KICK, SIDESTICK, SNARE, CLAP, HAT, PEDAL_HAT, OPEN_HAT = 36, 37, 38, 39, 42, 44, 46
CRASH, RIDE, TAMBOURINE, TOM_LOW, TOM_MID, TOM_HIGH = 49, 51, 54, 45, 47, 50

# One bar on a 16th-note grid: "x" accented hit, "o" normal hit, "." nothing.
GROOVES = {
    "rock": {KICK: "x.....o.x.o.....", SNARE: "....x.......x...", HAT: "x.o.x.o.x.o.x.o."},
    "pop": {KICK: "x.....x...x.....", SNARE: "....x.......x...", HAT: "xooox.ooxooox.oo"},
    "four": {KICK: "x...x...x...x...", CLAP: "....x.......x...", OPEN_HAT: "..o...o...o...o.",
             HAT: "o.o.o.o.o.o.o.o."},
    "halftime": {KICK: "x.......o.x.....", SNARE: "........x.......", HAT: "x.o.x.o.x.o.x.o."},
    "ballad": {KICK: "x.......x.......", SIDESTICK: "....o.......o...", RIDE: "o...o...o...o..."},
    "funk": {KICK: "x..o..x...o..x..", SNARE: "....x..o.o..x...", HAT: "xoxoxoxoxoxoxoxo"},
}
SECTION_HATS = {"chorus": (RIDE, OPEN_HAT), "bridge": (RIDE,)}


def _hits(pattern: str, bar_start: float, key: int, rng: np.random.Generator,
          level: int) -> list[Note]:
    notes = []
    for step, mark in enumerate(pattern):
        if mark == ".":
            continue
        vel = level + (18 if mark == "x" else 0) + int(rng.integers(-8, 9))
        notes.append(Note(bar_start + step / 4, 0.25, key, vel))
    return notes


def _fill(bar_start: float, rng: np.random.Generator) -> list[Note]:
    """A one-beat fill at the end of the bar (toms or snare roll) leading to a crash."""
    toms = choose(rng, ((TOM_HIGH, TOM_MID, TOM_LOW, TOM_LOW), (SNARE,) * 4,
                        (SNARE, SNARE, TOM_MID, TOM_LOW)))
    return [Note(bar_start + 3 + i / 4, 0.25, k, 80 + 8 * i) for i, k in enumerate(toms)]


def drum_part(rng: np.random.Generator, arr: Arrangement, kit: Instrument) -> Part:
    groove = choose(rng, list(GROOVES))
    if kit.program in (24, 25):          # electronic kits get dance grooves
        groove = choose(rng, ("four", "pop", "halftime"))
    part = Part("drums", kit, groove, pan=0.0, level_db=0.0)
    level = int(rng.integers(70, 90))
    for sec in arr.sections:
        pattern = dict(GROOVES[groove])
        if sec.name in SECTION_HATS and HAT in pattern and rng.random() < 0.6:
            pattern[choose(rng, SECTION_HATS[sec.name])] = pattern.pop(HAT)
        if sec.name == "intro":
            pattern = {k: v for k, v in pattern.items() if k not in (SNARE, CLAP, SIDESTICK)}
        for b in range(sec.bars):
            start = (sec.start_bar + b) * 4.0
            if b == 0 and sec.name in ("chorus", "bridge", "verse") and sec.start_bar:
                part.notes.append(Note(start, 1.0, CRASH, 100))
            last = b == sec.bars - 1 and sec.bars >= 4
            for key, pat in pattern.items():
                pat = pat[:12] + "...." if last else pat
                part.notes.extend(_hits(pat, start, key, rng, level))
            if last:
                part.notes.extend(_fill(start, rng))
    return part


BASS_RHYTHMS = {   # (offset in beats, length, which chord tone: 0 root, 1 third/fifth, 2 octave)
    "roots": ((0, 1.9, 0), (2, 1.9, 0)),
    "eighths": tuple((i / 2, 0.45, 0) for i in range(8)),
    "sync": ((0, 0.7, 0), (0.75, 0.5, 0), (1.5, 0.45, 2), (2.5, 0.7, 0), (3.5, 0.45, 1)),
    "walk": ((0, 0.95, 0), (1, 0.95, 1), (2, 0.95, 2), (3, 0.95, 1)),
}


def bass_part(rng: np.random.Generator, arr: Arrangement, bass: Instrument) -> Part:
    style = choose(rng, bass.styles)
    part = Part("bass", bass, style, pan=float(rng.uniform(-0.1, 0.1)), level_db=0.0)
    for sec in arr.sections:
        rhythm = BASS_RHYTHMS["roots" if sec.name == "intro" else style]
        for b, chord in enumerate(sec.chords):
            root = nearest_pitch(chord.root, 36)
            tones = (root, nearest_pitch(chord.tones[2], root + 5), root + 12)
            bar = (sec.start_bar + b) * 4.0
            for offset, length, tone in rhythm:
                vel = int(rng.integers(80, 105)) + (10 if offset == 0 else 0)
                part.notes.append(Note(bar + offset, length, tones[tone], min(vel, 127)))
    return part


COMP_RHYTHMS = {   # chord hits in a bar: (offset, length)
    "block": (((0, 1.5), (1.5, 1.0), (2.5, 1.5)), ((0, 0.9), (1, 0.9), (2, 0.9), (3, 0.9)),
              ((0, 3.9),), ((0.5, 0.45), (1.5, 0.45), (2.5, 0.45), (3.5, 0.45))),
    "ballad": (((0, 2.0), (2, 2.0)), ((0, 3.9),)),
    "strum": (((0, 0.9), (1, 0.45), (1.5, 0.9), (2.5, 0.45), (3, 0.9)),
              ((0, 1.4), (1.5, 1.0), (2.5, 1.4))),
    "power": (((0, 0.45), (0.5, 0.45), (1, 0.45), (1.5, 0.45), (2, 0.45), (2.5, 0.45),
               (3, 0.45), (3.5, 0.45)), ((0, 1.4), (1.5, 0.9), (2.5, 1.4))),
    "pad": (((0, 4.0),), ((0, 2.0), (2, 2.0))),
}


def _chord_notes(style: str, chord_pitches: list[int], bar: float, rhythm, rng,
                 level: int) -> list[Note]:
    notes = []
    if style == "arpeggio":
        order = chord_pitches + [chord_pitches[0] + 12]
        order = order + order[-2:0:-1]
        for i in range(8):
            notes.append(Note(bar + i / 2, 0.9, order[i % len(order)], level + int(rng.integers(-6, 7))))
        return notes
    if style == "power":
        chord_pitches = [chord_pitches[0], chord_pitches[0] + 7]
    for offset, length in rhythm:
        vel = level + int(rng.integers(-6, 7))
        for i, p in enumerate(chord_pitches):
            stagger = 0.02 * i if style == "strum" else 0.0
            notes.append(Note(bar + offset + stagger, length - stagger, p, vel))
    return notes


def harmony_part(rng: np.random.Generator, arr: Arrangement, inst: Instrument, style: str,
                 pan: float) -> Part:
    part = Part("other", inst, style, pan=pan, level_db=float(rng.uniform(-4, 0)))
    rhythm = choose(rng, COMP_RHYTHMS.get(style, COMP_RHYTHMS["block"]))
    level = int(rng.integers(60, 85))
    previous = None
    for sec in arr.sections:
        sec_level = level + (8 if sec.name == "chorus" else -6 if sec.name == "intro" else 0)
        for b, chord in enumerate(sec.chords):
            pitches = voice_chord(chord, inst.center, previous)
            previous = pitches
            part.notes.extend(_chord_notes(style, pitches, (sec.start_bar + b) * 4.0, rhythm,
                                           rng, sec_level))
    return part


def harmony_parts(rng: np.random.Generator, arr: Arrangement, catalog, sustained) -> list[Part]:
    """A sustained bed and a rhythmic instrument (sometimes a second one), panned apart."""
    beds = [i for i in catalog if any(s in sustained for s in i.styles)]
    rhythmic = [i for i in catalog if any(s not in sustained for s in i.styles)]
    picks = [(choose(rng, beds), "pad")]
    first = choose(rng, rhythmic)
    picks.append((first, choose(rng, [s for s in first.styles if s not in sustained])))
    if rng.random() < 0.35:
        second = choose(rng, [i for i in rhythmic if i != first])
        picks.append((second, choose(rng, [s for s in second.styles if s not in sustained])))
    side = 1.0 if rng.random() < 0.5 else -1.0
    parts = []
    for i, (inst, style) in enumerate(picks):
        pan = float(rng.uniform(0.0, 0.3)) if i == 0 else side * float(rng.uniform(0.3, 0.8))
        side = -side if i else side
        parts.append(harmony_part(rng, arr, inst, style, pan))
    return parts
