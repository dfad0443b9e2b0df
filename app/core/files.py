"""Safe file writing: write to a temporary name beside the target, rename when complete.

An existing file is never replaced unless the caller says so, and an interrupted write
(error, Ctrl-C, Cancel) leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Iterator, Optional

from .jobs import UserError

PARTIAL_SUFFIX = ".partial"


def format_bytes(n: Optional[float]) -> str:
    """A size for a person, in binary units throughout: "512 B", "3.4 MiB", "1.25 GiB"."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} TiB" if abs(value) < 1024 * 10 else f"{value / 1024:,.1f} PiB"


def check_writable(target: Path, overwrite: bool) -> None:
    """Raise :class:`UserError` if ``target`` exists (and may not be replaced) or its folder
    cannot be written."""
    target = Path(target)
    if target.exists() and not overwrite:
        raise UserError("already exists; not overwriting it", target,
                        "Choose another name, remove the file, or allow overwriting "
                        "(--overwrite on the command line).")
    if target.is_dir():
        raise UserError("is a folder, not a file", target)
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the folder: {exc.strerror or exc}", folder) from exc
    if not os.access(folder, os.W_OK):
        raise UserError("the folder is not writable", folder,
                        "Choose a folder you can write to.")


def partial_path(target: Path) -> Path:
    """A unique temporary name in the target's folder (so the final rename is atomic)."""
    target = Path(target)
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}")


def _process_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Files get the permissions any new file of the user's gets (0644 with the usual umask),
# whatever the writing library chose for its temporary file (safetensors writes 0600).
FILE_MODE = 0o666 & ~_process_umask()


def commit(partial: Path, target: Path, overwrite: bool) -> None:
    """Move a finished temporary file onto its final name, with the user's default file
    permissions."""
    if Path(target).exists() and not overwrite:
        remove_quietly(partial)
        raise UserError("appeared while writing; not overwriting it", target)
    with contextlib.suppress(OSError):
        os.chmod(partial, FILE_MODE)
    os.replace(partial, target)


def remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        Path(path).unlink()


@contextlib.contextmanager
def atomic_path(target: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed to ``target``, on any
    exception (including KeyboardInterrupt) it is removed."""
    target = Path(target)
    check_writable(target, overwrite)
    tmp = partial_path(target)
    try:
        yield tmp
    except BaseException:
        remove_quietly(tmp)
        raise
    commit(tmp, target, overwrite)


def describe_os_error(exc: OSError, path: Path) -> UserError:
    """Turn an OSError while writing into a message a person can act on."""
    import errno

    if exc.errno == errno.ENOSPC:
        return UserError("the disk is full", path, "Free some space or choose another folder.")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return UserError("permission denied (read-only folder?)", path,
                         "Choose a folder you can write to.")
    return UserError(f"cannot write: {exc.strerror or exc}", path)


COPY_BLOCK = 1 << 22


def copy_files(pairs: "dict[Path, Path]", overwrite: bool = False, *, progress=None,
               cancel=None) -> list[Path]:
    """Copy ``{source: target}`` files: all targets are checked first, each is written
    through a temporary name, and all are renamed only once every copy is complete. On an
    error or cancellation (checked every 4 MB) nothing is left behind."""
    from .jobs import ensure_token, no_progress

    progress = progress or no_progress
    cancel = ensure_token(cancel)
    pairs = {Path(s): Path(t) for s, t in pairs.items()}
    for target in pairs.values():
        check_writable(target, overwrite)
    total = max(sum(s.stat().st_size for s in pairs), 1)
    done = 0
    partials: list[tuple[Path, Path]] = []
    try:
        for source, target in pairs.items():
            tmp = partial_path(target)
            partials.append((tmp, target))
            try:
                with open(source, "rb") as src, open(tmp, "wb") as dst:
                    while block := src.read(COPY_BLOCK):
                        cancel.check()
                        dst.write(block)
                        done += len(block)
                        progress(done / total, f"{target.name}")
            except OSError as exc:
                raise describe_os_error(exc, target) from exc
        for tmp, target in partials:
            commit(tmp, target, overwrite)
    except BaseException:
        for tmp, _ in partials:
            remove_quietly(tmp)
        raise
    progress(1.0, "saved")
    return list(pairs.values())
