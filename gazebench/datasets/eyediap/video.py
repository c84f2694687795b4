"""Frames of EYEDIAP's session videos, decoded with PyAV (``pip install "gazebench[video]"``).

One open container per video, per process and per thread (a DataLoader worker or a ``prepare``
thread opens its own; a container is never shared across a fork).  Reading frame f decodes forward
from the last frame read when f lies ahead of it (what ``gazebench prepare`` and check-data do: the
index is in session and frame order), and otherwise seeks to the keyframe before f and decodes
forward from there -- so random access costs up to a group of pictures of decoding per frame;
``gazebench prepare`` decodes each session once into the frame cache, which runs then read.
"""

from __future__ import annotations

import os
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from gazebench.core.videoio import import_av

#: a frame this far ahead of the last one read is reached by seeking rather than decoding forward
SEEK_AHEAD = 64


class VideoFrameError(OSError):
    """A video that cannot be opened or decoded, or a frame it does not have."""


class _Reader:
    def __init__(self, path: Path) -> None:
        av = import_av("EYEDIAP's videos")
        try:
            self.container = av.open(str(path))
            self.stream = self.container.streams.video[0]
        except (av.FFmpegError, OSError, IndexError) as exc:
            raise VideoFrameError(f"cannot open {path} as a video: {exc}") from exc
        self.av = av
        self.path = path
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.fps = Fraction(rate) if rate else Fraction(30)
        self.frames: Any = None  # the decoding iterator
        self.last = -1  # the frame number the iterator gave last
        self.current: np.ndarray | None = None

    def _number(self, frame: Any) -> int:
        if frame.pts is None:
            return self.last + 1
        return int(round(float(frame.pts * self.stream.time_base * self.fps)))

    def _restart(self, target: int) -> None:
        if target > 0:
            pts = int(round(target / self.fps / self.stream.time_base))
            self.container.seek(pts, stream=self.stream, backward=True, any_frame=False)
        else:
            self.container.seek(0, stream=self.stream)
        self.frames = self.container.decode(self.stream)
        self.last, self.current = -1, None

    def read(self, target: int) -> np.ndarray:
        if target == self.last and self.current is not None:
            return self.current
        if self.frames is None or target < self.last or target - self.last > SEEK_AHEAD:
            self._restart(target)
        try:
            for frame in self.frames:
                number = self._number(frame)
                self.last = number
                if number >= target:
                    if number > target:
                        break
                    self.current = frame.to_ndarray(format="rgb24")
                    return self.current
        except self.av.FFmpegError as exc:
            self.frames = None
            raise VideoFrameError(f"{self.path}: decoding failed near frame {target}: {exc}") from exc
        self.frames = None
        raise VideoFrameError(f"{self.path} has no frame {target}")

    def close(self) -> None:
        self.container.close()


class SessionVideos:
    """``read(path, frame) -> uint8 [H, W, 3]`` RGB, with the containers opened lazily per process
    and thread; pickling carries nothing but the class (a worker opens its own)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._pid = os.getpid()

    def _readers(self) -> dict[Path, _Reader]:
        if self._pid != os.getpid():  # a forked worker: drop what the parent opened
            self._local, self._pid = threading.local(), os.getpid()
        if not hasattr(self._local, "readers"):
            self._local.readers = {}
        return self._local.readers

    def read(self, path: Path, frame: int) -> np.ndarray:
        readers = self._readers()
        if path not in readers:
            readers[path] = _Reader(path)
        return readers[path].read(frame)

    def close(self) -> None:
        for reader in self._readers().values():
            reader.close()
        self._local.readers = {}

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()
