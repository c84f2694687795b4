"""MPIIFaceGaze as GazeHub preprocessed it (``--set layout=gazehub``): the index from ``Label/pNN.label``.

GazeHub's script ``data_processing_mpii.py`` (the face version; the copy read is
Shyun304/Project_gazeTracking @ e0475cd, a copy of the script GazeHub serves with only the paths
changed) goes through MPIIGaze's evaluation sample list (``Evaluation Subset/sample list for eye
image/pNN.txt``: 3000 images per person, each marked ``left`` or ``right``; lines 15-18, 58-69)
and, for every listed image of the original MPIIFaceGaze, writes

* ``Image/pNN/face/<k>.jpg`` (k = 1, 2, ... in list order): the face normalised with
  ``data_processing_core.norm`` (focal 960, distance 600, 224 x 224; lines 81-87), and
  ``Image/pNN/left/<k>.jpg``, ``right/<k>.jpg``: 60 x 36 histogram-equalised eye crops (89-99);
* when the sample is a ``right`` one, the three images flipped horizontally (left and right
  swapped) and the gaze mirrored with ``GazeFlip`` (x negated; lines 107-121): half of the faces
  are mirror images, and their labels are the mirrored labels;
* one line of ``Label/pNN.label`` under the header ``Face Left Right Origin WhichEye 3DGaze 3DHead
  2DGaze 2DHead Rmat Smat GazeOrigin`` (line 49): the three image paths relative to ``Image/``,
  ``Origin`` the original image (``dayNN/NNNN.jpg``), ``WhichEye``, ``3DGaze`` the normalised
  camera-frame gaze, ``3DHead`` the head rotation vector, ``2DGaze`` = ``GazeTo2d(3DGaze)``,
  ``2DHead`` = ``HeadTo2d(3DHead)``, ``Rmat`` and ``Smat`` the normalisation's rotation vector and
  scale diagonal, ``GazeOrigin`` the normalised face centre (lines 123-147).

The trainers read column 7 (``2DGaze``) as the label (GazeTR ``reader/reader.py`` lines 10-17;
Ahmednull/L2CS-Net @ a4d8f7f ``l2cs/datasets.py`` lines 99 and 124) and leave one label file out
(:mod:`gazebench.datasets.gazehub` has the conventions and the parser).

Index: subject ``pNN`` (the file's name, as in the original layout); id ``pNN/face/<k>`` (the Face
path without ``.jpg``: these are GazeHub's samples, not rows of MPI's ``pNN.mat``, so the ids
differ from the original layout's ``pNN/<row>``); order = k; every frame its own sequence; path
``Image/<Face>``.  Extra columns: ``file``, ``line``, ``origin``, ``which_eye``, ``gaze_yaw`` and
``gaze_pitch`` (2DGaze as written), ``head_yaw`` and ``head_pitch`` (2DHead as written:
GazeHub's ``HeadTo2d``, not MPI's head-pose columns).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gazebench.core.lazymodule import LazyModule
from gazebench.datasets.base import Problem
from gazebench.datasets.gazehub import LabelFile, read_label_file

pd = LazyModule("pandas")  # imported on first use: listing and planning never need it

#: the header GazeHub's MPIIFaceGaze script writes (data_processing_mpii.py line 49)
HEADER = (
    "Face",
    "Left",
    "Right",
    "Origin",
    "WhichEye",
    "3DGaze",
    "3DHead",
    "2DGaze",
    "2DHead",
    "Rmat",
    "Smat",
    "GazeOrigin",
)
IMAGE_DIR = "Image"
LABEL_DIR = "Label"
LABEL_FILE = re.compile(r"^(p\d{2})\.label$")
_FACE = re.compile(r"^(p\d{2})/face/(\d+)\.jpg$")


def label_files(root: Path) -> dict[str, Path]:
    """``{"p00": root/Label/p00.label, ...}`` for the label files present, sorted."""
    try:
        names = sorted(p.name for p in (root / LABEL_DIR).iterdir() if p.is_file())
    except OSError:
        return {}
    return {m.group(1): root / LABEL_DIR / n for n in names if (m := LABEL_FILE.match(n))}


def _line_check(person: str) -> Callable[[dict[str, str]], tuple[str, str] | None]:
    """A line of ``pNN.label`` names a face of ``pNN`` (``pNN/face/<k>.jpg``) and WhichEye left or right."""

    def check(fields: dict[str, str]) -> tuple[str, str] | None:
        m = _FACE.match(fields["Face"])
        if m is None or m.group(1) != person:
            return "malformed_line", f"Face {fields['Face']!r} is not '{person}/face/<k>.jpg'"
        if fields.get("WhichEye", "left") not in ("left", "right"):
            return "malformed_line", f"WhichEye {fields['WhichEye']!r} is neither left nor right"
        return None

    return check


def _frame(person: str, labels: LabelFile) -> pd.DataFrame:
    faces = labels.column("Face")
    k = np.array([int(_FACE.match(f).group(2)) for f in faces], dtype=np.int64)
    ids = [f"{person}/face/{n}" for n in k]
    head = labels.vectors("2DHead", 2)
    g = labels.gaze
    return pd.DataFrame(
        {
            "id": ids,
            "subject": person,
            "sequence": ids,
            "order": k.astype(np.float64),
            "gaze_x": g[:, 0],
            "gaze_y": g[:, 1],
            "gaze_z": g[:, 2],
            "path": [f"{IMAGE_DIR}/{f}" for f in faces],
            "centre": True,
            "file": labels.path.name,
            "line": labels.line,
            "origin": [f.get("Origin", "") for f in labels.fields],
            "which_eye": [f.get("WhichEye", "") for f in labels.fields],
            "gaze_yaw": labels.yaw_pitch[:, 0],
            "gaze_pitch": labels.yaw_pitch[:, 1],
            "head_yaw": head[:, 0],
            "head_pitch": head[:, 1],
        }
    )


def gazehub_index(
    root: Path, problems: list[Problem] | None, check_count: Callable[[str, Path, int], None]
) -> list[pd.DataFrame]:
    """One table per ``Label/pNN.label`` (its usable lines); ``check_count(person, path, n)`` is
    the adapter's per-person count check (the card's 3000: GazeHub keeps every listed sample)."""
    parts = []
    for person, path in label_files(root).items():
        labels = read_label_file(path, HEADER, problems, _line_check(person))
        check_count(person, path, len(labels))
        if len(labels):
            parts.append(_frame(person, labels))
    return parts
