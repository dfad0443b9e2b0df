"""A tiny Standard MIDI File writer (format 0, one track): just what the song renderer needs.

Events are given in ticks; the file starts with a tempo meta event so that FluidSynth plays
beats at the song's tempo.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_BEAT = 480
DRUM_CHANNEL = 9          # MIDI channel 10, counted from zero


@dataclass(frozen=True)
class MidiEvent:
    tick: int
    order: int            # ties at one tick: lower first (note-off before note-on)
    data: bytes


def _varlen(value: int) -> bytes:
    """A MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


class MidiTrack:
    """Collects channel events and serialises them as a format-0 SMF."""

    def __init__(self, bpm: float):
        self.bpm = float(bpm)
        self.events: list[MidiEvent] = []

    def program(self, channel: int, program: int, bank: int = 0) -> None:
        self.control(0, channel, 0, bank)
        self.events.append(MidiEvent(0, 1, bytes([0xC0 | channel, program & 0x7F])))

    def control(self, tick: int, channel: int, controller: int, value: int) -> None:
        self.events.append(MidiEvent(tick, 0, bytes([0xB0 | channel, controller, value & 0x7F])))

    def note(self, tick: int, length: int, channel: int, pitch: int, velocity: int) -> None:
        length = max(1, int(length))
        self.events.append(MidiEvent(tick, 3, bytes([0x90 | channel, pitch & 0x7F,
                                                     max(1, min(127, velocity))])))
        self.events.append(MidiEvent(tick + length, 2, bytes([0x80 | channel, pitch & 0x7F, 0])))

    def to_bytes(self, end_tick: int) -> bytes:
        """The whole file; the track ends at ``end_tick`` (events after it are dropped)."""
        tempo = int(round(60_000_000 / self.bpm))
        body = bytearray(b"\x00\xff\x51\x03" + tempo.to_bytes(3, "big"))
        now = 0
        for ev in sorted(self.events, key=lambda e: (e.tick, e.order)):
            if ev.tick > end_tick:
                continue
            body += _varlen(ev.tick - now) + ev.data
            now = ev.tick
        body += _varlen(max(0, end_tick - now)) + b"\xff\x2f\x00"
        header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_BEAT)
        return header + b"MTrk" + struct.pack(">I", len(body)) + bytes(body)

    def save(self, path: Path | str, end_tick: int) -> Path:
        path = Path(path)
        path.write_bytes(self.to_bytes(end_tick))
        return path
