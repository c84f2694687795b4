"""The normalising input path: landmarks -> head pose -> the normalised face patch -> back to the camera.

Checkpoints trained on normalised faces (ETH-XGaze's, GazeTR's, UniGaze's: a published card with
``input.image: normalised-face``) see every face as a virtual camera would that looks straight at
the face centre from a fixed distance, rolled so that the head's x-axis is level (Zhang, Sugano and
Bulling 2018; :mod:`gazebench.core.normalization`).  Their gaze comes out in that virtual camera's frame,
off the camera's by the normalising rotation ``R``.  For each frame, :class:`NormalisedFaces`:

1. asks a landmarker (:mod:`gazebench.predict.landmarks`) for the six points of every face and keeps
   the nearest face;
2. fits the head pose by PnP on ETH-XGaze's six-point face model (:mod:`gazebench.predict.facepose`)
   through a pinhole camera (:func:`~gazebench.predict.facepose.camera_matrix`: ``--focal``, default
   the frame's width; principal point at the centre);
3. normalises the face with :func:`gazebench.core.normalization.normalize_face` at the card's virtual
   camera (``input.normalisation``: focal, distance, size) and hands the patch to the model;

and :meth:`Normalisation.to_camera` turns the model's gaze back into the camera frame with ``R``'s
inverse (as UniGaze's video demo does: ut-vision/UniGaze @ 9c240fb, ``unigaze/predict_gaze_video.py``
lines 58-66 and 319-320), for the drawing and the CSV, which keeps both frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gazebench.core.normalization import NormalizationError, face_center, normalize_face
from gazebench.core.options import ConfigError
from gazebench.predict.crops import Box
from gazebench.predict.facepose import FACE_MODEL, HeadPose, camera_matrix, fit_head_pose
from gazebench.predict.inputs import Frame
from gazebench.predict.landmarks import Landmarker, nearest

#: the two input conventions a published card's ``input.image`` names
FACE_BOX, NORMALISED_FACE = "face-box", "normalised-face"
IMAGE_KINDS = (FACE_BOX, NORMALISED_FACE)
#: the canonical eye frame is the camera frame with x and y negated (gazebench.core.geometry)
_FLIP = np.diag([-1.0, -1.0, 1.0])
#: ETH-XGaze's 224 px face patch (xucong-zhang/ETH-XGaze @ ef9bff0, demo.py lines 46-48): the virtual
#: camera of a registered model's normalised input, its focal scaled with --set image_size
XGAZE_FOCAL, XGAZE_DISTANCE, XGAZE_SIZE = 960.0, 600.0, 224


@dataclass(frozen=True)
class VirtualCamera:
    """The normalised camera a checkpoint was trained with: focal length (px), distance (mm), square size (px)."""

    focal: float
    distance: float
    size: int

    @classmethod
    def for_size(cls, size: int) -> VirtualCamera:
        """ETH-XGaze's 224 px patch (focal 960, 600 mm) at another size, the same field of view."""
        return cls(XGAZE_FOCAL * size / XGAZE_SIZE, XGAZE_DISTANCE, int(size))

    def describe(self) -> str:
        return f"focal {self.focal:g} px, distance {self.distance:g} mm, {self.size} px"


def card_image_kind(card: Any) -> str:
    """A published card's input convention (``input.image``): ``face-box`` or ``normalised-face``."""
    kind = (card.input or {}).get("image")
    if kind not in IMAGE_KINDS:
        raise ConfigError(f"published card {card.name}: input.image must be {' or '.join(IMAGE_KINDS)}; got {kind!r}")
    return kind


def card_virtual_camera(card: Any) -> VirtualCamera:
    """The virtual camera a ``normalised-face`` card states (``input.normalisation``)."""
    spec = (card.input or {}).get("normalisation") or {}
    try:
        camera = VirtualCamera(float(spec["focal"]), float(spec["distance"]), int(spec["size"]))
    except (KeyError, TypeError, ValueError):
        raise ConfigError(
            f"published card {card.name}: input.normalisation needs focal (px), distance (mm) and "
            f"size (px); got {spec!r}"
        ) from None
    if camera.size != int(card.input.get("size") or camera.size):
        raise ConfigError(
            f"published card {card.name}: input.normalisation.size {camera.size} is not input.size "
            f"{card.input.get('size')}"
        )
    return camera


@dataclass(frozen=True)
class Normalisation:
    """How one frame's face was normalised: ``rotation`` ``R`` (camera -> normalised camera), the
    fitted head pose in the camera, and the head rotation in the normalised camera (Rodrigues)."""

    rotation: np.ndarray
    pose: HeadPose
    head_rvec: np.ndarray

    def to_camera(self, vector: np.ndarray) -> np.ndarray:
        """A canonical gaze predicted in the normalised camera, in the camera's canonical frame
        (``F R^T F``: to the camera frame, undo ``R``, back to canonical)."""
        return _FLIP @ self.rotation.T @ _FLIP @ np.asarray(vector, dtype=np.float64)


def face_box(six: np.ndarray, centre: np.ndarray) -> Box:
    """A square about ``centre`` (the face centre in pixels), twice the outer eye corners' distance wide."""
    side = 2.0 * float(np.linalg.norm(six[3] - six[0]))
    return Box(float(centre[0]) - side / 2, float(centre[1]) - side / 2, side, side)


class NormalisedFaces:
    """Frames -> (the face's box, its normalised patch and :class:`Normalisation`); None without a face."""

    def __init__(self, landmarker: Landmarker, name: str, camera: VirtualCamera, focal: float | None = None) -> None:
        if focal is not None and focal <= 0:
            raise ConfigError(f"--focal must be > 0 pixels; got {focal}")
        self.landmarker, self.name, self.camera, self.focal = landmarker, name, camera, focal
        self.failed = 0

    def normalise(self, frame: Frame) -> tuple[Box, np.ndarray, Normalisation] | None:
        six = nearest(list(self.landmarker.landmarks(frame.image)))
        if six is None:
            return None
        height, width = frame.image.shape[:2]
        k = camera_matrix(width, height, self.focal)
        pose = fit_head_pose(six, k)
        if pose.tvec[2] <= 0:  # a fit with the face behind the camera: landmarks that fit no face
            self.failed += 1
            return None
        try:
            n = normalize_face(
                frame.image,
                k,
                pose.rvec,
                pose.tvec,
                FACE_MODEL,
                focal=self.camera.focal,
                distance=self.camera.distance,
                size=self.camera.size,
            )
        except NormalizationError:  # a degenerate fit (face behind the camera, head axis along the view)
            self.failed += 1
            return None
        uvw = k @ face_center(FACE_MODEL, pose.rvec, pose.tvec)
        return face_box(six, uvw[:2] / uvw[2]), n.image, Normalisation(n.rotation, pose, n.head_rvec)

    def describe(self) -> str:
        focal = "the frame's width" if self.focal is None else f"{self.focal:g} px"
        return (
            f"normalised faces: landmarker {self.name}, head pose by PnP (camera focal {focal}), "
            f"virtual camera {self.camera.describe()}"
        )
