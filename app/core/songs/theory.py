"""Scales, diatonic chords and chord progressions: the harmony every part follows."""

from __future__ import annotations

from dataclasses import dataclass

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Semitone steps of the church modes used for songs (weights favour major and minor).
MODES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}
MODE_WEIGHTS = {"major": 0.4, "minor": 0.35, "dorian": 0.12, "mixolydian": 0.13}

# Progressions as scale degrees (0 = tonic), one chord per bar; pop staples per mode family.
PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 4, 3), (0, 3, 5, 4),
              (3, 4, 0, 5), (0, 1, 3, 4), (0, 4, 3, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 5, 3, 4), (5, 6, 0, 0),
              (0, 2, 6, 5), (0, 3, 6, 2)),
}
PROGRESSIONS["dorian"] = ((0, 3, 0, 3), (0, 6, 3, 0), (0, 2, 3, 6), (0, 3, 6, 4))
PROGRESSIONS["mixolydian"] = ((0, 6, 3, 0), (0, 3, 6, 3), (0, 6, 4, 3), (0, 4, 6, 3))


@dataclass(frozen=True)
class Key:
    tonic: int            # pitch class 0..11
    mode: str

    @property
    def scale(self) -> tuple[int, ...]:
        return tuple((self.tonic + s) % 12 for s in MODES[self.mode])

    @property
    def name(self) -> str:
        return f"{NOTE_NAMES[self.tonic]} {self.mode}"

    def chord(self, degree: int, seventh: bool = False) -> "Chord":
        """The diatonic triad (or seventh chord) on ``degree`` of this key's scale."""
        scale = self.scale
        size = 4 if seventh else 3
        tones = tuple(scale[(degree + 2 * i) % 7] for i in range(size))
        return Chord(root=tones[0], tones=tones)


@dataclass(frozen=True)
class Chord:
    root: int                      # pitch class
    tones: tuple[int, ...]         # pitch classes, root first

    @property
    def name(self) -> str:
        third = (self.tones[1] - self.root) % 12
        fifth = (self.tones[2] - self.root) % 12
        quality = "m" if third == 3 else ""
        if fifth == 6:
            quality = "dim"
        if len(self.tones) > 3:
            seventh = (self.tones[3] - self.root) % 12
            quality += "maj7" if seventh == 11 and third == 4 else "7"
        return NOTE_NAMES[self.root] + quality


def nearest_pitch(pitch_class: int, target: int) -> int:
    """The MIDI pitch of ``pitch_class`` closest to ``target`` (ties go down)."""
    below = target - (target - pitch_class) % 12
    return below if target - below <= below + 12 - target else below + 12


def voice_chord(chord: Chord, center: int, previous: list[int] | None = None) -> list[int]:
    """Close-position pitches of ``chord`` near ``center``, moving little from ``previous``."""
    anchor = previous if previous else [center]
    mean = sum(anchor) / len(anchor)
    pitches = sorted(nearest_pitch(pc, int(round(mean))) for pc in chord.tones)
    # keep the voicing within an octave and a fifth around the centre
    return [p - 12 if p > center + 9 else p + 12 if p < center - 9 else p for p in pitches]
