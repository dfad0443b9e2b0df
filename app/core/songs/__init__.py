"""Multi-stem songs made from a seed, for training and evaluating separation models.

``compose`` writes an arrangement (tempo, key, mode, chords, sections, drums, bass, harmony
instruments and a sung melody with lyrics); ``render_song`` plays it with a General MIDI
SoundFont through FluidSynth and sings it with espeak-ng + PSOLA (or with the numpy fallback
synthesizer); ``generate_songs`` writes many as MUSDB18-style folders, in parallel.
Which SoundFont and voices the ``train`` and ``heldout`` presets use: see ``splits``.
Modules: theory, instruments, arrangement, parts, melody (composition); midi, soundfont, fluid
(instruments); espeak, psola, expression, singer (voice); synth, formant (fallback); mix, song,
writer, generate (assembly).
"""

from .arrangement import STEMS, Arrangement, Note, Part
from .compose import compose
from .generate import SongsResult, TrackResult, generate_songs, make_track
from .song import SAMPLE_RATE, Song, render_song
from .splits import SPLITS, VOICES_A, VOICES_B, RenderSetup, resolve
from .writer import FILES, track_name, write_track

__all__ = ["STEMS", "Arrangement", "Note", "Part", "compose", "SongsResult", "TrackResult",
           "generate_songs", "make_track", "SAMPLE_RATE", "Song", "render_song", "SPLITS",
           "VOICES_A", "VOICES_B", "RenderSetup", "resolve", "FILES", "track_name",
           "write_track"]
