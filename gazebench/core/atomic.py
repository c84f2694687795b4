"""Atomic file writes: a reader sees the old file or the whole new one, never a part.

Every file gazebench writes for others to read -- result records, predictions, checkpoints, frame
caches -- goes through :func:`atomic_path`: the content is written to a temporary name in the
target's folder, flushed to disk, given the mode a plain ``open(path, "w")`` would give it
(``0o666 & ~umask``), renamed over the target, and the folder's entry flushed too.  An exception
(Ctrl-C included) removes the temporary file; a killed process leaves the old file (or none) and a
``.<name>.<pid>.<random>.tmp`` beside it, never a torn file, and the next write of the same target
removes the temporary files of writers that are no longer alive (:func:`sweep_stale`).

A write that fails for want of space, quota or a working disk raises :class:`WriteError`: an
``OSError`` (errno kept) whose one-line message names the target file -- not the temporary one,
and not nothing, as a bare ``write`` or ``fsync`` failure would -- and says what to do.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from gazebench.core.errors import GazebenchError

#: what to do when a write fails with this errno (others: the generic advice)
_FIXES = {
    errno.ENOSPC: "free space on that disk",
    errno.EDQUOT: "free space or raise your disk quota",
    errno.EFBIG: "the file is larger than the filesystem or `ulimit -f` allows; write to another disk",
    errno.EROFS: "the disk is read-only; write to another folder (--results/--runs)",
}
#: how every write failure ends: the same command picks up where it stopped
RERUN = "and re-run the same command (a run resumes from its last checkpoint)"


class WriteError(GazebenchError, OSError):
    """Writing ``filename`` failed (disk full, quota, I/O error): one line naming the file, why and
    the fix.  An ``OSError`` too, with the errno of the failure when one is known."""

    def __init__(self, path: str | Path, reason: str, code: int | None = None) -> None:
        super().__init__(code, reason, str(path))

    def __str__(self) -> str:
        fix = _FIXES.get(self.errno, "fix the disk or the folder")  # type: ignore[arg-type]
        return f"cannot write {self.filename}: {self.strerror}; {fix} {RERUN}"


def write_error(exc: OSError, path: Path, tmp: Path) -> OSError:
    """``exc`` raised while writing ``tmp`` (the temporary file of ``path``) as a :class:`WriteError`
    naming ``path``; an error about another file (a source read inside the block) is left as it is."""
    if isinstance(exc, WriteError) or exc.errno is None or exc.filename not in (None, str(tmp), tmp):
        return exc
    return WriteError(path, exc.strerror or str(exc), exc.errno)


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
    When the block raises, the temporary file is removed and ``path`` is untouched; an ``OSError``
    of the write itself (ENOSPC in ``write``, ``close`` or ``fsync``) becomes a :class:`WriteError`
    naming ``path``."""
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
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            error = write_error(exc, path, tmp)
            if error is not exc:
                raise error from exc
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
        pid = tmp.name[len(prefix) :].split(".", 1)[0]
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
            raise NotADirectoryError(
                errno.ENOTDIR, f"cannot write to {folder}: {existing} is a file, not a folder", str(folder)
            )
        if not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, f"cannot write to {folder}: {existing} is not writable", str(folder))
