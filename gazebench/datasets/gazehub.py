"""GazeHub's ``.label`` files (Cheng et al., "Appearance-based Gaze Estimation With Deep Learning:
A Review and Benchmark", phi-ai.buaa.edu.cn/Gazehub): what the GazeHub layouts of MPIIFaceGaze
and RT-GENE share -- reading a label file, and writing one (with its images) from SynthGaze.

The format, as GazeHub's scripts write it and its trainers read it: the first line is a header of
column names separated by single spaces (``Face Left Right Origin WhichEye 3DGaze 3DHead 2DGaze
2DHead Rmat Smat GazeOrigin`` for MPIIFaceGaze, ``Face Left Right Origin 3DGaze 3DHead 2DGaze
2DHead`` for RT-GENE); every further line has one field per column, separated by single spaces;
a vector field is its numbers joined by commas, written by numpy's ``astype("str")``
(``",".join(gaze.astype("str"))``).  The trainers skip the header and read the fields by position
(yihuacheng/GazeTR @ d7cf716, ``reader/reader.py`` lines 10-17, 45-51, 94 and 119-125).

Conventions (GazeHub's ``data_processing_core.py``; the copy read is Shyun304/Project_gazeTracking
@ e0475cd, lines 133-142, the same functions as GazeTR's ``gtools.py`` lines 3-9 and
yihuacheng/Full-face @ 51914cc ``Traintest/reader/reader_mpii.py`` lines 7-10):

* ``3DGaze`` is a unit gaze vector in the (normalised) camera frame, x right, y down, z forward:
  :func:`gazebench.core.geometry.from_camera_frame`;
* ``2DGaze`` is ``GazeTo2d(3DGaze)`` = (yaw, pitch) = (arctan2(-x, -z), arcsin(-y)) in radians,
  which are gazebench's own yaw and pitch: :func:`gazebench.core.geometry.from_yaw_pitch`.

The label is ``2DGaze`` (the column the trainers regress); ``3DGaze``, when the header has it,
must be the same direction (within :data:`AGREEMENT_DEG`), which catches swapped columns.

Gaze360 is the exception (``data_processing_gaze360.py``, ``GazeTo2d``): its ``3DGaze`` is the
release's ``gaze_dir``, already in the canonical eye frame, and ``2DGaze`` = (arctan2(x, -z),
arcsin(y)) of it -- the same (yaw, pitch); ``read_label_file(..., frame3d="gaze360")``
(:data:`FRAMES_3D`).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from gazebench.core import geometry
from gazebench.datasets.base import Problem
from gazebench.datasets.parsing import parse_float, read_lines, report, shorten, where

#: 3DGaze and 2DGaze of one line may differ by this much (degrees) before the line is a bad label
AGREEMENT_DEG = 0.1
#: the columns every GazeHub layout needs
REQUIRED = ("Face", "2DGaze")
#: the frame of ``3DGaze``: its conversion to the canonical vector, and 2DGaze's definition from it
FRAMES_3D = {
    "camera": (geometry.from_camera_frame, "yaw = atan2(-x, -z), pitch = asin(-y) of 3DGaze, camera frame"),
    "gaze360": (geometry.from_gaze360, "yaw = atan2(x, -z), pitch = asin(y) of 3DGaze, Gaze360's eye frame"),
}

#: width, height of GazeHub's 60 x 36 eye crops
EYE_SIZE = (60, 36)
#: eye regions of a SynthGaze face (fractions of width and height: x0, y0, x1, y1); "left" is the
#: subject's left eye, on the image's right (after a flip, the flipped right eye, as GazeHub swaps them)
EYE_BOXES = {"left": (0.52, 0.28, 0.88, 0.52), "right": (0.12, 0.28, 0.48, 0.52)}

#: a dataset's check of one line: fields by column name -> (kind, message) of a problem, or None
LineCheck = Callable[[dict[str, str]], "tuple[str, str] | None"]


@dataclass
class LabelFile:
    """A parsed ``.label`` file: the fields of its accepted lines (file order), their line numbers,
    the native ``2DGaze`` (yaw, pitch) and the canonical gaze it converts to."""

    path: Path
    columns: tuple[str, ...]
    fields: list[dict[str, str]]
    line: np.ndarray  # int64
    yaw_pitch: np.ndarray  # [N, 2] radians, as written
    gaze: np.ndarray  # [N, 3] canonical unit vectors

    def __len__(self) -> int:
        return len(self.fields)

    def column(self, name: str) -> list[str]:
        return [f[name] for f in self.fields]

    def vectors(self, name: str, size: int) -> np.ndarray:
        """Column ``name`` as ``[N, size]`` floats; NaN where a line lacks it or it is not ``size`` numbers
        (for columns kept as they are, e.g. ``2DHead``; the label is checked when the line is read)."""
        values = [vector(f.get(name, ""), size) for f in self.fields]
        nan = np.full(size, np.nan)
        return np.array([nan if v is None else v for v in values], dtype=np.float64).reshape(-1, size)


def vector(text: str, size: int) -> np.ndarray | None:
    """``"0.1,-0.2"`` -> ``size`` floats; None when the field is not that many numbers."""
    parts = text.split(",")
    if len(parts) != size:
        return None
    try:
        return np.array([parse_float(p) for p in parts], dtype=np.float64)
    except ValueError:
        return None


def _header(
    path: Path, number: int, line: str, header: Sequence[str], problems: list[Problem] | None
) -> tuple[str, ...] | None:
    names = tuple(line.strip().split(" "))
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        report(
            problems,
            "malformed_line",
            where(path, number),
            f"expected GazeHub's header line '{' '.join(header)}' (no column {', '.join(missing)}); got {shorten(line)!r}",
        )
        return None
    return names


def _gaze_problem(fields: dict[str, str], frame3d: str = "camera") -> tuple[str, str] | None:
    """2DGaze is two finite numbers; 3DGaze, when present, is a finite vector in the same direction
    (read in ``frame3d``, a key of :data:`FRAMES_3D`)."""
    yp = vector(fields["2DGaze"], 2)
    if yp is None:
        return "malformed_line", f"2DGaze {fields['2DGaze']!r} is not 'yaw,pitch' (two numbers, radians)"
    if not np.isfinite(yp).all():
        return "bad_label", f"2DGaze {fields['2DGaze']!r} is not finite"
    if "3DGaze" not in fields:
        return None
    v = vector(fields["3DGaze"], 3)
    if v is None or not np.isfinite(v).all() or np.linalg.norm(v) < 1e-9:
        return "malformed_line", f"3DGaze {fields['3DGaze']!r} is not 'x,y,z' (a finite non-zero vector)"
    to_canonical, definition = FRAMES_3D[frame3d]
    angle = float(geometry.angular_error_deg(to_canonical(v), geometry.from_yaw_pitch(yp)))
    if angle > AGREEMENT_DEG:
        return "bad_label", (
            f"3DGaze {fields['3DGaze']} and 2DGaze {fields['2DGaze']} disagree by {angle:.2f} deg "
            f"(GazeHub's 2DGaze is {definition})"
        )
    return None


def read_label_file(
    path: str | Path,
    header: Sequence[str],
    problems: list[Problem] | None,
    check: LineCheck | None = None,
    frame3d: str = "camera",
) -> LabelFile:
    """Parse one GazeHub ``.label`` file whose header should be ``header``.

    ``problems``: None (strict: the first bad line raises, naming ``file:line``) or a list that
    collects them while the line is skipped.  A line with another number of fields than the
    header, a 2DGaze that is not two finite numbers, a 3DGaze that disagrees with it, a ``Face``
    listed twice, or what ``check`` finds is one problem at ``file:line``."""
    path = Path(path)
    columns: tuple[str, ...] | None = None
    rows, numbers, seen = [], [], {}
    for number, line in read_lines(path, problems):
        if columns is None:
            columns = _header(path, number, line, header, problems)
            if columns is None:
                break
            continue
        values = line.strip().split(" ")  # as the trainers split a line
        if len(values) != len(columns):
            report(
                problems,
                "malformed_line",
                where(path, number),
                f"{len(values)} fields separated by single spaces, the header names {len(columns)} "
                f"({' '.join(columns)}); got {shorten(line)!r}",
            )
            continue
        fields = dict(zip(columns, values))
        problem = _gaze_problem(fields, frame3d) or (check(fields) if check else None)
        if problem is None and fields["Face"] in seen:
            problem = ("duplicate", f"Face {fields['Face']} is listed twice (first on line {seen[fields['Face']]})")
        if problem is not None:
            report(problems, problem[0], where(path, number), f"{problem[1]}; got {shorten(line)!r}")
            continue
        seen[fields["Face"]] = number
        rows.append(fields)
        numbers.append(number)
    yaw_pitch = np.array([vector(f["2DGaze"], 2) for f in rows], dtype=np.float64).reshape(-1, 2)
    return LabelFile(
        path=path,
        columns=columns or tuple(header),
        fields=rows,
        line=np.asarray(numbers, dtype=np.int64),
        yaw_pitch=yaw_pitch,
        gaze=geometry.from_yaw_pitch(yaw_pitch).reshape(-1, 3),
    )


# -- writing (SynthGaze's GazeHub layouts) ------------------------------------------------------------


def numbers(values: Sequence[float] | np.ndarray) -> str:
    """A vector field as GazeHub writes it: ``",".join(np.asarray(v).astype("str"))`` (float64)."""
    return ",".join(np.asarray(values, dtype=np.float64).reshape(-1).astype(str))


def gaze_fields(gaze: np.ndarray) -> tuple[str, str]:
    """``(3DGaze, 2DGaze)`` of one canonical gaze vector, as GazeHub's scripts write them: the
    camera-frame vector (x and y negated: :func:`gazebench.core.geometry.from_camera_frame` is its own
    inverse) and ``GazeTo2d`` of it, i.e. gazebench's (yaw, pitch)."""
    g = geometry.normalize(np.asarray(gaze, dtype=np.float64))
    return numbers(geometry.from_camera_frame(g)), numbers(geometry.vector_to_yawpitch(g))


def write_label_file(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """The header line and one line per row (fields joined by single spaces), ``\\n`` endings."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = " ".join(header) + "\n" + "".join(" ".join(row) + "\n" for row in rows)
    path.write_text(text, encoding="utf-8")


def jpeg_bytes(image: np.ndarray) -> bytes:
    """``image`` (RGB or greyscale uint8) as JPEG bytes, quality 95 (OpenCV's default, which
    GazeHub's ``cv2.imwrite`` uses: :data:`gazebench.synth.output.JPEG_QUALITY`)."""
    from gazebench.synth.output import JPEG_QUALITY

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def eye_crop(face: np.ndarray, eye: str) -> np.ndarray:
    """The 60 x 36 greyscale, histogram-equalised crop of ``eye``'s region of a SynthGaze ``face``
    (:data:`EYE_BOXES`; GazeHub crops around the eye landmarks, gazebench reads only the faces)."""
    h, w = face.shape[:2]
    x0, y0, x1, y1 = EYE_BOXES[eye]
    box = (round(x0 * w), round(y0 * h), round(x1 * w), round(y1 * h))
    crop = Image.fromarray(face).crop(box).resize(EYE_SIZE, Image.BILINEAR).convert("L")
    return np.asarray(ImageOps.equalize(crop))


def head_fields(yaw: float, pitch: float, roll: float) -> tuple[str, str]:
    """``(3DHead, 2DHead)``: the rotation vector of SynthGaze's head rotation in the camera frame
    (x right, y down: the canonical frame with x and y negated) and ``HeadTo2d`` of it (yaw =
    arctan2(z_x, z_z), pitch = arcsin(z_y) of the rotation's z axis, which points into the head),
    i.e. the head's own (yaw, pitch)."""
    from gazebench.synth.scene import rotation  # the writers' side only: reading never needs it

    flip = np.diag([-1.0, -1.0, 1.0])
    m = flip @ rotation(yaw, pitch, roll) @ flip
    angle = float(np.arccos(np.clip((np.trace(m) - 1.0) / 2.0, -1.0, 1.0)))
    axis = np.array([m[2, 1] - m[1, 2], m[0, 2] - m[2, 0], m[1, 0] - m[0, 1]])
    rvec = axis * (angle / (2.0 * np.sin(angle))) if np.sin(angle) > 1e-9 else np.zeros(3)
    z = m[:, 2]
    return numbers(rvec), numbers([np.arctan2(z[0], z[2]), np.arcsin(np.clip(z[1], -1.0, 1.0))])
