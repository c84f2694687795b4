"""The lock a unit holds while it runs, so two processes never train the same unit at once.

``<run_dir>/unit.lock`` is locked with ``flock`` (exclusive, non-blocking) by the process running the
unit and holds who that is: pid, host, since (UTC) and the unit id.  A second process asked to run
the unit finds it locked, says one line naming that process and skips the unit (it does not wait:
a sweep goes on with its other units; run the same command again once the unit is finished or
its run has stopped).  The kernel releases the lock of a process that dies (kill -9, a lost node
on NFS once its lease ends), so a lock file left by a dead process is taken over, with a note
naming it.  On release the file is removed (and the run folder, if the unit left nothing in it).
A file system without ``flock`` runs the unit unlocked, with a note.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gazebench.core.provenance import now_iso

LOCK_NAME = "unit.lock"


@dataclass
class UnitLock:
    """A held lock (``fd`` None: the file system could not lock; the unit runs unlocked)."""

    path: Path
    fd: int | None
    created: list[Path] = field(default_factory=list)  # folders made for the lock, innermost first

    def release(self) -> None:
        if self.fd is not None:
            try:
                self.path.unlink()  # before the close: a process that opened the old file sees it is gone
            except FileNotFoundError:
                pass
            os.close(self.fd)
            self.fd = None
        for folder in self.created:
            try:
                folder.rmdir()  # only when the unit left nothing in it
            except OSError:
                break

    def __enter__(self) -> UnitLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def holder_text(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "another process"
    return f"pid {holder.get('pid', '?')} on {holder.get('host', '?')} since {holder.get('since', '?')}"


def read_holder(path: Path) -> dict[str, Any] | None:
    try:
        holder = json.loads(path.read_text() or "null")
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def acquire(run_dir: Path, unit_id: str) -> UnitLock | dict[str, Any]:
    """Lock ``run_dir/unit.lock`` for this process: the held :class:`UnitLock`, or, when another
    live process holds it, what the file says about that process (a dict, possibly empty)."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system
        return _unlocked(run_dir / LOCK_NAME, "this system has no flock")
    path = run_dir / LOCK_NAME
    created = [p for p in (run_dir, *run_dir.parents) if not p.exists()]
    run_dir.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return read_holder(path) or {}
        except OSError as exc:  # e.g. ENOLCK: a network file system without locks
            os.close(fd)
            return _unlocked(path, str(exc), created)
        try:  # the holder may have released and removed the file between our open and our lock
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    previous = read_holder(path)
    if previous and previous.get("pid") != os.getpid():
        print(
            f"note: {path} was left by {holder_text(previous)}, which stopped before the unit finished; taking it "
            "over (training resumes from its last checkpoint)",
            file=sys.stderr,
        )
    me = {"pid": os.getpid(), "host": socket.gethostname(), "since": now_iso(), "unit_id": unit_id}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
    return UnitLock(path, fd, created)


def _unlocked(path: Path, why: str, created: list[Path] | None = None) -> UnitLock:
    print(
        f"note: cannot lock {path} ({why}); running the unit without a lock (two processes could run it at once)",
        file=sys.stderr,
    )
    return UnitLock(path, None, created or [])
