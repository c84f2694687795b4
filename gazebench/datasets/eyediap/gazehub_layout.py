"""EYEDIAP in GazeHub's layout, written from a SynthGaze scene
(``gazebench synth --layout eyediap-gazehub``).

What is written follows GazeHub's script (:mod:`gazebench.datasets.eyediap.gazehub`), one
participant per SynthGaze subject (at most 14; :func:`gazebench.datasets.eyediap.sessions.
synth_participants` picks the participant numbers so that every fold has people), its sequences
as its four screen-target sessions in turn (``N_A_DS_S``, ``N_A_DS_M``, ``N_A_CS_S``, ``N_A_CS_M``),
the frames of a session 15 video frames apart (``metapath`` ``<session>_<i>`` with i = 1, 16, 31,
...), k = 1, 2, ... over the participant's frames in scene order:

* ``Image/pN/face/<k>.jpg``: the rendered face (the scene's image size; GazeHub's are 224 px),
  ``Image/pN/left/<k>.jpg`` and ``right/<k>.jpg``: 60 x 36 histogram-equalised crops of fixed eye
  regions (gazebench reads only the faces); nothing is mirrored;
* ``Label/pN.label`` and ``ClusterLabel/cluster<g>.label`` (g = 1-4: the people of the card's
  fold g - 1 test group; GazeHub's own file names are not stated in the sources read, and any
  names work, in name order): GazeHub's header and one line per face.  ``3DGaze`` / ``2DGaze``
  hold the frame's label (:func:`gazebench.datasets.gazehub.gaze_fields`); the SynthGaze camera is
  taken as the normalised camera, so ``Rvec`` = 0,0,0, ``Svec`` = 1,1,1 and ``GazeOrigin`` =
  0,0,600; ``3DHead`` / ``2DHead`` the head rotation (:func:`gazebench.datasets.gazehub.head_fields`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gazebench.datasets.cards import load_card
from gazebench.datasets.eyediap.gazehub import CLUSTER_DIR, HEADER, IMAGE_DIR, LABEL_DIR
from gazebench.datasets.eyediap.sessions import plan_samples
from gazebench.datasets.gazehub import eye_crop, gaze_fields, head_fields, jpeg_bytes, numbers, write_label_file
from gazebench.synth.output import SOURCE_FILE, render_all, scene_info, write_json
from gazebench.synth.scene import Scene

#: the normalisation GazeHub records, for a camera that is already the normalised one
VIRTUAL_CAMERA = (numbers([0, 0, 0]), numbers([1, 1, 1]), numbers([0, 0, 600]))


def sample_ids(scene: Scene) -> list[str | None]:
    """The adapter's id of each scene row (``pN/face/<k>``; None where nothing is written)."""
    return [None if s is None else f"{s['subject']}/face/{s['k']}" for s in plan_samples(scene)]


def _line(root: Path, sample: dict, image: np.ndarray, gaze: np.ndarray, head: tuple[float, float, float]) -> list[str]:
    person, k = sample["subject"], sample["k"]
    names = [f"{person}/{part}/{k}.jpg" for part in ("face", "left", "right")]
    for name, pixels in zip(names, (image, eye_crop(image, "left"), eye_crop(image, "right"))):
        (root / IMAGE_DIR / name).write_bytes(jpeg_bytes(pixels))
    gaze3d, gaze2d = gaze_fields(gaze)
    head3d, head2d = head_fields(*head)
    metapath = f"{sample['session']}_{sample['frame'] + 1}"
    return [*names, metapath, gaze3d, head3d, gaze2d, head2d, *VIRTUAL_CAMERA]


def write_layout(scene: Scene, root: Path, workers: int = 2, progress: bool = True) -> None:
    """Write ``scene`` into the empty folder ``root`` in GazeHub's EyeDiap layout."""
    f = scene.frames
    samples = plan_samples(scene)
    subjects = [s.id for s in scene.subjects if any(p and f["subject"].iat[r] == s.id for r, p in enumerate(samples))]
    rows = {s: [r for r in np.flatnonzero(f["subject"].to_numpy() == s) if samples[r] is not None] for s in subjects}
    plan = [(rows[s], [[(True, 1.0, None)] for _ in rows[s]]) for s in subjects]
    pixels = render_all(scene, root, plan, workers, progress, "eyediap-gazehub layout")
    gaze = f[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)
    head = f[["head_yaw", "head_pitch", "head_roll"]].to_numpy(np.float64)
    lines: dict[str, list[list[str]]] = {}
    for s, images in zip(subjects, pixels):
        person = samples[rows[s][0]]["subject"]
        for part in ("face", "left", "right"):
            (root / IMAGE_DIR / person / part).mkdir(parents=True, exist_ok=True)
        lines[person] = [_line(root, samples[r], image, gaze[r], tuple(head[r])) for r, image in zip(rows[s], images)]
        write_label_file(root / LABEL_DIR / f"{person}.label", HEADER, lines[person])
    card = load_card("eyediap")
    clusters = {}
    for g, fold in enumerate(card.folds(), 1):
        people = [p for p in card.split_rule(fold).test if p in lines]
        write_label_file(root / CLUSTER_DIR / f"cluster{g}.label", HEADER, [ln for p in people for ln in lines[p]])
        clusters[f"cluster{g}.label"] = people
    info = scene_info(scene, "eyediap-gazehub")
    info.update(
        {
            "mapping": "SynthGaze subject -> participant pN ("
            + ", ".join(f"{s}: {samples[rows[s][0]]['subject']}" for s in subjects)
            + "); its sequences -> the sessions "
            "N_A_DS_S, N_A_DS_M, N_A_CS_S, N_A_CS_M in turn, frames 15 apart; Image/pN/face/<k>.jpg = the "
            "subject's k-th frame in scene order",
            "clusters": clusters,
            "images": f"face {scene.image_size}x{scene.image_size} RGB JPEG (GazeHub: 224x224); left/right 60x36 "
            "greyscale, histogram-equalised crops of fixed eye regions; nothing mirrored",
        }
    )
    write_json(root / SOURCE_FILE, info)
