"""EYEDIAP's fake data: SynthGaze participants as the release (:mod:`.layout`) or in GazeHub's layout
(:mod:`.gazehub_layout`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def write_fake(root: Path, seed: int = 0, frames: int = 3, size: int = 32, layout: str = "release") -> dict[str, Any]:
    """Eight participants (two per group), two sessions of ``frames`` sampled frames each, as the
    release (``layout="release"``: videos, normalised faces of ``size`` px) or in GazeHub's layout
    (``"gazehub"``; see :meth:`gazebench.datasets.base.GazeDataset.write_fake`)."""
    from gazebench.datasets.eyediap.gazehub_layout import sample_ids
    from gazebench.datasets.eyediap.sessions import plan_samples
    from gazebench.synth import Preset, make_scene, render_frames, write_layout

    preset = Preset(name="eyediap-fake", n_subjects=8, n_sequences=2, n_frames=frames, image_size=size)
    scene = make_scene(preset, seed)
    if layout == "gazehub":
        write_layout(scene, root, layout="eyediap-gazehub", workers=1, progress=False)
        ids = sample_ids(scene)
        options: dict[str, Any] = {"layout": "gazehub"}
    else:
        write_layout(scene, root, layout="eyediap", workers=1, progress=False, face_size=size)
        ids = [f"{s['subject']}/{s['session']}/{s['frame']}" for s in plan_samples(scene)]
        options = {"face_size": size}
    gaze = dict(zip(ids, scene.frames[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)))
    images = {ids[r]: render_frames(scene, [r], glasses=True)[0] for r in (1, len(ids) - 2)}
    return {"options": options, "gaze": gaze, "images": images}
