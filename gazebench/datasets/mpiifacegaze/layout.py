"""MPIIFaceGaze's on-disk layout (the normalised release), written from a SynthGaze scene
(``gazebench synth --layout mpiifacegaze``).

What is written follows the release (the card's ``layout``): ``p00.mat`` ...,
MATLAB v7.3 files (HDF5 with a MATLAB user block) holding ``Data/data`` (N, 3, H, W) uint8 BGR and
``Data/label`` (N, 16) float64 with gaze (pitch, yaw) in columns 0-1 and head pose (pitch, yaw)
in 2-3; the landmark columns are zeros.  The files carry no timestamps (byte-reproducible).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gazebench.core.geometry import vector_to_yawpitch
from gazebench.synth.output import SOURCE_FILE, render_all, scene_info, write_json
from gazebench.synth.scene import Scene

MPII_MAX_SUBJECTS = 15
_MAT73_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created by: gazebench.synth (SynthGaze) HDF5 schema 1.00 ."


def write_person_file(path: Path, data: np.ndarray, label: np.ndarray) -> None:
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


def release_label(gaze: np.ndarray, head: np.ndarray) -> np.ndarray:
    """``Data/label`` (N, 16) float64: gaze (pitch, yaw) ``gaze`` (N, 2) in columns 0-1, head pose
    (pitch, yaw) ``head`` ((N, 2), or (2,) for every row) in 2-3, the landmark columns zeros."""
    label = np.zeros((len(gaze), 16), dtype=np.float64)
    label[:, :2] = gaze
    label[:, 2:4] = head
    return label


def write_layout(scene: Scene, root: Path, workers: int = 2, progress: bool = True) -> None:
    """Write ``scene`` into the empty folder ``root`` in the MPIIFaceGaze layout: ``pNN.mat`` per
    subject (at most 15), all its frames in scene order."""
    f = scene.frames
    subjects = scene.subjects[:MPII_MAX_SUBJECTS]
    plan, owners = [], []
    for s in subjects:
        rows = np.flatnonzero(f["subject"].to_numpy() == s.id).tolist()
        for start in range(0, len(rows), scene.preset.n_frames):
            chunk = rows[start : start + scene.preset.n_frames]
            plan.append((chunk, [[(True, 1.0, None)] for _ in chunk]))
            owners.append(s.id)
    results = render_all(scene, root, plan, workers, progress, "mpiifacegaze layout")
    counts = {}
    for k, s in enumerate(subjects):
        rows = np.flatnonzero(f["subject"].to_numpy() == s.id)
        pixels = np.stack([img for owner, res in zip(owners, results) if owner == s.id for img in res])
        data = np.ascontiguousarray(pixels[..., ::-1].transpose(0, 3, 1, 2))  # RGB -> BGR, NHWC -> NCHW
        gyp = vector_to_yawpitch(f[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)[rows])
        head = np.column_stack([f["head_pitch"].to_numpy()[rows], f["head_yaw"].to_numpy()[rows]])
        label = release_label(gyp[:, ::-1], head)
        write_person_file(root / f"p{k:02d}.mat", data, label)
        counts[f"p{k:02d}"] = {"subject": s.id, "frames": int(len(rows))}
    info = scene_info(scene, "mpiifacegaze")
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
    write_json(root / SOURCE_FILE, info)
