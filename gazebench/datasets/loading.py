"""Torch side of the data path: samples as dicts of frames, decoded once per frame.

A sample is ``{"frames": uint8 [T, C, S, S], "gaze": float32 [3], "index": int}`` where T is
the view's frame count and ``index`` the row of the labelled frame in the adapter's index (ids
and subjects are looked up there, so workers never pickle strings per sample).  Zoom crops and
normalisation happen later, batched, on the device (views.make_views).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from gazebench.datasets.base import GazeDataset
from gazebench.datasets.views import ViewSpec


class FrameWindows(Dataset):
    """The labelled frames at ``positions`` of ``dataset``, each with the frames ``spec`` needs,
    resized to ``size`` x ``size``."""

    def __init__(self, dataset: GazeDataset, positions: np.ndarray, spec: ViewSpec, size: int) -> None:
        self.dataset = dataset
        self.positions = np.asarray(positions, dtype=np.int64)
        self.spec = spec
        self.size = int(size)
        if spec.needs_sequences:
            if not dataset.has_sequences:
                raise ValueError(f"dataset {dataset.name!r} has no sequences; view {spec.describe()} needs {spec.num_frames} frames")
            table, complete = dataset.windows(spec.offsets)
            self.rows = table[self.positions]
            self.complete = complete[self.positions]
        else:
            self.rows = self.positions[:, None]
            self.complete = np.ones(len(self.positions), dtype=bool)
        self.gaze = dataset.gaze(self.positions).astype(np.float32)

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor | int]:
        rows = self.rows[i]
        decoded: dict[int, np.ndarray] = {}
        for r in rows:  # a padded window repeats rows: decode each distinct frame once
            r = int(r)
            if r not in decoded:
                decoded[r] = self.dataset.read_resized(r, self.size)
        frames = np.stack([decoded[int(r)] for r in rows])  # [T, S, S, C]
        return {
            "frames": torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous(),
            "gaze": torch.from_numpy(self.gaze[i]),
            "index": int(self.positions[i]),
        }
