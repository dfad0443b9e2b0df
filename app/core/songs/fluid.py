"""Instrument stems from a General MIDI SoundFont through FluidSynth.

One FluidSynth process renders all of a song's instrument stems: the MIDI file plays the
stems one after another (drums, then bass, then the other instruments, then any choir layer),
each in its own time slot followed by a few seconds of silence so that release and reverb
tails end before the next stem starts. The slots are cut back out of the rendered file at
known sample offsets. Loading a SoundFont costs most of a short render, so one process per
song instead of one per stem makes rendering about three times faster.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from ..jobs import UserError
from .arrangement import Arrangement, Part
from .midi import DRUM_CHANNEL, TICKS_PER_BEAT, MidiTrack
from .soundfont import drum_kit, melodic

GAP_SECONDS = 3.0
MASTER_GAIN = 0.5
FLUID_TIMEOUT = 300.0


def find_fluidsynth() -> str | None:
    return shutil.which("fluidsynth")


def _channels(parts: list[Part]) -> dict[int, int]:
    """MIDI channel for each part (by index); drums on channel 10."""
    free = [c for c in range(16) if c != DRUM_CHANNEL]
    out = {}
    for i, part in enumerate(parts):
        out[i] = DRUM_CHANNEL if part.stem == "drums" else free.pop(0)
    return out


def build_midi(arr: Arrangement, stems: list[str], soundfont: Path,
               rng: np.random.Generator) -> tuple[MidiTrack, int, int]:
    """The MIDI track with every stem in its slot, the slot length in ticks, the end tick."""
    slot_beats = math.ceil((arr.duration + GAP_SECONDS) / arr.beat_seconds)
    slot = slot_beats * TICKS_PER_BEAT
    track = MidiTrack(arr.bpm)
    parts = [p for s in stems for p in arr.stem_parts(s) if p.instrument.program >= 0]
    channels = _channels(parts)
    end_beat = arr.duration / arr.beat_seconds
    for i, part in enumerate(parts):
        ch = channels[i]
        offset = stems.index(part.stem) * slot
        if part.stem == "drums":
            track.program(ch, drum_kit(soundfont, part.instrument.program), bank=0)
        else:
            track.program(ch, melodic(soundfont, part.instrument.program))
        volume = int(round(110 * 10 ** (part.level_db / 40)))     # GM volume is squared
        track.control(0, ch, 7, min(127, volume))
        track.control(0, ch, 10, int(round(64 + 63 * part.pan)))
        track.control(0, ch, 91, int(rng.integers(15, 70)))        # reverb send
        track.control(0, ch, 93, int(rng.integers(0, 40)))         # chorus send
        for n in part.notes:
            length = min(n.length, end_beat - n.start)
            if length <= 0:
                continue
            track.note(offset + int(round(n.start * TICKS_PER_BEAT)),
                       int(round(length * TICKS_PER_BEAT)), ch, n.pitch, n.velocity)
    return track, slot, len(stems) * slot


def _run(cmd: list[str], cancel) -> subprocess.CompletedProcess:
    """Run FluidSynth, polling ``cancel`` so that Cancel kills it within a fraction of a second."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    start = time.monotonic()
    try:
        while proc.poll() is None:
            if cancel is not None:
                cancel.check()
            if time.monotonic() - start > FLUID_TIMEOUT:
                raise UserError("FluidSynth took too long and was stopped")
            time.sleep(0.02)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    out, err = proc.communicate()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def render_instruments(arr: Arrangement, stems: list[str], soundfont: Path, sample_rate: int,
                       rng: np.random.Generator, cancel=None) -> dict[str, np.ndarray]:
    """``{stem: (C, L) float32}`` for ``stems``, each ``arr.duration`` long."""
    exe = find_fluidsynth()
    if exe is None:
        raise UserError("FluidSynth is not installed",
                        hint="Install it (Debian/Ubuntu: apt-get install fluidsynth "
                             "fluid-soundfont-gm) or use the built-in synthesizer (--fallback).")
    track, slot, end = build_midi(arr, stems, soundfont, rng)
    slot_samples = slot / TICKS_PER_BEAT * arr.beat_seconds * sample_rate
    n = int(round(arr.duration * sample_rate))
    with tempfile.TemporaryDirectory(prefix="tfswa-fluid-") as tmp:
        midi = track.save(Path(tmp) / "song.mid", end)
        wav = Path(tmp) / "song.wav"
        cmd = [exe, "-ni", "-q", "-F", str(wav), "-r", str(sample_rate), "-g", str(MASTER_GAIN),
               "-O", "float", "-T", "wav", str(soundfont), str(midi)]
        proc = _run(cmd, cancel)
        if proc.returncode != 0 or not wav.exists():
            raise UserError(f"FluidSynth failed ({proc.stderr.strip()[-300:] or proc.returncode})",
                            soundfont)
        audio, _ = sf.read(str(wav), dtype="float32", always_2d=True)
    out = {}
    for k, stem in enumerate(stems):
        start = int(round(k * slot_samples))
        piece = audio[start:start + n].T
        out[stem] = np.ascontiguousarray(np.pad(piece, ((0, 0), (0, n - piece.shape[1]))))
    return out
