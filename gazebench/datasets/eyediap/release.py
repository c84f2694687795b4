"""EYEDIAP's release: a session folder's text files, and the samples GazeHub's script makes of them.

The formats, as the release's script reads them (``Scripts/EYEDIAP_misc.py``: ``read_calibration_file``,
``extract_next_file_values``, ``draw_eyes``, ``draw_head_pose``; copy read: koyukan/WebEyeTrack @
1e17e3e, ``python/webeyetrack/datasets/eyediap.py``) and GazeHub's ``data_processing_diap.py``
(``CamParamsDecode``, ``ImageProcessing_PerVideos``):

* ``rgb_vga_calibration.txt``: ``[resolution]`` then ``w;h``; ``[intrinsics]`` then three rows of
  three numbers; ``[R]`` three rows; ``[T]`` three rows of one number (metres).  R and T place the
  camera in the world frame (the depth camera's): a world point p is R^T (p - T) in the camera
  (``project_points``);
* ``head_pose.txt``, ``eye_tracking.txt``, ``screen_coordinates.txt``: a header line (skipped),
  then one line per video frame, numbers separated by ``;``, the frame number first:
  head ``frame;R (9, row major);T (3)`` (a head point q is R q + T in the world,
  ``draw_head_pose``); eyes ``frame;`` the eyes' 2-D centres in the VGA, depth and HD images
  (4 numbers each: left x, y, right x, y) then the 3-D eyeball centres (left x, y, z, right x, y, z;
  world, metres); screen ``frame;`` the target on the screen (x, y pixels) then in 3-D (world,
  metres).  A line of zeros is a frame without tracking (the release writes zeros there).

The samples (GazeHub's ``ImageProcessing_PerVideos``): every frame whose number is a multiple of
``frame_step`` (15: GazeHub keeps lines i with (i - 1) % 15 == 0, frames 0, 15, 30, ...); the
face centre is the mean of the eyes' midpoint and the head's translation; the gaze target is the
3-D screen point.  gazebench maps all three into the camera with R^T (p - T) as the release's
script does (GazeHub maps the eyes and the head with R p + T and leaves the target as written;
see the card's ``convention``), in millimetres, and hands the face to
:func:`gazebench.core.normalization.normalize_face` through a six-point face model whose eye rows sit
at the eyes' midpoint and whose mouth rows sit at the head's origin, so that the normalisation's
face centre (the mean of the two) is GazeHub's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gazebench.datasets.base import Problem
from gazebench.datasets.parsing import parse_float, read_lines, report, shorten, where

#: numbers per line after the frame number
HEAD_VALUES, EYE_VALUES, SCREEN_VALUES = 12, 18, 5
CALIBRATION = "rgb_vga_calibration.txt"
HEAD_FILE, EYE_FILE, SCREEN_FILE = "head_pose.txt", "eye_tracking.txt", "screen_coordinates.txt"
VIDEO = "rgb_vga.mov"
#: the files a screen-target session needs
SESSION_FILES = (VIDEO, CALIBRATION, HEAD_FILE, EYE_FILE, SCREEN_FILE)
_SECTIONS = ("[resolution]", "[intrinsics]", "[R]", "[T]")


@dataclass(frozen=True)
class Calibration:
    """A camera of the release: image size, intrinsics, and its pose in the world (metres)."""

    size: tuple[int, int]  # width, height
    intrinsics: np.ndarray  # 3x3
    rotation: np.ndarray  # 3x3: camera axes in the world
    translation: np.ndarray  # (3,): camera centre in the world, metres

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points ``[..., 3]`` (metres) -> camera frame, millimetres: R^T (p - T)."""
        return 1000.0 * (np.asarray(points, dtype=np.float64) - self.translation) @ self.rotation


def read_calibration(path: Path, problems: list[Problem] | None) -> Calibration | None:
    """``rgb_vga_calibration.txt``; None (a problem reported) when it is not in the release's format."""
    rows = [line.strip() for _, line in read_lines(path, problems)]
    expected = "[resolution], w;h, [intrinsics], 3 rows, [R], 3 rows, [T], 3 rows (numbers separated by ';')"
    try:
        heads = [rows[0], rows[2], rows[6], rows[10]]
        if heads != list(_SECTIONS) or len(rows) < 14:
            raise ValueError
        w, h = (int(v) for v in rows[1].split(";"))
        k = np.array([[parse_float(v) for v in rows[i].split(";")] for i in (3, 4, 5)], dtype=np.float64)
        r = np.array([[parse_float(v) for v in rows[i].split(";")] for i in (7, 8, 9)], dtype=np.float64)
        t = np.array([parse_float(rows[i]) for i in (11, 12, 13)], dtype=np.float64)
        if (
            k.shape != (3, 3)
            or r.shape != (3, 3)
            or not (np.isfinite(k).all() and np.isfinite(r).all() and np.isfinite(t).all())
        ):
            raise ValueError
    except (IndexError, ValueError):
        if rows:
            report(problems, "bad_file", str(path), f"not the release's camera calibration: expected {expected}")
        return None
    return Calibration((w, h), k, r, t)


def read_frames(path: Path, values: int, problems: list[Problem] | None) -> dict[int, np.ndarray]:
    """A per-frame file: frame number -> its ``values`` numbers (the header line is skipped).  A line
    with another count, a non-number or a frame listed twice is one problem at ``file:line``."""
    out: dict[int, np.ndarray] = {}
    first = True
    for number, line in read_lines(path, problems):
        if first:
            first = False
            continue
        fields = line.strip().split(";")
        try:
            if len(fields) != values + 1:
                raise ValueError(
                    f"{len(fields)} fields separated by ';', expected {values + 1} (the frame, then {values} numbers)"
                )
            frame = int(float(fields[0]))
            numbers = np.array([parse_float(v) for v in fields[1:]], dtype=np.float64)
            if not np.isfinite(numbers).all():
                raise ValueError("a value is not finite")
        except ValueError as exc:
            report(problems, "malformed_line", where(path, number), f"{exc}; got {shorten(line)!r}")
            continue
        if frame in out:
            report(problems, "duplicate", where(path, number), f"frame {frame} is listed twice")
            continue
        out[frame] = numbers
    return out


@dataclass(frozen=True)
class Sample:
    """What normalising one frame needs, in the camera frame (mm): the head pose, the six-point
    face model whose face centre is GazeHub's, and the gaze target."""

    frame: int
    head_rvec: np.ndarray
    head_tvec: np.ndarray
    face_model: np.ndarray  # 6x3, head frame, mm
    target: np.ndarray


def rotation_vector(matrix: np.ndarray) -> np.ndarray:
    """Rodrigues vector of a rotation matrix (scipy, as gazebench.core.normalization reads it back)."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(matrix).as_rotvec()


def nearest_rotation(matrix: np.ndarray) -> np.ndarray:
    """The rotation closest to ``matrix`` (the text files hold R to a few decimals)."""
    u, _, vt = np.linalg.svd(matrix)
    r = u @ vt
    return r if np.linalg.det(r) > 0 else u @ np.diag([1.0, 1.0, -1.0]) @ vt


def make_sample(
    frame: int, camera: Calibration, head: np.ndarray, eyes: np.ndarray, screen: np.ndarray
) -> Sample | None:
    """The sample of one frame; None when the release has no tracking there (a line of zeros)."""
    if not head.any() or not eyes[12:].any() or not screen[2:].any():
        return None
    head_r = camera.rotation.T @ nearest_rotation(head[:9].reshape(3, 3))
    head_t = camera.to_camera(head[9:12])
    mid = camera.to_camera((eyes[12:15] + eyes[15:18]) / 2.0)
    eye_rows = np.repeat((head_r.T @ (mid - head_t))[None], 4, axis=0)
    face_model = np.concatenate([eye_rows, np.zeros((2, 3))])
    return Sample(frame, rotation_vector(head_r), head_t, face_model, camera.to_camera(screen[2:5]))
