"""SynthGaze's own on-disk layout, written from a scene (``gazebench synth --layout synthgaze``, the
render on first use, and :mod:`.fake`): ``labels.csv``, ``synthgaze.json`` and the JPEGs."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from gazebench.synth.output import JPEG_QUALITY, render_all, scene_info, sequence_tasks, write_json
from gazebench.synth.scene import HEAD_FRACTION, Scene

LABEL_COLUMNS = (
    "id", "subject", "sequence", "frame", "path",
    "gaze_x", "gaze_y", "gaze_z", "head_yaw", "head_pitch", "head_roll",
    "distance", "glasses", "timestamp",
)  # fmt: skip


def _fmt_float(values: Iterable[float], fmt: str = "%.9g") -> list[str]:
    return [fmt % v for v in values]


def write_synthgaze(scene: Scene, root: Path, workers: int = 2, progress: bool = True) -> None:
    """SynthGaze's own layout: ``labels.csv``, ``synthgaze.json`` and the ``images/`` (glasses on for
    wearers) and ``inpainted/`` (no glasses) JPEGs, one folder per subject and sequence."""
    f = scene.frames
    rel = [f"{s}/{q}/{int(i):04d}.jpg" for s, q, i in zip(f["subject"], f["sequence"], f["frame"])]
    plan = []
    for rows in sequence_tasks(f):
        plan.append((rows, [[(True, 1.0, "images/" + rel[r]), (False, 1.0, "inpainted/" + rel[r])] for r in rows]))
    render_all(scene, root, plan, workers, progress, "synthgaze layout")

    labels = pd.DataFrame({"id": f["id"], "subject": f["subject"], "sequence": f["sequence"], "frame": f["frame"]})
    labels["path"] = ["images/" + p for p in rel]
    for col in ("gaze_x", "gaze_y", "gaze_z", "head_yaw", "head_pitch", "head_roll", "distance"):
        labels[col] = _fmt_float(f[col])
    labels["glasses"] = np.where(f["glasses"].to_numpy(bool), "True", "False")
    labels["timestamp"] = _fmt_float(f["timestamp"], "%.6f")
    labels[list(LABEL_COLUMNS)].to_csv(root / "labels.csv", index=False, lineterminator="\n")

    info = scene_info(scene, "synthgaze")
    info.update(
        {
            "labels": "labels.csv",
            "columns": list(LABEL_COLUMNS),
            "images": {
                "images": "images/<subject>/<sequence>/<frame %04d>.jpg: 'original', wearers wear their glasses",
                "inpainted": "inpainted/<subject>/<sequence>/<frame %04d>.jpg: the same frames without glasses; "
                "written for every subject (byte-identical to images/ for subjects without glasses)",
                "format": f"RGB JPEG, quality {JPEG_QUALITY}, {scene.image_size}x{scene.image_size}",
            },
            "convention": "gaze_x/y/z: unit vector in the Gaze360 eye frame (+x image left, +y up, +z away "
            "from the camera; (0,0,-1) looks into the camera). head_yaw/pitch (radians) use the gaze's "
            "yaw/pitch signs for the direction the face points to; head_roll turns about it.",
            "distance": f"zoom: the head spans about {HEAD_FRACTION:g}/distance of the crop width",
            "timestamp": f"seconds; {scene.preset.fps:g} fps within a sequence, gaps of 3-9 s between a subject's sequences",
        }
    )
    write_json(root / "synthgaze.json", info)
