"""RT-GENE in GazeHub's layout, written from a SynthGaze scene (``gazebench synth --layout rtgene-gazehub``).

GazeHub copies no image: its label files point into the release folder, which its trainers take
as the image root (:mod:`gazebench.datasets.rtgene.gazehub`).  So the layout is

* ``Image/``: the release as SynthGaze writes it (the ``rtgene`` layout,
  :mod:`gazebench.datasets.rtgene.layout`: ``sNNN_glasses/`` with ``label_combined.txt`` and the
  inpainted, original and larger face crops; like that layout, no eye crops);
* ``Label/train1.label``, ``train2.label``, ``train3.label``, ``valid.label``: GazeHub's header and
  one line per frame the release keeps, for the subjects of each file (GazeHub's lists; s000 in
  none), in time order.  ``Face`` / ``Left`` / ``Right`` are ``sNNN_glasses/original/{face,left,
  right}/{face,left,right}_<idx>_rgb.png``, ``Origin`` the subject, ``2DGaze`` the frame's (yaw,
  pitch) and ``3DGaze`` its camera-frame vector, ``2DHead`` / ``3DHead`` the same for the head pose.
  GazeHub copies label_combined's text into 2DGaze; here it holds the label at full precision
  (label_combined.txt has 6 decimals), so the labels read back are the rendered ones exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gazebench.core import geometry
from gazebench.datasets.gazehub import gaze_fields, write_label_file
from gazebench.datasets.rtgene.gazehub import GAZEHUB_FILES, HEADER, IMAGE_DIR, LABEL_DIR
from gazebench.datasets.rtgene.layout import kept_frames
from gazebench.datasets.rtgene.layout import write_layout as write_release
from gazebench.synth.output import SOURCE_FILE, scene_info, write_json
from gazebench.synth.scene import Scene


def _lines(scene: Scene, subject: str) -> list[list[str]]:
    """GazeHub's lines of ``subject``'s kept frames."""
    f = scene.frames
    lines = []
    for r, idx in kept_frames(scene, scene.subject(subject)):
        gaze3d, gaze2d = gaze_fields(f[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)[r])
        head3d, head2d = gaze_fields(geometry.yawpitch_to_vector(f[["head_yaw", "head_pitch"]].to_numpy(np.float64)[r]))
        images = [f"{subject}_glasses/original/{part}/{part}_{idx:06d}_rgb.png" for part in ("face", "left", "right")]
        lines.append([*images, subject, gaze3d, head3d, gaze2d, head2d])
    return lines


def write_layout(scene: Scene, root: Path, workers: int = 2, progress: bool = True) -> None:
    """Write ``scene`` into the empty folder ``root`` in GazeHub's RT-GENE layout."""
    write_release(scene, root / IMAGE_DIR, workers=workers, progress=progress)
    present = {s.id for s in scene.subjects}
    counts = {}
    for name, subjects in GAZEHUB_FILES.items():
        rows = [line for s in subjects if s in present for line in _lines(scene, s)]
        write_label_file(root / LABEL_DIR / name, HEADER, rows)
        counts[name] = {"subjects": [s for s in subjects if s in present], "lines": len(rows)}
    info = scene_info(scene, "rtgene-gazehub")
    info.update(
        {
            "mapping": "Image/ = the rtgene layout of the scene (its own synthgaze_source.json inside); "
            "Label/<file>.label = GazeHub's fold files, one line per frame of Image/sNNN_glasses/label_combined.txt",
            "files": counts,
            "labels": "2DGaze = (yaw, pitch) at full precision, 3DGaze = the camera-frame vector (GazeHub's GazeTo3d)",
        }
    )
    write_json(root / SOURCE_FILE, info)
