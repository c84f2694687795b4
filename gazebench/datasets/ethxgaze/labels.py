"""ETH-XGaze's label convention and leaderboard submission format: the one place that knows them.

Label (``face_gaze``, (N, 2) radians): ``[theta, phi] = [arcsin(-g_y), arctan2(-g_x, -g_z)]`` with
``g`` the unit gaze vector in the normalised OpenCV camera frame (x right, y down, z forward),
xucong-zhang/ETH-XGaze @ ef9bff0, normalization_example.py lines 313-315, written to
``face_gaze`` at line 325 and read back by data_loader.py line 135.  The canonical eye frame is
the camera frame with x and y negated (gazebench/core/geometry.py), so ``theta = asin(y) = pitch`` and
``phi = atan2(x, -z) = yaw``: the Gaze360 directions in the order (pitch, yaw), which
:func:`gazebench.core.geometry.from_pitch_yaw` converts.  (utils.py lines 24-40, ``pitchyaw_to_vector``,
gives ``-g``; the repository uses it only for angular errors, where the sign cancels.)

Submission: one row per test sample, ``pitch,yaw`` in radians, written by ``np.savetxt(...,
delimiter=',')`` (default format ``%.18e``, no header): ETH-XGaze trainer.py lines 166-190
(``test_results.txt``); the leaderboard's file name is ``within_eva_results.txt``, zipped in a
folder (yunhanwang1105/GazeTech @ 15a598c, ETH-XGaze/README.md line 35, trainer.py line 247;
the seed writes the same, ashesh-0/MultiZoomGaze @ 24494a1, code/xgaze/evaluate.py lines 37-44):
:func:`submission_zip` makes that archive, :data:`SUBMISSION_MEMBER` inside it.  The leaderboard's
scorer reads the file with ``np.loadtxt(..., delimiter=',')`` and scores it against its own labels
by the angle between ``pitchyaw_to_vector`` of both (pitch first).
Rows follow the test loader: the subjects in the order of ``train_test_split.json``'s ``test``
list, each file's rows in order (ETH-XGaze main.py lines 27-30 ``is_shuffle=False``,
data_loader.py lines 49-67 and 83-97; README.md line 46: "note the order of the subjects").
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from gazebench.core import geometry
from gazebench.core.errors import UserValueError

SPLIT_FILE = "train_test_split.json"
#: the leaderboard's file inside the uploaded zip: ``within_eva_results.txt`` in a folder
SUBMISSION_MEMBER = "submission/within_eva_results.txt"
#: the keys of train_test_split.json this adapter reads (the release also has ``test_specific``)
SPLIT_KEYS = ("train", "test")


def to_canonical(face_gaze: Any) -> np.ndarray:
    """``face_gaze`` rows (pitch, yaw) radians -> canonical unit gaze vectors ``[N, 3]``."""
    return geometry.from_pitch_yaw(np.asarray(face_gaze, dtype=np.float64))


def to_pitch_yaw(vectors: Any) -> np.ndarray:
    """Canonical gaze vectors ``[N, 3]`` -> ETH-XGaze (pitch, yaw) radians ``[N, 2]`` (the inverse
    of :func:`to_canonical`, as the leaderboard and ``face_gaze`` hold them)."""
    yaw_pitch = geometry.vector_to_yawpitch(np.asarray(vectors, dtype=np.float64))
    return np.ascontiguousarray(yaw_pitch[..., ::-1])


def submission_text(pitch_yaw: np.ndarray) -> str:
    """The leaderboard file's text: one ``pitch,yaw`` line per sample, as ``np.savetxt(...,
    delimiter=',')`` writes it in the authors' code."""
    buf = io.StringIO()
    np.savetxt(buf, np.asarray(pitch_yaw, dtype=np.float64).reshape(-1, 2), delimiter=",")
    return buf.getvalue()


def submission_zip(text: str) -> bytes:
    """The archive to upload: ``text`` as :data:`SUBMISSION_MEMBER`, deflated, with a fixed
    timestamp so that the same predictions give the same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        info = zipfile.ZipInfo(SUBMISSION_MEMBER, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, text)
    return buf.getvalue()


def read_submission(path: Path) -> np.ndarray:
    """A submission back as (pitch, yaw) ``[N, 2]``, as the leaderboard reads it: the text file,
    or from a zip its :data:`SUBMISSION_MEMBER`."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return np.loadtxt(io.StringIO(archive.read(SUBMISSION_MEMBER).decode()), delimiter=",", ndmin=2)
    return np.loadtxt(path, delimiter=",", ndmin=2)


def subject_of(filename: str) -> str:
    """``subject0006.h5`` -> ``subject0006``."""
    return filename[:-3] if filename.endswith(".h5") else filename


def read_split_file(path: Path) -> dict[str, list[str]]:
    """``{"train": [file, ...], "test": [file, ...]}`` from ``train_test_split.json``, in file
    order; raises ValueError naming what is wrong."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserValueError(f"cannot read it as JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UserValueError(f"a mapping of subsets to file lists is expected, got {type(data).__name__}")
    out = {}
    for key in SPLIT_KEYS:
        files = data.get(key, [])
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise UserValueError(f"{key!r} must be a list of file names like 'subject0000.h5'")
        out[key] = list(files)
    return out
