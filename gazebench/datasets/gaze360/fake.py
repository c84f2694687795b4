"""Gaze360's fake data, written by the layout's own writers: SynthGaze's ``tiny`` preset in the
release's layout (:mod:`.layout`: metadata.mat and the split files), and a small hand-made release
with chosen frames, gaps and split-file quirks (:func:`write_tree`) for the tests' edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from gazebench.core import geometry
from gazebench.datasets.gaze360 import frame_stem
from gazebench.datasets.gaze360.layout import write_mat
from gazebench.datasets.gaze360.parsing import GAZEHUB_HEADER
from gazebench.datasets.gazehub import write_label_file
from gazebench.synth.output import SOURCE_FILE


def render(root: Path, seed: int = 0):
    """SynthGaze's ``tiny`` preset written in this layout; returns the scene, the layout's
    ``synthgaze_source.json`` and (recording, person) -> (SynthGaze subject, sequence)."""
    from gazebench.synth import make_scene, write_layout

    scene = make_scene("tiny", seed)
    write_layout(scene, root, layout="gaze360", workers=1, progress=False)
    source = json.loads((Path(root) / SOURCE_FILE).read_text())
    # (recording, person) -> (SynthGaze subject, sequence)
    origin = {
        (rec, int(person)): tuple(key.split(":"))
        for rec, pairs in source["recordings"].items()
        for key, person in pairs
    }
    return scene, source, origin


def split_file_lines(root: Path) -> dict[str, list[str]]:
    """The image paths each split file lists, by split."""
    return {
        split: [ln.split()[0] for ln in (Path(root) / name).read_text().splitlines() if ln.strip()]
        for split, name in (("train", "train.txt"), ("val", "validation.txt"), ("test", "test.txt"))
    }


def write_fake(root: Path, seed: int = 0) -> dict:
    """SynthGaze's ``tiny`` preset in the Gaze360 layout (metadata.mat and the split files)."""
    from gazebench.synth import render_frames

    scene, _, origin = render(root, seed)
    where = {key: rec_person for rec_person, key in origin.items()}  # (subject, sequence) -> (recording, person)
    f = scene.frames
    ids = [frame_stem(*where[(s, q)], int(fr)) for s, q, fr in zip(f["subject"], f["sequence"], f["frame"])]
    gaze = dict(zip(ids, f[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)))
    rows = [4, len(f) // 2 + 4]
    images = dict(zip([ids[r] for r in rows], render_frames(scene, rows, glasses=True)))
    return {"options": {"expect_samples": "any"}, "gaze": gaze, "images": images}


# -- a hand-made release: chosen frames, gaps and split-file quirks (the tests' edge cases) ------------

RECORDINGS = ["rec_000", "rec_001", "rec_002"]
SPLIT_NAMES = {0: "train", 1: "val", 2: "test", 3: "unused"}
SPLIT_FILES = {0: "train.txt", 1: "validation.txt", 2: "test.txt"}


def gaze360_frames() -> pd.DataFrame:
    """A small Gaze360-like release: one row per frame (recording index, person, frame, split,
    a non-unit eye-frame gaze vector).  rec_000 is train, rec_001 val, rec_002 test.

    * rec_000/p000000 frames 0-9; rec_000/p000001 frames 0-4 and 6-9 (frame 5 missing)
    * rec_001/p000000 frames 0-9, frames 8 and 9 marked unused (split 3)
    * rec_002/p000000 frames 0-9; rec_002/p000002 frames 10-17
    """
    spec = [
        (0, 0, range(10), 0),
        (0, 1, [0, 1, 2, 3, 4, 6, 7, 8, 9], 0),
        (1, 0, range(10), 1),
        (2, 0, range(10), 2),
        (2, 2, range(10, 18), 2),
    ]
    rows = []
    rng = np.random.default_rng(1)
    for rec, person, frames, split in spec:
        for f in frames:
            s = 3 if (rec == 1 and f >= 8) else split
            rows.append((rec, person, f, s))
    df = pd.DataFrame(rows, columns=["recording", "person", "frame", "split"])
    yaw = np.radians(np.linspace(-175, 175, len(df)))
    pitch = np.radians(rng.uniform(-40, 40, len(df)))
    scale = rng.uniform(0.5, 3.0, len(df))[:, None]  # vectors are not unit in the release
    gaze = geometry.yawpitch_to_vector(np.stack([yaw, pitch], 1)) * scale
    df["gx"], df["gy"], df["gz"] = gaze[:, 0], gaze[:, 1], gaze[:, 2]
    df["stem"] = [f"{RECORDINGS[r]}/head/{p:06d}/{f:06d}" for r, p, f in zip(df.recording, df.person, df.frame)]
    df["subject"] = [f"{RECORDINGS[r]}/p{p:06d}" for r, p in zip(df.recording, df.person)]
    return df


def full_window(df: pd.DataFrame) -> np.ndarray:
    """Whether each frame of ``df`` has frames f-3..f+3 of its person."""
    present = set(zip(df.subject, df.frame))
    return np.array([all((s, f + o) in present for o in range(-3, 4)) for s, f in zip(df.subject, df.frame)])


def write_images(root: Path, df: pd.DataFrame, size: int = 12) -> None:
    """One head crop (a flat colour, not square) per frame of ``df``, at ``imgs/<stem>.jpg``."""
    for i, stem in enumerate(df["stem"]):
        path = root / "imgs" / f"{stem}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        value = np.full((size, size + 3, 3), (i * 37) % 255, dtype=np.uint8)  # head crops are not square
        Image.fromarray(value).save(path, quality=90)


def write_metadata(root: Path, df: pd.DataFrame) -> None:
    """The release's ``metadata.mat`` of the frames of ``df`` (:func:`.layout.write_mat`)."""
    n = len(df)
    write_mat(
        root / "metadata.mat",
        {
            "recordings": np.array(RECORDINGS, dtype=object).reshape(1, -1),
            "recording": df["recording"].to_numpy(np.int32).reshape(1, -1),
            "frame": df["frame"].to_numpy(np.int32).reshape(1, -1),
            "person_identity": df["person"].to_numpy(np.int32).reshape(1, -1),
            "gaze_dir": df[["gx", "gy", "gz"]].to_numpy(np.float64),
            "split": df["split"].to_numpy(np.int32).reshape(1, -1),
            "splits": np.array(["train", "val", "test", "unused"], dtype=object).reshape(1, -1),
            "person_head_bbox": np.tile([0.1, 0.1, 0.3, 0.3], (n, 1)),
            "person_eye_left_bbox": np.tile([-1.0, -1.0, -1.0, -1.0], (n, 1)),
        },
    )


def write_split_files(root: Path, df: pd.DataFrame) -> None:
    """The original code's files: one line per centre frame (split 0/1/2 with a full window),
    mixing the separators the files use (spaces, tabs, runs of both) and CRLF endings."""
    centre = full_window(df) & (df["split"] <= 2).to_numpy()
    seps = [" ", "\t", "  ", " \t "]
    for code, name in SPLIT_FILES.items():
        part = df[centre & (df["split"] == code).to_numpy()]
        lines = []
        for k, (_, r) in enumerate(part.iterrows()):
            sep = seps[k % len(seps)]
            lines.append(sep.join([f"{r.stem}.jpg", f"{r.gx:.8f}", f"{r.gy:.8f}", f"{r.gz:.8f}"]))
        (root / name).write_bytes(("\r\n".join(lines) + "\r\n").encode())


def write_tree(root: Path, metadata: bool = True, split_files: bool = True) -> pd.DataFrame:
    """The release of :func:`gaze360_frames`: images, ``metadata.mat`` and the split files; returns the frames."""
    df = gaze360_frames()
    root.mkdir(parents=True, exist_ok=True)
    write_images(root, df)
    if metadata:
        write_metadata(root, df)
    if split_files:
        write_split_files(root, df)
    return df


# -- GazeHub's files by hand: chosen lines and faces (the tests' edge cases) ------------------------


def write_gazehub(root: Path, lines: list[str], images: dict[str, np.ndarray] | None = None) -> None:
    """A GazeHub tree by hand: ``lines`` of Label/test.label (train and val get one line each)."""
    rows = {
        "train": [
            "train/Face/1.jpg train/Left/1.jpg train/Right/1.jpg rec_000/head/000000/000005.jpg 0.0,0.0,-1.0 0.0,0.0"
        ],
        "val": ["val/Face/2.jpg val/Left/2.jpg val/Right/2.jpg rec_001/head/000000/000005.jpg 0.0,0.0,-1.0 0.0,0.0"],
        "test": lines,
    }
    for split, body in rows.items():
        write_label_file(Path(root) / "Label" / f"{split}.label", GAZEHUB_HEADER, [[line] for line in body])
    for rel, img in (images or {}).items():
        (Path(root) / "Image" / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(Path(root) / "Image" / rel)
    (Path(root) / "Image").mkdir(exist_ok=True)


def gazehub_line(n: int, frame: int, yaw: float, pitch: float) -> str:
    """A line of GazeHub's test.label for face ``n`` of frame ``frame`` of rec_002's person 3, gaze (yaw, pitch)."""
    g = geometry.yawpitch_to_vector(np.array([yaw, pitch]))
    return (
        f"test/Face/{n}.png test/Left/{n}.jpg test/Right/{n}.jpg rec_002/head/000003/{frame:06d}.jpg "
        f"{','.join(g.astype(str))} {yaw!r},{pitch!r}"
    )
