"""Where the frames of a run come from: the image files, or a prepared frame cache.

A *frame source* serves ``read(position) -> uint8 [size, size, 3]`` for the rows of one adapter's
index at one size; :class:`~gazebench.datasets.loading.FrameWindows` reads every frame through one.

* :class:`ImageFiles`: decode with the adapter (``read_image``) and resize (``read_resized``:
  PIL bilinear, aspect not kept); with ``keep=True`` each frame is decoded once in a process and
  kept, resized, in memory for the later epochs (the same pixels, read again).
* :class:`H5Frames`: the frames ``gazebench prepare`` decoded and resized once into an HDF5 file
  (:mod:`gazebench.cache` builds it and decides whether it is current).

:func:`open_frame_source` picks one: the cache when it exists and its fingerprint matches the
dataset as it is now, else the image files (``$GAZEBENCH_CACHE``: ``auto``, ``off``, ``require``);
a composite dataset (:class:`gazebench.datasets.joint.JointDataset`) opens each member's that way.
``source.describe()`` is what the result record stores under ``dataset.frame_cache``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gazebench.datasets.base import GazeDataset
from gazebench.datasets.h5 import LazyH5


class FrameSource(Protocol):
    """Frames by row position of the adapter's index, all ``size`` x ``size``."""

    size: int

    def read(self, position: int) -> np.ndarray:
        """Frame at row ``position``: ``uint8 [size, size, 3]`` RGB."""

    def describe(self) -> dict[str, Any]:
        """``{"state": used | missing | stale | off, "path": cache file or None}``."""


@dataclass(frozen=True)
class CacheStatus:
    """What :func:`open_frame_source` found: ``state`` is ``used``, ``missing``, ``stale`` or ``off``;
    ``message`` says why a stale cache was not used."""

    state: str
    path: Path | None = None
    message: str = ""
    #: the used cache's fingerprint id (gazebench.cache.fingerprint_id): which build of the file was read
    fingerprint: str | None = None

    @property
    def used(self) -> bool:
        return self.state == "used"

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "path": str(self.path) if self.path else None, "fingerprint": self.fingerprint}


class ImageFiles:
    """Frames decoded from the dataset's own files by the adapter, resized to ``size``.
    ``cache`` records why no frame cache serves them (the default: none was looked for).

    ``keep``: keep every frame once decoded (``uint8 [N, size, size, 3]``, filled as frames are
    first read; memory is taken only as it fills), so a run decodes each frame once per process
    instead of once per epoch.  :func:`open_frame_source` keeps when the dataset fits
    ``$GAZEBENCH_KEEP_FRAMES_MB``.  Only the training process keeps: a loader worker decodes on every
    read (N workers keeping their own copies would take N times the budget)."""

    def __init__(
        self, dataset: GazeDataset, size: int, cache: CacheStatus = CacheStatus("off"), keep: bool = False
    ) -> None:
        self.dataset = dataset
        self.size = int(size)
        self.cache = cache
        self.keep = bool(keep)
        self._kept: np.ndarray | None = None
        self._decoded: np.ndarray | None = None

    def read(self, position: int) -> np.ndarray:
        if not self.keep or _in_loader_worker():  # a worker keeping its own copy would multiply the memory
            return self.dataset.read_resized(position, self.size)
        if self._kept is None or self._decoded is None:  # on first read: a loader worker allocates its own
            # zeros: the pages are taken from the system only as frames fill them
            self._kept = np.zeros((len(self.dataset), self.size, self.size, 3), dtype=np.uint8)
            self._decoded = np.zeros(len(self.dataset), dtype=bool)
        if not self._decoded[position]:
            self._kept[position] = self.dataset.read_resized(position, self.size)
            self._decoded[position] = True
        return self._kept[position].copy()  # the caller may write into its frame

    def describe(self) -> dict[str, Any]:
        return {**self.cache.as_dict(), "kept_in_memory": self.keep}

    def __repr__(self) -> str:
        return f"ImageFiles({self.dataset.name!r}, size={self.size}, cache={self.cache.state})"


def _in_loader_worker() -> bool:
    from torch.utils.data import get_worker_info

    return get_worker_info() is not None


class H5Frames:
    """Frames of a prepared cache file (``frames``: ``uint8 [N, S, S, 3]``, one chunk per frame),
    read through a :class:`~gazebench.datasets.h5.LazyH5` handle: opened on the first read in
    each process, never inherited through a fork."""

    def __init__(self, path: str | Path, size: int, frames: int, fingerprint: str | None = None) -> None:
        self.path = Path(path)
        self.size = int(size)
        self.frames = int(frames)
        self.cache = CacheStatus("used", self.path, fingerprint=fingerprint)
        # one frame is one chunk and is read once per visit: HDF5's chunk cache would only copy
        self.file = LazyH5(self.path, rdcc_nbytes=0)

    def read(self, position: int) -> np.ndarray:
        out = np.empty((self.size, self.size, 3), dtype=np.uint8)
        self.file["frames"].read_direct(out, np.s_[int(position)])
        return out

    def describe(self) -> dict[str, Any]:
        return self.cache.as_dict()

    def close(self) -> None:
        self.file.close()

    def __repr__(self) -> str:
        return f"H5Frames({str(self.path)!r}, size={self.size}, frames={self.frames})"


def open_frame_source(
    dataset: GazeDataset, size: int, mode: str | None = None, cache_dir: str | Path | None = None
) -> ImageFiles | H5Frames:
    """The frames of ``dataset`` at ``size`` px: its prepared cache when one exists and is current.

    ``mode`` (default ``$GAZEBENCH_CACHE`` or ``auto``): ``auto`` uses a current cache, warns
    about a stale one (:class:`~gazebench.cache.StaleCacheWarning`, with the command that rebuilds
    it) and otherwise reads the image files; ``require`` raises
    :class:`~gazebench.cache.CacheError` instead of falling back; ``off`` reads the image files."""
    from gazebench.cache import (
        CacheError,
        StaleCacheWarning,
        cache_mode,
        cache_path,
        fingerprint,
        fingerprint_diff,
        fingerprint_id,
        keep_in_memory,
        prepare_command,
        read_fingerprint,
    )

    own = getattr(dataset, "open_frames", None)
    if own is not None:  # a composite (gazebench.datasets.joint): each member's own source behind one
        return own(size, mode, cache_dir)
    mode = cache_mode(mode)
    keep = keep_in_memory(len(dataset), size)
    if mode == "off":
        return ImageFiles(dataset, size, CacheStatus("off"), keep)
    path = cache_path(dataset, size, cache_dir)
    rebuild = prepare_command(dataset, size, cache_dir)
    if not path.is_file():
        if mode == "require":
            raise CacheError(
                f"no frame cache for {dataset.name!r} at {size} px: {path} does not exist. Build it: {rebuild}"
            )
        return ImageFiles(dataset, size, CacheStatus("missing", path), keep)
    wanted = fingerprint(dataset, size)
    changed = fingerprint_diff(read_fingerprint(path), wanted)
    if changed:
        message = (
            f"frame cache {path} is stale ({', '.join(changed)} changed since it was built); "
            f"not using it. Rebuild it: {rebuild}"
        )
        if mode == "require":
            raise CacheError(message)
        warnings.warn(message + " (reading the image files meanwhile)", StaleCacheWarning, stacklevel=2)
        return ImageFiles(dataset, size, CacheStatus("stale", path, message), keep)
    return H5Frames(path, size, wanted["frames"], fingerprint_id(wanted))
