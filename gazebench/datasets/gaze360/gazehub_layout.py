"""GazeHub's preprocessing of Gaze360, written from a SynthGaze scene
(``gazebench synth --layout gaze360-gazehub``; read with ``--set layout=gazehub``).

What GazeHub's ``data_processing_gaze360.py`` makes of the release (see
:mod:`gazebench.datasets.gaze360.gazehub`), applied to the release SynthGaze writes for the same
scene (:func:`gazebench.datasets.gaze360.layout.release`: the same recordings, persons, frames and
split codes as ``--layout gaze360``):

* only the face-detectable frames (:func:`~gazebench.datasets.gaze360.layout.face_detectable`,
  the frames whose ``person_face_bbox`` the gaze360 layout writes as -1 are left out), in metadata
  order, entry ``i`` named ``<i+1>.jpg``;
* ``Image/<split>/Face/<i+1>.jpg``: a tighter view of the head (zoom :data:`FACE_ZOOM`, centred
  like the head crop) at the scene's image size -- GazeHub's are 224 x 224 squares around dlib's
  face box, a face crop rather than Gaze360's head crop; ``Left/`` and ``Right/``: 60 x 36 crops
  around the eyes (``CropEyeImg``'s 60:36 box around the eye box's centre), Left the eye on the
  image's left (``person_eye_left_bbox``);
* ``Label/<split>.label`` for ``train``, ``val``, ``test`` and ``unused`` (the release's split
  names, dataset/README.md line 113) under the header ``Face Left Right Origin 3DGaze 2DGaze``:
  ``3DGaze`` the ``gaze_dir`` written to metadata.mat, ``2DGaze`` = (arctan2(x, -z), arcsin(y)).

The real release marks the first and last 3 frames of a sequence ``unused`` (dataset/README.md
line 91), so its train/val/test frames all have a full +-3 window; SynthGaze's gaze360 layout
leaves them in their split (the adapter finds the centre frames by their windows), so here a frame
without a full window goes to ``unused.label``, as it would from the real release.  GazeHub's
test set is then exactly the gaze360 layout's test centre frames whose face is detectable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from gazebench.core.geometry import vector_to_yawpitch
from gazebench.datasets.gaze360.layout import GAZE360_WINDOW, eye_boxes, face_detectable, release, source_info
from gazebench.datasets.gaze360.parsing import GAZEHUB_HEADER
from gazebench.datasets.gazehub import numbers, write_label_file
from gazebench.synth.output import JPEG_QUALITY, SOURCE_FILE, render_all, sequence_tasks, write_json
from gazebench.synth.scene import Scene

#: the face image's field of view relative to the head crop's (< 1: the head fills more of it)
FACE_ZOOM = 0.75
#: GazeHub's eye images (CropEyeImg: ``cv2.resize(result, (60, 36))``)
EYE_SIZE = (60, 36)
#: split code -> the release's split name (dataset/README.md line 113), GazeHub's folder and file name
SPLIT_NAMES = ("train", "val", "test", "unused")


def write_layout(
    scene: Scene, root: Path, workers: int = 2, progress: bool = True, splits: Mapping[str, Sequence[str]] | None = None
) -> None:
    """Write ``scene`` into the empty folder ``root`` as GazeHub's Gaze360 (``splits`` as for the
    gaze360 layout: :func:`gazebench.datasets.gaze360.layout.write_layout`)."""
    f = scene.frames
    r = release(scene, splits)
    code = np.where(_full_window(r), r.split_code, SPLIT_NAMES.index("unused"))
    rows = np.flatnonzero(face_detectable(f))
    name = {int(i): f"{SPLIT_NAMES[code[i]]}/%s/{i + 1}.jpg" for i in rows}
    keep = set(name)
    plan = [
        (task, [[(True, FACE_ZOOM, name[i] % "Face"), (True, FACE_ZOOM, None)] for i in task])
        for task in ([i for i in t if i in keep] for t in sequence_tasks(f))
        if task
    ]
    faces = render_all(scene, root / "Image", plan, workers, progress, "gaze360-gazehub layout")
    subjects = {s.id: s for s in scene.subjects}
    for (task, _), images in zip(plan, faces):
        for i, face in zip(task, images):
            left, right, _ = eye_boxes(f.iloc[i], subjects[f["subject"].iat[i]], FACE_ZOOM)
            _save_eye(face, left, root / "Image" / (name[i] % "Left"))
            _save_eye(face, right, root / "Image" / (name[i] % "Right"))
    gaze = f[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)
    for c, split in enumerate(SPLIT_NAMES):
        lines = [
            [
                name[i] % "Face",
                name[i] % "Left",
                name[i] % "Right",
                r.rel[i][len("imgs/") :],
                numbers(gaze[i]),
                numbers(vector_to_yawpitch(gaze[i])),
            ]
            for i in rows
            if code[i] == c
        ]
        write_label_file(root / "Label" / f"{split}.label", GAZEHUB_HEADER, lines)
    info = source_info(scene, r, "gaze360-gazehub")
    info["gazehub"] = (
        f"face-detectable frames only; Face images at zoom {FACE_ZOOM} of the head crop; frames "
        "without a full +-3 window go to unused.label, as the release marks them unused"
    )
    write_json(root / SOURCE_FILE, info)


def _full_window(r) -> np.ndarray:
    """Whether frames f-3 ... f+3 of the same recording and person exist (the release's centre frames)."""
    present = set(zip(r.rec.tolist(), r.person.tolist(), r.frame.tolist()))
    return np.array(
        [
            all((a, b, c + o) in present for o in range(-GAZE360_WINDOW, GAZE360_WINDOW + 1))
            for a, b, c in zip(r.rec.tolist(), r.person.tolist(), r.frame.tolist())
        ],
        dtype=bool,
    )


def _save_eye(face: np.ndarray, box: list[float], path: Path) -> None:
    """GazeHub's CropEyeImg on the face image: a 60:36 box around the eye box's centre, as large as
    the eye box needs, resized to 60 x 36 (clipped to the image)."""
    h, w = face.shape[:2]
    cx, cy = (box[0] + box[2] / 2) * w, (box[1] + box[3] / 2) * h
    ratio = max(box[3] * h / EYE_SIZE[1], box[2] * w / EYE_SIZE[0], 1.0 / EYE_SIZE[1])
    half_w, half_h = ratio * EYE_SIZE[0] / 2, ratio * EYE_SIZE[1] / 2
    x0, y0 = int(np.clip(round(cx - half_w), 0, w - 1)), int(np.clip(round(cy - half_h), 0, h - 1))
    x1, y1 = int(np.clip(round(cx + half_w), x0 + 1, w)), int(np.clip(round(cy + half_h), y0 + 1, h))
    eye = Image.fromarray(face[y0:y1, x0:x1]).resize(EYE_SIZE, Image.BILINEAR)
    path.parent.mkdir(parents=True, exist_ok=True)
    eye.save(path, format="JPEG", quality=JPEG_QUALITY)
