"""Where the head is in a frame, and the head crop as the model's input frame.

A *locator* answers ``locate(frame) -> Box | None`` (None: no head in this frame, which is then
left out of the predictions):

* :class:`WholeFrame` (the default): the whole image is the head crop, as in the datasets, whose
  images are head or face crops already;
* :class:`CropFile`: boxes from a CSV file with the columns ``input,frame,x,y,w,h`` (docs/predict.md);
* :class:`~gazebench.predict.detectors.DetectorLocator`: a detector plugin's boxes.

:func:`crop_resized` cuts the box (parts outside the image are black) and resizes it with
:func:`gazebench.datasets.base.resize_frame`, the function every dataset's frames go through in
training (PIL bilinear to ``size`` x ``size``, aspect not kept).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from gazebench.core.options import ConfigError
from gazebench.predict.inputs import Frame

CROP_COLUMNS = ("input", "frame", "x", "y", "w", "h")


@dataclass(frozen=True)
class Box:
    """A crop in pixels of the frame: top-left corner ``(x, y)``, width ``w``, height ``h``."""

    x: float
    y: float
    w: float
    h: float

    @classmethod
    def whole(cls, image: np.ndarray) -> Box:
        return cls(0.0, 0.0, float(image.shape[1]), float(image.shape[0]))

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.w / 2.0, self.y + self.h / 2.0

    def scaled(self, factor: float) -> Box:
        """The box scaled about its centre (e.g. a face box grown to a head box)."""
        cx, cy = self.centre
        w, h = self.w * factor, self.h * factor
        return Box(cx - w / 2.0, cy - h / 2.0, w, h)

    def pixels(self) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)`` rounded to whole pixels."""
        return round(self.x), round(self.y), round(self.x + self.w), round(self.y + self.h)


def crop_resized(image: np.ndarray, box: Box, size: int) -> np.ndarray:
    """``uint8 [size, size, 3]``: the box of ``image`` resized as the training path resizes a frame."""
    from PIL import Image

    from gazebench.datasets.base import resize_frame

    left, top, right, bottom = box.pixels()
    if (left, top, right, bottom) != (0, 0, image.shape[1], image.shape[0]):
        image = np.asarray(Image.fromarray(image).crop((left, top, right, bottom)))
    return resize_frame(image, size)


class Locator(Protocol):
    def locate(self, frame: Frame) -> Box | None:
        """The head's box in ``frame``, or None when there is none."""

    def describe(self) -> str:
        """Where the boxes come from, in words (recorded in gaze.json)."""


class WholeFrame:
    """Every frame is a head crop already."""

    def locate(self, frame: Frame) -> Box:
        return Box.whole(frame.image)

    def describe(self) -> str:
        return "whole frame"


@dataclass
class Scaled:
    """Another locator's boxes scaled about their centres by ``factor``."""

    inner: Locator
    factor: float

    def locate(self, frame: Frame) -> Box | None:
        box = self.inner.locate(frame)
        return box.scaled(self.factor) if box is not None else None

    def describe(self) -> str:
        return f"{self.inner.describe()}, scaled by {self.factor:g}"


def _number(value: str, column: str, where: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: column {column} must be a number; got {value!r}") from None


def read_crop_rows(path: Path) -> dict[tuple[str, int], Box]:
    """``(input, frame) -> Box`` from a crop file; a bad row is one error naming its line."""
    try:
        handle = open(path, newline="")
    except OSError as exc:
        raise ConfigError(f"crop file {path}: {exc.strerror or exc}") from exc
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CROP_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(
                f"crop file {path} lacks the column(s) {', '.join(missing)}; its header must be "
                f"{','.join(CROP_COLUMNS)}"
            )
        rows: dict[tuple[str, int], Box] = {}
        for line, row in enumerate(reader, start=2):
            where = f"crop file {path} line {line}"
            frame = row["frame"].strip() if row["frame"] else ""
            key = (row["input"].strip(), int(_number(frame, "frame", where)) if frame else 0)
            box = Box(*(_number(row[c], c, where) for c in "xywh"))
            if box.w <= 0 or box.h <= 0:
                raise ConfigError(f"{where}: w and h must be > 0")
            if key in rows:
                raise ConfigError(f"{where}: a second box for input {key[0]} frame {key[1]} (one head per frame)")
            rows[key] = box
    return rows


class CropFile:
    """Boxes from a crop file.  A row's ``input`` names the image or video as gaze.csv does (the
    path found from the INPUT given), as a path relative to the working folder or to the crop
    file's folder, absolute, or by its file name alone when that name is unique in the file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows = read_crop_rows(self.path)
        self.used: set[tuple[str, int]] = set()
        self.keys: dict[tuple[str, int], tuple[str, int]] = {}
        names: dict[tuple[str, int], list[tuple[str, int]]] = {}
        for key in self.rows:
            name, frame = key
            for alias in (name, str(Path(name).resolve()), str((self.path.parent / name).resolve())):
                self.keys.setdefault((alias, frame), key)
            names.setdefault((Path(name).name, frame), []).append(key)
        for alias, keys in names.items():
            if len(keys) == 1:
                self.keys.setdefault(alias, keys[0])

    def locate(self, frame: Frame) -> Box | None:
        path = Path(frame.input)
        for alias in (frame.input, str(path.resolve()), path.name):
            key = self.keys.get((alias, frame.index))
            if key is not None:
                self.used.add(key)
                return self.rows[key]
        return None

    def unused(self) -> list[tuple[str, int]]:
        """Rows no frame asked for (a typo in ``input``, or a frame past a video's end)."""
        return [k for k in self.rows if k not in self.used]

    def describe(self) -> str:
        return f"crop file {self.path}"
