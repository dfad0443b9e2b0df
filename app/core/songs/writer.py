"""Writing a song as a MUSDB18-style track folder, all or nothing.

``{out}/{track}/`` holds mixture, vocals, drums, bass, other and accompaniment as 32-bit
float WAV (so mixture == vocals + accompaniment holds exactly when read back) and
``song.json``. Everything is written into a hidden ``.{track}.partial-*`` folder that is
renamed into place at the end; a failure or Cancel removes it, and an existing track is only
replaced with ``overwrite``.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from .. import audio
from ..jobs import UserError, to_jsonable
from .song import Song

FILES = ("mixture", "vocals", "drums", "bass", "other", "accompaniment")
PARTIAL = ".partial-"


def track_name(seed: int) -> str:
    return f"song-{seed:06d}"


def check_free(folder: Path, overwrite: bool) -> None:
    if folder.exists() and not overwrite:
        raise UserError("already exists; not overwriting it", folder,
                        "Choose another --out or --seed, remove the folder, or pass --overwrite.")


def write_track(song: Song, folder: Path, overwrite: bool = False, cancel=None) -> dict[str, Path]:
    """Write ``song`` to ``folder``; returns the final path of each file."""
    folder = Path(folder)
    check_free(folder, overwrite)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the folder: {exc.strerror or exc}", folder.parent) from exc
    tmp = folder.with_name(f".{folder.name}{PARTIAL}{uuid.uuid4().hex[:8]}")
    try:
        tmp.mkdir()
        for name in FILES:
            if cancel is not None:
                cancel.check()
            audio.write(tmp / f"{name}.wav", song.stems[name], song.sample_rate, fmt="wav",
                        subtype="FLOAT")
        (tmp / "song.json").write_text(json.dumps(to_jsonable(song.describe()), indent=2) + "\n")
        _commit(tmp, folder, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {name: folder / f"{name}.wav" for name in FILES} | {"song.json": folder / "song.json"}


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
