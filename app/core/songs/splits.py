"""Which SoundFont and voices render a song: the train and held-out presets.

Held-out evaluation must not only use unseen seeds but also sound unlike the training data,
so the two presets share no sampled instrument and no voice:

- ``train``: FluidR3_GM (Debian ``fluid-soundfont-gm``) and voice set A: espeak-ng's
  ``en`` and ``en-us`` voices with variants f1, f2, f3, m1, m3, m4.
- ``heldout``: TimGM6mb (``timgm6mb-soundfont``; MuseScore_General when TimGM6mb is missing)
  and voice set B: the British RP, Scottish and Caribbean voices with variants f4, f5, m2, m5.

Use seeds that do not overlap between the two (e.g. training from 0, held-out from 100000).
``--soundfont`` and ``--voices`` override a preset. Without FluidSynth, espeak-ng or a
SoundFont, the numpy fallback synthesizer renders instead (with a warning), unless the user
asked for a SoundFont or voices explicitly, which is then an error.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..jobs import UserError
from .espeak import find_espeak
from .fluid import find_fluidsynth
from .soundfont import find_soundfont, presets

VOICES_A = ("en+f1", "en+f3", "en-us+f2", "en+m1", "en+m3", "en-us+m4")
VOICES_B = ("en-gb-x-rp+f5", "en-gb-scotland+f4", "en-029+m2", "en-gb-x-rp+m5")
FALLBACK_VOICES = ("numpy-female", "numpy-male")


@dataclass(frozen=True)
class Split:
    name: str
    soundfonts: tuple[str, ...]      # preferred first
    voices: tuple[str, ...]


SPLITS = {
    "train": Split("train", ("FluidR3_GM",), VOICES_A),
    "heldout": Split("heldout", ("TimGM6mb", "MuseScore_General", "MuseScore_General_Lite"),
                     VOICES_B),
}


@dataclass(frozen=True)
class RenderSetup:
    """What renders the songs; plain data so that worker processes can receive it."""
    renderer: str                    # "fluidsynth" (with espeak-ng) or "numpy"
    soundfont: Path | None
    voices: tuple[str, ...]
    warning: str = ""

    @property
    def label(self) -> str:
        return "fluidsynth+espeak-ng" if self.renderer == "fluidsynth" else "numpy"


def check_voice(voice: str, espeak: str) -> None:
    """UserError unless espeak-ng knows the language and the variant of ``voice``."""
    hint = "List voices with 'espeak-ng --voices' and variants with 'espeak-ng --voices=variant'."
    proc = subprocess.run([espeak, "-v", voice, "-q", "a"], capture_output=True, text=True,
                          timeout=30)
    if proc.returncode != 0:
        raise UserError(f"espeak-ng has no voice '{voice}'", hint=hint)
    if "+" in voice:
        variant = voice.split("+", 1)[1]
        listing = subprocess.run([espeak, "--voices=variant"], capture_output=True, text=True,
                                 timeout=30).stdout
        names = {tok.split("/")[-1].lower() for tok in listing.split() if tok.startswith("!v/")}
        if names and variant.lower() not in names:
            raise UserError(f"espeak-ng has no voice variant '{variant}' (in '{voice}')", hint=hint)


def resolve(split: str = "train", soundfont: Path | str | None = None,
            voices: tuple[str, ...] | None = None, fallback: bool = False) -> RenderSetup:
    """The renderer, SoundFont and voice set for a run (see the module docstring)."""
    if split not in SPLITS:
        raise UserError(f"unknown split '{split}'; choose one of {', '.join(SPLITS)}")
    if fallback:
        return RenderSetup("numpy", None, FALLBACK_VOICES)
    preset = SPLITS[split]
    explicit = soundfont is not None or bool(voices)
    missing = []
    if find_fluidsynth() is None:
        missing.append("fluidsynth")
    espeak = find_espeak()
    if espeak is None:
        missing.append("espeak-ng")
    if soundfont is not None:
        sf_path = Path(soundfont)
        if not sf_path.is_file():
            raise UserError("SoundFont not found", sf_path,
                            "Give the path of an .sf2/.sf3 file, e.g. /usr/share/sounds/sf2/FluidR3_GM.sf2.")
        presets(sf_path)                       # raises if it is not a SoundFont
    else:
        sf_path = next((p for p in map(find_soundfont, preset.soundfonts) if p), None)
        if sf_path is None:
            missing.append(f"a SoundFont ({' or '.join(preset.soundfonts)})")
    if missing:
        message = f"{', '.join(missing)} not found"
        hint = ("Install them (Debian/Ubuntu: apt-get install fluidsynth fluid-soundfont-gm "
                "timgm6mb-soundfont espeak-ng) or use --fallback.")
        if explicit:
            raise UserError(message, hint=hint)
        return RenderSetup("numpy", None, FALLBACK_VOICES,
                           warning=f"{message}: using the numpy fallback synthesizer. {hint}")
    chosen = tuple(voices) if voices else preset.voices
    for voice in chosen:
        check_voice(voice, espeak)
    return RenderSetup("fluidsynth", sf_path, chosen)
