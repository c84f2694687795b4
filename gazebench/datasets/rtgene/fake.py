"""RT-GENE's fake data: SynthGaze's ``tiny`` preset in the release's layout (:mod:`.layout`), and the
hand-made trees the tests write with chosen labels and timestamps (the same label-line format)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from gazebench.datasets.rtgene import LABEL_FILE, VARIANT_DIRS
from gazebench.datasets.rtgene.layout import face_path, label_line
from gazebench.synth.output import SOURCE_FILE


def render(root: Path, seed: int = 0):
    """SynthGaze's ``tiny`` preset written in the RT-GENE layout; returns the scene and the layout's
    ``synthgaze_source.json``."""
    from gazebench.synth import make_scene, write_layout

    scene = make_scene("tiny", seed)
    write_layout(scene, root, layout="rtgene", workers=1, progress=False)
    return scene, json.loads((Path(root) / SOURCE_FILE).read_text())


def write_fake(root: Path, seed: int = 0) -> dict:
    """SynthGaze's ``tiny`` preset in the RT-GENE layout (see :meth:`gazebench.datasets.base.GazeDataset.write_fake`):
    its subjects s000-s007 give every fold's test split, the validation split (s000) and the
    training split frames.  Dropped frames leave gaps in idx; ``gaze`` lists every frame."""
    from gazebench.synth import render_frames

    scene, _ = render(root, seed)
    f = scene.frames
    gaze, images = {}, {}
    for subject, rows in f.groupby("subject", sort=True).indices.items():
        rows = rows[np.argsort(f["timestamp"].to_numpy()[rows], kind="stable")]
        ids = [f"{subject}/{k + 1:06d}" for k in range(len(rows))]  # idx: 1-based rank in time
        gaze.update(zip(ids, f[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)[rows]))
        labelled = {
            int(line.split(",", 1)[0])
            for line in (Path(root) / f"{subject}_glasses" / LABEL_FILE).read_text().splitlines()
            if line.strip()
        }
        if len(images) < 2 and labelled:
            k = min(labelled) - 1
            images[ids[k]] = render_frames(scene, [int(rows[k])], glasses=False)[0]  # variant=inpainted
    return {"options": {}, "gaze": gaze, "images": images}


# -- hand-made trees: chosen labels, timestamps and gaps (the tests' edge cases) ---------------------

#: every subject the card's protocol names
ALL_SUBJECTS = [f"s{i:03d}" for i in range(17)]
#: the documented example line's timestamp and head pose
BASE_TIME = 1504190788.51
HEAD = (0.1648, -0.2991)


def write_image(path: Path, size: int = 12, value: int = 128) -> None:
    """A face crop of seeded noise (``value`` seeds it) at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path)


def write_tree(
    root: Path, subjects=ALL_SUBJECTS, frames: int = 4, dt: float = 1 / 30, variants=("inpainted",), size: int = 12
) -> dict[str, list[tuple[int, float, float, float]]]:
    """A small RT-GENE tree: per subject ``frames`` labels (idx, gaze_yaw, gaze_pitch, timestamp),
    random angles, and their face crops of noise in ``variants``.  Returns what was written."""
    rng = np.random.default_rng(0)
    written = {}
    for k, s in enumerate(subjects):
        rows = []
        for i in range(frames):
            rows.append(
                (i + 1, float(rng.uniform(-0.6, 0.6)), float(rng.uniform(-0.4, 0.4)), BASE_TIME + 100 * k + i * dt)
            )
            for v in variants:
                write_image(Path(root) / face_path(s, VARIANT_DIRS[v], i + 1), size, value=k * 100 + i)
        write_labels(root, s, rows)
        written[s] = rows
    return written


def write_labels(root: Path, subject: str, rows) -> None:
    """``subject``'s ``label_combined.txt`` of ``rows`` (idx, gaze_yaw, gaze_pitch, timestamp), head :data:`HEAD`."""
    folder = Path(root) / f"{subject}_glasses"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LABEL_FILE).write_text("".join(label_line(i, HEAD, (yaw, pitch), t) + "\n" for i, yaw, pitch, t in rows))
