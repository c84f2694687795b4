"""Torch side of the data path: samples as dicts of frames, decoded once per frame.

A sample is ``{"frames": uint8 [T, C, S, S], "gaze": float32 [3], "index": int}`` where T is
the view's frame count and ``index`` the row of the labelled frame in the adapter's index (ids
and subjects are looked up there, so workers never pickle strings per sample).  When the frames
are held on the device (:mod:`gazebench.datasets.device_frames`) a sample carries ``"rows"``
(int64 ``[T]``, the frames' places there) instead of ``"frames"``: the step gathers them.  Zoom crops and
normalisation happen later, batched, on the device (views.make_views).  A training split with a
``crop`` (the recipe's ``resized_crop``, :class:`gazebench.train.augment.SourceCrop`) reads each frame
as the adapter decodes it and crops it there, before resizing, as Gaze360's loader does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from gazebench.core.errors import UserValueError
from gazebench.datasets.base import BadSample, GazeDataset
from gazebench.datasets.device_frames import DeviceFrames
from gazebench.datasets.sources import FrameSource
from gazebench.datasets.views import ViewSpec

ON_BAD_SAMPLE = ("error", "skip")


def collate_frames(samples: list[dict]) -> dict:
    """Default collation of the good samples; skipped ones (``--on-bad-sample skip``) are listed
    under ``"skipped"`` (row positions) and leave the batch smaller, or empty."""
    good = [s for s in samples if "skipped" not in s]
    batch = default_collate(good) if good else {}
    batch["skipped"] = [s["skipped"] for s in samples if "skipped" in s]
    return batch


def has_samples(batch: dict) -> bool:
    """Whether a collated batch kept any sample (its frames, or their places on the device)."""
    return "frames" in batch or "rows" in batch


def without_skipped(loader: Iterable[dict], skipped: list[int]) -> Iterator[dict]:
    """Batches of ``loader`` with at least one sample; appends skipped row positions to ``skipped``."""
    for batch in loader:
        skipped.extend(batch.get("skipped", []))
        if has_samples(batch):
            yield batch


class FrameWindows(Dataset):
    """The labelled frames at ``positions`` of ``dataset``, each with the frames ``spec`` needs,
    read from ``source`` (:mod:`gazebench.datasets.sources`: the image files or a prepared cache)
    at the source's size.

    ``crop`` (``crop(image, size, epoch, position, slot) -> uint8 [size, size, 3]``, e.g.
    :class:`gazebench.train.augment.SourceCrop`): each frame is instead decoded by the adapter at its own
    size and cropped and resized by ``crop``, every slot of the window on its own; ``epoch`` is
    what :meth:`set_epoch` last set, shared with the loader's worker processes."""

    def __init__(
        self,
        dataset: GazeDataset,
        positions: np.ndarray,
        spec: ViewSpec,
        source: FrameSource,
        on_bad_sample: str = "error",
        crop: Callable[[np.ndarray, int, int, int, int], np.ndarray] | None = None,
    ) -> None:
        if on_bad_sample not in ON_BAD_SAMPLE:
            raise UserValueError(f"on_bad_sample must be one of {', '.join(ON_BAD_SAMPLE)}; got {on_bad_sample!r}")
        self.on_bad_sample = on_bad_sample
        self.dataset = dataset
        self.positions = np.asarray(positions, dtype=np.int64)
        self.spec = spec
        self.source = source
        self.size = int(source.size)
        if spec.needs_sequences:
            if not dataset.has_sequences:
                raise UserValueError(
                    f"dataset {dataset.name!r} has no sequences; view {spec.describe()} needs {spec.num_frames} frames"
                )
            table, complete = dataset.windows(spec.offsets)
            self.rows = table[self.positions]
            self.complete = complete[self.positions]
        else:
            self.rows = self.positions[:, None]
            self.complete = np.ones(len(self.positions), dtype=bool)
        self.gaze = dataset.gaze(self.positions).astype(np.float32)
        self.crop = crop
        self.on_device: DeviceFrames | None = None
        self._epoch = torch.zeros(1, dtype=torch.int64)
        if crop is not None:  # in shared memory: persistent loader workers read the epoch the main process sets
            self._epoch.share_memory_()

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose draws ``crop`` makes (set before the epoch's batches are asked for)."""
        self._epoch[0] = int(epoch)

    def __len__(self) -> int:
        return len(self.positions)

    def hold_on(self, frames: DeviceFrames) -> None:
        """Hand over the frames' places in ``frames`` (which holds every row of this split) instead of
        the frames; a split that crops each frame as decoded keeps reading through its source."""
        if self.crop is None:
            self.on_device = frames

    def __getitem__(self, i: int) -> dict[str, torch.Tensor | int]:
        return self._sample(i, {})

    def __getitems__(self, indices: list[int]) -> list[dict[str, torch.Tensor | int]]:
        """A batch's samples at once (what a DataLoader asks for): a frame that several windows of
        the batch share (consecutive centre frames share six of seven) is decoded once."""
        decoded: dict[int, np.ndarray | None] = {}
        return [self._sample(int(i), decoded) for i in indices]

    def _sample(self, i: int, decoded: dict[int, np.ndarray | None]) -> dict[str, torch.Tensor | int]:
        """Sample ``i``, its frames read through ``decoded`` (row -> frame, None: unreadable)."""
        rows = self.rows[i]
        if self.on_device is not None:
            if self.on_device.bad[rows].any():  # only with on_bad_sample=skip: error stopped the placing
                return {"skipped": int(self.positions[i])}
            return {
                "rows": torch.from_numpy(self.on_device.slot[rows]),
                "gaze": torch.from_numpy(self.gaze[i]),
                "index": int(self.positions[i]),
            }
        read = self.source.read if self.crop is None else self.dataset.read_image
        for r in rows:  # a padded window repeats rows: decode each distinct frame once
            r = int(r)
            if r not in decoded:
                try:
                    decoded[r] = read(r)
                except BadSample:
                    if self.on_bad_sample == "error":
                        raise
                    decoded[r] = None
            if decoded[r] is None:
                return {"skipped": int(self.positions[i])}  # never a placeholder image
        if self.crop is None:
            frames = np.stack([decoded[int(r)] for r in rows])  # [T, S, S, C]
        else:
            epoch, position = int(self._epoch[0]), int(self.positions[i])
            frames = np.stack([self.crop(decoded[int(r)], self.size, epoch, position, k) for k, r in enumerate(rows)])
        return {
            "frames": torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous(),
            "gaze": torch.from_numpy(self.gaze[i]),
            "index": int(self.positions[i]),
        }
