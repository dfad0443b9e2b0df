"""Signal-to-distortion ratios for separated stems.

``sdr`` is the utterance-level SDR of the Music Demixing challenge (MDX 2021):
``10 log10((sum s^2 + eps) / (sum (s - s_hat)^2 + eps))`` over all samples and channels of a
stem, with ``eps = 1e-7``. It is cheap, has no free parameters, and a silent reference gives a
finite number (0 dB for a silent estimate, very negative for a loud one), never NaN or inf.

``bsseval_sdr`` is BSSEval v4 (the SiSEC 2018 / MUSDB18 metric) from the optional ``museval``
package (``pip install tfswa-studio[eval]``): the median over 1-second windows of the
framewise SDR, with the distortion filter of BSSEval; windows where the reference is silent
are skipped (NaN), as museval does.
"""

from __future__ import annotations

import importlib.util
from typing import Optional

import numpy as np

from ..jobs import UserError, first_line

EPS = 1e-7
METHODS = ("mdx", "museval")


def sdr_from_energies(signal: "float | np.ndarray", error: "float | np.ndarray",
                      eps: float = EPS) -> "float | np.ndarray":
    """The SDR formula itself, in dB, from the reference's energy ``sum s^2`` and the error's
    ``sum (s - s_hat)^2`` (so a file scored block by block uses the same formula)."""
    return 10.0 * np.log10((signal + eps) / (error + eps))


def sdr(reference: np.ndarray, estimate: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Utterance-level SDR in dB over the last two axes ``(C, L)``.

    ``reference`` and ``estimate``: ``(..., C, L)``; returns ``(...)`` float64
    (a float for a single stem).
    """
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    if ref.shape != est.shape:
        raise ValueError(f"reference {ref.shape} and estimate {est.shape} differ in shape")
    return sdr_from_energies(np.sum(ref * ref, axis=(-2, -1)),
                             np.sum((ref - est) ** 2, axis=(-2, -1)), eps)


def museval_problem() -> Optional[str]:
    """None when museval can be used, otherwise why not (it imports musdb and stempeg, which
    refuse to load without the ffmpeg programs)."""
    if importlib.util.find_spec("museval") is None:
        return "the optional 'museval' package is not installed"
    try:
        import museval  # noqa: F401
    except Exception as exc:  # stempeg raises RuntimeError when ffmpeg is missing
        return f"museval is installed but cannot be imported ({first_line(exc)})"
    return None


def museval_available() -> bool:
    return museval_problem() is None


def require_museval() -> None:
    """Raise a UserError that says how to get BSSEval v4 when museval cannot be used."""
    problem = museval_problem()
    if problem:
        raise UserError(f"BSSEval v4 is not available: {problem}",
                        hint="Install it with: pip install 'tfswa-studio[eval]' (museval also "
                             "needs the ffmpeg programs), or use the built-in utterance SDR.")


def bsseval_sdr(reference: np.ndarray, estimate: np.ndarray, sample_rate: int,
                window_s: float = 1.0) -> np.ndarray:
    """BSSEval v4 SDR per source: ``(S, C, L)`` -> ``(S,)``, the
    median over windows of ``window_s`` seconds (NaN where every window was silent, and for a
    source whose reference is silent throughout, which BSSEval cannot score)."""
    require_museval()
    import museval

    ref = np.asarray(reference, dtype=np.float64).transpose(0, 2, 1)   # (src, samples, ch)
    est = np.asarray(estimate, dtype=np.float64).transpose(0, 2, 1)
    out = np.full(ref.shape[0], np.nan)
    scored = np.flatnonzero(np.any(ref != 0, axis=(1, 2)))
    if scored.size == 0:
        return out
    win = max(1, int(round(window_s * sample_rate)))
    values = museval.evaluate(ref[scored], est[scored], win=win, hop=win)[0]  # (src, windows)
    with np.errstate(all="ignore"):
        out[scored] = [np.nanmedian(v) if np.any(np.isfinite(v)) else np.nan for v in values]
    return out


def stem_sdr(reference: np.ndarray, estimate: np.ndarray, method: str = "mdx",
             sample_rate: Optional[int] = None) -> np.ndarray:
    """SDR per source of ``(S, C, L)`` arrays by ``method`` ("mdx" or
    "museval")."""
    if method == "mdx":
        return sdr(reference, estimate)
    if method == "museval":
        if sample_rate is None:
            raise ValueError("museval needs the sample rate")
        return bsseval_sdr(reference, estimate, sample_rate)
    raise UserError(f"unknown SDR method '{method}'; choose one of {', '.join(METHODS)}")


def median(values) -> float:
    """Median ignoring NaN (NaN when there is nothing to take the median of)."""
    arr = np.asarray(list(values), dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(np.median(arr)) if arr.size else float("nan")
