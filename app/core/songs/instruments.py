"""The General MIDI instruments songs are played with, grouped by role.

Each harmony instrument lists the playing styles that suit it (``parts.harmony`` knows
them) and a timbre name the numpy fallback synthesizer understands (``synth.TIMBRES``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Instrument:
    name: str
    program: int                 # GM program 0..127 (drum kits: the kit's program in bank 128)
    styles: tuple[str, ...] = ()
    timbre: str = "piano"        # fallback synthesizer voice
    center: int = 60             # MIDI pitch the part is voiced around


HARMONY = (
    Instrument("Acoustic Grand Piano", 0, ("block", "arpeggio", "ballad"), "piano", 62),
    Instrument("Bright Acoustic Piano", 1, ("block", "arpeggio"), "piano", 64),
    Instrument("Electric Piano 1", 4, ("block", "ballad", "arpeggio"), "epiano", 62),
    Instrument("Electric Piano 2", 5, ("block", "arpeggio"), "epiano", 64),
    Instrument("Vibraphone", 11, ("arpeggio", "ballad"), "mallet", 67),
    Instrument("Marimba", 12, ("arpeggio",), "mallet", 67),
    Instrument("Drawbar Organ", 16, ("pad", "block"), "organ", 60),
    Instrument("Rock Organ", 18, ("pad", "block"), "organ", 60),
    Instrument("Acoustic Guitar (nylon)", 24, ("strum", "arpeggio"), "pluck", 57),
    Instrument("Acoustic Guitar (steel)", 25, ("strum", "arpeggio"), "pluck", 57),
    Instrument("Electric Guitar (jazz)", 26, ("strum", "block"), "pluck", 58),
    Instrument("Electric Guitar (clean)", 27, ("strum", "arpeggio", "block"), "pluck", 60),
    Instrument("Overdriven Guitar", 29, ("power",), "drive", 52),
    Instrument("Distortion Guitar", 30, ("power",), "drive", 50),
    Instrument("Orchestral Harp", 46, ("arpeggio",), "pluck", 62),
    Instrument("String Ensemble 1", 48, ("pad",), "strings", 60),
    Instrument("String Ensemble 2", 49, ("pad",), "strings", 60),
    Instrument("Synth Strings 1", 50, ("pad",), "strings", 62),
    Instrument("Brass Section", 61, ("block", "pad"), "brass", 60),
    Instrument("Pad 1 (new age)", 88, ("pad",), "pad", 62),
    Instrument("Pad 2 (warm)", 89, ("pad",), "pad", 60),
    Instrument("Pad 3 (polysynth)", 90, ("pad", "block"), "pad", 62),
)

# Sustained instruments make the "bed", the others the rhythm; a song takes one of each
# (sometimes a third), so "other" always varies between songs.
SUSTAINED_STYLES = ("pad",)

BASSES = (
    Instrument("Acoustic Bass", 32, ("roots", "walk"), "bass", 40),
    Instrument("Electric Bass (finger)", 33, ("roots", "eighths", "sync", "walk"), "bass", 40),
    Instrument("Electric Bass (pick)", 34, ("eighths", "sync", "roots"), "bass", 40),
    Instrument("Fretless Bass", 35, ("roots", "walk"), "bass", 40),
    Instrument("Slap Bass 1", 36, ("sync",), "bass", 40),
    Instrument("Synth Bass 1", 38, ("eighths", "sync"), "synthbass", 40),
    Instrument("Synth Bass 2", 39, ("eighths", "roots"), "synthbass", 40),
)

DRUM_KITS = (
    Instrument("Standard Kit", 0, timbre="kit"),
    Instrument("Room Kit", 8, timbre="kit"),
    Instrument("Power Kit", 16, timbre="kit"),
    Instrument("Electronic Kit", 24, timbre="electronic"),
    Instrument("TR-808 Kit", 25, timbre="electronic"),
    Instrument("Jazz Kit", 32, timbre="kit"),
    Instrument("Brush Kit", 40, timbre="kit"),
)

# Soundfont choir patches that may double the lead vocal quietly.
VOICE_LAYERS = (
    Instrument("Choir Aahs", 52, timbre="pad"),
    Instrument("Voice Oohs", 53, timbre="pad"),
)
