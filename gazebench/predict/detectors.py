"""Face/head detectors for ``gazebench predict --detector NAME``: a protocol and a registry.

A detector is built by a registered factory (no arguments) and answers
``detect(rgb) -> list[Box]`` for an ``uint8 [H, W, 3]`` RGB frame, boxes in pixels of that frame.
Register one from a plugin file exactly like a dataset or a model (``--plugin FILE``)::

    from gazebench.predict.crops import Box
    from gazebench.predict.detectors import DETECTORS

    @DETECTORS.register("mydetector")
    class MyDetector:
        \"\"\"One line that ``gazebench predict --help`` shows.\"\"\"

        def detect(self, rgb):
            return [Box(x, y, w, h) for x, y, w, h in my_model(rgb)]

gazebench keeps the largest box of each frame (one head per frame; a frame without a box is left
out of the predictions).  No detector is a dependency of gazebench; the one shipped here needs the
optional extra ``gazebench[detect]``:

* ``opencv-haar``: OpenCV's frontal-face Haar cascade (Viola and Jones), whose model file comes
  inside the ``opencv-python-headless`` 4.x wheel (5.x wheels no longer carry it), so nothing is
  downloaded at run time.  It finds frontal faces only: profiles and back views, which Gaze360's
  models handle, need a crop file or another detector.  Its boxes are face boxes; models trained
  on head crops (Gaze360) want them grown, e.g. ``--crop-scale 1.6``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from gazebench.core.options import ConfigError
from gazebench.core.registry import Registry
from gazebench.predict.crops import Box
from gazebench.predict.inputs import Frame

DETECT_EXTRA = 'pip install "gazebench[detect]"'


class Detector(Protocol):
    def detect(self, rgb: np.ndarray) -> list[Box]:
        """Boxes (pixels) of the faces or heads in an ``uint8 [H, W, 3]`` RGB frame."""


DETECTORS: Registry = Registry("detector", "gazebench.detectors")


def build_detector(name: str) -> Detector:
    return DETECTORS.get(name)()


def largest(boxes: list[Box]) -> Box | None:
    return max(boxes, key=lambda b: b.w * b.h) if boxes else None


@dataclass
class DetectorLocator:
    """A locator (:mod:`gazebench.predict.crops`) that keeps the largest of a detector's boxes."""

    detector: Detector
    name: str

    def locate(self, frame: Frame) -> Box | None:
        return largest(list(self.detector.detect(frame.image)))

    def describe(self) -> str:
        return f"detector {self.name} (largest box per frame)"


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as exc:
        raise ConfigError(f"detector opencv-haar needs OpenCV, which is not installed: {DETECT_EXTRA}") from exc
    return cv2


@DETECTORS.register("opencv-haar")
class HaarFaces:
    """OpenCV's frontal-face Haar cascade (model inside the opencv-python-headless 4.x wheel)."""

    CASCADE = "haarcascade_frontalface_default.xml"

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5) -> None:
        cv2 = _cv2()
        folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
        self.classifier = cv2.CascadeClassifier(folder + self.CASCADE)
        if self.classifier.empty():
            raise ConfigError(
                f"detector opencv-haar: OpenCV {cv2.__version__} has no {self.CASCADE} "
                '(the 4.x wheels carry it): pip install "opencv-python-headless<5"'
            )
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors

    def detect(self, rgb: np.ndarray) -> list[Box]:
        cv2 = _cv2()
        gray = cv2.equalizeHist(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY))
        side = max(12, min(gray.shape) // 20)
        found = self.classifier.detectMultiScale(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(side, side)
        )
        return [Box(float(x), float(y), float(w), float(h)) for x, y, w, h in found]
