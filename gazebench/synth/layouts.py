"""Write a SynthGaze scene to disk: its own layout, or the on-disk layouts of Gaze360, RT-GENE and
MPIIFaceGaze, so that those adapters are exercised on real files.

Every writer renders in ``workers`` processes (one task per sequence, results collected in order),
writes into ``<out>.tmp-XXXX`` beside the target and renames it into place at the end.  Output bytes
depend on the scene alone: JPEG/PNG encoding is deterministic, CSV floats use fixed formats, the MAT
header carries no date, and HDF5 objects carry no timestamps.
"""

from __future__ import annotations

import ctypes
import io
import json
import math
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from PIL import Image

from gazebench.geometry import vector_to_yawpitch, yawpitch_to_vector
from gazebench.synth.render import camera_rotation, eye_centres, render_row
from gazebench.synth.scene import (
    GENERATOR_VERSION,
    HEAD_FRACTION,
    REFERENCE_HALF_WIDTH,
    Scene,
)

LAYOUTS = ("synthgaze", "gaze360", "rtgene", "mpiifacegaze")
JPEG_QUALITY = 95
LABEL_COLUMNS = (
    "id", "subject", "sequence", "frame", "path",
    "gaze_x", "gaze_y", "gaze_z", "head_yaw", "head_pitch", "head_roll",
    "distance", "glasses", "timestamp",
)  # fmt: skip
GAZE360_SPLITS = ("train", "validation", "test", "unused")
GAZE360_WINDOW = 3  # frames either side of a centre frame in the split files
RTGENE_MAX_SUBJECTS = 17
RTGENE_BEFORE_INPAINTING_ZOOM = 1.4  # face_before_inpainting: same pixels, 1.4x the field of view
RTGENE_MAX_HEAD_YAW_DEG = 75.0  # frames beyond this head yaw (or gazing away) are dropped
RTGENE_DROP_RATE = 0.04  # and this share of the rest ("low-confidence" frames)
RTGENE_MIN_KEPT = 0.25  # but at least this share of a subject's frames is kept (the least extreme)
MPII_MAX_SUBJECTS = 15
SOURCE_FILE = "synthgaze_source.json"  # mapping back to SynthGaze ids, beside foreign layouts


class LayoutError(ValueError):
    """A bad layout request (unknown layout, non-empty target, malformed splits)."""


# --- output plumbing ---------------------------------------------------------------------------

# one output file of a frame: (glasses, zoom, relative path or None = return the pixels)
Output = tuple[bool, float, "str | None"]

_WORKER_SCENE: Scene | None = None


def _init_worker(scene: Scene) -> None:
    global _WORKER_SCENE
    _WORKER_SCENE = scene


def _init_pool_worker(scene: Scene) -> None:
    _keep_freed_memory()
    _init_worker(scene)


def _keep_freed_memory() -> None:
    """Ask glibc to keep freed memory in the (short-lived) worker process.

    The renderer's numpy temporaries are a few hundred KB, above glibc's mmap threshold, so by
    default every one of them is mapped and unmapped again; the page faults cost about a fifth of
    the render time.  Elsewhere (no glibc ``mallopt``) this does nothing.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 256 << 20)


def _encode(img: np.ndarray, path: str) -> bytes:
    buf = io.BytesIO()
    if path.endswith(".png"):
        Image.fromarray(img).save(buf, format="PNG")
    else:
        Image.fromarray(img).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _run_task(task: tuple[str, list[int], list[list[Output]]]) -> list[np.ndarray]:
    """Render the rows of one task and write their files; returns the pixels asked for."""
    root, rows, outputs = task
    scene = _WORKER_SCENE
    assert scene is not None
    subjects = {s.id: s for s in scene.subjects}
    frames = scene.frames
    kept: list[np.ndarray] = []
    for r, outs in zip(rows, outputs):
        row = frames.iloc[r]
        subj = subjects[row["subject"]]
        for zoom in sorted({o[1] for o in outs}):
            variants = sorted({o[0] for o in outs if o[1] == zoom})
            images = render_row(row, subj, scene.image_size, variants, None, zoom, scene.preset.supersample)
            by_variant = dict(zip(variants, images))
            encoded: dict[tuple[int, str], bytes] = {}
            for glasses, z, rel in outs:
                if z != zoom:
                    continue
                img = by_variant[glasses]
                if rel is None:
                    kept.append(img)
                    continue
                key = (id(img), Path(rel).suffix)  # identical variants (non-wearers) are encoded once
                if key not in encoded:
                    encoded[key] = _encode(img, rel)
                with open(os.path.join(root, rel), "wb") as fh:
                    fh.write(encoded[key])
    return kept


def _render_all(
    scene: Scene,
    root: Path,
    plan: Sequence[tuple[list[int], list[list[Output]]]],
    workers: int,
    progress: bool,
    label: str,
) -> list[list[np.ndarray]]:
    """Run the tasks of ``plan`` (in order) in ``workers`` processes; returns each task's pixels."""
    dirs = {os.path.dirname(rel) for _, outs in plan for per_row in outs for _, _, rel in per_row if rel}
    for d in sorted(dirs):
        (root / d).mkdir(parents=True, exist_ok=True)
    tasks = [(str(root), rows, outs) for rows, outs in plan]
    total = sum(len(rows) for rows, _ in plan)
    done = 0
    results: list[list[np.ndarray]] = []
    report = _progress(label, total) if progress else (lambda n: None)
    if workers <= 1 or len(tasks) <= 1:
        _init_worker(scene)
        try:
            for task in tasks:
                results.append(_run_task(task))
                done += len(task[1])
                report(done)
        finally:
            _init_worker(None)  # type: ignore[arg-type]
    else:
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        ctx = mp.get_context(method)
        with ctx.Pool(min(workers, len(tasks)), initializer=_init_pool_worker, initargs=(scene,)) as pool:
            for task, res in zip(tasks, pool.imap(_run_task, tasks, chunksize=1)):
                results.append(res)
                done += len(task[1])
                report(done)
    report(-1)
    return results


def _progress(label: str, total: int) -> Callable[[int], None]:
    tty = sys.stderr.isatty()
    state = {"last": 0}

    def report(done: int) -> None:
        if done < 0:
            if tty:
                sys.stderr.write("\n")
            sys.stderr.flush()
            return
        pct = int(100 * done / max(total, 1))
        if tty:
            sys.stderr.write(f"\rSynthGaze: {label}: {done}/{total} frames ({pct}%)")
        elif pct // 25 != state["last"] // 25 or done == total:
            sys.stderr.write(f"SynthGaze: {label}: {done}/{total} frames ({pct}%)\n")
        state["last"] = pct

    return report


def _sequence_tasks(frames: pd.DataFrame) -> list[list[int]]:
    """Row positions grouped by (subject, sequence), in scene order."""
    keys = list(zip(frames["subject"], frames["sequence"]))
    groups: dict[tuple[str, str], list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    return list(groups.values())


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")


def _scene_info(scene: Scene, layout: str) -> dict:
    p = scene.preset
    return {
        "dataset": "synthgaze",
        "layout": layout,
        "generator_version": GENERATOR_VERSION,
        "preset": p.to_dict(),
        "seed": scene.seed,
        "image_size": scene.image_size,
        "counts": {
            "subjects": len(scene.subjects),
            "sequences_per_subject": p.n_sequences,
            "frames_per_sequence": p.n_frames,
            "frames": len(scene.frames),
        },
        "subjects": [{"id": s.id, "glasses": s.glasses} for s in scene.subjects],
    }


# --- the target directory ------------------------------------------------------------------------


def _prepare_target(out: Path) -> Path:
    if out.exists():
        if not out.is_dir():
            raise LayoutError(f"refusing to write SynthGaze data to {out}: it exists and is not a directory")
        if any(out.iterdir()):
            raise LayoutError(f"refusing to write SynthGaze data into non-empty directory {out}; remove it or choose another")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{out.name}.tmp-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    return tmp


def write_layout(
    scene: Scene,
    out: "str | os.PathLike[str]",
    layout: str = "synthgaze",
    workers: int = 2,
    progress: bool = True,
    splits: "Mapping[str, Sequence[str]] | None" = None,
) -> Path:
    """Render ``scene`` and write it to ``out`` in ``layout`` (one of ``LAYOUTS``); returns ``out``.

    ``out`` must not exist or be an empty directory.  ``splits`` (Gaze360 layout only) maps
    ``test`` / ``val`` (or ``validation``) / optionally ``train`` to subject ids; by default see
    :func:`default_splits`.
    """
    if layout not in LAYOUTS:
        raise LayoutError(f"unknown SynthGaze layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if splits is not None and layout != "gaze360":
        raise LayoutError(f"splits only apply to the gaze360 layout, not {layout!r}")
    out = Path(out)
    tmp = _prepare_target(out)
    try:
        if layout == "synthgaze":
            _write_synthgaze(scene, tmp, workers, progress)
        elif layout == "gaze360":
            _write_gaze360(scene, tmp, workers, progress, splits)
        elif layout == "rtgene":
            _write_rtgene(scene, tmp, workers, progress)
        else:
            _write_mpiifacegaze(scene, tmp, workers, progress)
        if out.exists():
            out.rmdir()  # empty, checked above
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


# --- SynthGaze's own layout ------------------------------------------------------------------------


def _fmt_float(values: Iterable[float], fmt: str = "%.9g") -> list[str]:
    return [fmt % v for v in values]


def _write_synthgaze(scene: Scene, root: Path, workers: int, progress: bool) -> None:
    f = scene.frames
    rel = [f"{s}/{q}/{int(i):04d}.jpg" for s, q, i in zip(f["subject"], f["sequence"], f["frame"])]
    plan = []
    for rows in _sequence_tasks(f):
        plan.append((rows, [[(True, 1.0, "images/" + rel[r]), (False, 1.0, "inpainted/" + rel[r])] for r in rows]))
    _render_all(scene, root, plan, workers, progress, "synthgaze layout")

    labels = pd.DataFrame({"id": f["id"], "subject": f["subject"], "sequence": f["sequence"], "frame": f["frame"]})
    labels["path"] = ["images/" + p for p in rel]
    for col in ("gaze_x", "gaze_y", "gaze_z", "head_yaw", "head_pitch", "head_roll", "distance"):
        labels[col] = _fmt_float(f[col])
    labels["glasses"] = np.where(f["glasses"].to_numpy(bool), "True", "False")
    labels["timestamp"] = _fmt_float(f["timestamp"], "%.6f")
    labels[list(LABEL_COLUMNS)].to_csv(root / "labels.csv", index=False, lineterminator="\n")

    info = _scene_info(scene, "synthgaze")
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
    _write_json(root / "synthgaze.json", info)


# --- Gaze360 ---------------------------------------------------------------------------------------


def default_splits(subject_ids: Sequence[str]) -> dict[str, list[str]]:
    """Subject-disjoint split: the first 25% of subjects test, the next 15% validation, the rest train."""
    ids = list(subject_ids)
    n = len(ids)
    n_test = max(1, int(round(0.25 * n))) if n >= 3 else min(1, n)
    n_val = max(1, int(round(0.15 * n))) if n >= 3 else 0
    return {"test": ids[:n_test], "val": ids[n_test : n_test + n_val], "train": ids[n_test + n_val :]}


def _normalise_splits(splits: "Mapping[str, Sequence[str]] | None", ids: Sequence[str]) -> dict[str, str]:
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


def _eye_boxes(row, subj, fw_zoom: float = 1.0) -> tuple[list[float], list[float], list[float]]:
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


def _savemat_deterministic(path: Path, data: dict) -> None:
    """``scipy.io.savemat`` with a fixed header text (the default one carries the creation date)."""
    from scipy.io import savemat

    buf = io.BytesIO()
    savemat(buf, data, do_compression=False, oned_as="row")
    raw = bytearray(buf.getvalue())
    header = b"MATLAB 5.0 MAT-file, Platform: posix, Created by: gazebench.synth (SynthGaze)"
    raw[:116] = header.ljust(116, b" ")
    path.write_bytes(bytes(raw))


def _write_gaze360(scene: Scene, root: Path, workers: int, progress: bool, splits) -> None:
    f = scene.frames
    ids = [s.id for s in scene.subjects]
    split_of = _normalise_splits(splits, ids)
    subj_by_id = {s.id: s for s in scene.subjects}
    sequences = sorted(f["sequence"].unique())
    # one recording per (sequence, split): persons = that split's subjects, numbered within it
    rec_key_of: dict[tuple[str, str], int] = {}
    person_of: dict[tuple[str, str], int] = {}
    recordings: list[str] = []
    for q in sequences:
        for sp in ("train", "validation", "test"):
            members = [sid for sid in ids if split_of[sid] == sp]
            if not members:
                continue
            k = len(recordings)
            recordings.append(f"rec_{k:03d}")
            for pid, sid in enumerate(members):
                rec_key_of[(sid, q)] = k
                person_of[(sid, q)] = pid
    n = len(f)
    n_frames = scene.preset.n_frames
    rec = np.array([rec_key_of[(s, q)] for s, q in zip(f["subject"], f["sequence"])], dtype=np.int32)
    person = np.array([person_of[(s, q)] for s, q in zip(f["subject"], f["sequence"])], dtype=np.int32)
    frame = f["frame"].to_numpy(np.int32)
    split_code = np.array([GAZE360_SPLITS.index(split_of[s]) for s in f["subject"]], dtype=np.int32)
    # context-only frames: two frames mid-sequence in every third train sequence
    subj_idx = np.array([subj_by_id[s].index for s in f["subject"]])
    seq_idx = np.array([int(q[1:]) for q in f["sequence"]])
    mid = n_frames // 2
    unused = (split_code == 0) & ((subj_idx + seq_idx) % 3 == 0) & ((frame == mid) | (frame == mid + 1))
    split_code[unused] = GAZE360_SPLITS.index("unused")
    rel = [f"imgs/{recordings[r]}/head/{p:06d}/{fr:06d}.jpg" for r, p, fr in zip(rec, person, frame)]

    plan = [(rows, [[(True, 1.0, rel[r])] for r in rows]) for rows in _sequence_tasks(f)]
    _render_all(scene, root, plan, workers, progress, "gaze360 layout")

    gaze = f[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)
    head_bbox = np.zeros((n, 4))
    face_bbox = np.zeros((n, 4))
    eye_l = np.zeros((n, 4))
    eye_r = np.zeros((n, 4))
    facing = yawpitch_to_vector(f[["head_yaw", "head_pitch"]].to_numpy(np.float64))
    for i in range(n):
        row = f.iloc[i]
        # head boxes in a notional full frame: persons side by side, drifting with the crop offset
        side = 0.12 * float(row["distance"]) / 1.5
        cx = 0.15 + 0.7 * ((person[i] + 0.5) / (person.max() + 1)) + 0.05 * float(row["offset_x"])
        cy = 0.4 + 0.05 * float(row["offset_y"])
        head_bbox[i] = [cx - side / 2, cy - side / 2, side, side]
        if facing[i, 2] < -0.2:  # the face is turned towards the camera: a detector finds it
            le, rr, fc = _eye_boxes(row, subj_by_id[row["subject"]])
            to_full = lambda b: [head_bbox[i, 0] + b[0] * side, head_bbox[i, 1] + b[1] * side, b[2] * side, b[3] * side]  # noqa: E731
            eye_l[i], eye_r[i], face_bbox[i] = to_full(le), to_full(rr), to_full(fc)
        else:
            eye_l[i] = eye_r[i] = face_bbox[i] = -1.0
    recs_cell = np.empty((1, len(recordings)), dtype=object)
    recs_cell[0, :] = recordings
    splits_cell = np.empty((1, len(GAZE360_SPLITS)), dtype=object)
    splits_cell[0, :] = GAZE360_SPLITS
    _savemat_deterministic(
        root / "metadata.mat",
        {
            "recordings": recs_cell,
            "recording": rec[None, :],
            "frame": frame[None, :],
            "person_identity": person[None, :],
            "gaze_dir": gaze,
            "split": split_code[None, :],
            "splits": splits_cell,
            "person_head_bbox": head_bbox,
            "person_face_bbox": face_bbox,
            "person_eye_left_bbox": eye_l,
            "person_eye_right_bbox": eye_r,
        },
    )

    # the original code's split files: centre frames with a full +-3 window of the same person
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
        lines[code].append(f"{rel[i][len('imgs/'):]}{sep}{v[0]:.8f} {v[1]:.8f} {v[2]:.8f}")
    for code, name in ((0, "train.txt"), (1, "validation.txt"), (2, "test.txt")):
        (root / name).write_text("".join(line + "\n" for line in lines[code]), encoding="utf-8")

    info = _scene_info(scene, "gaze360")
    info.update(
        {
            "mapping": "one recording per (SynthGaze sequence, split); person_identity numbers that split's "
            "subjects within the recording; frame = frame within the sequence",
            "recordings": {
                name: sorted(
                    {f"{sid}:{q}": person_of[(sid, q)] for (sid, q), k in rec_key_of.items() if k == idx}.items(),
                    key=lambda kv: kv[1],
                )
                for idx, name in enumerate(recordings)
            },
            "subject_splits": split_of,
            "split_files": "train/validation/test.txt list centre frames with a full +-3 window of the same "
            "person; vectors are scaled by a random 1.0-1.3 (readers must normalise) and about 15% of "
            "lines separate the path from the vector with a tab",
            "unused": "two mid-sequence frames of every third train sequence have split 3 (context only)",
            "bboxes": "[x, y, w, h] fractions of a notional full frame; person_eye_left_bbox is the eye on the "
            "image left; face/eye boxes are -1 where the face is turned more than about 78 degrees away",
        }
    )
    _write_json(root / SOURCE_FILE, info)


# --- RT-GENE -----------------------------------------------------------------------------------------


def _write_rtgene(scene: Scene, root: Path, workers: int, progress: bool) -> None:
    f = scene.frames
    subjects = scene.subjects[:RTGENE_MAX_SUBJECTS]
    yaw_gaze = vector_to_yawpitch(f[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64))
    plan = []
    labels: dict[str, list[str]] = {}
    kept_counts: dict[str, int] = {}
    for s in subjects:
        rows = np.flatnonzero(f["subject"].to_numpy() == s.id)
        rows = rows[np.argsort(f["timestamp"].to_numpy()[rows], kind="stable")]
        rng = np.random.default_rng([scene.seed, 17, s.index])
        drop_random = rng.uniform(size=len(rows)) < RTGENE_DROP_RATE
        folder = f"{s.id}_glasses"
        lines = []
        keep_rows, outs = [], []
        head_yaw = np.degrees(np.abs(f["head_yaw"].to_numpy()[rows]))
        extreme = (head_yaw > RTGENE_MAX_HEAD_YAW_DEG) | (f["gaze_z"].to_numpy()[rows] > 0)
        keep = ~extreme & ~drop_random
        minimum = int(math.ceil(RTGENE_MIN_KEPT * len(rows)))
        if keep.sum() < minimum:  # a subject turned away most of the time: keep its least extreme frames
            keep[np.argsort(head_yaw, kind="stable")[:minimum]] = True
        for k, r in enumerate(rows):
            if not keep[k]:
                continue
            idx = k + 1  # the frame's number in the subject's recording; dropped frames leave gaps
            gy, gp = yaw_gaze[r]
            lines.append(
                f"{idx}, [{f['head_yaw'].iat[r]:.6f}, {f['head_pitch'].iat[r]:.6f}], [{gy:.6f}, {gp:.6f}], "
                f"{f['timestamp'].iat[r]:.3f}"
            )
            name = f"face_{idx:06d}_rgb.png"
            keep_rows.append(int(r))
            outs.append(
                [
                    (False, 1.0, f"{folder}/inpainted/face/{name}"),
                    (True, 1.0, f"{folder}/original/face/{name}"),
                    (True, RTGENE_BEFORE_INPAINTING_ZOOM, f"{folder}/original/face_before_inpainting/{name}"),
                ]
            )
        labels[folder] = lines
        kept_counts[s.id] = len(lines)
        for start in range(0, len(keep_rows), scene.preset.n_frames):
            plan.append((keep_rows[start : start + scene.preset.n_frames], outs[start : start + scene.preset.n_frames]))
        (root / folder).mkdir(parents=True, exist_ok=True)
    _render_all(scene, root, plan, workers, progress, "rtgene layout")
    for folder, lines in labels.items():
        (root / folder / "label_combined.txt").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    info = _scene_info(scene, "rtgene")
    info.update(
        {
            "mapping": "sNNN_glasses = SynthGaze subject sNNN (at most 17); idx = 1-based frame number in the "
            "subject's recording (its sequences in time order), with gaps where frames were dropped",
            "dropped": f"frames with |head yaw| > {RTGENE_MAX_HEAD_YAW_DEG:g} deg or gaze away from the camera, "
            f"and a random {RTGENE_DROP_RATE:.0%} of the rest; at least {RTGENE_MIN_KEPT:.0%} of each subject's "
            "frames are kept (the ones with the smallest head yaw)",
            "frames_per_subject": kept_counts,
            "labels": "idx, [head_yaw, head_pitch], [gaze_yaw, gaze_pitch], timestamp (radians, Gaze360 signs)",
            "images": "inpainted/face = glasses off, original/face = glasses on, original/face_before_inpainting "
            f"= glasses on with a {RTGENE_BEFORE_INPAINTING_ZOOM:g}x wider field of view; all "
            f"{scene.image_size}x{scene.image_size} RGB PNG",
        }
    )
    _write_json(root / SOURCE_FILE, info)


# --- MPIIFaceGaze ----------------------------------------------------------------------------------------

_MAT73_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created by: gazebench.synth (SynthGaze) HDF5 schema 1.00 ."


def _write_mat73(path: Path, data: np.ndarray, label: np.ndarray) -> None:
    """An HDF5 file with a MATLAB v7.3 user block.  Arrays are stored in the (N, 3, H, W) / (N, 16)
    order that h5py readers of the real files expect; no object timestamps (byte-reproducible)."""
    import h5py

    with h5py.File(path, "w", userblock_size=512, libver="earliest", track_order=False) as fh:
        gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
        gcpl.set_obj_track_times(False)
        h5py.h5g.create(fh.id, b"Data", gcpl=gcpl)
        grp = fh["Data"]
        grp.create_dataset("data", data=data, track_times=False)
        grp.create_dataset("label", data=label, track_times=False)
        grp["data"].attrs["MATLAB_class"] = np.bytes_("uint8")
        grp["label"].attrs["MATLAB_class"] = np.bytes_("double")
    with open(path, "r+b") as fh:
        block = bytearray(_MAT73_HEADER.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM")
        fh.write(bytes(block.ljust(512, b"\x00")))


def _write_mpiifacegaze(scene: Scene, root: Path, workers: int, progress: bool) -> None:
    f = scene.frames
    subjects = scene.subjects[:MPII_MAX_SUBJECTS]
    plan, owners = [], []
    for s in subjects:
        rows = np.flatnonzero(f["subject"].to_numpy() == s.id).tolist()
        for start in range(0, len(rows), scene.preset.n_frames):
            chunk = rows[start : start + scene.preset.n_frames]
            plan.append((chunk, [[(True, 1.0, None)] for _ in chunk]))
            owners.append(s.id)
    results = _render_all(scene, root, plan, workers, progress, "mpiifacegaze layout")
    counts = {}
    for k, s in enumerate(subjects):
        rows = np.flatnonzero(f["subject"].to_numpy() == s.id)
        pixels = np.stack([img for owner, res in zip(owners, results) if owner == s.id for img in res])
        data = np.ascontiguousarray(pixels[..., ::-1].transpose(0, 3, 1, 2))  # RGB -> BGR, NHWC -> NCHW
        label = np.zeros((len(rows), 16), dtype=np.float64)
        gyp = vector_to_yawpitch(f[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)[rows])
        label[:, 0], label[:, 1] = gyp[:, 1], gyp[:, 0]
        label[:, 2], label[:, 3] = f["head_pitch"].to_numpy()[rows], f["head_yaw"].to_numpy()[rows]
        _write_mat73(root / f"p{k:02d}.mat", data, label)
        counts[f"p{k:02d}"] = {"subject": s.id, "frames": int(len(rows))}
    info = _scene_info(scene, "mpiifacegaze")
    info.update(
        {
            "mapping": "pNN.mat = SynthGaze subject sNNN (at most 15), all its frames in scene order",
            "files": counts,
            "arrays": "Data/data (N, 3, H, W) uint8 BGR; Data/label (N, 16) float64: gaze (pitch, yaw) in "
            "columns 0-1, head pose (pitch, yaw) in 2-3, the rest zeros. Stored in the order h5py shows "
            "for the real files; MATLAB reverses the dimensions of v7.3 arrays, so it would see these "
            "as W x H x 3 x N, and the real files were written from MATLAB (N is smaller here: all "
            "frames of the subject, not 3000)",
        }
    )
    _write_json(root / SOURCE_FILE, info)
