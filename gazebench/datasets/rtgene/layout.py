"""RT-GENE's on-disk layout, written from a SynthGaze scene (``gazebench synth --layout rtgene``).

What is written follows the release (the card's ``layout``): one ``sNNN_glasses``
folder per subject (SynthGaze subjects s000 ... s016) with ``label_combined.txt`` (``idx,
[head_yaw, head_pitch], [gaze_yaw, gaze_pitch], timestamp``) and three 224-style face crops per
frame: ``inpainted/face`` (no glasses), ``original/face`` (glasses on) and
``original/face_before_inpainting`` (glasses on, a wider field of view).  Like the release, the
frames are filtered: extreme head poses, gaze away from the camera and a few random
("low-confidence") frames are dropped, leaving gaps in ``idx``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from gazebench.core.geometry import vector_to_yawpitch
from gazebench.synth.output import SOURCE_FILE, Output, render_all, scene_info, write_json
from gazebench.synth.scene import Scene, SubjectParams

RTGENE_MAX_SUBJECTS = 17
RTGENE_BEFORE_INPAINTING_ZOOM = 1.4  # face_before_inpainting: same pixels, 1.4x the field of view
RTGENE_MAX_HEAD_YAW_DEG = 75.0  # frames beyond this head yaw (or gazing away) are dropped
RTGENE_DROP_RATE = 0.04  # and this share of the rest ("low-confidence" frames)
RTGENE_MIN_KEPT = 0.25  # but at least this share of a subject's frames is kept (the least extreme)


def write_layout(scene: Scene, root: Path, workers: int = 2, progress: bool = True) -> None:
    """Write ``scene`` into the empty folder ``root`` in the RT-GENE layout (at most 17 subjects)."""
    f = scene.frames
    yaw_gaze = vector_to_yawpitch(f[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64))
    plan = []
    labels: dict[str, list[str]] = {}  # subject -> its label lines
    for s in scene.subjects[:RTGENE_MAX_SUBJECTS]:
        labels[s.id], keep_rows, outs = _subject_frames(scene, s, yaw_gaze)
        n = scene.preset.n_frames
        for start in range(0, len(keep_rows), n):
            plan.append((keep_rows[start : start + n], outs[start : start + n]))
        (root / f"{s.id}_glasses").mkdir(parents=True, exist_ok=True)
    render_all(scene, root, plan, workers, progress, "rtgene layout")
    for subject, lines in labels.items():
        text = "".join(line + "\n" for line in lines)
        (root / f"{subject}_glasses" / "label_combined.txt").write_text(text, encoding="utf-8")
    info = scene_info(scene, "rtgene")
    info.update(
        {
            "mapping": "sNNN_glasses = SynthGaze subject sNNN (at most 17); idx = 1-based frame number in the "
            "subject's recording (its sequences in time order), with gaps where frames were dropped",
            "dropped": f"frames with |head yaw| > {RTGENE_MAX_HEAD_YAW_DEG:g} deg or gaze away from the camera, "
            f"and a random {RTGENE_DROP_RATE:.0%} of the rest; at least {RTGENE_MIN_KEPT:.0%} of each subject's "
            "frames are kept (the ones with the smallest head yaw)",
            "frames_per_subject": {subject: len(lines) for subject, lines in labels.items()},
            "labels": "idx, [head_yaw, head_pitch], [gaze_yaw, gaze_pitch], timestamp (radians, Gaze360 signs)",
            "images": "inpainted/face = glasses off, original/face = glasses on, original/face_before_inpainting "
            f"= glasses on with a {RTGENE_BEFORE_INPAINTING_ZOOM:g}x wider field of view; all "
            f"{scene.image_size}x{scene.image_size} RGB PNG",
        }
    )
    write_json(root / SOURCE_FILE, info)


def label_line(idx: int, head: tuple[float, float], gaze: tuple[float, float], timestamp: float) -> str:
    """One line of ``label_combined.txt``: ``idx, [head_yaw, head_pitch], [gaze_yaw, gaze_pitch],
    timestamp`` (radians, seconds), as the release writes it."""
    return f"{idx}, [{head[0]:.6f}, {head[1]:.6f}], [{gaze[0]:.6f}, {gaze[1]:.6f}], {timestamp:.3f}"


def face_path(subject: str, variant_dir: str, idx: int) -> str:
    """A face crop's path under the root: ``sNNN_glasses/<variant dir>/face_<idx %06d>_rgb.png``."""
    return f"{subject}_glasses/{variant_dir}/face_{idx:06d}_rgb.png"


def kept_frames(scene: Scene, s: SubjectParams) -> list[tuple[int, int]]:
    """``(scene row, idx)`` of subject ``s``'s frames that the release keeps, in time order; idx is
    the frame's 1-based number in the subject's recording (dropped frames leave gaps)."""
    f = scene.frames
    rows = np.flatnonzero(f["subject"].to_numpy() == s.id)
    rows = rows[np.argsort(f["timestamp"].to_numpy()[rows], kind="stable")]
    rng = np.random.default_rng([scene.seed, 17, s.index])
    drop_random = rng.uniform(size=len(rows)) < RTGENE_DROP_RATE
    head_yaw = np.degrees(np.abs(f["head_yaw"].to_numpy()[rows]))
    extreme = (head_yaw > RTGENE_MAX_HEAD_YAW_DEG) | (f["gaze_z"].to_numpy()[rows] > 0)
    keep = ~extreme & ~drop_random
    minimum = int(math.ceil(RTGENE_MIN_KEPT * len(rows)))
    if keep.sum() < minimum:  # a subject turned away most of the time: keep its least extreme frames
        keep[np.argsort(head_yaw, kind="stable")[:minimum]] = True
    return [(int(r), k + 1) for k, r in enumerate(rows) if keep[k]]


def _subject_frames(
    scene: Scene, s: SubjectParams, yaw_gaze: np.ndarray
) -> tuple[list[str], list[int], list[list[Output]]]:
    """The label lines of subject ``s``'s kept frames (in time order), their scene rows and outputs."""
    f = scene.frames
    lines, keep_rows, outs = [], [], []
    for r, idx in kept_frames(scene, s):
        gy, gp = yaw_gaze[r]
        lines.append(label_line(idx, (f["head_yaw"].iat[r], f["head_pitch"].iat[r]), (gy, gp), f["timestamp"].iat[r]))
        keep_rows.append(int(r))
        outs.append(
            [
                (False, 1.0, face_path(s.id, "inpainted/face", idx)),
                (True, 1.0, face_path(s.id, "original/face", idx)),
                (True, RTGENE_BEFORE_INPAINTING_ZOOM, face_path(s.id, "original/face_before_inpainting", idx)),
            ]
        )
    return lines, keep_rows, outs
