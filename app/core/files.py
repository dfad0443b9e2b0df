"""Safe file writing: write to a temporary name beside the target, rename when complete.

An existing file is never replaced unless the caller says so, and an interrupted write
(error, Ctrl-C, Cancel) leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import time
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
    clean_stale_partials(target)


# This app's temporary names: ".{name}.{8 hex digits}.partial" beside the target.
PARTIAL_RE = re.compile(r"^\..+\.[0-9a-f]{8}" + re.escape(PARTIAL_SUFFIX) + "$")


def _run_started() -> float:
    """When this process started (seconds since the epoch)."""
    try:
        import psutil

        return psutil.Process().create_time()
    except Exception:  # noqa: BLE001 - no psutil data: only clean what is an hour old
        return time.time() - 3600


RUN_STARTED = _run_started()


def clean_stale_partials(target: Path) -> list[Path]:
    """Remove this app's temporary files for ``target`` that a killed run left behind:
    named by :func:`partial_path`'s pattern for that very name and last written before this
    process started (a run in progress keeps writing its own). Returns what was removed."""
    target = Path(target)
    prefix = f".{target.name}."
    removed = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(prefix) and PARTIAL_RE.match(entry.name)
                and len(entry.name) == len(prefix) + 8 + len(PARTIAL_SUFFIX)):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < RUN_STARTED:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


@contextlib.contextmanager
def removing_new_folders(folder: Path) -> Iterator[None]:
    """The folders up to ``folder`` that do not exist yet and that the block creates are
    removed again when the block fails (and they are empty): a failed or cancelled run
    leaves no empty ``OUT/{track}/``."""
    new, path = [], Path(folder)
    while not path.exists() and path != path.parent:
        new.append(path)
        path = path.parent
    try:
        yield
    except BaseException:
        for path in new:   # deepest first
            with contextlib.suppress(OSError):
                path.rmdir()
        raise


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
    exception (including KeyboardInterrupt) it is removed. A writer's failure on a full
    disk (libraries report it as OSError, RuntimeError or their own errors) becomes
    "the disk is full"."""
    target = Path(target)
    check_writable(target, overwrite)
    tmp = partial_path(target)
    try:
        yield tmp
    except BaseException as exc:
        failure = write_failure(exc, target)
        remove_quietly(tmp)
        if failure is not None:
            raise failure from exc
        raise
    commit(tmp, target, overwrite)


# Below this much free space a failed write is taken to be a full disk.
NEARLY_FULL = 1 << 20
_FULL_WORDS = ("no space left", "os error 28", "disk full", "errno 28", "enospc")


def free_bytes(folder: Path) -> Optional[int]:
    """Free bytes on the file system of ``folder`` (or of its nearest existing parent)."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def disk_full(exc: BaseException, target: Path) -> bool:
    """Whether a write to ``target`` failed because its disk is full: ENOSPC/EDQUOT, a
    library's text saying so, or (libraries that only say "write failed") next to no free
    space left."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return True
    if any(word in str(exc).lower() for word in _FULL_WORDS):
        return True
    free = free_bytes(Path(target).parent)
    return free is not None and free < NEARLY_FULL


def write_failure(exc: BaseException, target: Path) -> Optional[UserError]:
    """The message for a writer's exception, or None for what is not a write failure
    (a UserError already written for a person, Ctrl-C, Cancel, a bug)."""
    if isinstance(exc, UserError) or not isinstance(exc, Exception):
        return None
    if disk_full(exc, target):
        return UserError("the disk is full", target, "Free some space or choose another folder.")
    if isinstance(exc, OSError):
        return describe_os_error(exc, target)
    return None


def check_free_space(target: Path, needed: int, what: str = "the file") -> None:
    """Refuse before writing when ``needed`` bytes will not fit beside ``target``."""
    free = free_bytes(Path(target).parent)
    if free is not None and needed > free:
        raise UserError(f"the disk is full: {what} needs about {format_bytes(needed)} and "
                        f"only {format_bytes(free)} is free", Path(target).parent,
                        "Free some space or choose another folder.")


def describe_os_error(exc: OSError, path: Path) -> UserError:
    """Turn an OSError while writing into a message a person can act on."""
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
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
    for folder in {t.parent for t in pairs.values()}:
        check_free_space(folder / "x", sum(s.stat().st_size for s, t in pairs.items()
                                           if t.parent == folder), "the copies")
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
