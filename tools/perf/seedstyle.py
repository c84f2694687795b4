"""The reference (seed) input pipeline, kept only to be measured against.

For every view of a sample it opens and decodes the image file again, resizes it to S x S,
centre-crops the zoom crop and resizes it back, all with PIL, then normalises in float32 in the
worker -- 7 decodes and 7 crop-resizes per sample for a 7-crop model, and float views (4x the
bytes of uint8 frames) through the worker queue.  gazebench itself decodes each frame once
(:class:`~gazebench.datasets.loading.FrameWindows`) and makes the crops batched on the device
(:func:`~gazebench.datasets.views.make_views`).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from gazebench.datasets.loading import FrameWindows
from gazebench.datasets.views import IMAGENET_MEAN, IMAGENET_STD, crop_pixels

_MEAN = np.asarray(IMAGENET_MEAN, np.float32)
_STD = np.asarray(IMAGENET_STD, np.float32)


class SeedStyleViews(FrameWindows):
    """Same samples as :class:`FrameWindows`, built the seed's way: ``{"views": float32 [V, C, S, S], ...}``."""

    def view_plan(self, rows: np.ndarray) -> list[tuple[int, float]]:
        spec = self.spec
        if spec.crops is None:
            return [(int(r), 1.0) for r in rows]
        if spec.num_frames == 1:
            return [(int(rows[0]), c) for c in spec.crops]
        return [(int(r), c) for r, c in zip(rows, spec.crops)]

    def one_view(self, row: int, rel: float) -> np.ndarray:
        size = self.size
        with Image.open(self.dataset.image_path(row)) as im:  # decoded again for every view
            im = im.convert("RGB").resize((size, size), Image.BILINEAR)
        if rel < 1.0:
            side = crop_pixels(size, rel)
            left = (size - side) // 2
            im = im.crop((left, left, left + side, left + side)).resize((size, size), Image.BILINEAR)
        x = (np.asarray(im, np.float32) / 255.0 - _MEAN) / _STD
        return x.transpose(2, 0, 1)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor | int]:
        views = np.stack([self.one_view(r, c) for r, c in self.view_plan(self.rows[i])])
        return {
            "views": torch.from_numpy(np.ascontiguousarray(views)),
            "gaze": torch.from_numpy(self.gaze[i]),
            "index": int(self.positions[i]),
        }
