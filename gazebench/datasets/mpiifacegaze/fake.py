"""MPIIFaceGaze's fake data: SynthGaze people in the release's layout (:mod:`.layout`), and the
hand-made person files the tests write with chosen labels (the same writer of the file format)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gazebench.datasets.mpiifacegaze.layout import release_label, write_person_file


def write_fake(root: Path, seed: int = 0, frames: int = 4, size: int = 32) -> dict:
    """All 15 people of the protocol, ``frames`` SynthGaze frames each, in this layout
    (see :meth:`gazebench.datasets.base.GazeDataset.write_fake`); read with ``expect_samples=frames``."""
    from gazebench.synth import Preset, make_scene, render_frames, write_layout

    preset = Preset(name="mpiifacegaze-fake", n_subjects=15, n_sequences=1, n_frames=frames, image_size=size)
    scene = make_scene(preset, seed)
    write_layout(scene, root, layout="mpiifacegaze", workers=1, progress=False)
    f = scene.frames
    gaze, images = {}, {}
    for k, subject in enumerate(sorted(f["subject"].unique())):
        rows = np.flatnonzero(f["subject"].to_numpy() == subject)  # scene order = sample order
        ids = [f"p{k:02d}/{i:04d}" for i in range(len(rows))]
        gaze.update(zip(ids, f[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)[rows]))
        if k in (0, 7):
            images[ids[1]] = render_frames(scene, [int(rows[1])], glasses=True)[0]
    return {"options": {"expect_samples": frames}, "gaze": gaze, "images": images}


# -- hand-made person files: chosen labels and pixels (the tests' edge cases) ------------------------

#: the release's people
PEOPLE = [f"p{k:02d}" for k in range(15)]


def write_person(path: Path, labels: np.ndarray, images: np.ndarray | None = None, size: int = 8) -> np.ndarray:
    """A person file of the release's format (:func:`.layout.write_person_file`): ``labels`` (N, 2)
    gaze (pitch, yaw), head pose (0.1, -0.2), and ``images`` (N, 3, H, W) BGR (default: seeded
    noise of ``size`` px).  Returns the images."""
    n = len(labels)
    if images is None:
        images = np.random.default_rng(n).integers(0, 256, (n, 3, size, size), dtype=np.uint8)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_person_file(Path(path), images, release_label(np.asarray(labels), np.array([0.1, -0.2])))
    return images


def write_tree(root: Path, people=PEOPLE, n: int = 3) -> dict[str, np.ndarray]:
    """``n`` samples of random gaze for each of ``people``; returns the (pitch, yaw) labels written."""
    rng = np.random.default_rng(0)
    written = {}
    for person in people:
        labels = np.column_stack([rng.uniform(-0.4, 0.4, n), rng.uniform(-0.6, 0.6, n)])
        write_person(Path(root) / f"{person}.mat", labels)
        written[person] = labels
    return written
