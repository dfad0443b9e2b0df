"""Spoken syllables from espeak-ng: one call per distinct word, read back as float samples."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import soundfile as sf

from ..jobs import UserError

ESPEAK_NAMES = ("espeak-ng", "espeak")


def find_espeak() -> str | None:
    for name in ESPEAK_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def voice_gender(voice: str) -> str:
    """'female' for espeak-ng voices with a female variant (``en+f3``), else 'male'."""
    variant = voice.split("+", 1)[1].lower() if "+" in voice else ""
    return "female" if variant.startswith("f") or variant in ("annie", "anika", "linda") else "male"


def _trim(x: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    loud = np.flatnonzero(np.abs(x) > threshold * max(1e-9, float(np.abs(x).max())))
    if len(loud) == 0:
        return x[:0]
    return x[max(0, loud[0] - 40):loud[-1] + 40]


class SyllableVoice:
    """Speaks words with one espeak-ng voice and remembers each rendering."""

    def __init__(self, voice: str, pitch: int = 95, speed: int = 90,
                 executable: str | None = None):
        self.voice = voice
        self.pitch = int(pitch)
        self.speed = int(speed)
        self.executable = executable or find_espeak()
        if self.executable is None:
            raise UserError("espeak-ng is not installed",
                            hint="Install it (Debian/Ubuntu: apt-get install espeak-ng) or use "
                                 "the built-in synthesizer (--fallback).")
        self.sample_rate = 22050
        self._cache: dict[str, np.ndarray] = {}
        self._base_f0: float | None = None

    @property
    def base_f0(self) -> float:
        """The voice's monotone pitch (Hz), measured once on an open vowel."""
        if self._base_f0 is None:
            from .psola import frame_f0

            x = self.speak("la")
            hop, win = self.sample_rate // 200, int(0.035 * self.sample_rate)
            f0 = frame_f0(x, self.sample_rate, hop, win)
            voiced = f0[f0 > 0]
            if len(voiced) == 0:
                raise UserError(f"espeak-ng voice '{self.voice}' produced no voiced sound")
            self._base_f0 = float(np.median(voiced))
        return self._base_f0

    def speak(self, word: str) -> np.ndarray:
        """``(samples,)`` float64 at :attr:`sample_rate`, silence trimmed."""
        if word not in self._cache:
            self._cache[word] = self._render(word)
        return self._cache[word]

    def _render(self, word: str) -> np.ndarray:
        with tempfile.TemporaryDirectory(prefix="tfswa-espeak-") as tmp:
            out = Path(tmp) / "word.wav"
            # a monotone reading (pitch range 0): PSOLA then only moves a flat pitch, and
            # the echo some variants add (f2-f5, m2) repeats the same pitch, not a glide
            text = f'<speak><prosody range="0">{escape(word)}</prosody></speak>'
            cmd = [self.executable, "-v", self.voice, "-s", str(self.speed),
                   "-p", str(self.pitch), "-m", "-z", "-w", str(out), text]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            if proc.returncode != 0 or not out.exists():
                raise UserError(f"espeak-ng failed for voice '{self.voice}' "
                                f"({proc.stderr.strip() or proc.returncode})",
                                hint="List the installed voices with: espeak-ng --voices")
            x, sr = sf.read(str(out), dtype="float64", always_2d=False)
        if x.ndim > 1:
            x = x.mean(axis=1)
        self.sample_rate = int(sr)
        return _trim(x)
