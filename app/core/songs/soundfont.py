"""Finding General MIDI SoundFonts on this machine and reading which presets one has.

Only the small preset table (``pdta/phdr``) is read; the sample data is skipped with seeks,
so checking a 150 MB SoundFont costs microseconds. SF3 files (Ogg-compressed samples) have
the same layout.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from pathlib import Path

from ..jobs import UserError

SEARCH_DIRS = ("/usr/share/sounds/sf2", "/usr/share/sounds/sf3", "/usr/share/soundfonts",
               "/usr/share/sf2", "/usr/local/share/soundfonts")
SUFFIXES = (".sf2", ".sf3")


def installed_soundfonts() -> list[Path]:
    """Every SoundFont in the usual Debian folders, each file once (under its first name,
    ignoring the ``default-GM`` alternatives links)."""
    seen, found = set(), []
    for folder in SEARCH_DIRS:
        base = Path(folder)
        if not base.is_dir():
            continue
        for path in sorted(base.iterdir(), key=lambda p: (p.name.startswith("default"), p.name)):
            if path.suffix.lower() in SUFFIXES and path.is_file():
                key = path.resolve()
                if key not in seen:
                    seen.add(key)
                    found.append(path)
    return found


def find_soundfont(name: str) -> Path | None:
    """An installed SoundFont whose file name (with or without suffix) is ``name``."""
    stem = Path(name).stem.lower()
    for path in installed_soundfonts():
        if path.stem.lower() == stem:
            return path
    return None


def _chunks(f, end: int):
    """(id, offset of data, size) for each RIFF chunk until ``end``."""
    while f.tell() + 8 <= end:
        head = f.read(8)
        if len(head) < 8:
            return
        cid, size = head[:4], struct.unpack("<I", head[4:])[0]
        start = f.tell()
        yield cid, start, size
        nxt = start + size
        if size & 1:            # RIFF pads odd chunks; some SF3 writers do not
            f.seek(nxt)
            nxt += 0 if f.read(4) in (b"LIST", b"phdr", b"pbag", b"pmod", b"pgen") else 1
        f.seek(nxt)


@lru_cache(maxsize=16)
def presets(path: Path) -> frozenset[tuple[int, int]]:
    """The ``(bank, program)`` pairs a SoundFont defines; UserError if it is not one."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
                raise UserError("is not a SoundFont (.sf2/.sf3)", path)
            total = 8 + struct.unpack("<I", head[4:8])[0]
            for cid, start, size in _chunks(f, total):
                if cid != b"LIST" or f.read(4) != b"pdta":
                    continue
                for sub, sub_start, sub_size in _chunks(f, start + size):
                    if sub == b"phdr":
                        f.seek(sub_start)
                        table = f.read(sub_size)
                        records = [table[i:i + 38] for i in range(0, len(table) - 38, 38)]
                        return frozenset((struct.unpack("<H", r[22:24])[0],
                                          struct.unpack("<H", r[20:22])[0]) for r in records)
    except OSError as exc:
        raise UserError(f"cannot be read ({exc.strerror or exc})", path) from exc
    raise UserError("is not a SoundFont: it has no preset table", path)


def drum_kit(path: Path, program: int) -> int:
    """``program`` if the SoundFont has that drum kit (bank 128), else the standard kit."""
    return program if (128, program) in presets(Path(path)) else 0


def melodic(path: Path, program: int) -> int:
    """``program`` if present in bank 0, else the first program of its GM family of eight."""
    table = presets(Path(path))
    if (0, program) in table:
        return program
    family = program - program % 8
    return next((p for p in range(family, family + 8) if (0, p) in table), 0)
