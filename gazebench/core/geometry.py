"""The only place that knows gaze conventions.

Canonical label: a unit 3-D gaze vector ``g = (x, y, z)`` in the Gaze360 eye frame: +x to the
subject's left as seen from the camera, +y up, +z away from the camera; ``(0, 0, -1)`` looks
straight into the camera.  ``yaw = atan2(x, -z)``, ``pitch = asin(y)``.

Every function accepts numpy arrays or torch tensors (last axis = components) and returns the
same kind.  Every dataset adapter converts its native labels here, once.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any, Union

import numpy as np

if TYPE_CHECKING:  # torch is imported where a tensor is actually met (see _is_torch)
    import torch

Array = Union[np.ndarray, "torch.Tensor"]


def _is_torch(x: Any) -> bool:
    """A torch tensor?  Asked without importing torch: a tensor exists only once torch is loaded,
    so the numpy side of the maths (planning, adapters, ``ls``) never pays torch's import."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _torch():
    import torch

    return torch


def _lib(x: Any):
    return _torch() if _is_torch(x) else np


def _as_array(x: Any) -> Array:
    if _is_torch(x) or isinstance(x, np.ndarray):
        return x
    return np.asarray(x, dtype=np.float64)


def _stack(parts: list, like: Any) -> Array:
    return _torch().stack(parts, dim=-1) if _is_torch(like) else np.stack(parts, axis=-1)


def normalize(v: Array, eps: float = 1e-12) -> Array:
    """Scale vectors to unit length along the last axis."""
    v = _as_array(v)
    if _is_torch(v):
        return v / v.norm(dim=-1, keepdim=True).clamp_min(eps)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), eps)


def vector_to_yawpitch(v: Array) -> Array:
    """Canonical gaze vectors ``[..., 3]`` -> ``[..., 2]`` (yaw, pitch) in radians.

    The vector is normalised first; yaw is in (-pi, pi], pitch in [-pi/2, pi/2].
    """
    v = normalize(_as_array(v))
    lib = _lib(v)
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    yaw = lib.arctan2(x, -z) if lib is np else _torch().atan2(x, -z)
    y = y.clamp(-1.0, 1.0) if _is_torch(y) else np.clip(y, -1.0, 1.0)
    pitch = lib.arcsin(y) if lib is np else _torch().asin(y)
    return _stack([yaw, pitch], v)


def yawpitch_to_vector(yp: Array) -> Array:
    """(yaw, pitch) radians ``[..., 2]`` -> unit canonical gaze vectors ``[..., 3]``."""
    yp = _as_array(yp)
    lib = _lib(yp)
    yaw, pitch = yp[..., 0], yp[..., 1]
    cp = lib.cos(pitch)
    return _stack([cp * lib.sin(yaw), lib.sin(pitch), -cp * lib.cos(yaw)], yp)


def angular_error_deg(pred: Array, target: Array) -> Array:
    """Angle in degrees between gaze vectors along the last axis (clamped, so never NaN)."""
    pred, target = normalize(_as_array(pred)), normalize(_as_array(target))
    if _is_torch(pred) or _is_torch(target):
        pred = _torch().as_tensor(pred)
        target = _torch().as_tensor(target, dtype=pred.dtype, device=pred.device)
        cos = (pred * target).sum(-1).clamp(-1.0, 1.0)
        return _torch().rad2deg(_torch().acos(cos))
    cos = np.clip((pred * target).sum(-1), -1.0, 1.0)
    return np.degrees(np.arccos(cos))


# --- converters from each dataset's native labels -------------------------------------------


def from_yaw_pitch_pairs(yaw: Array, pitch: Array) -> Array:
    """2-D labels whose yaw/pitch follow the Gaze360 signs (RT-GENE, GazeHub, ETH-XGaze, MPIIFaceGaze
    after the column order is fixed) -> canonical unit vectors."""
    yaw, pitch = _as_array(yaw), _as_array(pitch)
    return yawpitch_to_vector(_stack([yaw, pitch], yaw))


def from_pitch_yaw(py: Array) -> Array:
    """``[..., 2]`` stored as (pitch, yaw) radians (ETH-XGaze ``face_gaze``, MPIIFaceGaze ``Data/label[:, :2]``)."""
    py = _as_array(py)
    return from_yaw_pitch_pairs(py[..., 1], py[..., 0])


def from_yaw_pitch(yp: Array) -> Array:
    """``[..., 2]`` stored as (yaw, pitch) radians (RT-GENE ``label_combined.txt``, GazeHub ``2DGaze``)."""
    yp = _as_array(yp)
    return from_yaw_pitch_pairs(yp[..., 0], yp[..., 1])


def from_gaze360(v: Array) -> Array:
    """Gaze360 ``gaze_dir`` / split-file vectors: already in the eye frame, not always unit."""
    return normalize(_as_array(v))


def from_camera_frame(v: Array) -> Array:
    """Camera frame (x right, y down, z forward) -> canonical eye frame (x and y negated)."""
    v = _as_array(v)
    sign = np.array([-1.0, -1.0, 1.0])
    if _is_torch(v):
        sign = _torch().as_tensor(sign, dtype=v.dtype, device=v.device)
    return normalize(v * sign)


def mirror(v: Array) -> Array:
    """The label of the horizontally flipped image: x is negated, so yaw changes sign."""
    v = _as_array(v)
    sign = np.array([-1.0, 1.0, 1.0])
    if _is_torch(v):
        sign = _torch().as_tensor(sign, dtype=v.dtype, device=v.device)
    return v * sign


# --- Gaze360 evaluation subsets ----------------------------------------------------------------

#: half-width of the two "front-facing" subsets, degrees
FRONT20_DEG = 20.0
#: the names :func:`subset_masks` gives.  "Front facing" (the Gaze360 paper's third column) has two
#: readings, each its own subset: ``front20`` = |yaw| <= 20 deg (the reading of MultiZoomGaze's
#: evaluation code, ashesh-0/MultiZoomGaze @ 24494a1 code/core/analysis_utils.py lines 38-49) and
#: ``front20axis`` = the gaze within 20 deg of the camera axis (angle between g and (0, 0, -1)).
#: ``front20axis`` lies inside ``front20`` (tan|yaw| <= tan(angle)); "within 90 deg" needs no second
#: name: both readings give g_z <= 0, ``front180``.
SUBSETS = ("front180", "front20", "front20axis", "back")


def camera_axis_angle_deg(v: Array) -> np.ndarray:
    """Angle in degrees between each gaze vector ``[N, 3]`` and the camera axis ``(0, 0, -1)``
    (looking straight into the camera is 0, straight away from it 180)."""
    v = np.asarray(v.detach().cpu() if _is_torch(v) else v, dtype=np.float64)
    cos = -v[..., 2] / np.maximum(np.linalg.norm(v, axis=-1), 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def subset_masks(v: Array) -> dict[str, np.ndarray]:
    """Boolean masks of the Gaze360 subsets for ground-truth vectors ``[N, 3]``:
    ``front180`` = g_z <= 0 (|yaw| <= 90 deg), ``front20`` = |yaw| <= 20 deg, ``front20axis`` =
    within 20 deg of the camera axis (:func:`camera_axis_angle_deg`), ``back`` = g_z > 0."""
    v = np.asarray(v.detach().cpu() if _is_torch(v) else v, dtype=np.float64)
    yaw_deg = np.degrees(vector_to_yawpitch(v)[..., 0])
    return {
        "front180": v[..., 2] <= 0,
        "front20": np.abs(yaw_deg) <= FRONT20_DEG,
        "front20axis": camera_axis_angle_deg(v) <= FRONT20_DEG,
        "back": v[..., 2] > 0,
    }


def error_summary(errors_deg: Array) -> dict[str, float]:
    """Per-sample angular errors -> mean, median, std, p90 (averaged over samples, never batches)."""
    e = np.asarray(errors_deg.detach().cpu() if _is_torch(errors_deg) else errors_deg, dtype=np.float64)
    if e.size == 0:
        return {"mean": math.nan, "median": math.nan, "std": math.nan, "p90": math.nan, "n": 0}
    return {
        "mean": float(e.mean()),
        "median": float(np.median(e)),
        "std": float(e.std()),
        "p90": float(np.percentile(e, 90)),
        "n": int(e.size),
    }
