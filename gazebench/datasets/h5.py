"""One HDF5 file, opened lazily once per process: the frame cache, MPIIFaceGaze and ETH-XGaze read through it.

An HDF5 handle must not cross a fork (the HDF5 library's state is per process): a DataLoader
worker started by ``fork`` drops the handle it inherited, unclosed, and opens its own on first use;
pickling (a ``spawn`` worker) carries the path only.  Opening takes a lock, so threads of one
process (``check-data`` decodes in a thread pool) share one handle.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any


class LazyH5:
    """The HDF5 file ``path`` (read-only), opened on first use in each process.

    ``options`` go to ``h5py.File`` (e.g. ``rdcc_nbytes=0``).  ``lazy[key]`` is the dataset
    ``key`` of this process's handle; datasets are looked up once per process."""

    def __init__(self, path: str | Path, **options: Any) -> None:
        self.path = Path(path)
        self.options = options
        self._file: Any = None
        self._items: dict[str, Any] = {}
        self._pid: int | None = None
        self._lock = threading.Lock()

    def file(self) -> Any:
        """This process's open ``h5py.File`` (opened now if needed)."""
        pid = os.getpid()
        if self._pid != pid:  # first use, or a forked child: forget the parent's handle
            self._file, self._items, self._pid, self._lock = None, {}, pid, threading.Lock()
        with self._lock:
            if self._file is None:
                import h5py

                self._file = h5py.File(self.path, "r", **self.options)
            return self._file

    def __getitem__(self, key: str) -> Any:
        handle = self.file()  # (re)opens first, so the lookups below are this process's
        if key not in self._items:
            self._items[key] = handle[key]
        return self._items[key]

    @property
    def is_open(self) -> bool:
        """Whether this process holds an open handle."""
        return self._file is not None and self._pid == os.getpid()

    def close(self) -> None:
        """Close this process's handle (the next read opens it again)."""
        if self.is_open:
            self._file.close()
        self._file, self._items, self._pid = None, {}, None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_file=None, _items={}, _pid=None, _lock=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LazyH5({str(self.path)!r}, open={self.is_open})"


class LazyH5Files:
    """The HDF5 files of one dataset root, each a :class:`LazyH5` made on first use:
    ``files[name]`` is the lazy handle of ``root / name``; ``close()`` closes this process's."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = None if root is None else Path(root)  # may be set later, before the first read
        self._files: dict[str, LazyH5] = {}

    def __getitem__(self, name: str) -> LazyH5:
        handle = self._files.get(name)
        # setdefault: threads that race here share the first one (nothing is opened yet)
        return handle if handle is not None else self._files.setdefault(name, LazyH5(Path(self.root) / name))

    def items(self) -> list[tuple[str, LazyH5]]:
        return list(self._files.items())

    def close(self) -> None:
        """Close this process's open files (they reopen on the next read)."""
        for handle in self._files.values():
            handle.close()
