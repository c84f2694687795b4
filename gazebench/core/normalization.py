"""Data normalisation of face and eye images (Zhang, Sugano, Bulling, "Revisiting data normalization
for appearance-based gaze estimation", ETRA 2018).

Normalisation puts images from any camera into one label space: the image is re-rendered by a
virtual camera (focal length ``focal``, principal point at the patch centre) that sits at the real
camera's centre, looks straight at a reference point of the face (the face centre, or one eye's
centre) and is rolled so that its x-axis lies in the plane of the head's x-axis; the image is then
scaled as if that point were ``distance`` mm away.  Gaze and head rotation are rotated into the
virtual camera with the same rotation ``R`` (the 2018 variant: the scaling is applied to the image
only, never to the gaze).

Frames: every 3-D quantity is in the camera frame (x right, y down, z forward, millimetres).  The
normalised gaze is returned in that frame of the *virtual* camera; ``geometry.from_camera_frame``
turns it into the harness's canonical label (it negates x and y), and that label has the same yaw and
pitch as ETH-XGaze's stored ``face_gaze`` (see ``docs/normalization.md``).

Where each step comes from (line numbers at the commits named):

* ``F`` = xucong-zhang/ETH-XGaze @ ef9bff0ec43ca64b00c8b3c248f401f0674877a4,
  ``normalization_example.py``, function ``normalizeData_face`` (lines 26-83);
* ``E`` = xucong-zhang/data-preprocessing-gaze @ 000bfaae8762d3f23f549f38f6e8a87548f3f87c,
  ``normalize_data.py``, function ``normalizeData`` (lines 48-111): the paper's authors' eye-patch
  code (60x36 patches as in MPIIGaze).

==========================  =====================================================================
step                        source
==========================  =====================================================================
face: focal 960, 300 mm,    F lines 28-30 (``focal_norm``, ``distance_norm``, ``roiSize``)
448x448 px
eye: focal 960, 600 mm,     E lines 51-53 (ETH-XGaze's own eye variant, F lines 88-90, uses
60x36 px (width, height)    1800 / 600 / 128x128: pass ``focal=1800, distance=600, size=(128, 128)``)
head rotation matrix        F line 35 / E line 60 (Rodrigues of the head rotation vector)
face model in the camera    F line 36: ``hR @ face_model.T + ht`` (face model rows: 4 eye corners,
                            then 2 nose-base corners, F's ``nose_center``; ETH-XGaze picks them from
                            its 50-point model, F lines 191-193; MPIIFaceGaze's 6-point model has the
                            2 mouth corners there)
face centre                 F lines 37-39: mean of (mean of the 4 eye corners, mean of rows 4-5),
                            so the eyes and the nose (mouth, for a 6-point mouth model) weigh equally
eye centres                 E lines 61-63 / F lines 97-98: midpoint of rows 0-1 (the original's
                            first eye, processed first, E line 67) and of rows 2-3
distance, scale S           F lines 42-54: ``S = diag(1, 1, distance_norm / |centre|)``
normalised camera K_n       F lines 45-49: focal on the diagonal, principal point ``(w/2, h/2)``
R                           F lines 56-62: forward = centre / |centre|; down = forward x head-x
                            (normalised); right = down x forward (normalised); rows right, down,
                            forward
W                           F line 64: ``K_n @ S @ R @ inv(K)``
image                       F line 66: ``cv2.warpPerspective(img, W, roiSize)`` (bilinear, constant
                            0 border); here :func:`warp_image`, numpy only, with OpenCV's 1/32 px
                            source positions
head rotation               F lines 69-70: Rodrigues of ``R @ hR``
gaze                        F lines 73-75: ``R @ (target - centre)``, made unit (E lines 101-107:
                            no ``S`` on the gaze in the 2018 normalisation)
landmarks                   F lines 78-81: ``cv2.perspectiveTransform(points, W)``
==========================  =====================================================================

Not done here: E converts the eye patch to grey and equalises its histogram (E lines 55 and 94,
both marked there as optional post-processing); these functions return the warped image in the
input's colours and dtype.  Neither original undistorts inside the function (F line 168 switches lens
distortion off for ETH-XGaze; E undistorts the whole image before, line 122): pass an undistorted
image and the matching camera matrix.

Only numpy at import; scipy (rotation vectors) is imported when first needed.  Bad input raises
:class:`NormalizationError` (a :class:`~gazebench.core.errors.GazebenchError`) with a one-line message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import UserValueError

__all__ = [
    "EYE_DISTANCE",
    "EYE_FOCAL",
    "EYE_SIZE",
    "FACE_DISTANCE",
    "FACE_FOCAL",
    "FACE_SIZE",
    "Normalized",
    "NormalizationError",
    "eye_centers",
    "face_center",
    "normalize_eye",
    "normalize_face",
    "warp_image",
    "warp_points",
]

#: the face patch's virtual camera (ETH-XGaze normalization_example.py lines 28-30)
FACE_FOCAL, FACE_DISTANCE, FACE_SIZE = 960.0, 300.0, 448
#: the eye patch's virtual camera, size as (width, height) (data-preprocessing-gaze normalize_data.py lines 51-53)
EYE_FOCAL, EYE_DISTANCE, EYE_SIZE = 960.0, 600.0, (60, 36)


#: source positions are rounded to 1/_SUBPIXEL px before bilinear sampling, as OpenCV's warps do
_SUBPIXEL = 32


class NormalizationError(UserValueError):
    """An input to normalisation has the wrong shape or values (the message names it and the fix)."""


@dataclass(frozen=True)
class Normalized:
    """One normalised sample.

    ``image``: the patch, ``(height, width) + image.shape[2:]``, the input's dtype.
    ``rotation``: ``R`` (3x3), original camera -> normalised camera.
    ``head_rvec``: the head rotation in the normalised camera, a Rodrigues vector ``(3,)``.
    ``gaze``: unit ``(3,)`` from the centre towards the target in the normalised camera (x right,
    y down, z forward), or None without a target.
    ``landmarks``: ``(N, 2)`` image points mapped into the patch, or None.
    ``warp``: ``W`` (3x3), original image pixels -> patch pixels.
    ``center``: the 3-D point the virtual camera looks at, in the original camera (mm).
    ``camera_matrix``: the virtual camera's intrinsic matrix.
    """

    image: np.ndarray
    rotation: np.ndarray
    head_rvec: np.ndarray
    gaze: np.ndarray | None
    landmarks: np.ndarray | None
    warp: np.ndarray
    center: np.ndarray
    camera_matrix: np.ndarray


# --- input checks -------------------------------------------------------------------------------


def _shape(x: Any) -> str:
    return "x".join(str(n) for n in np.shape(x)) or "a scalar"


def _float_array(name: str, x: Any) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise NormalizationError(f"{name} must be numbers, got {type(x).__name__}") from None
    if not np.all(np.isfinite(a)):
        raise NormalizationError(f"{name} has a NaN or infinite value: give finite numbers")
    return a


def _vec3(name: str, x: Any) -> np.ndarray:
    a = _float_array(name, x)
    if a.size != 3 or a.ndim > 2 or (a.ndim == 2 and 1 not in a.shape):
        raise NormalizationError(f"{name} must have 3 values (shape 3, 3x1 or 1x3), got shape {_shape(a)}")
    return a.reshape(3)


def _camera(x: Any) -> np.ndarray:
    k = _float_array("camera_matrix", x)
    if k.shape != (3, 3):
        raise NormalizationError(f"camera_matrix must be 3x3 (the intrinsic matrix K), got shape {_shape(k)}")
    if abs(np.linalg.det(k)) < 1e-12:
        raise NormalizationError("camera_matrix is singular: give the intrinsic matrix [[fx,0,cx],[0,fy,cy],[0,0,1]]")
    return k


def _face_model(x: Any) -> np.ndarray:
    m = _float_array("face_model", x)
    if m.shape == (3, 6):
        raise NormalizationError("face_model must be 6x3 (one row per point), got 3x6: pass face_model.T")
    if m.shape != (6, 3):
        raise NormalizationError(
            f"face_model must be 6x3 (4 eye corners then 2 nose-base or mouth corners, mm, one row each), got shape {_shape(m)}"
        )
    return m


def _landmarks(x: Any) -> np.ndarray | None:
    if x is None:
        return None
    p = _float_array("landmarks", x)
    if p.ndim == 3 and p.shape[1] == 1 and p.shape[2] == 2:  # OpenCV's (N, 1, 2)
        p = p.reshape(-1, 2)
    if p.ndim != 2 or p.shape[1] != 2:
        raise NormalizationError(f"landmarks must be Nx2 pixel points (x, y), got shape {_shape(p)}")
    return p


def _image(x: Any) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise NormalizationError(f"image must be a numpy array (height x width x channels), got {type(x).__name__}")
    if x.ndim not in (2, 3) or x.shape[0] == 0 or x.shape[1] == 0:
        raise NormalizationError(f"image must be height x width (x channels), got shape {_shape(x)}")
    if x.dtype.kind not in "uif":
        raise NormalizationError(f"image must hold integers or floats, got dtype {x.dtype}")
    return x


def _positive(name: str, x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise NormalizationError(f"{name} must be a positive number, got {x!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise NormalizationError(f"{name} must be a positive number, got {x!r}")
    return v


def _size(x: Any) -> tuple[int, int]:
    """``size`` as (width, height): an int is a square."""
    parts = (x, x) if np.isscalar(x) else tuple(x) if isinstance(x, (tuple, list)) else None
    if (
        parts is None
        or len(parts) != 2
        or not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) and p > 0 for p in parts)
    ):
        raise NormalizationError(f"size must be a positive int or (width, height) of positive ints, got {x!r}")
    return int(parts[0]), int(parts[1])


# --- rotations ----------------------------------------------------------------------------------


def _rotation_matrix(rvec: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(rvec).as_matrix()


def _rotation_vector(matrix: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(matrix).as_rotvec()


def _face_in_camera(face_model: Any, head_rvec: Any, head_tvec: Any) -> np.ndarray:
    """The face model's points in the camera, ``(6, 3)`` (F line 36)."""
    m = _face_model(face_model)
    h_rot = _rotation_matrix(_vec3("head_rvec", head_rvec))
    return m @ h_rot.T + _vec3("head_tvec", head_tvec)


def face_center(face_model: Any, head_rvec: Any, head_tvec: Any) -> np.ndarray:
    """The face centre in the camera (mm, ``(3,)``): the mean of the eye corners' mean (rows 0-3) and
    the mean of rows 4-5 (ETH-XGaze's nose-base corners; a 6-point MPIIFaceGaze model's mouth
    corners) of ``face_model`` placed by the head pose (F lines 36-39)."""
    pts = _face_in_camera(face_model, head_rvec, head_tvec)
    return 0.5 * (pts[0:4].mean(axis=0) + pts[4:6].mean(axis=0))


def eye_centers(face_model: Any, head_rvec: Any, head_tvec: Any) -> np.ndarray:
    """The two eye centres in the camera (mm, ``(2, 3)``): the midpoint of ``face_model`` rows 0-1 and
    of rows 2-3 placed by the head pose (E lines 61-63).  With the originals' face models (x to the
    image's right) the first is the subject's right eye, which the original processes first (E line 67)."""
    pts = _face_in_camera(face_model, head_rvec, head_tvec)
    return np.stack([0.5 * (pts[0] + pts[1]), 0.5 * (pts[2] + pts[3])])


# --- the warp ------------------------------------------------------------------------------------


def warp_points(points: Any, warp: Any) -> np.ndarray:
    """``(N, 2)`` pixel points mapped by the 3x3 homography ``warp`` (as ``cv2.perspectiveTransform``;
    a point mapped to infinity comes back NaN)."""
    p = _landmarks(points)
    w = _float_array("warp", warp)
    if w.shape != (3, 3):
        raise NormalizationError(f"warp must be 3x3, got shape {_shape(w)}")
    h = np.c_[p, np.ones(len(p))] @ w.T
    with np.errstate(divide="ignore", invalid="ignore"):
        out = h[:, :2] / h[:, 2:3]
    out[h[:, 2] == 0] = np.nan
    return out


def warp_image(image: np.ndarray, warp: Any, size: Any) -> np.ndarray:
    """The image seen through the homography ``warp`` (source pixels -> destination pixels) on a
    ``size = (width, height)`` canvas: each destination pixel centre is mapped back through
    ``inv(warp)``, rounded to 1/32 px and sampled bilinearly, pixels outside the source count as 0 (what
    ``cv2.warpPerspective(image, warp, size)`` does with its defaults, INTER_LINEAR and a constant 0
    border).  Integer images are rounded to the nearest value and clipped to their dtype's range."""
    img = _image(image)
    w = _float_array("warp", warp)
    if w.shape != (3, 3) or abs(np.linalg.det(w)) < 1e-300:
        raise NormalizationError(f"warp must be an invertible 3x3 matrix, got shape {_shape(w)}")
    width, height = _size(size)
    inv = np.linalg.inv(w)
    xs = np.arange(width, dtype=np.float64)[None, :]
    ys = np.arange(height, dtype=np.float64)[:, None]
    den = inv[2, 0] * xs + inv[2, 1] * ys + inv[2, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        sx = (inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]) / den
        sy = (inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]) / den
    src_h, src_w = img.shape[:2]
    # a point mapped to infinity (den == 0) or far away lands outside: clip before the floor so no
    # integer overflows; -2 and size + 1 are both outside the zero-padded source
    sx = np.clip(np.nan_to_num(sx, nan=-2.0, posinf=-2.0, neginf=-2.0), -2.0, src_w + 1.0)
    sy = np.clip(np.nan_to_num(sy, nan=-2.0, posinf=-2.0, neginf=-2.0), -2.0, src_h + 1.0)
    # OpenCV rounds each source position to 1/32 px before its bilinear weights (INTER_BITS = 5,
    # enum InterpolationMasks in opencv2/imgproc.hpp): doing the same keeps the patch within one grey
    # level of cv2.warpPerspective's everywhere instead of a few levels at sharp edges
    sx, sy = np.rint(sx * _SUBPIXEL) / _SUBPIXEL, np.rint(sy * _SUBPIXEL) / _SUBPIXEL
    x0, y0 = np.floor(sx), np.floor(sy)
    # 8-bit and float32 images are sampled in float32: with weights in steps of 1/32 every product and
    # sum of 8-bit values is exact there, and it halves the memory traffic
    work = np.float32 if img.dtype.itemsize == 1 or img.dtype == np.float32 else np.float64
    fx, fy = (sx - x0).astype(work).reshape(-1, 1), (sy - y0).astype(work).reshape(-1, 1)
    xi, yi = x0.astype(np.intp) + 1, y0.astype(np.intp) + 1  # the top-left neighbour in the padded source
    inside = ((xi >= 0) & (xi <= src_w) & (yi >= 0) & (yi <= src_h)).reshape(-1, 1)
    row = src_w + 2
    flat = np.where(inside[:, 0], (yi * row + xi).ravel(), 0)
    pad = [(1, 1), (1, 1)] + [(0, 0)] * (img.ndim - 2)
    src = np.pad(img, pad).reshape((src_h + 2) * row, -1)  # (pixels, channels), 0 around the image

    def at(offset: int) -> np.ndarray:
        return np.take(src, flat + offset, axis=0).astype(work, copy=False)

    top = at(0) * (1 - fx) + at(1) * fx
    bottom = at(row) * (1 - fx) + at(row + 1) * fx
    out = (top * (1 - fy) + bottom * fy) * inside
    if img.dtype.kind in "ui":
        info = np.iinfo(img.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.reshape((height, width) + img.shape[2:]).astype(img.dtype, copy=False)


# --- normalisation --------------------------------------------------------------------------------


def _normalize(
    image, camera_matrix, head_rvec, center, landmarks, gaze_target, focal, distance, size, what: str
) -> Normalized:
    img = _image(image)
    k = _camera(camera_matrix)
    h_rot = _rotation_matrix(_vec3("head_rvec", head_rvec))
    target = None if gaze_target is None else _vec3("gaze_target", gaze_target)
    points = _landmarks(landmarks)
    focal, distance = _positive("focal", focal), _positive("distance", distance)
    width, height = _size(size)

    actual = float(np.linalg.norm(center))
    if actual < 1e-9:
        raise NormalizationError(f"the {what} is at the camera's centre: check head_tvec (mm, camera frame)")
    k_norm = np.array([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])
    scale = np.diag([1.0, 1.0, distance / actual])
    forward = center / actual
    down = np.cross(forward, h_rot[:, 0])
    if np.linalg.norm(down) < 1e-12:
        raise NormalizationError(
            f"the head's x-axis points along the line of sight to the {what}: check head_rvec (Rodrigues, radians)"
        )
    down /= np.linalg.norm(down)
    right = np.cross(down, forward)
    right /= np.linalg.norm(right)
    rot = np.stack([right, down, forward])
    warp = k_norm @ scale @ (rot @ np.linalg.inv(k))

    gaze = None
    if target is not None:
        g = rot @ (target - center)
        n = np.linalg.norm(g)
        if n < 1e-12:
            raise NormalizationError(
                f"gaze_target is the {what} itself: give the 3-D point looked at (mm, camera frame)"
            )
        gaze = g / n
    return Normalized(
        image=warp_image(img, warp, (width, height)),
        rotation=rot,
        head_rvec=_rotation_vector(rot @ h_rot),
        gaze=gaze,
        landmarks=None if points is None else warp_points(points, warp),
        warp=warp,
        center=np.array(center, dtype=np.float64),
        camera_matrix=k_norm,
    )


def normalize_face(
    image: np.ndarray,
    camera_matrix: Any,
    head_rvec: Any,
    head_tvec: Any,
    face_model: Any,
    landmarks: Any = None,
    gaze_target: Any = None,
    focal: float = FACE_FOCAL,
    distance: float = FACE_DISTANCE,
    size: Any = FACE_SIZE,
) -> Normalized:
    """Normalise a face image as ETH-XGaze's ``normalizeData_face`` does (steps and sources in the
    module docstring).

    ``image``: undistorted, ``H x W (x C)``.  ``camera_matrix``: its 3x3 intrinsics.  ``head_rvec``,
    ``head_tvec``: the head pose (Rodrigues radians, mm) that maps ``face_model`` (6x3, mm: four eye
    corners, then two nose-base corners -- or mouth corners, MPIIFaceGaze's model) into the
    camera.  ``landmarks``: optional ``N x 2`` pixels to map into the patch.  ``gaze_target``: optional 3-D point looked at (mm, camera frame).  ``focal``,
    ``distance`` (mm) and ``size`` (px, an int or (width, height)) describe the virtual camera.
    """
    center = face_center(face_model, head_rvec, head_tvec)
    return _normalize(
        image, camera_matrix, head_rvec, center, landmarks, gaze_target, focal, distance, size, "face centre"
    )


def normalize_eye(
    image: np.ndarray,
    camera_matrix: Any,
    head_rvec: Any,
    head_tvec: Any,
    eye_center: Any,
    gaze_target: Any = None,
    focal: float = EYE_FOCAL,
    distance: float = EYE_DISTANCE,
    size: Any = EYE_SIZE,
) -> Normalized:
    """Normalise one eye as the paper's authors' ``normalizeData`` does for each eye (60x36 patch by
    default, ``size`` = (width, height)); ``eye_center`` is the eye's 3-D centre in the camera (mm),
    e.g. a row of :func:`eye_centers`.  ``head_tvec`` is checked but only the eye centre places the
    virtual camera; the head rotation sets its roll.  ``landmarks`` is always None."""
    _vec3("head_tvec", head_tvec)
    center = _vec3("eye_center", eye_center)
    return _normalize(image, camera_matrix, head_rvec, center, None, gaze_target, focal, distance, size, "eye centre")
