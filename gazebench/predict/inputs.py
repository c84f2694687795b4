"""What ``gazebench predict`` reads: image files, folders of images and videos, as sequences of frames.

Every INPUT becomes one or more :class:`Sequence` s, each an ordered run of frames that a sequence
model's frame window may span:

* an image file: a sequence of one frame;
* a folder: its images, in natural order of their names (``frame2`` before ``frame10``), are one
  sequence; each video in it is a sequence of its own; with ``recursive`` every subfolder is
  visited the same way (each folder's images are their own sequence);
* a video (decoded with PyAV, the optional extra ``gazebench[video]``): its frames in decoding
  order, with their presentation times in seconds.

Images are read as the dataset adapters read theirs (PIL, converted to RGB), after the EXIF
orientation tag is applied (a phone's photo appears as it is shown; dataset images carry no such
tag).  A video's rotation tag is not applied.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gazebench.core.errors import UserValueError
from gazebench.core.options import ConfigError
from gazebench.core.videoio import import_av

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")


@dataclass(frozen=True)
class Frame:
    """One decoded frame: the file it comes from, its number in that file (0 for an image), its
    time in seconds (videos; None for images) and the pixels, ``uint8 [H, W, 3]`` RGB."""

    input: str
    index: int
    time: float | None
    image: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Sequence:
    """Frames a window may span: ``kind`` is ``image``, ``folder`` or ``video``; ``path`` the image,
    folder or video; ``files`` the image files in order (a video: the video itself)."""

    kind: str
    path: Path
    files: tuple[Path, ...]

    def count(self) -> int | None:
        """How many frames (a video: as its container says; None when it does not say)."""
        return video_info(self.path)["frames"] if self.kind == "video" else len(self.files)

    def frames(self) -> Iterator[Frame]:
        if self.kind == "video":
            yield from read_video(self.path)
        else:
            for f in self.files:
                yield Frame(str(f), 0, None, read_image(f))


def natural_key(path: Path) -> list[Any]:
    """Sort key comparing the digit runs of a name as numbers."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def kind_of(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "image" if suffix in IMAGE_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else None


def collect(paths: list[str | Path], recursive: bool = False) -> list[Sequence]:
    """The sequences of the INPUT paths, in the order given."""
    out: list[Sequence] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = folder_sequences(path, recursive)
            if not found:
                deeper = "" if recursive else " (--recursive looks into its subfolders)"
                raise ConfigError(f"input folder {path} has no images ({', '.join(IMAGE_SUFFIXES)}) or videos{deeper}")
            out.extend(found)
        elif path.is_file():
            kind = kind_of(path)
            if kind is None:
                raise ConfigError(
                    f"input {path}: not an image ({', '.join(IMAGE_SUFFIXES)}) or a video ({', '.join(VIDEO_SUFFIXES)})"
                )
            out.append(Sequence(kind, path, (path,)))
        else:
            raise FileNotFoundError(f"input {path} does not exist")
    return out


def folder_sequences(folder: Path, recursive: bool) -> list[Sequence]:
    """A folder's images as one sequence, its videos one each, then (``recursive``) its subfolders'."""
    entries = sorted(folder.iterdir(), key=natural_key)
    images = tuple(p for p in entries if p.is_file() and kind_of(p) == "image")
    out = [Sequence("folder", folder, images)] if images else []
    out += [Sequence("video", p, (p,)) for p in entries if p.is_file() and kind_of(p) == "video"]
    if recursive:
        for sub in (p for p in entries if p.is_dir()):
            out += folder_sequences(sub, recursive)
    return out


def read_image(path: Path) -> np.ndarray:
    """``uint8 [H, W, 3]`` RGB, EXIF orientation applied; an unreadable file is one line naming it."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except (OSError, SyntaxError, ValueError) as exc:
        raise UserValueError(f"{path}: not a readable image ({exc})") from exc


def open_video(path: Path) -> Any:
    av = import_av()
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise UserValueError(f"{path}: cannot be read as a video ({exc})") from exc
    if not container.streams.video:
        container.close()
        raise UserValueError(f"{path}: has no video stream")
    return container


def video_info(path: Path) -> dict[str, Any]:
    """``fps`` (the stream's average rate, a Fraction; None when unknown) and ``frames`` (None when
    the container does not say)."""
    with open_video(path) as container:
        stream = container.streams.video[0]
        return {"fps": stream.average_rate, "frames": int(stream.frames) or None}


def read_video(path: Path) -> Iterator[Frame]:
    """The frames of a video's first video stream, decoded by PyAV, with their times in seconds."""
    av = import_av()
    with open_video(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        done = 0
        try:
            for frame in container.decode(stream):
                yield Frame(str(path), done, frame.time, frame.to_ndarray(format="rgb24"))
                done += 1
        except av.FFmpegError as exc:
            raise UserValueError(f"{path}: decoding failed after {done} frames ({exc})") from exc
