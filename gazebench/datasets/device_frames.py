"""Frames held on the training device: decoded once, gathered there by row for every batch.

On a GPU the loader's workers decode and copy every frame of every batch of every epoch; with the
frames the run reads resident in device memory (``uint8 [R, S, S, 3]``, a 224 px frame is
147 KiB), a batch is an index: the loader hands over row numbers, and
:meth:`DeviceFrames.gather` picks the frames on the device (``StepContext.views``), where the zoom
crops, flips and normalisation already happen.  Each frame of a window, and of windows that
share frames, is read once for the whole run.

:func:`hold_on_device` decides (``$GAZEBENCH_DEVICE_FRAMES``): ``auto`` (default) holds the frames
on a CUDA device when they take at most :data:`AUTO_SHARE` of its free memory, never on a CPU
(where the kept frames of :class:`gazebench.datasets.sources.ImageFiles` do the same job without a
second copy); ``on`` holds them on any device, the CPU included (how the tests exercise this path);
``off`` never.  The frames are those the run's frame source serves (the prepared cache, or the
image files), read once through it by the loader's workers, so a run's numbers do not depend on
where the frames are held.  A training split that crops each frame as decoded (Gaze360's
``resized_crop``) keeps reading through its source: only validation and test are held then.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from gazebench.core.errors import UserValueError
from gazebench.datasets.base import BadSample
from gazebench.datasets.sources import FrameSource

ENV_DEVICE_FRAMES = "GAZEBENCH_DEVICE_FRAMES"
MODES = ("auto", "on", "off")
#: ``auto`` holds the frames on a CUDA device when they take at most this share of its free memory
AUTO_SHARE = 0.4
#: frames a loader worker reads and hands over at a time while the frames are being placed
BLOCK = 256


def device_frames_mode(mode: str | None = None) -> str:
    mode = (mode or os.environ.get(ENV_DEVICE_FRAMES) or "auto").strip().lower()
    if mode not in MODES:
        raise UserValueError(f"${ENV_DEVICE_FRAMES}={mode!r} is not one of {', '.join(MODES)}")
    return mode


def frames_bytes(rows: int, size: int) -> int:
    return int(rows) * int(size) * int(size) * 3


def hold_on_device(device: torch.device, rows: int, size: int, mode: str | None = None) -> bool:
    """Whether ``rows`` frames of ``size`` px are to be held on ``device`` (see the module doc)."""
    mode = device_frames_mode(mode)
    if mode != "auto":
        return mode == "on"
    if device.type != "cuda":
        return False
    free, _total = torch.cuda.mem_get_info(device)
    return frames_bytes(rows, size) <= AUTO_SHARE * free


class _Rows(Dataset):
    """Blocks of frames read through ``source``: ``(start, uint8 [n, S, S, 3], bad [n])``."""

    def __init__(self, source: FrameSource, rows: np.ndarray, skip_bad: bool) -> None:
        self.source, self.rows, self.skip_bad = source, rows, skip_bad

    def __len__(self) -> int:
        return (len(self.rows) + BLOCK - 1) // BLOCK

    def __getitem__(self, k: int) -> tuple[int, torch.Tensor, torch.Tensor]:
        rows = self.rows[k * BLOCK : (k + 1) * BLOCK]
        block = np.zeros((len(rows), self.source.size, self.source.size, 3), dtype=np.uint8)
        bad = np.zeros(len(rows), dtype=bool)
        for i, r in enumerate(rows):
            try:
                block[i] = self.source.read(int(r))
            except BadSample:
                if not self.skip_bad:
                    raise
                bad[i] = True  # never a placeholder: the samples that need it are skipped
        return k * BLOCK, torch.from_numpy(block), torch.from_numpy(bad)


class DeviceFrames:
    """The frames at ``rows`` (row positions of the adapter's index) of ``source``, on ``device``.

    ``slot[row]`` is a frame's place in :attr:`frames` (-1: not held); ``bad[row]`` marks a frame
    that could not be read (``on_bad_sample=skip``; with ``error`` the first one stops the run here,
    naming the file).  ``workers`` loader processes read the frames."""

    def __init__(
        self,
        source: FrameSource,
        rows: np.ndarray,
        index_rows: int,
        device: torch.device,
        workers: int = 0,
        skip_bad: bool = False,
    ) -> None:
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        self.source, self.size, self.device = source, int(source.size), device
        self.slot = np.full(int(index_rows), -1, dtype=np.int64)
        self.slot[rows] = np.arange(len(rows))
        self.bad = np.zeros(int(index_rows), dtype=bool)
        self.frames = torch.empty((len(rows), self.size, self.size, 3), dtype=torch.uint8, device=device)
        blocks = DataLoader(
            _Rows(source, rows, skip_bad), batch_size=None, num_workers=workers, pin_memory=device.type == "cuda"
        )
        for start, block, bad in blocks:
            self.frames[start : start + len(block)].copy_(block, non_blocking=True)
            self.bad[rows[start : start + len(block)][bad.numpy()]] = True
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def read(self, position: int) -> np.ndarray:
        """One frame back on the host (the :class:`FrameSource` protocol; batches use :meth:`gather`)."""
        if self.bad[position]:
            raise BadSample(f"row {position} could not be read when the frames were placed on {self.device}")
        return self.frames[int(self.slot[position])].cpu().numpy()

    def gather(self, slots: torch.Tensor) -> torch.Tensor:
        """``slots`` ``[B, T]`` (what :meth:`FrameWindows.__getitem__` hands over as ``rows``) ->
        the frames, ``uint8 [B, T, 3, S, S]`` on the device, as the host path delivers them."""
        return self.frames[slots.to(self.device, non_blocking=True)].permute(0, 1, 4, 2, 3).contiguous()

    def describe(self) -> dict[str, Any]:
        return {**self.source.describe(), "on_device": str(self.device)}

    def __repr__(self) -> str:
        return f"DeviceFrames({self.source!r}, frames={len(self.frames)}, device={self.device})"
