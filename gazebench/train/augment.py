"""Training-time augmentation, named by a protocol's recipe (``augment``).

:data:`AUGMENTATIONS`:

``resized_crop``  Gaze360's ``RandomResizedCrop(size=224, scale=(0.8, 1))`` with torchvision's
                  default ratio ``(3/4, 4/3)`` (erkil1452/gaze360 @ cbeb8e4, ``code/run.py`` line
                  63), drawn for every frame on its own: the loader applies the transform to each
                  of the 7 frames of a sample in turn (``code/data_loader.py`` lines 86-88), to the
                  frame as read from disk (``default_loader``, lines 50-58).  So does gazebench:
                  in the data path (:class:`SourceCrop`, used by
                  :class:`~gazebench.datasets.loading.FrameWindows` for the training split), the
                  box is drawn in the source frame's own pixels (:func:`draw_box`, torchvision's
                  ``get_params`` on its H x W) and the box is resized to the recipe's
                  ``image_size`` (:func:`crop_to_size`, PIL bilinear as torchvision on a PIL image).
                  Training frames then come from the image files, not from a prepared frame
                  cache (which holds frames already resized).
``flip``          horizontal mirror of half the samples, every view of a sample alike, with gaze x
                  negated (yaw changes sign): label-exact.  No original flips; a protocol names it
                  to get it.  Runs on the device on the views, after they are made
                  (:meth:`Augment.views_target`).

The names a recipe's ``augment`` takes and their check live in :mod:`gazebench.core.config`
(:data:`~gazebench.core.config.AUGMENTATIONS`, :func:`~gazebench.core.config.check_augment`).  Importing this
module does not import torch; the functions import it when run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from gazebench.core.config import check_augment

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: Gaze360's RandomResizedCrop area range (code/run.py line 63) and torchvision's default ratio
CROP_SCALE = (0.8, 1.0)
CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)
#: torchvision's RandomResizedCrop.get_params draws at most this many boxes before its fallback
CROP_TRIES = 10


# --- flip -----------------------------------------------------------------------------------------


def random_flip(
    views: torch.Tensor,
    target: torch.Tensor,
    generator: torch.Generator | None = None,
    part: tuple[int, int] | None = None,
):
    """Mirror half of the samples horizontally (every view of a sample alike) and negate their
    gaze x, so yaw changes sign.  ``views [B, V, C, H, W]``, ``target [B, 3]``.  ``part``
    ``(start, total)``: the batch is samples ``start..start+B`` of a batch of ``total`` (one rank's
    slice under torchrun): the coins are drawn for all ``total`` and the slice's kept."""
    import torch

    start, total = part if part is not None else (0, views.shape[0])
    flip = (torch.rand(total, generator=generator) < 0.5)[start : start + views.shape[0]]
    if not flip.any():
        return views, target
    flip = flip.to(views.device)
    views = torch.where(flip.view(-1, 1, 1, 1, 1), views.flip(-1), views)
    sign = torch.tensor([-1.0, 1.0, 1.0], device=target.device, dtype=target.dtype)
    target = torch.where(flip.view(-1, 1).to(target.device), target * sign, target)
    return views, target


# --- resized crop (on the source frame, in the data path) ------------------------------------------


def draw_box(
    height: int,
    width: int,
    rng: np.random.Generator,
    scale: Sequence[float] = CROP_SCALE,
    ratio: Sequence[float] = CROP_RATIO,
) -> tuple[int, int, int, int]:
    """A box ``(top, left, h, w)`` in the pixels of a ``height`` x ``width`` frame, by torchvision's
    rule (``RandomResizedCrop.get_params``): up to :data:`CROP_TRIES` draws of area ``U(scale) * H
    * W`` and aspect ratio ``exp(U(log ratio))``, sides rounded; the first that fits is placed
    uniformly at random; with none, the centred fallback (the whole frame, narrowed to the ratio
    range when the frame's own aspect lies outside it)."""
    lo, hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(CROP_TRIES):
        area = height * width * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(lo, hi))
        w, h = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    own = width / height
    if own < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif own > max(ratio):
        w, h = int(round(height * max(ratio))), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def crop_to_size(image: np.ndarray, box: Sequence[int], size: int) -> np.ndarray:
    """Box ``(top, left, h, w)`` of ``uint8 [H, W, 3]`` resized to ``uint8 [size, size, 3]`` (PIL
    bilinear, as torchvision's ``resized_crop`` computes on a PIL image)."""
    from gazebench.datasets.base import resize_frame  # the one resize of the data path

    top, left, h, w = (int(v) for v in box)
    return resize_frame(np.ascontiguousarray(image[top : top + h, left : left + w]), size)


@dataclass(frozen=True)
class SourceCrop:
    """``resized_crop`` of one run: every frame of every training sample gets its own box, drawn
    from ``(seed, epoch, sample row, frame slot)`` alone, so the draws do not depend on the batch
    order, the loader workers or the torchrun ranks, and a resumed run draws what it would have."""

    seed: int
    scale: tuple[float, float] = CROP_SCALE
    ratio: tuple[float, float] = CROP_RATIO

    def box(self, shape: Sequence[int], epoch: int, position: int, slot: int) -> tuple[int, int, int, int]:
        rng = np.random.default_rng([self.seed % 2**63, int(epoch), int(position), int(slot)])
        return draw_box(int(shape[0]), int(shape[1]), rng, self.scale, self.ratio)

    def __call__(self, image: np.ndarray, size: int, epoch: int, position: int, slot: int) -> np.ndarray:
        """Frame ``slot`` of the sample at row ``position``, as read from disk, cropped and resized."""
        return crop_to_size(image, self.box(image.shape, epoch, position, slot), size)


def source_crop(names: Any, seed: int) -> SourceCrop | None:
    """The recipe's ``augment`` -> the training split's :class:`SourceCrop`, or None without ``resized_crop``."""
    return SourceCrop(int(seed)) if "resized_crop" in check_augment(names) else None


# --- the recipe's augmentation --------------------------------------------------------------------


@dataclass
class Augment:
    """The recipe's augmentations that run on the device (``flip``), seeded by one generator
    (``resized_crop`` runs in the data path: :func:`source_crop`)."""

    names: tuple[str, ...]
    generator: torch.Generator | None = None
    #: ``(start, total)``: the batches are slices of batches of ``total`` samples starting at
    #: ``start`` (one rank's share under torchrun, :mod:`gazebench.train.distributed`): every draw is made
    #: for the whole batch, as one process would, and the slice's values kept
    part: tuple[int, int] | None = None

    def views_target(self, views: torch.Tensor, target: torch.Tensor):
        """After the views: ``flip`` (views mirrored, gaze x negated)."""
        return random_flip(views, target, self.generator, self.part) if "flip" in self.names else (views, target)


def make_augment(names: Any, generator: torch.Generator | None = None) -> Augment | None:
    """The recipe's ``augment`` (anything :func:`check_augment` accepts) -> an :class:`Augment`
    for the device's part (``flip``), or None when it names none."""
    names = check_augment(names)
    return Augment(names, generator) if "flip" in names else None
