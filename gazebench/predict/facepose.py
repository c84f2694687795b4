"""The head pose of a face from six 2-D landmarks: PnP on ETH-XGaze's six-point face model.

The normalising input path (:mod:`gazebench.predict.normalise`) needs the head pose that the
checkpoints' authors used for their own normalisation: a rotation and translation that place a
generic 3-D face model in the camera, fitted to the face's 2-D landmarks.  gazebench follows the
demos of the checkpoints it serves:

* the **face model** is ETH-XGaze's generic ``face_model.txt`` (50 points, mm), rows 20, 23, 26, 29
  (the four eye corners, image-left to image-right for a frontal face) and 15, 19 (the two corners
  of the nose base): xucong-zhang/ETH-XGaze @ ef9bff0, ``demo.py`` lines 128-130 (rows) and
  ``face_model.txt`` (values); UniGaze's video demo picks the same rows of the same file
  (ut-vision/UniGaze @ 9c240fb, ``unigaze/predict_gaze_video.py`` lines 285-286).  The 18 numbers of
  :data:`FACE_MODEL` are those rows as printed in the file, rounded to 1e-6 mm.  ETH-XGaze's code
  and data are CC BY-NC-SA 4.0 (its README.md line 9), like the checkpoints that need them.
* the **2-D landmarks** are the matching image points, in the same order: iBUG-68 points 36, 39,
  42, 45, 31, 35 in both demos (``demo.py`` line 138, ``predict_gaze_video.py`` line 289), which a
  landmarker plugin (:mod:`gazebench.predict.landmarks`) returns as :data:`SIX_POINTS` says.
* the **fit** is OpenCV's ``solvePnP``: EPnP first, then the iterative (Levenberg-Marquardt)
  refinement from that start, no lens distortion (``demo.py`` lines 19-26, ``estimateHeadPose``;
  UniGaze's demo calls the same function with zero distortion, lines 115-125 and 293).

Frames: the camera frame of :mod:`gazebench.core.normalization` (x right, y down, z forward, mm).  The
model's own frame has x to the image's right, y down and z away from the camera for a frontal face
(its nose-base corners have smaller z than its eye corners), so a face posed by the identity looks
into the camera.

OpenCV is imported when a pose is first fitted; without it the error names the extra that brings it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gazebench.core.options import ConfigError

#: ETH-XGaze face_model.txt rows 20, 23, 26, 29, 15, 19 (mm): right eye outer and inner corner, left
#: eye inner and outer corner (the subject's right eye is on the image's left), nose base right and left
FACE_MODEL = np.array([
    [-46.509499, -38.327095, 36.416004],
    [-17.760721, -32.585197, 29.076157],
    [18.043911, -30.956823, 29.062967],
    [44.737587, -34.107872, 36.732437],
    [-10.611665, 12.958349, 21.622765],
    [11.289630, 13.864244, 21.837900],
])  # fmt: skip

#: what each of the six landmark rows is (the order of :data:`FACE_MODEL`)
SIX_POINTS = (
    "right eye, outer corner",
    "right eye, inner corner",
    "left eye, inner corner",
    "left eye, outer corner",
    "nose base, right corner",
    "nose base, left corner",
)

LANDMARKS_EXTRA = 'pip install "gazebench[landmarks]"'


@dataclass(frozen=True)
class HeadPose:
    """``rvec`` (Rodrigues, radians) and ``tvec`` (mm): :data:`FACE_MODEL` -> camera frame."""

    rvec: np.ndarray
    tvec: np.ndarray

    @property
    def matrix(self) -> np.ndarray:
        from scipy.spatial.transform import Rotation

        return Rotation.from_rotvec(self.rvec).as_matrix()

    def facing(self) -> np.ndarray:
        """The unit direction the face points to, in the camera frame (the model's -z axis)."""
        return -self.matrix[:, 2]


def camera_matrix(width: int, height: int, focal: float | None = None) -> np.ndarray:
    """A pinhole camera for a ``width`` x ``height`` frame: focal length ``focal`` px (default the
    frame's width, about 53 degrees across) and the principal point at the frame's centre."""
    f = float(width if focal is None else focal)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def import_cv2() -> Any:
    try:
        import cv2
    except ImportError as exc:
        raise ConfigError(
            f"the normalising input path fits the head pose with OpenCV, which is not installed: {LANDMARKS_EXTRA}"
        ) from exc
    return cv2


def fit_head_pose(landmarks: np.ndarray, camera: np.ndarray) -> HeadPose:
    """The head pose that projects :data:`FACE_MODEL` onto ``landmarks`` (6 x 2 pixels, the order of
    :data:`SIX_POINTS`) through ``camera``: EPnP, then iterative refinement (``demo.py`` lines 19-26)."""
    cv2 = import_cv2()
    points = np.ascontiguousarray(np.asarray(landmarks, dtype=np.float64).reshape(6, 1, 2))
    model = np.ascontiguousarray(FACE_MODEL.reshape(6, 1, 3))
    k = np.asarray(camera, dtype=np.float64)
    ok, rvec, tvec = cv2.solvePnP(model, points, k, None, flags=cv2.SOLVEPNP_EPNP)
    if ok:
        ok, rvec, tvec = cv2.solvePnP(model, points, k, None, rvec, tvec, True)
    return HeadPose(np.asarray(rvec, dtype=np.float64).reshape(3), np.asarray(tvec, dtype=np.float64).reshape(3))


def project(points: np.ndarray, pose: HeadPose, camera: np.ndarray) -> np.ndarray:
    """``points`` (N x 3, model frame, mm) posed by ``pose`` and projected through ``camera``: N x 2 px."""
    cam = np.asarray(points, dtype=np.float64) @ pose.matrix.T + pose.tvec
    uvw = cam @ np.asarray(camera, dtype=np.float64).T
    return uvw[:, :2] / uvw[:, 2:3]
