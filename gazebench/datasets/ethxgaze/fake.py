"""ETH-XGaze's fake data: a few SynthGaze participants in the release's layout (:mod:`.layout`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_fake(root: Path, seed: int = 0, frames: int = 3, size: int = 32) -> dict:
    """Six SynthGaze participants (2 train, 3 validation, 1 test under ``validation=seed``),
    ``frames`` frames each, test labels written (see :meth:`gazebench.datasets.base.GazeDataset.write_fake`)."""
    from gazebench.datasets.ethxgaze.layout import participant_ids
    from gazebench.synth import Preset, make_scene, render_frames, write_layout

    preset = Preset(name="ethxgaze-fake", n_subjects=6, n_sequences=1, n_frames=frames, image_size=size)
    scene = make_scene(preset, seed)
    write_layout(scene, root, layout="ethxgaze", workers=1, progress=False, test_labels=True)
    f = scene.frames
    gaze, images = {}, {}
    for k, (sid, (_, subject)) in enumerate(participant_ids([s.id for s in scene.subjects]).items()):
        rows = np.flatnonzero(f["subject"].to_numpy() == sid)  # scene order = row order
        ids = [f"{subject}/{i:06d}" for i in range(len(rows))]
        gaze.update(zip(ids, f[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)[rows]))
        if k in (0, 5):
            images[ids[1]] = render_frames(scene, [int(rows[1])], glasses=True)[0]
    return {"options": {}, "gaze": gaze, "images": images}
