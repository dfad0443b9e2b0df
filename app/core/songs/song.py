"""One song from a seed: compose, render the instruments and the voice, mix.

Independent random streams (numpy ``SeedSequence`` children of the song seed) pick the voice,
compose, render and mix, so that changing how one stage uses randomness does not reshuffle the
others.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import fluid, formant, singer, synth
from .arrangement import STEMS, Arrangement, choose
from .compose import compose
from .espeak import SyllableVoice, voice_gender
from .mix import finish, pan, reverb
from .splits import RenderSetup

SAMPLE_RATE = 44100


@dataclass
class Song:
    arrangement: Arrangement
    stems: dict[str, np.ndarray]        # vocals, drums, bass, other, accompaniment, mixture
    sample_rate: int
    renderer: str
    soundfont: str | None
    voice: str
    mix: dict = field(default_factory=dict)

    def describe(self) -> dict:
        """``song.json``: enough to reproduce the song and to describe a data set."""
        return {**self.arrangement.describe(), "renderer": self.renderer,
                "soundfont": self.soundfont, "voice": self.voice,
                "sample_rate": self.sample_rate, "mix": self.mix,
                "stems": list(STEMS) + ["accompaniment", "mixture"]}


def _streams(seed: int) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(seed).spawn(4)
    return dict(zip(("voice", "render", "singer", "mix"),
                    (np.random.default_rng(c) for c in children)))


def render_song(seed: int, setup: RenderSetup, duration: float = 30.0,
                sample_rate: int = SAMPLE_RATE, cancel=None, progress=None) -> Song:
    """Song ``seed`` rendered with ``setup``, ``duration`` seconds long."""
    report = progress or (lambda f, m="": None)
    rng = _streams(seed)
    voice = choose(rng["voice"], setup.voices)
    gender = "female" if voice in ("numpy-female",) else voice_gender(voice)
    arr = compose(seed, duration, gender)
    report(0.05, "composed")
    band = ["drums", "bass", "other"]
    layered = [p for p in arr.stem_parts("vocals") if p.instrument.program >= 0]
    render_stems = band + (["vocals"] if layered else [])
    if setup.renderer == "fluidsynth":
        stems = fluid.render_instruments(arr, render_stems, setup.soundfont, sample_rate,
                                         rng["render"], cancel)
        report(0.6, "instruments rendered")
        lead = singer.render_lead(arr, SyllableVoice(voice), rng["singer"], sample_rate, cancel)
    else:
        stems = synth.render_instruments(arr, render_stems, sample_rate, rng["render"], cancel)
        report(0.6, "instruments rendered")
        lead = formant.render_lead(arr, gender == "female", rng["singer"], sample_rate, cancel)
    report(0.85, "vocals sung")
    lead_part = next(p for p in arr.parts if p.stem == "vocals" and p.style == "lead")
    vocals = reverb(pan(lead, lead_part.pan), sample_rate, rng["mix"],
                    float(rng["mix"].uniform(0.8, 1.8)), float(rng["mix"].uniform(0.08, 0.25)))
    if layered:
        vocals = vocals + stems["vocals"] * np.float32(10 ** (layered[0].level_db / 20) / 0.3)
    stems["vocals"] = vocals
    mixed, info = finish({s: stems[s] for s in STEMS}, sample_rate, rng["mix"])
    report(1.0, "mixed")
    return Song(arr, mixed, sample_rate, setup.label,
                str(setup.soundfont) if setup.soundfont else None, voice, info)
