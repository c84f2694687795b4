"""gazecsv's one writer of its layout: :func:`write_layout` puts a SynthGaze scene on disk as
``images/`` plus ``labels.csv`` (``gazebench synth --layout gazecsv``), and :func:`write_fake`
writes the small copy the tests and the contract test read (the adapter's ``write_fake``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gazebench.core import geometry

from . import LABEL_FILE


def write_layout(scene, root: Path, workers: int = 2, progress: bool = True) -> None:
    """A SynthGaze scene in this layout, into the empty folder ``root``: one PNG per frame,
    ``images/<subject>/<sequence>_<frame %03d>.png``, and labels.csv with the angles in degrees
    (read it with ``--set units=deg``).  The first third of the subjects test, the next sixth
    validate, the rest train."""
    from gazebench.synth.output import render_all, sequence_tasks

    frames = scene.frames
    subjects = [s.id for s in scene.subjects]
    n_test, n_val = max(1, len(subjects) // 3), max(1, len(subjects) // 6)
    split_of = {s: "test" if k < n_test else "val" if k < n_test + n_val else "train" for k, s in enumerate(subjects)}
    rel = [
        f"images/{s}/{q}_{int(f):03d}.png" for s, q, f in zip(frames["subject"], frames["sequence"], frames["frame"])
    ]
    plan = [(rows, [[(True, 1.0, rel[r])] for r in rows]) for rows in sequence_tasks(frames)]
    render_all(scene, Path(root), plan, workers, progress, "gazecsv layout")  # glasses on: the "original" frames
    yaw_pitch = np.degrees(geometry.vector_to_yawpitch(frames[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)))
    table = pd.DataFrame(
        {
            "path": rel,
            "subject": frames["subject"],
            "yaw": yaw_pitch[:, 0],
            "pitch": yaw_pitch[:, 1],
            "split": [split_of[s] for s in frames["subject"]],
            "sequence": frames["sequence"],
            "frame": frames["frame"].astype(int),
        }
    )
    table.to_csv(Path(root) / LABEL_FILE, index=False, float_format="%.9g")


def write_fake(root: Path, seed: int = 0) -> dict:
    """Six SynthGaze subjects, one 7-frame sequence each, in this layout (:func:`write_layout`):
    s000 and s001 test, s002 validation, the rest training."""
    from gazebench.synth import Preset, make_scene, render_frames
    from gazebench.synth import write_layout as write_synth

    scene = make_scene(Preset(name="gazecsv-fake", n_subjects=6, n_sequences=1, n_frames=7, image_size=32), seed)
    write_synth(scene, root, layout="gazecsv", workers=1, progress=False)  # through write_layout above
    frames = scene.frames
    ids = [f"images/{s}/{q}_{int(f):03d}" for s, q, f in zip(frames["subject"], frames["sequence"], frames["frame"])]
    gaze = dict(zip(ids, frames[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)))
    images = dict(zip([ids[3], ids[24]], render_frames(scene, [3, 24], glasses=True)))
    return {"options": {"units": "deg"}, "gaze": gaze, "images": images}
