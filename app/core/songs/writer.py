"""Writing a song as a MUSDB18-style track folder, all or nothing.

``{out}/{track}/`` holds mixture, vocals, drums, bass, other and accompaniment and
``song.json``: as 32-bit float WAV (60 MB per 30 s song), or as 24-bit FLAC (about half),
where the four stems are rounded to the 24-bit grid first and accompaniment and mixture are
summed from the rounded values, so that the identities hold exactly in both formats:
``accompaniment == drums + bass + other`` and ``mixture == vocals + accompaniment``. Everything is written into a hidden ``.{track}.partial-*`` folder that is
renamed into place at the end; a failure or Cancel removes it, and an existing track is only
replaced with ``overwrite``.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
import soundfile as sf

from ..audio import io as audio
from ..files import describe_os_error
from ..jobs import UserError, to_jsonable
from .song import Song

FILES = ("mixture", "vocals", "drums", "bass", "other", "accompaniment")
FORMATS = ("wav", "flac")
PARTIAL = ".partial-"
FULL_SCALE_24 = 1 << 23


def quantize_24(stems: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Integer 24-bit samples ``(samples, 2)`` of every file, sums computed on the integers."""
    q = {s: np.clip(np.round(stems[s].T.astype(np.float64) * FULL_SCALE_24),
                    -FULL_SCALE_24, FULL_SCALE_24 - 1).astype(np.int64)
         for s in ("vocals", "drums", "bass", "other")}
    q["accompaniment"] = q["drums"] + q["bass"] + q["other"]
    q["mixture"] = q["vocals"] + q["accompaniment"]
    for name in ("accompaniment", "mixture"):
        if np.abs(q[name]).max(initial=0) >= FULL_SCALE_24:
            raise UserError(f"the {name} clips at 24 bits; write float WAV instead")
    return q


def _write_flac(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    try:
        sf.write(str(path), (samples << 8).astype(np.int32), sample_rate, format="FLAC",
                 subtype="PCM_24")
    except OSError as exc:
        raise describe_os_error(exc, path) from exc
    except Exception as exc:          # libsndfile reports disk-full as RuntimeError
        raise UserError(f"writing failed ({exc})", path) from exc


def track_name(seed: int) -> str:
    return f"song-{seed:06d}"


def check_free(folder: Path, overwrite: bool) -> None:
    if folder.exists() and not overwrite:
        raise UserError("already exists; not overwriting it", folder,
                        "Choose another --out or --seed, remove the folder, or pass --overwrite.")


def write_track(song: Song, folder: Path, overwrite: bool = False, cancel=None,
                fmt: str = "wav") -> dict[str, Path]:
    """Write ``song`` to ``folder``; returns the final path of each file."""
    if fmt not in FORMATS:
        raise UserError(f"cannot write '{fmt}' tracks; choose one of {', '.join(FORMATS)}")
    folder = Path(folder)
    check_free(folder, overwrite)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the folder: {exc.strerror or exc}", folder.parent) from exc
    tmp = folder.with_name(f".{folder.name}{PARTIAL}{uuid.uuid4().hex[:8]}")
    try:
        tmp.mkdir()
        ints = quantize_24(song.stems) if fmt == "flac" else None
        for name in FILES:
            if cancel is not None:
                cancel.check()
            if ints is not None:
                _write_flac(tmp / f"{name}.flac", ints[name], song.sample_rate)
            else:
                audio.write(tmp / f"{name}.wav", song.stems[name], song.sample_rate,
                            fmt="wav", subtype="FLOAT")
        meta = {**song.describe(), "format": "FLAC 24-bit" if ints is not None else "WAV float32"}
        (tmp / "song.json").write_text(json.dumps(to_jsonable(meta), indent=2) + "\n")
        _commit(tmp, folder, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {name: folder / f"{name}.{fmt}" for name in FILES} | {"song.json": folder / "song.json"}


def _commit(tmp: Path, folder: Path, overwrite: bool) -> None:
    if folder.exists():
        if not overwrite:
            raise UserError("appeared while writing; not overwriting it", folder)
        old = folder.with_name(f".{folder.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, folder)


def remove_partials(out: Path) -> None:
    """Delete leftover partial folders (a worker killed mid-write leaves one)."""
    if Path(out).is_dir():
        for path in Path(out).glob(f".*{PARTIAL}*"):
            shutil.rmtree(path, ignore_errors=True)
