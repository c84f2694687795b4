"""SynthGaze's fake data: the ``tiny`` preset in its own layout (:func:`.layout.write_synthgaze`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_fake(root: Path, seed: int = 0) -> dict:
    """The ``tiny`` preset in SynthGaze's own layout (see :meth:`gazebench.datasets.base.GazeDataset.write_fake`)."""
    from gazebench.synth import make_scene, render_frames, write_layout

    scene = make_scene("tiny", seed)
    write_layout(scene, root, layout="synthgaze", workers=1, progress=False)
    f = scene.frames
    gaze = dict(zip(f["id"], f[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)))
    rows = [0, len(f) // 2 + 1]
    images = dict(zip(f["id"].iloc[rows], render_frames(scene, rows, glasses=True)))  # variant=original
    return {"options": {}, "gaze": gaze, "images": images}


def write_tree(root: Path, subjects: int = 10, frames: int = 3, size: int = 8, seed: int = 0):
    """``subjects`` SynthGaze subjects of one ``frames``-frame sequence each, ``size`` px, in SynthGaze's
    own layout; returns its ``labels.csv`` as a table."""
    import pandas as pd

    from gazebench.synth import Preset, make_scene, write_layout

    preset = Preset(name="synthgaze-small", n_subjects=subjects, n_sequences=1, n_frames=frames, image_size=size)
    write_layout(make_scene(preset, seed), root, layout="synthgaze", workers=1, progress=False)
    return pd.read_csv(Path(root) / "labels.csv", dtype={"subject": str, "sequence": str, "id": str})
