"""Gaze360's on-disk layout, written from a SynthGaze scene (``gazebench synth --layout gaze360``).

What is written follows the release (the card's ``layout``) and the original code
(github.com/erkut/gaze360, ``code/``): ``imgs/rec_XXX/head/PPPPPP/FFFFFF.jpg`` head crops,
``metadata.mat`` (MATLAB v5, 0-based indices: ``recordings``, ``recording``, ``frame``,
``person_identity``, ``gaze_dir``, ``split`` 0 train / 1 val / 2 test / 3 unused, ``splits`` and the
four ``person_*_bbox`` fields) and the split files ``train.txt``, ``validation.txt``, ``test.txt``
(one centre frame per line with a full +-3 window of the same person).  ``synthgaze_source.json``
maps recordings and persons back to SynthGaze's subjects and sequences.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gazebench.core.geometry import yawpitch_to_vector
from gazebench.synth.output import SOURCE_FILE, LayoutError, render_all, scene_info, sequence_tasks, write_json
from gazebench.synth.render import camera_rotation, eye_centres
from gazebench.synth.scene import HEAD_FRACTION, REFERENCE_HALF_WIDTH, Scene

GAZE360_SPLITS = ("train", "validation", "test", "unused")
GAZE360_WINDOW = 3  # frames either side of a centre frame in the split files
#: a face is detectable (dlib would find it) while the face points at the camera: the head's
#: facing direction has z below -this (the face turned less than acos(0.2) = 78.5 deg away)
FACE_FACING_MIN = 0.2


@dataclass
class Release:
    """How a scene's frames become the release's: recordings, persons and split codes, in scene
    (= metadata) order, and each frame's head-crop path."""

    recordings: list[str]
    rec_key_of: dict[tuple[str, str], int]  # (subject, sequence) -> recording index
    person_of: dict[tuple[str, str], int]  # (subject, sequence) -> person_identity
    split_of: dict[str, str]  # subject -> train / validation / test
    rec: np.ndarray  # int32 [N]
    person: np.ndarray  # int32 [N]
    frame: np.ndarray  # int32 [N]
    split_code: np.ndarray  # int32 [N]: 0 train, 1 val, 2 test, 3 unused
    rel: list[str]  # imgs/rec_XXX/head/PPPPPP/FFFFFF.jpg


def release(scene: Scene, splits: Mapping[str, Sequence[str]] | None = None) -> Release:
    """The release a scene is written as (see :func:`write_layout` for ``splits``)."""
    f = scene.frames
    split_of = _normalise_splits(splits, [s.id for s in scene.subjects])
    recordings, rec_key_of, person_of = _recordings(scene, split_of)
    rec = np.array([rec_key_of[(s, q)] for s, q in zip(f["subject"], f["sequence"])], dtype=np.int32)
    person = np.array([person_of[(s, q)] for s, q in zip(f["subject"], f["sequence"])], dtype=np.int32)
    frame = f["frame"].to_numpy(np.int32)
    split_code = _split_codes(scene, split_of, frame)
    rel = [f"imgs/{recordings[r]}/head/{p:06d}/{fr:06d}.jpg" for r, p, fr in zip(rec, person, frame)]
    return Release(recordings, rec_key_of, person_of, split_of, rec, person, frame, split_code, rel)


def face_detectable(frames) -> np.ndarray:
    """bool [N]: frames whose face a detector finds -- the head faces the camera, turned less
    than acos(:data:`FACE_FACING_MIN`) = 78.5 deg away (head pose, not gaze: back views and
    profiles are out, a frontal face glancing sideways is in).  ``person_face_bbox`` and the eye
    boxes are -1 for the others, as the release marks frames where dlib found no face."""
    facing = yawpitch_to_vector(frames[["head_yaw", "head_pitch"]].to_numpy(np.float64))
    return facing[:, 2] < -FACE_FACING_MIN


def write_layout(
    scene: Scene, root: Path, workers: int = 2, progress: bool = True, splits: Mapping[str, Sequence[str]] | None = None
) -> None:
    """Write ``scene`` into the empty folder ``root`` in the Gaze360 layout.  ``splits`` maps
    ``test`` / ``val`` (or ``validation``) / optionally ``train`` to subject ids (default:
    :func:`default_splits`); each split becomes its own recordings, as in the release."""
    f = scene.frames
    r = release(scene, splits)
    plan = [(rows, [[(True, 1.0, r.rel[i])] for i in rows]) for rows in sequence_tasks(f)]
    render_all(scene, root, plan, workers, progress, "gaze360 layout")

    gaze = f[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)
    recs_cell = np.empty((1, len(r.recordings)), dtype=object)
    recs_cell[0, :] = r.recordings
    splits_cell = np.empty((1, len(GAZE360_SPLITS)), dtype=object)
    splits_cell[0, :] = GAZE360_SPLITS
    metadata = {
        "recordings": recs_cell,
        "recording": r.rec[None, :],
        "frame": r.frame[None, :],
        "person_identity": r.person[None, :],
        "gaze_dir": gaze,
        "split": r.split_code[None, :],
        "splits": splits_cell,
    }
    write_mat(root / "metadata.mat", {**metadata, **_bboxes(scene, r.person)})
    _write_split_files(root, scene, r.rec, r.person, r.frame, r.split_code, gaze, r.rel)
    _write_source(root, scene, r)


def _recordings(scene: Scene, split_of: dict[str, str]):
    """One recording per (sequence, split): its persons are that split's subjects, numbered within
    it.  Returns the recording names and (subject, sequence) -> recording / person number."""
    ids = [s.id for s in scene.subjects]
    rec_key_of: dict[tuple[str, str], int] = {}
    person_of: dict[tuple[str, str], int] = {}
    recordings: list[str] = []
    for q in sorted(scene.frames["sequence"].unique()):
        for sp in ("train", "validation", "test"):
            members = [sid for sid in ids if split_of[sid] == sp]
            if not members:
                continue
            k = len(recordings)
            recordings.append(f"rec_{k:03d}")
            for pid, sid in enumerate(members):
                rec_key_of[(sid, q)] = k
                person_of[(sid, q)] = pid
    return recordings, rec_key_of, person_of


def _split_codes(scene: Scene, split_of: dict[str, str], frame: np.ndarray) -> np.ndarray:
    """Each frame's ``split`` code; two frames mid-sequence in every third train sequence are
    context only (3, ``unused``)."""
    f = scene.frames
    subj_by_id = {s.id: s for s in scene.subjects}
    split_code = np.array([GAZE360_SPLITS.index(split_of[s]) for s in f["subject"]], dtype=np.int32)
    subj_idx = np.array([subj_by_id[s].index for s in f["subject"]])
    seq_idx = np.array([int(q[1:]) for q in f["sequence"]])
    mid = scene.preset.n_frames // 2
    unused = (split_code == 0) & ((subj_idx + seq_idx) % 3 == 0) & ((frame == mid) | (frame == mid + 1))
    split_code[unused] = GAZE360_SPLITS.index("unused")
    return split_code


def _bboxes(scene: Scene, person: np.ndarray) -> dict[str, np.ndarray]:
    """The ``person_*_bbox`` fields: head boxes in a notional full frame (persons side by side,
    drifting with the crop offset); face and eye boxes where the face is turned towards the camera
    (a detector finds it), else -1."""
    f = scene.frames
    subj_by_id = {s.id: s for s in scene.subjects}
    n = len(f)
    head_bbox, face_bbox, eye_l, eye_r = (np.zeros((n, 4)) for _ in range(4))
    detectable = face_detectable(f)
    for i in range(n):
        row = f.iloc[i]
        side = 0.12 * float(row["distance"]) / 1.5
        cx = 0.15 + 0.7 * ((person[i] + 0.5) / (person.max() + 1)) + 0.05 * float(row["offset_x"])
        cy = 0.4 + 0.05 * float(row["offset_y"])
        head_bbox[i] = [cx - side / 2, cy - side / 2, side, side]
        if detectable[i]:
            le, rr, fc = eye_boxes(row, subj_by_id[row["subject"]])
            to_full = lambda b: [head_bbox[i, 0] + b[0] * side, head_bbox[i, 1] + b[1] * side, b[2] * side, b[3] * side]  # noqa: E731, B023 (called at once, in this iteration)
            eye_l[i], eye_r[i], face_bbox[i] = to_full(le), to_full(rr), to_full(fc)
        else:
            eye_l[i] = eye_r[i] = face_bbox[i] = -1.0
    return {
        "person_head_bbox": head_bbox,
        "person_face_bbox": face_bbox,
        "person_eye_left_bbox": eye_l,
        "person_eye_right_bbox": eye_r,
    }


def _write_split_files(
    root: Path,
    scene: Scene,
    rec: np.ndarray,
    person: np.ndarray,
    frame: np.ndarray,
    split_code: np.ndarray,
    gaze: np.ndarray,
    rel: list[str],
) -> None:
    """The original code's split files: centre frames with a full +-3 window of the same person,
    vectors scaled by a random 1.0-1.3 and about 15% of the lines separated by a tab."""
    rng = np.random.default_rng([scene.seed, 360])
    present = set(zip(rec.tolist(), person.tolist(), frame.tolist()))
    lines: dict[int, list[str]] = {0: [], 1: [], 2: []}
    order = np.lexsort((frame, person, rec))
    for i in order:
        code = int(split_code[i])
        scale = rng.uniform(1.0, 1.3)
        sep = "\t" if rng.uniform() < 0.15 else " "
        if code == 3:
            continue
        window = range(frame[i] - GAZE360_WINDOW, frame[i] + GAZE360_WINDOW + 1)
        if not all((rec[i], person[i], w) in present for w in window):
            continue
        v = gaze[i] * scale
        lines[code].append(f"{rel[i][len('imgs/') :]}{sep}{v[0]:.8f} {v[1]:.8f} {v[2]:.8f}")
    for code, name in ((0, "train.txt"), (1, "validation.txt"), (2, "test.txt")):
        (root / name).write_text("".join(line + "\n" for line in lines[code]), encoding="utf-8")


def source_info(scene: Scene, r: Release, layout: str) -> dict:
    """What every Gaze360-like layout records about its scene: the recordings and persons of each
    SynthGaze (subject, sequence), and the subjects' splits."""
    info = scene_info(scene, layout)
    info.update(
        {
            "mapping": "one recording per (SynthGaze sequence, split); person_identity numbers that split's "
            "subjects within the recording; frame = frame within the sequence",
            "recordings": {
                name: sorted(
                    {f"{sid}:{q}": r.person_of[(sid, q)] for (sid, q), k in r.rec_key_of.items() if k == idx}.items(),
                    key=lambda kv: kv[1],
                )
                for idx, name in enumerate(r.recordings)
            },
            "subject_splits": r.split_of,
            "face_detectable": "the head faces the camera (turned less than "
            f"{np.degrees(np.arccos(FACE_FACING_MIN)):.1f} deg away): person_face_bbox is -1 for the other frames",
        }
    )
    return info


def _write_source(root: Path, scene: Scene, r: Release) -> None:
    info = source_info(scene, r, "gaze360")
    info.update(
        {
            "split_files": "train/validation/test.txt list centre frames with a full +-3 window of the same "
            "person; vectors are scaled by a random 1.0-1.3 (readers must normalise) and about 15% of "
            "lines separate the path from the vector with a tab",
            "unused": "two mid-sequence frames of every third train sequence have split 3 (context only)",
            "bboxes": "[x, y, w, h] fractions of a notional full frame; person_eye_left_bbox is the eye on the "
            "image left; face/eye boxes are -1 where the face is turned more than about 78 degrees away",
        }
    )
    write_json(root / SOURCE_FILE, info)


def default_splits(subject_ids: Sequence[str]) -> dict[str, list[str]]:
    """Subject-disjoint split: the first 25% of subjects test, the next 15% validation, the rest train."""
    ids = list(subject_ids)
    n = len(ids)
    n_test = max(1, int(round(0.25 * n))) if n >= 3 else min(1, n)
    n_val = max(1, int(round(0.15 * n))) if n >= 3 else 0
    return {"test": ids[:n_test], "val": ids[n_test : n_test + n_val], "train": ids[n_test + n_val :]}


def _normalise_splits(splits: Mapping[str, Sequence[str]] | None, ids: Sequence[str]) -> dict[str, str]:
    """subject id -> 'train' / 'validation' / 'test'."""
    if splits is None:
        splits = default_splits(ids)
    names = {"train": "train", "val": "validation", "validation": "validation", "test": "test"}
    known = set(ids)
    of: dict[str, str] = {}
    for key, members in splits.items():
        if key not in names:
            raise LayoutError(f"unknown split {key!r}; use test, val (or validation) and optionally train")
        for sid in members:
            if sid not in known:
                continue  # a card may list subjects of a larger preset than this scene
            if sid in of and of[sid] != names[key]:
                raise LayoutError(f"subject {sid} is in two splits ({of[sid]} and {names[key]})")
            of[sid] = names[key]
    explicit_train = "train" in splits
    for sid in ids:
        if sid not in of:
            if explicit_train:
                raise LayoutError(f"subject {sid} is in no split")
            of[sid] = "train"
    return of


def eye_boxes(row, subj, fw_zoom: float = 1.0) -> tuple[list[float], list[float], list[float]]:
    """Eye (image-left, image-right) and face boxes ``[x, y, w, h]`` as fractions of the crop."""
    fw = 2.0 * REFERENCE_HALF_WIDTH * float(row["distance"]) / HEAD_FRACTION * fw_zoom
    r = camera_rotation(float(row["head_yaw"]), float(row["head_pitch"]), float(row["head_roll"]))
    cx0, cy0 = 0.5 + float(row["offset_x"]), 0.5 + float(row["offset_y"])
    boxes = []
    for c in eye_centres(subj):
        p = r @ np.asarray(c)
        side = 2.4 * subj.eye_radius / fw
        boxes.append([cx0 + p[0] / fw - side / 2, cy0 + p[1] / fw - side / 2, side, side * 0.6])
    boxes.sort(key=lambda b: b[0])
    fc = r @ np.array([0.0, subj.eye_height + 0.3, -subj.head_axes[2]])
    fs = 1.3 * subj.head_axes[0] / fw
    face = [cx0 + fc[0] / fw - fs / 2, cy0 + fc[1] / fw - fs / 2, fs, fs]
    return boxes[0], boxes[1], face


def write_mat(path: Path, data: dict) -> None:
    """A MATLAB 5 file of ``data`` (``scipy.io.savemat``, one-dimensional arrays as rows) with a fixed
    header text (the default one carries the creation date), so its bytes depend on ``data`` alone."""
    from scipy.io import savemat

    buf = io.BytesIO()
    savemat(buf, data, do_compression=False, oned_as="row")
    raw = bytearray(buf.getvalue())
    header = b"MATLAB 5.0 MAT-file, Platform: posix, Created by: gazebench.synth (SynthGaze)"
    raw[:116] = header.ljust(116, b" ")
    path.write_bytes(bytes(raw))
