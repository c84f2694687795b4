"""The frame cache: every frame of a dataset decoded and resized once, into one HDF5 file.

``gazebench prepare`` writes it; runs (and ``gazebench bench``) use it automatically when it is
there and current.  What it saves is the JPEG/PNG decode and the resize of every frame in every
epoch; what it costs is ``frames x size x size x 3`` bytes of disk (a 224 px Gaze360 head crop is
147 KiB, 12 KiB at 64 px).

Where it lives (predictable, so runs find it without being told):
  ``<root>/.gazebench-cache/<dataset>-<size>px-<key>.h5``, or the same name under ``--cache-dir``
  / ``$GAZEBENCH_CACHE_DIR``.  ``key`` hashes the adapter options (and the root, for a cache
  folder outside the root), so each variant of a dataset has its own file and a run at
  ``image_size`` S uses the file of size S.

When it is used: only when the *fingerprint* stored in the file equals the fingerprint of the
dataset as it is now -- dataset name, card version, adapter options, size, a content hash of the
index table (ids, subjects, sequences, order, gaze, paths, ...), and the cache format version.  A
stale file is never used: runs say so and read the image files (``$GAZEBENCH_CACHE=require``
makes that an error), and ``gazebench prepare`` rebuilds it.  Image files replaced in place with
the labels untouched are not detected (the fingerprint does not read pixels); ``prepare --force``
rebuilds.

Layout of the file (all datasets row-aligned with the adapter's index):
  ``frames``   uint8 ``[N, S, S, 3]`` RGB, chunks of one frame, no compression (compression
               saves little on camera images and reads slower than a JPEG decodes)
  ``gaze``     float64 ``[N, 3]`` canonical gaze; ``order`` float64 ``[N]``; ``centre`` bool ``[N]``
  ``id``, ``subject``, ``sequence``, ``path``   strings ``[N]``
  attrs: ``fingerprint`` (JSON), ``fingerprint_id``, ``format_version``, ``gazebench_version``,
  ``created_at``, ``source_root``, ``resize`` (how frames were resized)

The file is written to a temporary name beside the target and renamed into place when complete,
so a cache that exists is whole.  Reading is :class:`gazebench.datasets.sources.H5Frames`, chosen by
:func:`gazebench.datasets.sources.open_frame_source` when the file is current: it opens the file
lazily, once per process (a DataLoader worker opens its own handle after the fork).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gazebench.core.atomic import atomic_path
from gazebench.datasets.base import DatasetError, GazeDataset

CACHE_FORMAT_VERSION = 1
CACHE_DIR_NAME = ".gazebench-cache"
#: ``auto`` (default): use a current cache when present; ``off``: never; ``require``: fail without one
ENV_CACHE = "GAZEBENCH_CACHE"
ENV_CACHE_DIR = "GAZEBENCH_CACHE_DIR"
CACHE_MODES = ("auto", "off", "require")
#: MiB of decoded frames a run without a current cache file keeps in memory, so that each frame is
#: decoded once per process rather than once per epoch (0: decode on every read)
ENV_KEEP_MB = "GAZEBENCH_KEEP_FRAMES_MB"
DEFAULT_KEEP_MB = 1024
RESIZE_METHOD = "GazeDataset.read_resized (PIL bilinear, aspect not kept)"
STRING_COLUMNS = ("id", "subject", "sequence", "path")


class CacheError(DatasetError):
    """A missing, stale or unreadable frame cache where one is required."""


class StaleCacheWarning(UserWarning):
    """A frame cache exists but no longer matches its dataset; it is ignored."""


# --- identity --------------------------------------------------------------------------------


def index_hash(index: pd.DataFrame) -> str:
    """SHA-256 of the index table's content: column names, dtypes and every value, in row order."""
    h = hashlib.sha256()
    h.update(json.dumps([[str(c) for c in index.columns], [str(d) for d in index.dtypes]]).encode())
    h.update(pd.util.hash_pandas_object(index, index=False).to_numpy().tobytes())
    return h.hexdigest()


def fingerprint(dataset: GazeDataset, size: int) -> dict[str, Any]:
    """What a cache of ``dataset`` at ``size`` px must match to be used."""
    return {
        "format_version": CACHE_FORMAT_VERSION,
        "dataset": dataset.name,
        "card_version": str(dataset.card.version),
        "options": {k: _plain(dataset.options[k]) for k in sorted(dataset.options)},
        "size": int(size),
        "frames": int(len(dataset.index)),
        "index_sha256": index_hash(dataset.index),
    }


def fingerprint_id(fp: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    if isinstance(value, (np.generic,)):
        return value.item()
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


# --- where ------------------------------------------------------------------------------------


def default_cache_dir(dataset: GazeDataset) -> Path:
    return dataset.root / CACHE_DIR_NAME


def cache_dir_for(dataset: GazeDataset, cache_dir: str | Path | None = None) -> Path:
    """``cache_dir``, else ``$GAZEBENCH_CACHE_DIR``, else ``<root>/.gazebench-cache``."""
    if cache_dir is None and os.environ.get(ENV_CACHE_DIR):
        cache_dir = os.environ[ENV_CACHE_DIR]
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir(dataset)


def cache_path(dataset: GazeDataset, size: int, cache_dir: str | Path | None = None) -> Path:
    """The file a cache of ``dataset`` at ``size`` px lives in (whether or not it exists)."""
    folder = cache_dir_for(dataset, cache_dir)
    key: dict[str, Any] = {
        "dataset": dataset.name,
        "options": {k: _plain(v) for k, v in sorted(dataset.options.items())},
    }
    if folder.resolve() != default_cache_dir(dataset).resolve():
        key["root"] = str(dataset.root.resolve())  # a shared cache folder serves several roots
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]
    return folder / f"{dataset.name}-{int(size)}px-{digest}.h5"


def prepare_command(dataset: GazeDataset, size: int, cache_dir: str | Path | None = None) -> str:
    """The ``gazebench prepare`` command line that (re)builds this cache."""
    parts = ["gazebench", "prepare", "--dataset", dataset.name, "--root", str(dataset.root), "--size", str(int(size))]
    defaults = {k: option.default for k, option in type(dataset).declared_options.items()}
    for k, v in sorted(dataset.options.items()):
        if k in defaults and v != defaults[k]:
            parts += ["--set", f"{k}={v}"]
    if cache_dir is not None:
        parts += ["--cache-dir", str(cache_dir)]
    return " ".join(parts)


# --- reading ----------------------------------------------------------------------------------


def read_fingerprint(path: str | Path) -> dict[str, Any]:
    """The fingerprint stored in a cache file (opens and closes it)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return json.loads(str(f.attrs["fingerprint"]))
    except (OSError, KeyError, ValueError) as exc:
        raise CacheError(
            f"frame cache {path} is unreadable ({exc}); delete it or rebuild it with gazebench prepare"
        ) from exc


def fingerprint_diff(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """Names of the fingerprint fields that differ."""
    return sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))


def cache_mode(mode: str | None = None) -> str:
    mode = (mode or os.environ.get(ENV_CACHE) or "auto").strip().lower()
    if mode not in CACHE_MODES:
        raise CacheError(f"${ENV_CACHE}={mode!r} is not one of {', '.join(CACHE_MODES)}")
    return mode


def keep_in_memory(frames: int, size: int) -> bool:
    """Whether ``frames`` decoded frames of ``size`` px fit the memory budget ($GAZEBENCH_KEEP_FRAMES_MB,
    default 1024 MiB; 0 turns keeping off)."""
    raw = os.environ.get(ENV_KEEP_MB, "").strip() or str(DEFAULT_KEEP_MB)
    try:
        budget_mb = float(raw)
    except ValueError:
        raise CacheError(
            f"${ENV_KEEP_MB}={raw!r} is not a number of MiB (0 turns keeping decoded frames off)"
        ) from None
    return budget_mb > 0 and frames * size * size * 3 <= budget_mb * 2**20


# --- writing ----------------------------------------------------------------------------------


def build_cache(
    dataset: GazeDataset,
    size: int,
    cache_dir: str | Path | None = None,
    workers: int = 2,
    force: bool = False,
    progress: bool = True,
    block: int = 256,
) -> tuple[Path, str]:
    """Decode and resize every frame of ``dataset``'s index once into its cache file.

    Returns ``(path, what)`` where ``what`` is ``built``, ``rebuilt`` (a stale file was replaced)
    or ``current`` (nothing to do; ``force`` rebuilds anyway).  ``workers`` threads decode."""
    import h5py

    size = int(size)
    if size < 1:
        raise CacheError(f"cache size must be a positive number of pixels; got {size}")
    path = cache_path(dataset, size, cache_dir)
    wanted = fingerprint(dataset, size)
    what = "built"
    if path.exists():
        try:
            stale = fingerprint_diff(read_fingerprint(path), wanted)
        except CacheError:
            stale = ["unreadable"]
        if not stale and not force:
            return path, "current"
        what = "rebuilt"
    _check_space(path.parent, len(dataset.index), size)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:  # a file that exists is whole
        _write_index(f, dataset, wanted)
        frames = f.create_dataset(
            "frames", (len(dataset.index), size, size, 3), dtype=np.uint8, chunks=(1, size, size, 3)
        )
        _write_frames(frames, dataset, size, workers, progress, block)
    return path, what


def _check_space(folder: Path, n: int, size: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    need = n * size * size * 3
    free = shutil.disk_usage(folder).free
    if need > free:
        raise CacheError(
            f"a {size} px cache of {n} frames needs {need / 2**30:.2f} GiB; {folder} has {free / 2**30:.2f} GiB free"
        )


def _write_index(f: Any, dataset: GazeDataset, wanted: dict[str, Any]) -> None:
    """The labels and index columns beside the frames, row-aligned, and the file's attributes."""
    import h5py

    from gazebench import __version__
    from gazebench.core.provenance import now_iso

    idx = dataset.index
    f.create_dataset("gaze", data=dataset.gaze().astype(np.float64))
    f.create_dataset("order", data=idx["order"].to_numpy(np.float64))
    f.create_dataset("centre", data=idx["centre"].to_numpy(bool))
    for col in STRING_COLUMNS:
        f.create_dataset(col, data=idx[col].astype(str).to_numpy(dtype=object), dtype=h5py.string_dtype())
    f.attrs.update({
        "fingerprint": json.dumps(wanted, sort_keys=True),
        "fingerprint_id": fingerprint_id(wanted),
        "format_version": CACHE_FORMAT_VERSION,
        "gazebench_version": __version__,
        "created_at": now_iso(),
        "source_root": str(dataset.root),
        "resize": RESIZE_METHOD,
    })  # fmt: skip


def _write_frames(frames: Any, dataset: GazeDataset, size: int, workers: int, progress: bool, block: int) -> None:
    """Decode every frame into ``frames`` in blocks of ``block`` rows, each block split across
    ``workers`` threads; block k+1 is decoded while block k is written."""
    from gazebench.core.progress import progress_bar

    n = len(dataset.index)

    def decode(rows: range) -> np.ndarray:
        return np.stack([_resized(dataset, r, size) for r in rows])

    blocks = [range(s, min(n, s + block)) for s in range(0, n, block)]
    with (
        progress_bar(n, f"prepare {dataset.name} {size}px", progress) as bar,
        ThreadPoolExecutor(max(1, workers)) as pool,
    ):

        def submit(rows: range):
            parts = np.array_split(np.arange(rows.start, rows.stop), max(1, workers))
            return [pool.submit(decode, range(p[0], p[-1] + 1)) for p in parts if len(p)]

        pending = submit(blocks[0]) if blocks else []
        for k, rows in enumerate(blocks):
            following = submit(blocks[k + 1]) if k + 1 < len(blocks) else []
            frames[rows.start : rows.stop] = np.concatenate([p.result() for p in pending])
            bar(len(rows))
            pending = following


def _resized(dataset: GazeDataset, position: int, size: int) -> np.ndarray:
    image = dataset.read_resized(position, size)
    if image.shape != (size, size, 3) or image.dtype != np.uint8:
        raise CacheError(
            f"dataset {dataset.name!r} row {position}: read_resized gave {image.dtype} {image.shape}, "
            f"expected uint8 {(size, size, 3)}"
        )
    return image


def describe_cache(path: str | Path) -> dict[str, Any]:
    """Fingerprint, frame count and size on disk of a cache file (for ``prepare --info``)."""
    import h5py

    path = Path(path)
    with h5py.File(path, "r") as f:
        fp = json.loads(str(f.attrs["fingerprint"]))
        return {
            "path": str(path),
            "frames": int(f["frames"].shape[0]),
            "size": int(f["frames"].shape[1]),
            "bytes": path.stat().st_size,
            "created_at": str(f.attrs.get("created_at", "")),
            "fingerprint_id": str(f.attrs.get("fingerprint_id", "")),
            "fingerprint": fp,
        }
