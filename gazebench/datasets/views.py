"""What a model sees of one sample: ``[V, C, H, W]`` views built from frames and zoom crops.

A :class:`ViewSpec` names the frames (offsets around the labelled frame) and the zoom crops
(relative sizes).  Data loaders deliver the *frames* (``uint8 [B, T, C, S, S]``, each file decoded
once); :func:`make_views` turns them into the model input on the device, batched: the zoom crops
of every frame are one tensor operation, never a second decode.

A zoom crop of relative size ``s`` centre-crops a square of side ``round(s * S)`` from the
``S x S`` frame and resizes it back to ``S x S`` (bilinear, half-pixel centres), as the seed
pipeline's "Resize(224) -> CenterCrop(c) -> Resize(224)" with ``c / 224 = s``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gazebench.core.errors import UserValueError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def parse_floats(value: str | Sequence[float] | None) -> tuple[float, ...] | None:
    """``"1.0,0.78"`` / ``[1.0, 0.78]`` -> ``(1.0, 0.78)``; pixel sizes (> 1) are read as
    pixels of 224 (``"224,200"`` -> ``(1.0, 0.893)``)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [v for v in value.replace(" ", "").split(",") if v]
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise UserValueError(
            f"zoom crop sizes are numbers (relative sizes in (0, 1] or pixels of 224, comma separated); got {value!r}"
        ) from None
    if any(v > 1.0 for v in out):
        out = tuple(v / 224.0 for v in out)
    for v in out:
        if not 0.0 < v <= 1.0:
            raise UserValueError(f"zoom crop sizes are relative sizes in (0, 1] or pixels of 224; got {value!r}")
    return out


@dataclass(frozen=True)
class ViewSpec:
    """Frames and zoom crops a model needs.

    offsets: frame offsets around the labelled frame, e.g. ``(0,)`` or ``(-3, ..., 3)``.
    crops:   relative zoom crop sizes or None.  With one frame, the frame is expanded into one
             view per crop (multi-zoom); with T frames, frame i gets crop i (per-frame zoom).
    """

    offsets: tuple[int, ...] = (0,)
    crops: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if 0 not in self.offsets:
            raise ValueError(f"a view must include the labelled frame (offset 0); got offsets {self.offsets}")
        if self.crops is not None and len(self.offsets) > 1 and len(self.crops) != len(self.offsets):
            raise UserValueError(
                f"per-frame zoom needs one crop per frame: {len(self.offsets)} frames, {len(self.crops)} crops"
            )

    @classmethod
    def window(cls, length: int, crops: Sequence[float] | None = None) -> ViewSpec:
        """``length`` frames centred on the labelled one (f - length//2 ... f + length//2)."""
        if length < 1 or length % 2 == 0:
            raise UserValueError(f"a centred frame window needs an odd length; got {length}")
        half = length // 2
        return cls(tuple(range(-half, half + 1)), tuple(crops) if crops is not None else None)

    @property
    def num_frames(self) -> int:
        return len(self.offsets)

    @property
    def num_views(self) -> int:
        if self.crops is not None and len(self.offsets) == 1:
            return len(self.crops)
        return len(self.offsets)

    @property
    def needs_sequences(self) -> bool:
        return len(self.offsets) > 1

    def describe(self) -> str:
        frames = (
            "1 frame"
            if self.num_frames == 1
            else f"{self.num_frames} frames {self.offsets[0]:+d}..{self.offsets[-1]:+d}"
        )
        if self.crops is None:
            return frames
        crops = ",".join(f"{c:.3g}" for c in self.crops)
        return f"{frames}, zoom crops [{crops}]"


def crop_pixels(size: int, rel: float) -> int:
    """Side in pixels of the centre crop of relative size ``rel`` from a ``size`` square."""
    return max(1, min(size, int(round(rel * size))))


def zoom(frames: torch.Tensor, rel: float, out_size: int | None = None) -> torch.Tensor:
    """Centre-crop ``[..., C, S, S]`` to ``round(rel*S)`` and resize to ``out_size`` (default S).

    Works on float tensors; a crop of 1.0 at the same size is returned unchanged."""
    size = frames.shape[-1]
    out_size = out_size or size
    side = crop_pixels(size, rel)
    top = (frames.shape[-2] - side) // 2
    left = (size - side) // 2
    cropped = frames[..., top : top + side, left : left + side]
    if side == out_size and cropped.shape[-2] == out_size:
        return cropped
    lead = cropped.shape[:-3]
    flat = cropped.reshape(-1, *cropped.shape[-3:])
    resized = F.interpolate(
        flat, size=(out_size, out_size), mode="bilinear", align_corners=False, antialias=side > out_size
    )
    return resized.reshape(*lead, *resized.shape[-3:])


def make_views(
    frames: torch.Tensor,
    spec: ViewSpec,
    out_size: int | None = None,
    normalize: bool = True,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``uint8/float [B, T, C, S, S]`` frames -> model input ``[B, V, C, out, out]``.

    Runs wherever ``frames`` lives (move the uint8 batch to the GPU first: 4x less to copy)."""
    if frames.dim() != 5:
        raise ValueError(f"expected frames [B, T, C, H, W]; got shape {tuple(frames.shape)}")
    if frames.shape[1] != spec.num_frames:
        raise ValueError(f"view {spec.describe()} needs {spec.num_frames} frames; batch has {frames.shape[1]}")
    x = frames.to(dtype)
    if frames.dtype == torch.uint8:
        x = x / 255.0
    out_size = out_size or frames.shape[-1]
    if spec.crops is None:
        views = x if out_size == x.shape[-1] else zoom(x, 1.0, out_size)
    elif spec.num_frames == 1:
        views = torch.cat([zoom(x, c, out_size) for c in spec.crops], dim=1)
    else:
        # group frames that share a crop size: one interpolate per distinct size
        views = torch.empty(*x.shape[:3], out_size, out_size, dtype=x.dtype, device=x.device)
        for c in sorted(set(spec.crops)):
            idx = [i for i, ci in enumerate(spec.crops) if ci == c]
            views[:, idx] = zoom(x[:, idx], c, out_size)
    if normalize:
        mean = torch.tensor(IMAGENET_MEAN, dtype=dtype, device=x.device).view(1, 1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, dtype=dtype, device=x.device).view(1, 1, 3, 1, 1)
        views = (views - mean) / std
    return views
