"""RT-GENE as GazeHub prepared it (``--set layout=gazehub``): the index from ``Label/*.label``.

GazeHub's RT-GENE script (the copy read: 112 lines beginning ``root = ".../Original/Rt-Gene"``,
``out_root = ".../FaceBased/RT-Gene"``; GazeHub serves it on phi-ai.buaa.edu.cn/Gazehub/3D-dataset,
and no repository of it was found) copies no image.  For every ``sNNN_glasses`` folder of the
release it reads ``label_combined.txt`` and writes one line per label (lines 87-109) to the file of
the subject's fold (lines 12-16, 52-61): ``train1.label`` (s001, s002, s008, s010),
``train2.label`` (s003, s004, s007, s009), ``train3.label`` (s005, s006, s011, s012, s013),
``valid.label`` (s014, s015, s016), all in ``Label/test/`` (lines 24-31); s000 is in no list and is
left out.  The header is ``Face Left Right Origin 3DGaze 3DHead 2DGaze 2DHead`` (lines 35-42):

* ``Face``, ``Left``, ``Right``: ``sNNN_glasses/original/{face,left,right}/<file>``, paths in the
  release (the image root of GazeHub's trainers is the release folder: yihuacheng/Full-face @
  51914cc, ``Leaveout/config/config_rt.yaml`` lines 15-16), the *original* faces, glasses on
  (line 93), paired with the labels by position in the sorted folder listing (lines 74-76, 93);
* ``Origin``: the subject, ``sNNN`` (line 97);
* ``2DGaze``: label_combined's gaze pair copied as text (line 105), (yaw, pitch) radians, and
  ``3DGaze`` = ``GazeTo3d`` of it (line 100; camera frame); ``2DHead`` / ``3DHead`` the same for
  the head pose (lines 99, 104).

The trainers read column 6 (``2DGaze``) as the label (GazeTR @ d7cf716 ``reader/reader.py`` lines
45-51; Full-face ``Leaveout/reader/reader_rt.py`` line 36) and leave one fold file out of a folder
of fold files, three times (Full-face ``Leaveout/train.py`` lines 23-35, ``Leaveout/run.sh``).

Index: the same ids and subjects as the original layout (``sNNN/<idx %06d>``, idx from the face's
file name ``face_<idx>_rgb.png``).  The labels carry no timestamps, so order = idx and a sequence
is a run of consecutive idx (a dropped frame starts a new one).  ``path`` is ``Image/<Face>`` with
the face folder the adapter's ``variant`` names (``original/face`` as GazeHub; ``inpainted/face``
the same frame with the glasses removed).
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

#: the header GazeHub's RT-GENE script writes
HEADER = ("Face", "Left", "Right", "Origin", "3DGaze", "3DHead", "2DGaze", "2DHead")
IMAGE_DIR = "Image"
LABEL_DIR = "Label"
#: GazeHub's label files and their subjects (the script's lists, lines 12-16; s000 is in none)
GAZEHUB_FILES = {
    "train1.label": ("s001", "s002", "s008", "s010"),
    "train2.label": ("s003", "s004", "s007", "s009"),
    "train3.label": ("s005", "s006", "s011", "s012", "s013"),
    "valid.label": ("s014", "s015", "s016"),
}
#: the fold files -> the card's fold whose test subjects they hold
FOLD_FILES = {"train1.label": "0", "train2.label": "1", "train3.label": "2"}
VALID_FILE = "valid.label"
GAZEHUB_FACE_DIR = "original/face"
_FACE = re.compile(r"^(s\d{3})_glasses/original/face/face_(\d+)_rgb\.png$")


def label_files(root: Path) -> list[Path]:
    """The ``Label/*.label`` files present, sorted (GazeHub's trainers sort them too)."""
    try:
        return sorted(p for p in (root / LABEL_DIR).iterdir() if p.is_file() and p.suffix == ".label")
    except OSError:
        return []


def _check(fields: dict[str, str]) -> tuple[str, str] | None:
    m = _FACE.match(fields["Face"])
    if m is None:
        return "malformed_line", f"Face {fields['Face']!r} is not 'sNNN_glasses/original/face/face_<idx>_rgb.png'"
    if fields.get("Origin", m.group(1)) != m.group(1):
        return "malformed_line", f"Origin {fields['Origin']!r} is not the subject of Face {fields['Face']!r}"
    return None


def _table(labels: LabelFile, face_dir: str) -> pd.DataFrame:
    faces = labels.column("Face")
    match = [_FACE.match(f) for f in faces]
    idx = np.array([int(m.group(2)) for m in match], dtype=np.int64)
    head = labels.vectors("2DHead", 2)
    g = labels.gaze
    return pd.DataFrame(
        {
            "id": [f"{m.group(1)}/{i:06d}" for m, i in zip(match, idx)],
            "subject": [m.group(1) for m in match],
            "order": idx.astype(np.float64),
            "gaze_x": g[:, 0],
            "gaze_y": g[:, 1],
            "gaze_z": g[:, 2],
            "path": [f"{IMAGE_DIR}/{f.replace(GAZEHUB_FACE_DIR, face_dir, 1)}" for f in faces],
            "centre": True,
            "idx": idx,
            "file": labels.path.name,
            "line": labels.line,
            "gaze_yaw": labels.yaw_pitch[:, 0],
            "gaze_pitch": labels.yaw_pitch[:, 1],
            "head_yaw": head[:, 0],
            "head_pitch": head[:, 1],
        }
    )


def gazehub_tables(
    root: Path,
    face_dir: str,
    problems: list[Problem] | None,
    expected: Callable[[str], set[str] | None],
    report: Callable[[str, str, str], None],
) -> dict[str, pd.DataFrame]:
    """Per subject, its lines of the label files, sorted by idx.  ``expected(file name)``: the
    subjects the card puts in that file (None: any); a subject elsewhere, or in two files, is
    reported through ``report(kind, where, message)`` and its lines are left out."""
    tables: dict[str, pd.DataFrame] = {}
    owner: dict[str, str] = {}
    for path in label_files(root):
        table = _table(read_label_file(path, HEADER, problems, _check), face_dir)
        allowed = expected(path.name)
        for subject, part in table.groupby("subject", sort=True):
            first = f"{path}:{int(part['line'].iloc[0])}"
            if subject in owner:
                report(
                    "duplicate", first, f"subject {subject} is also in {owner[subject]}; a subject is in one fold file"
                )
            elif allowed is not None and subject not in allowed:
                report(
                    "bad_file",
                    first,
                    f"subject {subject} is in {path.name}, but the card's list for that file is "
                    f"{', '.join(sorted(allowed))}: not GazeHub's fold files (gazebench/datasets/rtgene/card.yaml)",
                )
            else:
                owner[subject] = path.name
                tables[subject] = part.sort_values("idx", kind="stable").reset_index(drop=True)
    return tables
