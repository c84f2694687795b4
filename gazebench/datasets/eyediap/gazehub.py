"""EYEDIAP as GazeHub preprocessed it (``--set layout=gazehub``): the index from ``ClusterLabel/``.

GazeHub's EyeDiap script, ``data_processing_diap.py`` (phi-ai.buaa.edu.cn/Gazehub/3D-dataset,
EyeDiap section; the copy read sits in the code index without its repository's name: function
``ImageProcessing_Diap`` and ``ImageProcessing_PerVideos``), walks the release's session folders
in participant order and, for every folder whose name lacks ``FT`` (the screen-target sessions
``CS`` and ``DS``: 14 participants, 1-11 and 14-16), reads ``rgb_vga.mov`` with the session's
``head_pose.txt``, ``eye_tracking.txt``, ``screen_coordinates.txt`` and ``rgb_vga_calibration.txt``
and keeps one frame in 15 (the frames whose line index i, 1-based after the header, has
(i - 1) % 15 == 0: frames 0, 15, 30, ...).  For each it writes

* ``Image/pN/face/<k>.jpg`` (N the participant number, no zero padding; k = 1, 2, ... over the
  participant's sessions in folder order): the face normalised with GazeHub's
  ``data_processing_core.norm`` (224 x 224), centred on the mean of the eyes' midpoint and the
  head's translation, aimed at the 3-D screen target; ``Image/pN/left/<k>.jpg`` and ``right/``:
  histogram-equalised eye crops;
* one line of ``Label/pN.label`` under the header ``Face Left Right metapath 3DGaze 3DHead 2DGaze
  2DHead Rvec Svec GazeOrigin``: the three image paths, ``metapath`` = ``<session folder>_<i>``,
  the normalised camera-frame gaze and its ``GazeTo2d``, the normalised head rotation vector and
  its ``HeadTo2d``, the normalisation's rotation vector and scale, and the normalised face centre.

GazeHub's trainers do not read ``Label/``: their EyeDiap configurations point at ``ClusterLabel/``
(yihuacheng/Full-face @ 7b3abb5 ``Leaveout/config/config_diap.yaml`` lines 16 and 27; GazeTR @
f84ccfe ``config/train/config_diap.yaml`` line 20 and ``config/test/config_diap.yaml`` line 11;
PureGaze @ 74fa082 ``model/config/test/config_diap.yaml`` line 8), a folder of four label files in
the same format, each the lines of a group of participants; the trainers sort the folder's file
names and leave one file out (Full-face ``Leaveout/train.py`` lines 23-31; GazeTR ``ctools.py``
``readfolder``), and read column 6, ``2DGaze``, as the label (Full-face
``Leaveout/reader/reader_diap.py`` line 39).  Which participants each of GazeHub's four files holds
is not stated in any source read here (GazeHub ships the files), so gazebench takes the groups
from the files: fold k tests the participants of the k-th file in name order.

Index: subject ``pN`` (from ``Face``); id ``pN/face/<k>``; sequence = the session folder of
``metapath`` (``1_A_CS_S``) and order = its frame number (i - 1), so frame windows step through a
session 15 video frames at a time; path ``Image/<Face>``.  Extra columns: ``file`` (the cluster
file), ``line``, ``cluster`` (its position in name order), ``session``, ``frame``, ``gaze_yaw`` /
``gaze_pitch`` (2DGaze as written), ``head_yaw`` / ``head_pitch`` (2DHead as written).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from gazebench.core.lazymodule import LazyModule
from gazebench.datasets.base import Problem
from gazebench.datasets.eyediap.sessions import SESSION
from gazebench.datasets.gazehub import LabelFile, read_label_file

pd = LazyModule("pandas")  # imported on first use: listing and planning never need it

#: the header GazeHub's EyeDiap script writes (data_processing_diap.py, ImageProcessing_Diap)
HEADER = ("Face", "Left", "Right", "metapath", "3DGaze", "3DHead", "2DGaze", "2DHead", "Rvec", "Svec", "GazeOrigin")
IMAGE_DIR = "Image"
LABEL_DIR = "Label"
CLUSTER_DIR = "ClusterLabel"
#: the number of GazeHub's participant groups (the card's four folds)
CLUSTERS = 4
_FACE = re.compile(r"^p(\d+)/face/(\d+)\.jpg$")
_METAPATH = re.compile(r"^(\d+_[AB]_(?:CS|DS|FT)_[SM])_(\d+)$")


def cluster_files(root: Path) -> list[Path]:
    """The ``ClusterLabel/*.label`` files, in name order (the order GazeHub's trainers number them)."""
    try:
        names = sorted(p.name for p in (root / CLUSTER_DIR).iterdir() if p.is_file() and p.suffix == ".label")
    except OSError:
        return []
    return [root / CLUSTER_DIR / n for n in names]


def _check(fields: dict[str, str]) -> tuple[str, str] | None:
    """A line names a face ``pN/face/<k>.jpg`` and a ``metapath`` ``<session>_<i>`` of participant N
    in a screen-target session."""
    face = _FACE.match(fields["Face"])
    if face is None:
        return "malformed_line", f"Face {fields['Face']!r} is not 'pN/face/<k>.jpg'"
    meta = _METAPATH.match(fields.get("metapath", ""))
    if meta is None:
        return (
            "malformed_line",
            f"metapath {fields.get('metapath')!r} is not '<session folder>_<line>', e.g. 1_A_CS_S_16",
        )
    session = SESSION.match(meta.group(1))
    if session.group(1) != face.group(1):
        return (
            "malformed_line",
            f"metapath {fields['metapath']!r} is a session of participant {session.group(1)}, Face of p{face.group(1)}",
        )
    if int(meta.group(2)) < 1:
        return "malformed_line", f"metapath {fields['metapath']!r}: line numbers start at 1"
    return None


def _frame(labels: LabelFile, cluster: int) -> pd.DataFrame:
    faces = labels.column("Face")
    matches = [_FACE.match(f) for f in faces]
    metas = [_METAPATH.match(m) for m in labels.column("metapath")]
    head = labels.vectors("2DHead", 2)
    g = labels.gaze
    return pd.DataFrame(
        {
            "id": [f"p{m.group(1)}/face/{m.group(2)}" for m in matches],
            "subject": [f"p{m.group(1)}" for m in matches],
            "sequence": [m.group(1) for m in metas],
            "order": [float(int(m.group(2)) - 1) for m in metas],
            "gaze_x": g[:, 0],
            "gaze_y": g[:, 1],
            "gaze_z": g[:, 2],
            "path": [f"{IMAGE_DIR}/{f}" for f in faces],
            "centre": True,
            "file": labels.path.name,
            "line": labels.line,
            "cluster": cluster,
            "session": [m.group(1) for m in metas],
            "frame": np.array([int(m.group(2)) - 1 for m in metas], dtype=np.int64),
            "gaze_yaw": labels.yaw_pitch[:, 0],
            "gaze_pitch": labels.yaw_pitch[:, 1],
            "head_yaw": head[:, 0],
            "head_pitch": head[:, 1],
        }
    )


def gazehub_index(root: Path, problems: list[Problem] | None) -> list[pd.DataFrame]:
    """One table per ``ClusterLabel/*.label`` file (its usable lines), in name order."""
    parts = []
    for k, path in enumerate(cluster_files(root)):
        labels = read_label_file(path, HEADER, problems, _check)
        if len(labels):
            parts.append(_frame(labels, k))
    return parts


def participant_number(subject: str) -> int:
    """``"p14"`` -> 14 (GazeHub's person names, and gazebench's subject ids for EYEDIAP)."""
    return int(subject[1:])
