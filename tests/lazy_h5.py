"""The per-process HDF5 handle check that every HDF5-backed adapter's tests share."""

from __future__ import annotations

import pickle

import numpy as np
import torch
from torch.utils.data import DataLoader

from gazebench.datasets.loading import FrameWindows
from gazebench.datasets.sources import ImageFiles
from gazebench.datasets.views import ViewSpec


def open_files(dataset) -> list[str]:
    """The files of ``dataset`` this process holds open."""
    return sorted(name for name, handle in dataset._files.items() if handle.is_open)


def check_lazy_handles(ds, positions: np.ndarray, size: int, first_file: str, other: int) -> None:
    """Indexing leaves no file open; forked loader workers open their own (the parent none) and
    read the same pixels; a read opens the file in this process; a pickled copy (what a spawned
    worker receives) carries no handle and reads the same image."""
    assert open_files(ds) == []
    expected = np.stack([ds.read_resized(int(i), size) for i in positions])
    ds.close()
    windows = FrameWindows(ds, positions, ViewSpec(), ImageFiles(ds, size))
    loader = DataLoader(windows, batch_size=4, num_workers=2, multiprocessing_context="fork")
    frames = torch.cat([b["frames"][:, 0] for b in loader]).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(frames, expected)
    assert open_files(ds) == []  # the workers opened their own; the parent opened nothing
    ds.read_image(0)
    assert open_files(ds) == [first_file]
    clone = pickle.loads(pickle.dumps(ds))
    assert open_files(clone) == []
    np.testing.assert_array_equal(clone.read_image(other), ds.read_image(other))
