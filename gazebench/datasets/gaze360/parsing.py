"""Gaze360's annotation, parsed exactly (rules of :mod:`gazebench.datasets.parsing`: strict raises
at ``file:line``, lenient collects problems and skips the line): the original code's split files
(github.com/erkut/gaze360, ``code/``: ``train.txt``, ``validation.txt``, ``test.txt``) and the
release's ``metadata.mat`` (fields as the release documents them, 0-based indices), and GazeHub's
``Label/*.label`` files (:func:`parse_gazehub_label`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gazebench.datasets.base import DatasetError, Problem
from gazebench.datasets.gazehub import LabelFile, read_label_file
from gazebench.datasets.parsing import parse_float, read_lines, report, shorten, where

# -- split files (train.txt / validation.txt / test.txt) ----------------------------------------

GAZE360_SPLIT_FORMAT = "rec_XXX/head/PPPPPP/FFFFFF.jpg gx gy gz"
_GAZE360_PATH = re.compile(r"^(?P<recording>[^/\s]+)/head/(?P<person>\d+)/(?P<frame>\d+)\.jpg$")


@dataclass
class Gaze360Lines:
    """Parsed Gaze360 split file: image paths (relative to ``imgs/``) and 3-D gaze, file order."""

    path: Path
    image: list[str]  # rec_XXX/head/PPPPPP/FFFFFF.jpg
    recording: list[str]
    person: np.ndarray  # int64
    frame: np.ndarray  # int64
    gaze: np.ndarray  # [N, 3] as written (eye frame, not necessarily unit)
    line: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.image)


def subject_name(recording: str, person: int) -> str:
    """A Gaze360 subject (and sequence): ``rec_005/p000002``."""
    return f"{recording}/p{int(person):06d}"


def frame_stem(recording: str, person: int, frame: int) -> str:
    """A frame's id: its image path under ``imgs/`` without ``.jpg``, ``rec_005/head/000002/000123``."""
    return f"{recording}/head/{int(person):06d}/{int(frame):06d}"


def parse_gaze360_image_path(text: str) -> tuple[str, int, int] | None:
    """``rec_005/head/000002/000123.jpg`` -> ``("rec_005", 2, 123)``; None when it is not that shape."""
    m = _GAZE360_PATH.match(text)
    if m is None:
        return None
    return m["recording"], int(m["person"]), int(m["frame"])


def parse_gaze360_split_file(path: str | Path, problems: list[Problem] | None = None) -> Gaze360Lines:
    """Parse one of the original Gaze360 code's split files.

    Each line is ``rec_XXX/head/PPPPPP/FFFFFF.jpg gx gy gz``: fields separated by any run of spaces
    or tabs, the vector in the eye frame and not necessarily unit.  A line of another shape, a
    non-finite or zero vector, or a frame listed twice in the file is an error."""
    path = Path(path)
    image, recording, person, frame, gaze, lines = [], [], [], [], [], []
    seen: dict[str, int] = {}
    for number, line in read_lines(path, problems):
        fields = line.split()
        parsed = parse_gaze360_image_path(fields[0]) if len(fields) == 4 else None
        vector = None
        if parsed is not None:
            try:
                vector = [parse_float(f) for f in fields[1:]]
            except ValueError:
                vector = None
        if parsed is None or vector is None:
            report(
                problems,
                "malformed_line",
                where(path, number),
                f"expected '{GAZE360_SPLIT_FORMAT}' (4 fields separated by spaces or tabs); got {shorten(line)!r}",
            )
            continue
        norm = math.sqrt(sum(v * v for v in vector)) if all(math.isfinite(v) for v in vector) else math.nan
        if not math.isfinite(norm) or norm < 1e-9:
            report(
                problems, "bad_label", where(path, number), f"gaze vector {fields[1:]} is not a finite non-zero vector"
            )
            continue
        if fields[0] in seen:
            report(
                problems,
                "duplicate",
                where(path, number),
                f"{fields[0]} is listed twice (first on line {seen[fields[0]]})",
            )
            continue
        seen[fields[0]] = number
        image.append(fields[0])
        recording.append(parsed[0])
        person.append(parsed[1])
        frame.append(parsed[2])
        gaze.append(vector)
        lines.append(number)
    return Gaze360Lines(
        path=path,
        image=image,
        recording=recording,
        person=np.asarray(person, dtype=np.int64),
        frame=np.asarray(frame, dtype=np.int64),
        gaze=np.asarray(gaze, dtype=np.float64).reshape(-1, 3),
        line=np.asarray(lines, dtype=np.int64),
    )


# -- Gaze360 metadata.mat --------------------------------------------------------------------------

GAZE360_METADATA_FIELDS = ("recordings", "recording", "frame", "person_identity", "gaze_dir", "split")


@dataclass
class Gaze360Metadata:
    """The fields of ``metadata.mat`` the harness uses, flattened to 1-D / ``[N, 3]`` arrays."""

    path: Path
    recordings: list[str]  # recording names, indexed by ``recording`` (0-based)
    recording: np.ndarray  # int64 [N]
    frame: np.ndarray  # int64 [N]
    person: np.ndarray  # int64 [N]
    gaze: np.ndarray  # float64 [N, 3]
    split: np.ndarray  # int64 [N]: 0 train, 1 val, 2 test, 3 unused
    split_names: list[str]
    #: bool [N]: dlib found a face (``person_face_bbox`` is not ``[-1, -1, -1, -1]``); None when the
    #: file has no ``person_face_bbox`` field
    face_detected: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frame)


def mat_strings(value: object) -> list[str]:
    """A MATLAB cell array of strings as ``scipy.io.loadmat`` returns it (object arrays nested in
    ``(1, N)`` arrays, or a char matrix) -> a flat list of Python strings."""
    arr = np.asarray(value)
    if arr.dtype.kind in "US":
        if arr.ndim <= 1:
            return [str(v).strip() for v in arr.reshape(-1)]
        return ["".join(row).strip() for row in arr.reshape(-1, arr.shape[-1]).astype(str)]
    out: list[str] = []
    for item in arr.reshape(-1):
        inner = np.asarray(item)
        if inner.dtype == object:
            out.extend(mat_strings(inner))
        elif inner.size == 0:
            out.append("")
        else:
            out.append("".join(np.asarray(inner).reshape(-1).astype(str)).strip())
    return out


def _integers(name: str, value: object, path: Path) -> np.ndarray:
    arr = np.asarray(value).reshape(-1)
    if arr.dtype.kind not in "iuf" or (arr.dtype.kind == "f" and not np.all(np.isfinite(arr) & (arr == np.round(arr)))):
        raise DatasetError(f"{path}: field {name!r} must hold integers; got dtype {arr.dtype}")
    return arr.astype(np.int64)


#: ``person_face_bbox`` of a frame where dlib found no face (dataset/README.md line 109)
NO_FACE_BBOX = (-1.0, -1.0, -1.0, -1.0)


def faces_detected(bbox: object, path: Path) -> np.ndarray:
    """``person_face_bbox`` (N x 4, ``[x, y, w, h]``) -> bool [N]: whether dlib found a face.

    The release marks a frame without a detection by ``[-1, -1, -1, -1]`` (erkil1452/gaze360 @
    cbeb8e4, dataset/README.md lines 27 and 109); GazeHub keeps a frame unless all four are -1
    (data_processing_gaze360.py, ``if (face_bbox[i] == np.array([-1, -1, -1, -1])).all(): continue``,
    as carried in Deep-In-Sight/L2CS-Net @ 4a36054 and hide18/L2CS_Net @ 8419beb), the same rule."""
    arr = np.asarray(bbox, dtype=np.float64)
    if arr.ndim != 2 or 4 not in arr.shape:
        raise DatasetError(f"{path}: field 'person_face_bbox' must be N x 4; got shape {arr.shape}")
    if arr.shape[1] != 4:
        arr = arr.T
    return ~(arr == np.asarray(NO_FACE_BBOX)).all(axis=1)


def load_gaze360_metadata(path: str | Path) -> Gaze360Metadata:
    """Read the official ``metadata.mat`` (0-based indices).  A missing field or fields of
    different lengths raise :class:`DatasetError` naming the file and the field."""
    from scipy.io import loadmat

    path = Path(path)
    try:
        mat = loadmat(str(path))
    except NotImplementedError as exc:  # MATLAB v7.3 (HDF5); the official file is v5
        raise DatasetError(
            f"{path}: cannot read as a MATLAB v5 file ({exc}); re-save it with "
            "save('metadata.mat', ..., '-v7') or use the split files"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - scipy raises several unrelated types for corrupt files
        raise DatasetError(f"{path}: cannot read as a MATLAB file: {exc}") from exc
    missing = [f for f in GAZE360_METADATA_FIELDS if f not in mat]
    if missing:
        raise DatasetError(
            f"{path}: missing field(s) {', '.join(missing)}; a Gaze360 metadata.mat has "
            f"{', '.join(GAZE360_METADATA_FIELDS)}"
        )
    gaze = np.asarray(mat["gaze_dir"], dtype=np.float64)
    if gaze.ndim != 2 or 3 not in gaze.shape:
        raise DatasetError(f"{path}: field 'gaze_dir' must be N x 3; got shape {gaze.shape}")
    if gaze.shape[1] != 3:
        gaze = gaze.T
    meta = Gaze360Metadata(
        path=path,
        recordings=mat_strings(mat["recordings"]),
        recording=_integers("recording", mat["recording"], path),
        frame=_integers("frame", mat["frame"], path),
        person=_integers("person_identity", mat["person_identity"], path),
        gaze=gaze,
        split=_integers("split", mat["split"], path),
        split_names=mat_strings(mat["splits"]) if "splits" in mat else ["train", "val", "test", "unused"],
        face_detected=faces_detected(mat["person_face_bbox"], path) if "person_face_bbox" in mat else None,
    )
    n = len(meta.frame)
    for name, arr in (
        ("recording", meta.recording),
        ("person_identity", meta.person),
        ("gaze_dir", meta.gaze),
        ("split", meta.split),
        ("person_face_bbox", meta.face_detected),
    ):
        if arr is None:
            continue
        if len(arr) != n:
            raise DatasetError(f"{path}: field {name!r} has {len(arr)} entries but 'frame' has {n}")
    bad = (meta.recording < 0) | (meta.recording >= len(meta.recordings))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DatasetError(
            f"{path}: entry {i} has recording index {int(meta.recording[i])} but 'recordings' "
            f"lists {len(meta.recordings)} names (indices are 0-based)"
        )
    return meta


# -- GazeHub's preprocessing: Label/{train,val,test}.label ------------------------------------------

#: the header GazeHub's script writes (data_processing_gaze360.py: ``"Face Left Right Origin 3DGaze 2DGaze\n"``)
GAZEHUB_HEADER = ("Face", "Left", "Right", "Origin", "3DGaze", "2DGaze")


def _origin_problem(fields: dict[str, str]) -> tuple[str, str] | None:
    """A line's ``Origin`` names a frame of the release: ``rec_XXX/head/PPPPPP/FFFFFF.jpg``."""
    origin = fields.get("Origin")
    if origin is None or parse_gaze360_image_path(origin) is None:
        return "malformed_line", f"Origin {origin!r} is not '{GAZE360_SPLIT_FORMAT.split()[0]}'"
    return None


def parse_gazehub_label(path: str | Path, problems: list[Problem] | None = None) -> LabelFile:
    """Parse one of GazeHub's Gaze360 label files (``Label/train.label``, ``val.label``, ``test.label``).

    The first line is the header ``Face Left Right Origin 3DGaze 2DGaze``; each further line has as
    many fields, separated by single spaces: image paths relative to ``Image/`` (``test/Face/12.jpg``),
    ``Origin`` the release's frame (``rec_XXX/head/PPPPPP/FFFFFF.jpg``), ``3DGaze`` the release's
    ``gaze_dir`` as ``x,y,z`` (Gaze360's eye frame) and ``2DGaze`` ``yaw,pitch`` in radians
    (data_processing_gaze360.py, ``GazeTo2d``: yaw = arctan2(x, -z), pitch = arcsin(y)).  The rules
    of :func:`gazebench.datasets.gazehub.read_label_file` (a line of another shape, a non-finite
    label, 3DGaze and 2DGaze that disagree: an error at ``file:line``), and an Origin that is not a
    frame of the release."""
    return read_label_file(path, GAZEHUB_HEADER, problems, _origin_problem, frame3d="gaze360")
