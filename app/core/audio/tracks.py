"""MUSDB18-style folders of stems: which files make each source, and reading them.

A dataset folder holds one folder per track, each with ``mixture``, ``vocals``, ``drums``,
``bass``, ``other`` and optionally ``accompaniment`` as WAV or FLAC files (MUSDB18-HQ, or
MUSDB18 converted from its stem files, or the songs written by ``tfswa-studio songs``).
MUSDB18-HQ's ``train/`` and ``test/`` subfolders are recognised.

Every model source is read as a sum of files (a *recipe*): its own file when there is one,
``accompaniment`` as drums + bass + other when the folder has no accompaniment file. When the
model's sources do not cover the whole mix (a vocals-only model), the uncovered stems are read
as one extra non-target component, ``residual``, so that every mixture is still the sum of
all components. Only the requested frames are read from each file (random access).

Shapes: a mixture is ``(C, L)``; sources are ``(S, C, L)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import soundfile as sf

from ..jobs import UserError
from .io import to_stereo

AUDIO_SUFFIXES = (".wav", ".flac")
BASE_STEMS = ("vocals", "drums", "bass", "other")
ACCOMPANIMENT_STEMS = ("drums", "bass", "other")
RESIDUAL = "residual"
SUBSETS = ("train", "test", "valid")


# ----------------------------------------------------------------------------- tracks

@dataclass(frozen=True)
class Track:
    """One track folder: the audio files found in it and the common length in frames.

    ``recipes`` maps each component (the model sources, then ``residual`` if any) to the
    ``(weight, file stem)`` pairs summed to read it.
    """

    name: str
    folder: Path
    files: dict[str, Path]
    frames: int
    sample_rate: int
    recipes: dict[str, tuple[tuple[float, str], ...]] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


def resolve_subset(root: Path | str, subset: Optional[str] = None) -> Path:
    """The folder holding the track folders: ``root`` or, for MUSDB18-HQ's layout,
    ``root/train`` (``subset`` picks ``train``, ``test`` or ``valid``; default ``train``)."""
    root = Path(root)
    if not root.exists():
        raise UserError("does not exist", root, "Pass a folder of track folders (MUSDB18 layout).")
    if not root.is_dir():
        raise UserError("is not a folder", root, "Pass a folder of track folders (MUSDB18 layout).")
    if subset is not None and subset not in SUBSETS:
        raise UserError(f"unknown subset '{subset}'; choose one of {', '.join(SUBSETS)}")
    subfolders = {p.name for p in root.iterdir() if p.is_dir()}
    if subset is not None:
        if subset in subfolders:
            return root / subset
        if "train" in subfolders or "test" in subfolders:
            raise UserError(f"has no '{subset}' subfolder", root)
        return root
    if "train" in subfolders and not _stem_files(root / "train"):
        return root / "train"
    return root


def _stem_files(folder: Path) -> dict[str, Path]:
    """Audio files of a folder by stem name (``vocals.wav`` -> ``vocals``); WAV before FLAC."""
    found: dict[str, Path] = {}
    for suffix in AUDIO_SUFFIXES:
        for p in sorted(folder.glob(f"*{suffix}")):
            if not p.name.startswith("."):
                found.setdefault(p.stem.lower(), p)
    return found


def coverage(source: str) -> set[str]:
    """The base stems (vocals, drums, bass, other) a source name stands for."""
    if source == "accompaniment":
        return set(ACCOMPANIMENT_STEMS)
    return {source}


def track_recipes(name: str, folder: Path, files: dict[str, Path],
                  sources: Sequence[str]) -> dict[str, tuple[tuple[float, str], ...]]:
    """How each component of one track is read; raises :class:`UserError` naming the
    missing file when a source cannot be made from what the folder holds."""
    recipes: dict[str, tuple[tuple[float, str], ...]] = {}
    for source in sources:
        if source in files:
            recipes[source] = ((1.0, source),)
        elif source == "accompaniment" and all(s in files for s in ACCOMPANIMENT_STEMS):
            recipes[source] = tuple((1.0, s) for s in ACCOMPANIMENT_STEMS)
        else:
            missing = [f"{source}.wav"]
            if source == "accompaniment":
                missing += [f"{s}.wav" for s in ACCOMPANIMENT_STEMS if s not in files]
                what = "accompaniment.wav (or drums.wav, bass.wav and other.wav to sum)"
            else:
                what = f"{source}.wav"
            raise UserError(f"track '{name}' has no {what}", folder,
                            f"Found: {', '.join(sorted(p.name for p in files.values())) or 'no audio files'}.")
    covered = set().union(*(coverage(s) for s in sources))
    uncovered = [s for s in BASE_STEMS if s not in covered]
    if uncovered:
        if all(s in files for s in uncovered):
            recipes[RESIDUAL] = tuple((1.0, s) for s in uncovered)
        elif "mixture" in files:
            recipes[RESIDUAL] = ((1.0, "mixture"),) + tuple((-1.0, w) for r in recipes.values()
                                                            for _, w in r)
        else:
            raise UserError(f"track '{name}' has neither mixture.wav nor "
                            f"{', '.join(s + '.wav' for s in uncovered)}, so the rest of the mix "
                            f"(what the sources {', '.join(sources)} leave out) is unknown", folder)
    return recipes


def scan_tracks(root: Path | str, sources: Sequence[str], sample_rate: int,
                subset: Optional[str] = None, limit: Optional[int] = None) -> list[Track]:
    """The tracks of a dataset folder, checked: every file readable, at ``sample_rate``, and
    every source available. Tracks are sorted by name."""
    folder = resolve_subset(root, subset)
    candidates = sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
                        key=lambda p: p.name)
    tracks = []
    for track_dir in candidates:
        files = _stem_files(track_dir)
        if not files:
            continue
        tracks.append(_make_track(track_dir, files, sources, sample_rate))
        if limit is not None and len(tracks) >= limit:
            break
    if not tracks:
        loose = _stem_files(folder)
        hint = ("It holds audio files directly; put each track in its own folder "
                "({track}/mixture.wav, vocals.wav, ...)." if loose else
                "Expected one folder per track with mixture.wav, vocals.wav, drums.wav, bass.wav, "
                "other.wav (MUSDB18-HQ layout), e.g. made by 'tfswa-studio songs'.")
        raise UserError("contains no track folders with audio files", folder, hint)
    return tracks


def _make_track(folder: Path, files: dict[str, Path], sources: Sequence[str],
                sample_rate: int) -> Track:
    recipes = track_recipes(folder.name, folder, files, sources)
    used = sorted({stem for r in recipes.values() for _, stem in r})
    lengths = []
    for stem in used:
        path = files[stem]
        try:
            info = sf.info(str(path))
        except Exception as exc:
            raise UserError(f"cannot be read as audio ({str(exc).split(':')[-1].strip()})", path,
                            "The file may be truncated or corrupt.") from exc
        if info.samplerate != sample_rate:
            raise UserError(f"is at {info.samplerate} Hz but the model runs at {sample_rate} Hz",
                            path, "Resample the dataset first (e.g. with sox).")
        if info.frames <= 0:
            raise UserError("contains no audio", path)
        lengths.append(info.frames)
    return Track(folder.name, folder, files, min(lengths), sample_rate, recipes)


def read_frames(path: Path, start: int, frames: int) -> np.ndarray:
    """``frames`` frames from ``start`` as stereo ``(C, L)`` float32, zero-padded past
    the end. Only the requested part of the file is decoded."""
    try:
        with sf.SoundFile(str(path)) as f:
            f.seek(start)
            raw = f.read(frames, dtype="float32", always_2d=True)      # (L, C)
    except Exception as exc:
        raise UserError(f"reading frames {start}..{start + frames} failed ({exc})", path,
                        "The file is probably truncated or corrupt.") from exc
    if not np.isfinite(raw).all():
        first = start + int(np.argmax(~np.isfinite(raw).all(axis=1)))
        raise UserError(f"has NaN or infinite samples at frame {first}", path,
                        "The file is damaged; replace it before training or evaluating.")
    out = np.zeros((2, frames), np.float32)
    out[:, :raw.shape[0]] = to_stereo(raw)
    return out


class TrackSet:
    """Tracks plus the components read from them: the model sources, then ``residual`` when
    the sources leave part of the mix out."""

    def __init__(self, tracks: Sequence[Track], sources: Sequence[str]):
        if not tracks:
            raise UserError("no tracks to read")
        self.tracks = list(tracks)
        self.sources = tuple(sources)
        extra = any(RESIDUAL in t.recipes for t in self.tracks)
        self.components = self.sources + ((RESIDUAL,) if extra else ())

    @classmethod
    def from_folder(cls, root: Path | str, sources: Sequence[str], sample_rate: int,
                    subset: Optional[str] = None, limit: Optional[int] = None) -> "TrackSet":
        return cls(scan_tracks(root, sources, sample_rate, subset, limit), sources)

    def __len__(self) -> int:
        return len(self.tracks)

    @property
    def sample_rate(self) -> int:
        return self.tracks[0].sample_rate

    @property
    def total_seconds(self) -> float:
        return sum(t.seconds for t in self.tracks)

    def split(self, count: int) -> tuple["TrackSet", "TrackSet"]:
        """``(rest, held_out)``: the last ``count`` tracks held out (e.g. for validation)."""
        if not 0 < count < len(self.tracks):
            raise UserError(f"cannot hold out {count} of {len(self.tracks)} tracks for "
                            f"validation", self.tracks[0].folder.parent,
                            "Use more tracks, or pass a separate validation folder.")
        return (TrackSet(self.tracks[:-count], self.sources),
                TrackSet(self.tracks[-count:], self.sources))

    def read(self, track: int, component: str, start: int, frames: int) -> np.ndarray:
        """One component of a track, ``(C, L)`` from ``start``."""
        t = self.tracks[track]
        recipe = t.recipes.get(component)
        if recipe is None:                     # a track whose sources cover the whole mix
            return np.zeros((2, frames), np.float32)
        (weight, stem), rest = recipe[0], recipe[1:]
        out = read_frames(t.files[stem], start, frames)
        if weight != 1.0:
            out *= weight
        for weight, stem in rest:
            out += weight * read_frames(t.files[stem], start, frames)
        return out

    def read_sources(self, track: int, start: int = 0,
                     frames: Optional[int] = None) -> np.ndarray:
        """All components ``(components, 2, frames)`` of one track (the whole track by default)."""
        frames = self.tracks[track].frames - start if frames is None else frames
        return np.stack([self.read(track, c, start, frames) for c in self.components])

    def read_mixture(self, track: int, start: int = 0, frames: Optional[int] = None) -> np.ndarray:
        """The track's mixture file when it has one, otherwise the sum of its components."""
        t = self.tracks[track]
        frames = t.frames - start if frames is None else frames
        if "mixture" in t.files:
            return read_frames(t.files["mixture"], start, frames)
        return self.read_sources(track, start, frames).sum(axis=0)


def describe(tracks: TrackSet) -> str:
    minutes = tracks.total_seconds / 60
    return f"{len(tracks)} tracks, {minutes:.1f} min"
