"""Gaze360 as GazeHub preprocessed it (``--set layout=gazehub``): the index from ``Label/*.label``.

GazeHub's script (``data_processing_gaze360.py``; the copies carried in Deep-In-Sight/L2CS-Net @
4a36054 and hide18/L2CS_Net @ 8419beb are identical) walks the release's ``metadata.mat`` and, for
every frame whose ``person_face_bbox`` is not ``[-1, -1, -1, -1]`` (dlib found a face), writes

* ``Image/<split>/Face/<i+1>.jpg``: the square around the face box (side = the box's longer side),
  cut from the head crop and resized to 224 x 224 -- a *face* crop, not Gaze360's head crop
  (``CropFaceImg``); ``Left/`` and ``Right/`` 60 x 36 eye crops (``CropEyeImg``);
* one line in ``Label/<split>.label`` (``split`` named by the release's ``splits``: train, val,
  test, unused), under the header ``Face Left Right Origin 3DGaze 2DGaze``: the three image paths
  relative to ``Image/``, ``Origin`` the release's frame ``rec_XXX/head/PPPPPP/FFFFFF.jpg``,
  ``3DGaze`` the release's ``gaze_dir`` and ``2DGaze`` = ``GazeTo2d(gaze_dir)`` = (yaw, pitch) with
  yaw = arctan2(g_x, -g_z), pitch = arcsin(g_y), radians -- gazebench's own yaw and pitch, so the
  label converts by :func:`gazebench.core.geometry.from_yaw_pitch`.

The split of every frame is the release's (``split`` of metadata.mat): GazeHub's train/val/test
are the release's train/val/test frames restricted to the face-detectable ones (the release already
marks the first and last 3 frames of a sequence ``unused``, dataset/README.md line 91).
L2CS-Net (``l2cs/datasets.py`` lines 30-38, 54) and GazeTR (``reader/reader.py`` lines 28-35, 125)
read ``2DGaze`` (column 5) and skip the header line.

Index: the same ids, subjects and sequences as the original layout (from ``Origin``), so
predictions on either layout name the same frames; ``path`` is the face image, ``Image/<Face>``.
``Label/unused.label``, when present, adds context frames (``centre=False``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from gazebench.core.lazymodule import LazyModule
from gazebench.datasets.base import DatasetError, Problem
from gazebench.datasets.gaze360.parsing import frame_stem, parse_gaze360_image_path, parse_gazehub_label, subject_name
from gazebench.datasets.gazehub import LabelFile

pd = LazyModule("pandas")  # imported on first use: listing and planning never need it

#: label files of the centre frames, by split (the release's split names, dataset/README.md line 113)
GAZEHUB_LABELS = {"train": "Label/train.label", "val": "Label/val.label", "test": "Label/test.label"}
#: optional: GazeHub also writes the release's ``unused`` frames (context only here)
GAZEHUB_UNUSED = "Label/unused.label"
GAZEHUB_IMAGES = "Image"


def gazehub_index(root: Path, problems: list[Problem] | None, report: Callable[[str, str, str], None]) -> pd.DataFrame:
    """One row per line of the label files under ``root``.  ``problems``: None (strict) or the
    list lenient parsing collects into; ``report(kind, where, message)`` the adapter's
    :meth:`~gazebench.datasets.base.GazeDataset.report_problem`."""
    parts = [(split, parse_gazehub_label(root / rel, problems)) for split, rel in GAZEHUB_LABELS.items()]
    if (root / GAZEHUB_UNUSED).is_file():
        parts.append(("unused", parse_gazehub_label(root / GAZEHUB_UNUSED, problems)))
    first_seen: dict[str, str] = {}
    frames = [_frames(labels, split, _first_listing(labels, first_seen, report)) for split, labels in parts]
    index = pd.concat(frames, ignore_index=True)
    if not index["centre"].any():
        raise DatasetError(
            f"dataset 'gaze360' (layout gazehub): the label files under {root / 'Label'} list no usable frames"
        )
    return index


def _first_listing(
    labels: LabelFile, first_seen: dict[str, str], report: Callable[[str, str, str], None]
) -> np.ndarray:
    """Which lines name a frame (Origin) no earlier line of any label file named; the others are reported."""
    keep = np.ones(len(labels), dtype=bool)
    for j, origin in enumerate(labels.column("Origin")):
        loc = f"{labels.path}:{int(labels.line[j])}"
        if origin in first_seen:
            report("duplicate", loc, f"Origin {origin} is also listed at {first_seen[origin]}")
            keep[j] = False
        else:
            first_seen[origin] = loc
    return keep


def _frames(labels: LabelFile, split: str, keep: np.ndarray) -> pd.DataFrame:
    """The index rows of one label file's kept lines (columns as the original layout's, plus
    ``label_line``: ``file:line``)."""
    origin = [parse_gaze360_image_path(o) for o, k in zip(labels.column("Origin"), keep) if k]
    subjects = [subject_name(rec, person) for rec, person, _ in origin]
    frame = np.array([f for _, _, f in origin], dtype=np.int64)
    table = pd.DataFrame(
        {
            "id": [frame_stem(*o) for o in origin],
            "subject": subjects,
            "sequence": subjects,
            "order": frame.astype(np.float64),
            "path": [f"{GAZEHUB_IMAGES}/{face}" for face, k in zip(labels.column("Face"), keep) if k],
            "split": split,
            "frame": frame,
            "labelled": True,
            "centre": split != "unused",
            "label_line": [f"{labels.path.name}:{n}" for n in labels.line[keep]],
        }
    )
    g = labels.gaze[keep]
    table["gaze_x"], table["gaze_y"], table["gaze_z"] = g[:, 0], g[:, 1], g[:, 2]
    return table
