"""Training-time augmentation, on the device, batched: named by a protocol's recipe (``augment``).

:data:`AUGMENTATIONS`:

``resized_crop``  Gaze360's ``RandomResizedCrop(size=224, scale=(0.8, 1))`` with torchvision's
                  default ratio ``(3/4, 4/3)`` (erkil1452/gaze360 @ cbeb8e4, ``code/run.py`` line
                  63), drawn for every frame on its own: the loader applies the transform to each
                  of the 7 frames of a sample in turn (``code/data_loader.py`` lines 86-88).  Runs
                  on the frames ``uint8/float [B, T, C, S, S]`` *before* the zoom views
                  (:meth:`Augment.frames`).
``flip``          horizontal mirror of half the samples, every view of a sample alike, with gaze x
                  negated (yaw changes sign): label-exact.  No original flips; a protocol names it
                  to get it.  Runs on the views, after they are made (:meth:`Augment.views_target`).

One deviation from Gaze360, by construction: the loader delivers frames already resized to the
recipe's ``image_size`` S (the original cropped the frame as read from disk, then resized the crop
to 224), so the box is drawn in the S x S frame and its aspect-ratio range applies there.  Every
box then lies inside the frame, so resizing it back to S only ever enlarges: plain bilinear
interpolation is what both PIL and torchvision compute there (antialiasing acts only when
shrinking).

Importing this module does not import torch (``gazebench.config`` reads :data:`AUGMENTATIONS`
and :func:`check_augment` for ``gazebench ls`` and ``--help``); the functions import it when run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from gazebench.options import names_of

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: the names a recipe's ``augment`` takes, each in words (what a dry run and a record print)
AUGMENTATION_TEXT = {
    "flip": "horizontal flip of half the samples, gaze x negated",
    "resized_crop": "RandomResizedCrop per frame (area 0.8-1, aspect 3/4-4/3, resized back to image_size)",
}
AUGMENTATIONS = tuple(AUGMENTATION_TEXT)
#: Gaze360's RandomResizedCrop area range (code/run.py line 63) and torchvision's default ratio
CROP_SCALE = (0.8, 1.0)
CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)
#: torchvision's RandomResizedCrop.get_params draws at most this many boxes before its fallback
CROP_TRIES = 10


#: a recipe's ``augment`` -> the names, in :data:`AUGMENTATIONS` order, each once (a list, ``"flip,resized_crop"``,
#: or none)
check_augment = names_of(*AUGMENTATIONS, what="augmentation")


# --- flip -----------------------------------------------------------------------------------------


def random_flip(views: "torch.Tensor", target: "torch.Tensor", generator: "torch.Generator | None" = None,
                part: "tuple[int, int] | None" = None):
    """Mirror half of the samples horizontally (every view of a sample alike) and negate their
    gaze x, so yaw changes sign.  ``views [B, V, C, H, W]``, ``target [B, 3]``.  ``part``
    ``(start, total)``: the batch is samples ``start..start+B`` of a batch of ``total`` (one rank's
    slice under torchrun): the coins are drawn for all ``total`` and the slice's kept."""
    import torch

    start, total = part if part is not None else (0, views.shape[0])
    flip = (torch.rand(total, generator=generator) < 0.5)[start:start + views.shape[0]]
    if not flip.any():
        return views, target
    flip = flip.to(views.device)
    views = torch.where(flip.view(-1, 1, 1, 1, 1), views.flip(-1), views)
    sign = torch.tensor([-1.0, 1.0, 1.0], device=target.device, dtype=target.dtype)
    target = torch.where(flip.view(-1, 1).to(target.device), target * sign, target)
    return views, target


# --- resized crop ---------------------------------------------------------------------------------


def sample_boxes(
    n: int, size: int, generator: "torch.Generator | None" = None,
    scale: Sequence[float] = CROP_SCALE, ratio: Sequence[float] = CROP_RATIO,
) -> "torch.Tensor":
    """``n`` boxes ``(top, left, height, width)`` in pixels of a ``size`` x ``size`` frame,
    ``int64 [n, 4]``, drawn independently by torchvision's rule (``RandomResizedCrop.get_params``):
    up to :data:`CROP_TRIES` draws of area ``U(scale) * size^2`` and aspect ratio ``exp(U(log
    ratio))``, sides rounded; the first draw that fits the frame is placed uniformly at random, and
    a frame with no fitting draw gets the centre-crop fallback (for a square frame and a ratio
    range containing 1, the whole frame)."""
    import torch

    area = size * size * (scale[0] + (scale[1] - scale[0]) * torch.rand(n, CROP_TRIES, generator=generator,
                                                                        dtype=torch.float64))
    lo, hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(lo + (hi - lo) * torch.rand(n, CROP_TRIES, generator=generator, dtype=torch.float64))
    w = torch.round(torch.sqrt(area * aspect)).long()
    h = torch.round(torch.sqrt(area / aspect)).long()
    fits = (w > 0) & (w <= size) & (h > 0) & (h <= size)
    first = torch.argmax(fits.int(), dim=1, keepdim=True)  # the first fitting try (0 when none fits)
    w, h, found = w.gather(1, first)[:, 0], h.gather(1, first)[:, 0], fits.any(dim=1)
    fw, fh = _fallback(size, ratio)
    w, h = torch.where(found, w, fw), torch.where(found, h, fh)
    u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    top = torch.where(found, (u[:, 0] * (size - h + 1)).floor().long(), (size - h) // 2)
    left = torch.where(found, (u[:, 1] * (size - w + 1)).floor().long(), (size - w) // 2)
    return torch.stack([top, left, h, w], dim=1)


def _fallback(size: int, ratio: Sequence[float]) -> tuple[int, int]:
    """torchvision's fallback (width, height) for a square frame: the largest centred box whose
    aspect ratio is within ``ratio`` (the whole frame when the range contains 1)."""
    if 1.0 < min(ratio):
        return size, int(round(size / min(ratio)))
    if 1.0 > max(ratio):
        return int(round(size * max(ratio))), size
    return size, size


def _axis(start: "torch.Tensor", length: "torch.Tensor", size: int) -> "torch.Tensor":
    """grid_sample coordinates ``[n, size]`` that resize ``[start, start + length)`` of one axis to
    ``size`` samples: half-pixel centres (``align_corners=False``), clamped to the box's own first
    and last pixel, as cropping first and then resizing does."""
    import torch

    out = torch.arange(size, device=start.device, dtype=torch.float32) + 0.5
    length = length.to(torch.float32).unsqueeze(1)
    first = start.to(torch.float32).unsqueeze(1)
    src = (first + out * length / size - 0.5).clamp(min=first, max=first + length - 1)
    return (2 * src + 1) / size - 1


def crop_resize(frames: "torch.Tensor", boxes: "torch.Tensor") -> "torch.Tensor":
    """Crop box ``k`` (``top, left, height, width``) of frame ``k`` of ``[N, C, S, S]`` and resize
    it to ``S x S`` (bilinear); frames whose box is the whole frame come back unchanged.  Same
    dtype out as in (uint8 rounded)."""
    import torch
    import torch.nn.functional as F

    n, _, size = frames.shape[0], frames.shape[1], frames.shape[-1]
    boxes = boxes.to(frames.device)
    gy = _axis(boxes[:, 0], boxes[:, 2], size)
    gx = _axis(boxes[:, 1], boxes[:, 3], size)
    grid = torch.stack([gx.unsqueeze(1).expand(n, size, size), gy.unsqueeze(2).expand(n, size, size)], dim=-1)
    x = frames if frames.is_floating_point() else frames.float()
    out = F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="border", align_corners=False)
    if not frames.is_floating_point():
        out = out.round_().clamp_(0, 255).to(frames.dtype)
    whole = (boxes[:, 2] == size) & (boxes[:, 3] == size)
    return torch.where(whole.view(-1, 1, 1, 1), frames, out)


def resized_crop(
    frames: "torch.Tensor", generator: "torch.Generator | None" = None,
    scale: Sequence[float] = CROP_SCALE, ratio: Sequence[float] = CROP_RATIO,
) -> "torch.Tensor":
    """Every frame of ``[B, T, C, S, S]`` (uint8 or float) through its own random resized crop
    (:func:`sample_boxes`, then :func:`crop_resize`), back to ``S x S``; one batched call on the
    frames' device."""
    if frames.dim() != 5 or frames.shape[-1] != frames.shape[-2]:
        raise ValueError(f"expected square frames [B, T, C, S, S]; got shape {tuple(frames.shape)}")
    flat = frames.flatten(0, 1)
    boxes = sample_boxes(flat.shape[0], frames.shape[-1], generator, scale, ratio)
    return crop_resize(flat, boxes).unflatten(0, frames.shape[:2])


# --- the recipe's augmentation --------------------------------------------------------------------


@dataclass
class Augment:
    """The augmentations a recipe names, seeded by one generator (drawn in a fixed order: the
    frames' boxes, then the flips, batch after batch)."""

    names: tuple[str, ...]
    generator: "torch.Generator | None" = None
    #: ``(start, total)``: the batches are slices of batches of ``total`` samples starting at
    #: ``start`` (one rank's share under torchrun, :mod:`gazebench.distributed`): every draw is made
    #: for the whole batch, as one process would, and the slice's values kept
    part: "tuple[int, int] | None" = None

    def frames(self, frames: "torch.Tensor") -> "torch.Tensor":
        """Before the zoom views: ``resized_crop`` per frame (frames as the loader delivers them)."""
        if "resized_crop" not in self.names:
            return frames
        if self.part is None:
            return resized_crop(frames, self.generator)
        (start, total), t = self.part, frames.shape[1]
        boxes = sample_boxes(total * t, frames.shape[-1], self.generator)[start * t:(start + frames.shape[0]) * t]
        return crop_resize(frames.flatten(0, 1), boxes).unflatten(0, frames.shape[:2])

    def views_target(self, views: "torch.Tensor", target: "torch.Tensor"):
        """After the views: ``flip`` (views mirrored, gaze x negated)."""
        return random_flip(views, target, self.generator, self.part) if "flip" in self.names else (views, target)


def make_augment(names: Any, generator: "torch.Generator | None" = None) -> Augment | None:
    """The recipe's ``augment`` (anything :func:`check_augment` accepts) -> an :class:`Augment`,
    or None when it names none."""
    names = check_augment(names)
    return Augment(names, generator) if names else None
