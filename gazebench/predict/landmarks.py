"""Facial landmarkers for the normalising input path: a protocol, a registry and MediaPipe's.

A landmarker is built by a registered factory, ``factory(model=None)`` (``model``: the path given
with ``--landmarker-model``, or None), and answers ``landmarks(rgb) -> list of (6, 2) arrays``: for
every face in an ``uint8 [H, W, 3]`` RGB frame, the six points of
:data:`gazebench.predict.facepose.SIX_POINTS` in pixels (four eye corners, two nose-base corners).
gazebench keeps the face whose eye corners are farthest apart (the nearest face).  Register one
from a plugin file (``--plugin FILE``) or an entry point in the group ``gazebench.landmarkers``.

The one shipped, ``mediapipe``, is Google's MediaPipe Face Landmarker (``pip install
"gazebench[landmarks]"``): a face detector and a 478-point face mesh in one ``.task`` model file.
Its six points are mesh vertices 33, 133, 362, 263 (eye corners: ``FACE_LANDMARKS_RIGHT_EYE`` and
``FACE_LANDMARKS_LEFT_EYE``) and 98, 327 (the two ends of the nose base chain 98-97-2-326-327 of
``FACE_LANDMARKS_NOSE``), read from ``mediapipe/tasks/python/vision/face_landmarker.py`` of the
mediapipe 1.2.3 wheel (lines 162-216 and 275-300).  The model file is not in the wheel: it is given
with ``--landmarker-model PATH`` or downloaded once from :data:`MEDIAPIPE_MODEL_URL` into the cache
(:func:`mediapipe_model_file`).  docs/predict.md compares it with OpenCV's YuNet + facemark and
face-alignment.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gazebench.core.options import ConfigError
from gazebench.core.registry import Registry
from gazebench.predict.facepose import LANDMARKS_EXTRA

#: MediaPipe's Face Landmarker model (float16, version 1), the file its guide links
#: (ai.google.dev/edge/mediapipe/solutions/vision/face_landmarker, section Models)
MEDIAPIPE_MODEL_URL = (
    "https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/float16/1/face_landmarker.task"
)
MEDIAPIPE_MODEL_FILE = "face_landmarker.task"
#: mesh vertices in the order of facepose.SIX_POINTS
MEDIAPIPE_SIX = (33, 133, 362, 263, 98, 327)


class Landmarker(Protocol):
    def landmarks(self, rgb: np.ndarray) -> list[np.ndarray]:
        """For each face in an ``uint8 [H, W, 3]`` RGB frame, its six points (6 x 2 pixels)."""


LANDMARKERS: Registry = Registry("landmarker", "gazebench.landmarkers")


def build_landmarker(name: str, model: str | Path | None = None) -> Landmarker:
    return LANDMARKERS.get(name)(model=model)


def nearest(faces: list[np.ndarray]) -> np.ndarray | None:
    """The face whose outer eye corners are farthest apart (the nearest), or None when there is none."""
    faces = [np.asarray(f, dtype=np.float64).reshape(6, 2) for f in faces]
    return max(faces, key=lambda f: float(np.linalg.norm(f[3] - f[0]))) if faces else None


def cache_dir() -> Path:
    """Where downloaded model files go: ``$GAZEBENCH_CACHE``, else ``$XDG_CACHE_HOME/gazebench``,
    else ``~/.cache/gazebench``."""
    if os.environ.get("GAZEBENCH_CACHE"):
        return Path(os.environ["GAZEBENCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gazebench"


def mediapipe_model_file(given: str | Path | None = None) -> Path:
    """The Face Landmarker's model file: ``given`` (``--landmarker-model``), else the cached copy,
    else downloaded once into the cache with a message; any failure is one line naming the URL and
    the flag."""
    if given is not None:
        path = Path(given)
        if not path.is_file():
            raise ConfigError(
                f"--landmarker-model {path} does not exist (MediaPipe's face_landmarker.task, from "
                f"{MEDIAPIPE_MODEL_URL})"
            )
        return path
    path = cache_dir() / MEDIAPIPE_MODEL_FILE
    if path.is_file():
        return path
    import urllib.request

    from gazebench.core.atomic import atomic_write

    print(f"downloading MediaPipe's face landmarker model once: {MEDIAPIPE_MODEL_URL} -> {path}", file=sys.stderr)
    try:
        with urllib.request.urlopen(MEDIAPIPE_MODEL_URL, timeout=60) as response:
            data = response.read()
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ConfigError(
            f"cannot download {MEDIAPIPE_MODEL_URL} ({reason}): download it yourself and pass "
            f"--landmarker-model PATH, or put it at {path}"
        ) from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data)
    return path


@LANDMARKERS.register("mediapipe")
class MediaPipeFaces:
    """MediaPipe Face Landmarker (478-point mesh; model file by --landmarker-model or downloaded once)."""

    def __init__(self, model: str | Path | None = None, max_faces: int = 4) -> None:
        if model is not None:  # a wrong path is said before a missing library
            model = mediapipe_model_file(model)
        try:
            import mediapipe
            from mediapipe.tasks.python import BaseOptions
            from mediapipe.tasks.python.vision import FaceLandmarker, FaceLandmarkerOptions
        except ImportError as exc:
            raise ConfigError(
                f"landmarker mediapipe needs MediaPipe, which is not installed: {LANDMARKS_EXTRA}"
            ) from exc
        self.mp = mediapipe
        options = FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(mediapipe_model_file(model))), num_faces=max_faces
        )
        self.task = FaceLandmarker.create_from_options(options)

    def landmarks(self, rgb: np.ndarray) -> list[np.ndarray]:
        height, width = rgb.shape[:2]
        image = self.mp.Image(image_format=self.mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        faces: list[Any] = self.task.detect(image).face_landmarks
        return [np.array([[face[i].x * width, face[i].y * height] for i in MEDIAPIPE_SIX]) for face in faces]
