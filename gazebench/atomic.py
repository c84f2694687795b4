"""Atomic file writes: a reader sees the old file or the whole new one, never a part.

Every file gazebench writes for others to read -- result records, predictions, checkpoints, frame
caches -- goes through :func:`atomic_path`: the content is written to a temporary name in the
target's folder, flushed to disk, given the mode a plain ``open(path, "w")`` would give it
(``0o666 & ~umask``), renamed over the target, and the folder's entry flushed too.  An exception
(Ctrl-C included) removes the temporary file; a killed process leaves the old file (or none) and a
``.<name>.<pid>.<random>.tmp`` beside it, never a torn file, and the next write of the same target
removes the temporary files of writers that are no longer alive (:func:`sweep_stale`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import Iterator


def _umask_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform or filesystem lets a folder be opened
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path beside ``path`` to write to; when the block ends normally, the
    temporary file becomes ``path`` (fsynced, mode from the umask, renamed, folder fsynced).
    When the block raises, the temporary file is removed and ``path`` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _fsync_file(tmp)
        os.chmod(tmp, _umask_mode())  # mkstemp made it 0600; the result is as readable as any file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def sweep_stale(path: str | Path) -> list[Path]:
    """Remove the temporary files that killed writers of ``path`` left (``.<name>.<pid>.*.tmp``
    whose process is gone); a live writer's file is left alone.  Returns what was removed."""
    path = Path(path)
    removed = []
    prefix = f".{path.name}."
    for tmp in path.parent.glob(f"{glob_escape(prefix)}*.tmp"):
        pid = tmp.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def atomic_write(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    return Path(path)


def check_writable(*folders: str | Path) -> None:
    """Each folder must be creatable and writable: its nearest existing ancestor is a folder we may
    write in.  Nothing is created, so a run refused later (a bad option, missing data) leaves no
    trace; a read-only or misnamed output folder stops the run before training, not after it."""
    for folder in folders:
        folder = Path(folder).absolute()
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"cannot write to {folder}: {existing} is a file, not a folder",
                                     str(folder))
        if not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, f"cannot write to {folder}: {existing} is not writable", str(folder))
