"""``tfswa-studio songs --out DIR --count N --seed S``: generate multi-stem training songs."""

from __future__ import annotations

import argparse
import sys

from ..core.songs import SPLITS, generate_songs
from ..terminal import TerminalProgress


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "songs", help="generate multi-stem songs (training / evaluation data)",
        description="Compose songs from seeds and render them with a General MIDI SoundFont "
                    "(FluidSynth) and sung vocals (espeak-ng), or with the built-in numpy "
                    "synthesizer. Writes OUT/song-SEED/{mixture,vocals,drums,bass,other,"
                    "accompaniment}.wav (or .flac) and song.json.")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--count", type=int, default=1, help="number of songs (default 1)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the first song; song i uses SEED+i (default 0)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds per song (default 30)")
    p.add_argument("--split", choices=sorted(SPLITS), default="train",
                   help="preset SoundFont and voices: train (FluidR3_GM, voice set A) or "
                        "heldout (TimGM6mb, voice set B, never used in training)")
    p.add_argument("--soundfont", help="SoundFont (.sf2/.sf3) instead of the preset's")
    p.add_argument("--voices", "--voice", dest="voices",
                   help="comma-separated espeak-ng voices instead of the preset's, "
                        "e.g. en+f3,en+m1")
    p.add_argument("--fallback", action="store_true",
                   help="use the numpy synthesizer (no FluidSynth/espeak-ng needed)")
    p.add_argument("--format", choices=["wav", "flac"], default="wav",
                   help="float WAV (default) or 24-bit FLAC (half the size); the stems add "
                        "up to the mixture exactly in both")
    p.add_argument("--jobs", type=int, help="songs rendered at once (default: all cores)")
    p.add_argument("--overwrite", action="store_true", help="replace existing track folders")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def run(args) -> int:
    from ..cli import print_json

    voices = tuple(v.strip() for v in args.voices.split(",") if v.strip()) if args.voices else None
    bar = TerminalProgress("songs", quiet=args.json)
    try:
        result = generate_songs(args.out, args.count, args.seed, args.duration, args.split,
                                args.soundfont, voices, args.fallback, args.jobs,
                                args.overwrite, args.format, progress=bar)
    finally:
        bar.done()
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print_json(result)
        return 0
    print(f"{len(result.tracks)} song(s), {result.audio_seconds:.0f} s of audio in "
          f"{result.elapsed_s:.1f} s with {result.renderer} ({result.jobs} job(s)) -> {result.out}")
    if result.soundfont:
        print(f"  soundfont {result.soundfont}; voices {', '.join(result.voices)}")
    for t in result.tracks:
        print(f"  {t.name}  voice {t.voice:<20} {t.elapsed_s:5.1f} s")
    return 0
