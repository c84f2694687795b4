"""MPIIFaceGaze in GazeHub's layout, written from a SynthGaze scene
(``gazebench synth --layout mpiifacegaze-gazehub``).

What is written follows GazeHub's script (:mod:`gazebench.datasets.mpiifacegaze.gazehub`), one
person per SynthGaze subject (``pNN`` = the NN-th subject, at most 15), all its frames in scene
order, k = 1, 2, ...:

* ``Image/pNN/face/<k>.jpg``: the rendered face (the scene's image size; GazeHub's are 224 px),
  JPEG quality 95 (OpenCV's default, which the script's ``cv2.imwrite`` uses);
  ``Image/pNN/left/<k>.jpg`` and ``right/<k>.jpg``: 60 x 36 greyscale, histogram-equalised crops
  of fixed eye regions of the face (GazeHub crops around the eye corners; gazebench reads only
  the faces);
* every second sample (k even) is a ``right`` one, as half of MPIIGaze's sample list is: its
  images are flipped horizontally and its gaze mirrored (x negated), as the script does for right
  samples -- so its label is the mirror of the rendered frame's label;
* ``Label/pNN.label``: GazeHub's header and one line per sample.  ``3DGaze`` / ``2DGaze`` hold the
  (mirrored) label (:func:`gazebench.datasets.gazehub.gaze_fields`); the SynthGaze camera is taken
  as the normalised camera, so ``Rmat`` = 0,0,0, ``Smat`` = 1,1,1 and ``GazeOrigin`` = 0,0,600;
  ``3DHead`` is the rotation vector of SynthGaze's head rotation (camera frame) and ``2DHead``
  GazeHub's ``HeadTo2d`` of it, the head's (yaw, pitch); a right sample's head is mirrored (yaw
  and roll negated), which is what ``HeadFlip`` sets out to do by negating x of the head's z axis
  (data_processing_core.py lines 160-173; it edits the matrix in place, so GazeHub's flipped
  heads are not exactly rotations -- gazebench never reads the head columns as labels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gazebench.core import geometry
from gazebench.datasets.gazehub import eye_crop, gaze_fields, head_fields, jpeg_bytes, numbers, write_label_file
from gazebench.datasets.mpiifacegaze.gazehub import HEADER, IMAGE_DIR, LABEL_DIR
from gazebench.synth.output import SOURCE_FILE, render_all, scene_info, write_json
from gazebench.synth.scene import Scene

MAX_PEOPLE = 15
#: the normalisation GazeHub records, for a camera that is already the normalised one
VIRTUAL_CAMERA = {"Rmat": numbers([0, 0, 0]), "Smat": numbers([1, 1, 1]), "GazeOrigin": numbers([0, 0, 600])}


def which_eye(k: int) -> str:
    """GazeHub's WhichEye of sample k (1-based): every second sample is a right one (mirrored)."""
    return "right" if k % 2 == 0 else "left"


def _write_sample(root: Path, person: str, k: int, face: np.ndarray) -> list[str]:
    """The three images of sample k (``face`` as GazeHub stores it: flipped for right samples);
    returns the Face, Left and Right fields."""
    names = [f"{person}/{part}/{k}.jpg" for part in ("face", "left", "right")]
    images = [face, eye_crop(face, "left"), eye_crop(face, "right")]
    for name, image in zip(names, images):
        (root / IMAGE_DIR / name).write_bytes(jpeg_bytes(image))
    return names


def _person_lines(scene: Scene, root: Path, person: str, rows: np.ndarray, pixels: list[np.ndarray]) -> list[list[str]]:
    f = scene.frames
    day = {q: i + 1 for i, q in enumerate(dict.fromkeys(f["sequence"].to_numpy()[rows]))}
    for part in ("face", "left", "right"):
        (root / IMAGE_DIR / person / part).mkdir(parents=True, exist_ok=True)
    lines = []
    for k, (r, image) in enumerate(zip(rows, pixels), 1):
        eye = which_eye(k)
        gaze = f[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)[r]
        yaw, pitch, roll = (float(f[c].iat[r]) for c in ("head_yaw", "head_pitch", "head_roll"))
        if eye == "right":  # GazeHub: cv2.flip, GazeFlip, HeadFlip
            image, gaze, yaw, roll = np.ascontiguousarray(image[:, ::-1]), geometry.mirror(gaze), -yaw, -roll
        face, left, right = _write_sample(root, person, k, image)
        origin = f"day{day[f['sequence'].iat[r]]:02d}/{int(f['frame'].iat[r]) + 1:04d}.jpg"
        gaze3d, gaze2d = gaze_fields(gaze)
        head3d, head2d = head_fields(yaw, pitch, roll)
        lines.append([face, left, right, origin, eye, gaze3d, head3d, gaze2d, head2d, *VIRTUAL_CAMERA.values()])
    return lines


def write_layout(scene: Scene, root: Path, workers: int = 2, progress: bool = True) -> None:
    """Write ``scene`` into the empty folder ``root`` in GazeHub's MPIIFaceGaze layout."""
    f = scene.frames
    subjects = scene.subjects[:MAX_PEOPLE]
    rows = {s.id: np.flatnonzero(f["subject"].to_numpy() == s.id) for s in subjects}
    plan = [(rows[s.id].tolist(), [[(True, 1.0, None)] for _ in rows[s.id]]) for s in subjects]
    pixels = render_all(scene, root, plan, workers, progress, "mpiifacegaze-gazehub layout")
    files = {}
    for k, (s, images) in enumerate(zip(subjects, pixels)):
        person = f"p{k:02d}"
        write_label_file(
            root / LABEL_DIR / f"{person}.label", HEADER, _person_lines(scene, root, person, rows[s.id], images)
        )
        files[person] = {"subject": s.id, "frames": int(len(images))}
    info = scene_info(scene, "mpiifacegaze-gazehub")
    info.update(
        {
            "mapping": "Label/pNN.label = SynthGaze subject sNNN (at most 15); line k (after the header) and "
            "Image/pNN/{face,left,right}/<k>.jpg = the subject's k-th frame in scene order",
            "files": files,
            "mirrored": "samples with WhichEye right (k even): images flipped horizontally, gaze mirrored "
            "(x negated), as GazeHub's script does; their label is the mirror of the frame's label",
            "images": f"face {scene.image_size}x{scene.image_size} RGB JPEG (GazeHub: 224x224); left/right "
            "60x36 greyscale, histogram-equalised crops of fixed eye regions",
        }
    )
    write_json(root / SOURCE_FILE, info)
