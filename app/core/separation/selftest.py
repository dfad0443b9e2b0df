"""``self_test``: separate a few seconds of the bundled demo song with the bundled demo model
and check the stems. The app's ``--self-test`` runs it, so an installed copy can prove that
it works (and a user can paste the report into a bug report)."""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..audio.io import load
from ..backends.registry import load_backend
from ..jobs import CancelToken, ProgressFn, UserError, ensure_token, no_progress
from ..resources import demo_model, demo_song, desktop_dir, desktop_entry, icon_files
from .separate import SeparationOptions, separate_array

MAX_SUM_ERROR = 0.05      # ||sum of stems - mixture|| / ||mixture|| (the demo: about 0.003)


@dataclass
class SelfTestResult:
    model: str
    song: str
    backend: str
    seconds: float
    elapsed: float
    checks: list[tuple[str, bool, str]] = field(default_factory=list)   # (name, passed, detail)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(passed for _, passed, _ in self.checks)

    def report(self) -> str:
        lines = [f"TFSWA Studio self-test: {'PASSED' if self.ok else 'FAILED'}",
                 f"  model    {self.model} ({self.backend})",
                 f"  song     {self.song}, first {self.seconds:.1f} s, separated in "
                 f"{self.elapsed:.2f} s",
                 f"  python   {platform.python_version()} on {platform.platform()}"]
        lines += [f"  {'ok  ' if passed else 'FAIL'}     {name}: {detail}"
                  for name, passed, detail in self.checks]
        return "\n".join(lines)


def check_stems(stems: np.ndarray, mixture: np.ndarray, sources, references=None) -> list:
    """The checks on ``(S, 2, n)`` stems of a ``(2, n)`` mixture: shape, finite, sum, and
    each stem nearer its true stem than silence is (when the true stems are given)."""
    expected = (len(sources), 2, mixture.shape[1])
    checks = [("shape", stems.shape == expected, f"{stems.shape}, expected {expected}")]
    finite = bool(np.isfinite(stems).all())
    checks.append(("finite", finite, "every sample finite" if finite else "NaN or Inf found"))
    if not (checks[0][1] and finite):
        return checks
    error = float(np.linalg.norm(stems.sum(0) - mixture) / max(np.linalg.norm(mixture), 1e-12))
    checks.append(("sum", error <= MAX_SUM_ERROR,
                   f"stems add up to the mixture within {error:.2%} (limit {MAX_SUM_ERROR:.0%})"))
    for name, stem, ref in zip(sources, stems, references or ()):
        if ref is None:
            continue
        ref = ref[:, :stem.shape[1]]
        sdr = 10 * np.log10(np.sum(ref ** 2) / max(float(np.sum((ref - stem) ** 2)), 1e-20))
        checks.append((name, sdr > 0, f"SDR {sdr:.1f} dB against the true {name} (> 0 dB)"))
    return checks


def self_test(seconds: float = 5.0, model: Optional[Path] = None, song: Optional[Path] = None,
              threads: Optional[int] = None, *, progress: Optional[ProgressFn] = None,
              cancel: Optional[CancelToken] = None) -> SelfTestResult:
    """Separate the first ``seconds`` of the demo song (or ``song``) with the demo model (or
    ``model``) and check the stems; raises UserError when the install has no demo."""
    progress = progress or no_progress
    cancel = ensure_token(cancel)
    model = Path(model) if model else demo_model()
    song = Path(song) if song else demo_song()
    if model is None or song is None:
        raise UserError("this install has no demo model or demo song to test with "
                        f"(looked in {Path(__file__).resolve().parents[2] / 'resources'})")
    progress(0.0, f"loading {model.name}")
    backend = load_backend(model, threads)
    rate = backend.audio.sample_rate
    mixture = load(song, rate)[0][:, :int(seconds * rate)]
    references = [true_stem(song, name, rate, mixture.shape[1]) for name in backend.sources]
    start = time.perf_counter()
    stems = separate_array(mixture, backend, SeparationOptions(),
                           progress=lambda f, m: progress(0.1 + 0.9 * f, m), cancel=cancel)
    elapsed = time.perf_counter() - start
    result = SelfTestResult(model=str(model), song=str(song), elapsed=elapsed,
                            backend=f"{backend.kind} {backend.precision}",
                            seconds=mixture.shape[1] / rate)
    result.checks = [resources_check()] + check_stems(stems, mixture, backend.sources,
                                                      references)
    progress(1.0, "self-test " + ("passed" if result.ok else "failed"))
    return result


def resources_check() -> tuple[str, bool, str]:
    """The icon (every PNG size) and the desktop entry are where the app looks for them."""
    icons, entry = icon_files(), desktop_entry()
    found = len(icons) > 1 and entry is not None
    where = desktop_dir()
    return ("resources", found, f"icon ({len(icons) - 1 if icons else 0} sizes) and desktop "
            f"entry in {where}" if found else f"icon or desktop entry missing (in {where})")


def true_stem(song: Path, name: str, rate: int, samples: int) -> Optional[np.ndarray]:
    """The demo song's true ``name`` stem beside its mixture, or None."""
    path = song.with_name(f"{name}{song.suffix}")
    return load(path, rate)[0][:, :samples] if path.exists() else None


def print_report(result: SelfTestResult, stream=None) -> int:
    """Print the report; the exit status (0 passed, 1 failed)."""
    print(result.report(), file=stream or sys.stdout, flush=True)
    return 0 if result.ok else 1
