"""Where stems are written: a name template over the output folder, and a plan for a batch of
inputs in which no two inputs ever write the same file.

The template (``--name`` on the command line, like Demucs' ``--filename``) is relative to
the output folder and may use ``{track}`` (the input's name without its suffix; for a
MUSDB-style ``song/mixture.wav``, the folder's name ``song``), ``{parent}`` (the input's
folder name), ``{stem}`` (the source) and ``{ext}`` (wav, flac).
"""

from __future__ import annotations

import string
from pathlib import Path, PurePath
from typing import Iterable, Sequence

from ..jobs import UserError

DEFAULT_NAME = "{track}/{stem}.{ext}"
NAME_FIELDS = ("track", "parent", "stem", "ext")
# Input names that say nothing about the song: the folder names it instead.
GENERIC_STEMS = ("mixture",)


def track_name(input_path: Path | str) -> str:
    """The track's name: the file's stem, or its folder's name for a generic ``mixture.wav``."""
    path = Path(input_path)
    if path.stem.lower() in GENERIC_STEMS and path.resolve().parent.name:
        return path.resolve().parent.name
    return path.stem


def check_template(template: str) -> str:
    """Refuse a template that is malformed, names unknown fields, lacks ``{stem}`` (every
    stem would go to one file) or leaves the output folder."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise UserError(f"the name template '{template}' is malformed ({exc})") from None
    unknown = sorted(set(fields) - set(NAME_FIELDS))
    if unknown:
        raise UserError(f"the name template '{template}' uses unknown fields "
                        f"{', '.join('{' + f + '}' for f in unknown)}; use "
                        + ", ".join("{" + f + "}" for f in NAME_FIELDS))
    if "stem" not in fields:
        raise UserError(f"the name template '{template}' has no {{stem}}: every stem would "
                        "be written to the same file")
    parts = PurePath(template).parts
    if PurePath(template).is_absolute() or ".." in parts:
        raise UserError(f"the name template '{template}' must stay inside the output folder")
    return template


def _safe(text: str) -> str:
    return text.replace("/", "_").replace("\\", "_").strip() or "_"


def output_paths(input_path: Path | str, out_dir: Path | str, sources: Iterable[str], fmt: str,
                 name: str = DEFAULT_NAME, track: str | None = None) -> dict[str, Path]:
    """``{out_dir}/{name}`` for every source (``{track}/{stem}.{ext}`` by default)."""
    check_template(name)
    path = Path(input_path)
    values = {"track": _safe(track or track_name(path)),
              "parent": _safe(path.resolve().parent.name), "ext": fmt}
    return {s: Path(out_dir) / name.format(stem=_safe(s), **values) for s in sources}


def plan_outputs(inputs: Sequence[Path | str], out_dir: Path | str, sources: Iterable[str],
                 fmt: str, name: str = DEFAULT_NAME) -> dict[Path, str]:
    """Every input's ``{track}`` name, chosen so that no two inputs write the same file
    (checked across the batch before anything is written). With the default template, inputs that share a track name get their folder's
    name in front (``a-song``, ``b-song``); a custom template that still collides is refused
    with the two inputs named."""
    sources = list(sources)
    inputs = [Path(p) for p in inputs]
    names = [track_name(p) for p in inputs]
    if name == DEFAULT_NAME:
        clashing = {n for n in names if names.count(n) > 1}
        names = [f"{p.resolve().parent.name}-{n}" if n in clashing else n
                 for p, n in zip(inputs, names)]
    plan: dict[Path, str] = {}
    owner: dict[Path, Path] = {}
    for path, track in zip(inputs, names):
        targets = output_paths(path, out_dir, sources, fmt, name, track)
        for target in targets.values():
            other = owner.get(target.resolve())
            if other is not None:
                raise UserError(f"{other} and {path} would both be written to {target}",
                                hint="Give each input its own name with --name, e.g. "
                                     "--name '{parent}/{track}/{stem}.{ext}'.")
            owner[target.resolve()] = path
        plan[path] = track
    return plan
