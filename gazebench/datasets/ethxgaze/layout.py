"""ETH-XGaze's on-disk layout (the 224 px normalised release), written from a SynthGaze scene
(``gazebench synth --layout ethxgaze``).

What is written follows the release (``gazebench/datasets/ethxgaze/card.yaml``, ``layout``):
``train_test_split.json`` and one HDF5 file per participant, ``train/subjectXXXX.h5`` and
``test/subjectXXXX.h5``, holding ``face_patch`` (N, S, S, 3) uint8 BGR (S: the preset's image
size, not 224), ``face_gaze`` (N, 2) (pitch, yaw) radians, ``face_head_pose`` (N, 2) (SynthGaze's
head pitch, yaw), ``frame_index`` and ``cam_index`` (N, 1) int, chunked one row at a time with
``face_patch`` LZF-compressed, as normalization_example.py lines 295-310 create them
(xucong-zhang/ETH-XGaze @ ef9bff0).  No timestamps: the bytes depend on the scene alone.

Participants: the last ``test_subjects`` SynthGaze subjects (default: 15 of every 95, at least 1)
become test participants, named by the release's test list from position 9 on (subject0087,
subject0049, ...: not sorted, as the release's order is not) and listed in that order; the others
become train participants named so that the card's validation sets all have members: first one
of each ``kfold-K`` set that is also in the ``seed`` set, then the seed's other validation and
training participants alternately.  ``test_labels=False`` (the default, as released) leaves
``face_gaze`` out of the test files: a run on the tree is predict-only.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gazebench.datasets.ethxgaze.labels import SPLIT_FILE, to_pitch_yaw
from gazebench.synth.output import SOURCE_FILE, LayoutError, render_all, scene_info, write_json
from gazebench.synth.scene import Scene

#: the release's shares: 80 train and 15 test participants
RELEASE_TRAIN, RELEASE_TEST = 80, 15


def _card_lists() -> tuple[list[str], dict[str, list[str]]]:
    from gazebench.datasets.cards import load_card

    card = load_card("ethxgaze")
    return [str(s) for s in card.extra("release_test_order")], card.extra("validation_sets")


def train_names() -> list[str]:
    """The 80 labelled participants in the order SynthGaze subjects take their names."""
    _, sets = _card_lists()
    seed_val = [str(s) for s in sets["seed"]]
    everyone = sorted({str(s) for name, ids in sets.items() if name.startswith("kfold-") for s in ids})
    first = [next(str(s) for s in sets[f"kfold-{k}"] if str(s) in seed_val) for k in range(5)]
    val_rest = [s for s in seed_val if s not in first]
    train = [s for s in everyone if s not in seed_val]
    order = []
    for i in range(max(len(first) + len(val_rest), len(train))):
        order += ([(first + val_rest)[i]] if i < len(first) + len(val_rest) else []) + (
            [train[i]] if i < len(train) else []
        )
    return order


def participant_ids(subjects: list[str], test_subjects: int | None = None) -> dict[str, tuple[str, str]]:
    """SynthGaze subject id -> (folder, ETH-XGaze participant) for the subjects written, in
    scene order (at most 80 train and 15 test participants)."""
    n = len(subjects)
    n_test = (
        max(1, round(n * RELEASE_TEST / (RELEASE_TRAIN + RELEASE_TEST))) if test_subjects is None else test_subjects
    )
    n_test = min(n_test, RELEASE_TEST)
    if n - n_test < 2 or n_test < 1:
        raise LayoutError(
            f"the ethxgaze layout needs at least 3 subjects (2 train, 1 test); the scene has {n}, "
            f"test_subjects={test_subjects}"
        )
    release_test, _ = _card_lists()
    test_names = release_test[9:] + release_test[:9]
    train = [("train", name) for name in train_names()[: min(n - n_test, RELEASE_TRAIN)]]
    tests = [("test", name) for name in test_names[:n_test]]
    return dict(zip(subjects[: len(train)] + subjects[n - n_test :], train + tests))


def _write_subject(path: Path, bgr: np.ndarray, arrays: dict[str, np.ndarray]) -> None:
    """One participant file: row-chunked arrays, face_patch LZF-compressed, no timestamps."""
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w", libver="earliest", track_order=False) as fh:
        fh.create_dataset("face_patch", data=bgr, chunks=(1, *bgr.shape[1:]), compression="lzf", track_times=False)
        for key, values in arrays.items():
            fh.create_dataset(key, data=values, chunks=(1, values.shape[1]), track_times=False)


def _arrays(f, rows: np.ndarray, labelled: bool) -> dict[str, np.ndarray]:
    """The label arrays of one participant's frames (``rows`` of the scene)."""
    out = {}
    if labelled:
        out["face_gaze"] = to_pitch_yaw(f[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)[rows])
    out["face_head_pose"] = f[["head_pitch", "head_yaw"]].to_numpy(np.float64)[rows]
    out["frame_index"] = f["frame"].to_numpy(np.int64)[rows].reshape(-1, 1)
    cams = {q: k for k, q in enumerate(dict.fromkeys(f["sequence"].to_numpy()[rows]))}
    out["cam_index"] = np.array([cams[q] for q in f["sequence"].to_numpy()[rows]], dtype=np.int64).reshape(-1, 1)
    return out


def write_layout(
    scene: Scene,
    root: Path,
    workers: int = 2,
    progress: bool = True,
    test_labels: bool = False,
    test_subjects: int | None = None,
) -> None:
    """Write ``scene`` into the empty folder ``root`` in the ETH-XGaze layout (module docstring)."""
    f = scene.frames
    names = participant_ids([s.id for s in scene.subjects], test_subjects)
    subject_rows = {sid: np.flatnonzero(f["subject"].to_numpy() == sid) for sid in names}
    plan = [(rows.tolist(), [[(True, 1.0, None)] for _ in rows]) for rows in subject_rows.values()]
    results = render_all(scene, root, plan, workers, progress, "ethxgaze layout")
    files: dict[str, dict] = {}
    for (sid, (folder, subject)), pixels in zip(names.items(), results):
        rows = subject_rows[sid]
        labelled = folder == "train" or test_labels
        bgr = np.ascontiguousarray(np.stack(pixels)[..., ::-1])  # RGB -> BGR, as the release stores it
        _write_subject(root / folder / f"{subject}.h5", bgr, _arrays(f, rows, labelled))
        files[f"{folder}/{subject}.h5"] = {"subject": sid, "frames": int(len(rows)), "face_gaze": labelled}
    split = {key: [name.split("/")[1] for name in files if name.startswith(key + "/")] for key in ("train", "test")}
    split["train"] = sorted(split["train"])  # the release's train list is sorted; its test list is not
    (root / SPLIT_FILE).write_text(json.dumps(split, indent=1) + "\n")
    info = scene_info(scene, "ethxgaze")
    info.update({
        "mapping": "train/ and test/ subjectXXXX.h5 = SynthGaze subjects (gazebench.datasets.ethxgaze.layout."
                   "participant_ids), all frames of each in scene order",
        "files": files,
        "test_labels": bool(test_labels),
        "arrays": "face_patch (N, S, S, 3) uint8 BGR; face_gaze (N, 2) (pitch, yaw) radians (test files: only with "
                  "test_labels); face_head_pose (N, 2) SynthGaze head (pitch, yaw); frame_index, cam_index (N, 1)",
    })  # fmt: skip
    write_json(root / SOURCE_FILE, info)
