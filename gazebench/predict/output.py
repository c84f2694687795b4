"""What ``gazebench predict`` writes into ``--out``: the gaze table and the drawn frames.

* ``gaze.csv``: one row per predicted frame (:data:`COLUMNS`), inputs in the order given, frames in
  order; ``gaze.json``: the same rows (NaN as null) with the convention, the model and the inputs.
* drawn frames (:mod:`gazebench.predict.drawing`): an image input -> ``<name>.png``; a folder ->
  ``<folder name>/<image name>.png``; a video -> ``<name>.mp4`` (PyAV's H.264 encoder, else
  MPEG-4 Part 2, at the video's frame rate) or, with ``png``, ``<name>/<frame %06d>.png``.  Frames
  without a head box are written undrawn; names that would clash get ``-2``, ``-3``, ...

``--out`` must be new or empty, so a table never sits beside the drawn frames of another
prediction.  With ``--overwrite`` a previous prediction's own files (``gaze.csv``, ``gaze.json``
and the drawn frames its ``gaze.json`` lists) are removed first and nothing else is touched; a
file of this prediction that would replace anything else is refused (:func:`prepare_out`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from gazebench.core.errors import UserRuntimeError
from gazebench.predict.drawing import draw_gaze
from gazebench.predict.infer import Predictions
from gazebench.predict.inputs import Sequence, import_av, video_info

COLUMNS = (
    "input",
    "frame",
    "time_s",
    "box_x",
    "box_y",
    "box_w",
    "box_h",
    "gaze_x",
    "gaze_y",
    "gaze_z",
    "yaw_deg",
    "pitch_deg",
    "yaw_rad",
    "pitch_rad",
    "sigma_rad",
    "sigma_deg",
    "window_complete",
)

#: the normalising path's extra columns: the model's own gaze in the normalised camera, and the head pose
NORMALISED_COLUMNS = (
    "norm_gaze_x",
    "norm_gaze_y",
    "norm_gaze_z",
    "norm_yaw_deg",
    "norm_pitch_deg",
    "head_yaw_deg",
    "head_pitch_deg",
    "head_rx",
    "head_ry",
    "head_rz",
    "head_tx",
    "head_ty",
    "head_tz",
)

NORMALISED_CONVENTION = (
    " Normalised faces (input normalised-face): gaze_*, yaw_* and pitch_* are in the camera frame (the model's "
    "gaze turned back by the inverse of the normalising rotation R); norm_gaze_*, norm_yaw_deg and norm_pitch_deg "
    "are the model's own output, in the normalised camera (same convention). head_yaw_deg, head_pitch_deg: the "
    "direction the face points to (camera frame, same convention); head_rx/ry/rz (Rodrigues, radians) and "
    "head_tx/ty/tz (mm): the fitted head pose, face model -> camera frame (x right, y down, z forward). box: a "
    "square about the face centre, twice the outer eye corners' distance wide."
)

CONVENTION = (
    "gaze_x, gaze_y, gaze_z: unit gaze vector in the Gaze360 eye frame: +x to the subject's left as seen from "
    "the camera (the image's left), +y up, +z away from the camera; (0, 0, -1) looks into the camera. "
    "yaw = atan2(x, -z), pitch = asin(y) (yaw > 0: towards the image's left; pitch > 0: up). "
    "sigma: the model's angular uncertainty (NaN/null when it predicts none). box: the head crop in pixels of "
    "the frame (x, y = top-left corner). time_s: the frame's presentation time (videos). frame: the frame number "
    "in a video (0 for images). window_complete: the model's frame window had every neighbour (edge frames "
    "are padded with the nearest frame)."
)

VIDEO_OUT = ("mp4", "png", "none")
TABLES = ("gaze.csv", "gaze.json")
VIDEO_CODECS = ("libx264", "mpeg4")
DEFAULT_FPS = 25


def gaze_table(pred: Predictions) -> Any:
    """The predictions as a DataFrame with :data:`COLUMNS`."""
    import pandas as pd

    from gazebench.core.geometry import vector_to_yawpitch

    yp = vector_to_yawpitch(pred.vector) if len(pred.vector) else np.zeros((0, 2))
    loc = pred.located
    table = {
        "input": [p.input for p in loc],
        "frame": [p.frame for p in loc],
        "time_s": [np.nan if p.time is None else p.time for p in loc],
        "box_x": [p.box.x for p in loc],
        "box_y": [p.box.y for p in loc],
        "box_w": [p.box.w for p in loc],
        "box_h": [p.box.h for p in loc],
        "gaze_x": pred.vector[:, 0],
        "gaze_y": pred.vector[:, 1],
        "gaze_z": pred.vector[:, 2],
        "yaw_deg": np.degrees(yp[:, 0]),
        "pitch_deg": np.degrees(yp[:, 1]),
        "yaw_rad": yp[:, 0],
        "pitch_rad": yp[:, 1],
        "sigma_rad": pred.sigma,
        "sigma_deg": np.degrees(pred.sigma),
        "window_complete": pred.complete,
    }
    if pred.normalised is None:
        return pd.DataFrame(table, columns=list(COLUMNS))
    table.update(normalised_columns(pred))
    return pd.DataFrame(table, columns=list(COLUMNS + NORMALISED_COLUMNS))


def normalised_columns(pred: Predictions) -> dict[str, np.ndarray]:
    """The normalising path's columns (:data:`NORMALISED_COLUMNS`)."""
    from gazebench.core.geometry import from_camera_frame, vector_to_yawpitch

    n = len(pred.located)
    norm = pred.normalised.reshape(n, 3)
    yp = vector_to_yawpitch(norm) if n else np.zeros((0, 2))
    poses = [p.normalisation.pose for p in pred.located]
    facing = np.array([from_camera_frame(p.facing()) for p in poses]).reshape(n, 3)
    head = vector_to_yawpitch(facing) if n else np.zeros((0, 2))
    rvec = np.array([p.rvec for p in poses]).reshape(n, 3)
    tvec = np.array([p.tvec for p in poses]).reshape(n, 3)
    return {
        "norm_gaze_x": norm[:, 0],
        "norm_gaze_y": norm[:, 1],
        "norm_gaze_z": norm[:, 2],
        "norm_yaw_deg": np.degrees(yp[:, 0]),
        "norm_pitch_deg": np.degrees(yp[:, 1]),
        "head_yaw_deg": np.degrees(head[:, 0]),
        "head_pitch_deg": np.degrees(head[:, 1]),
        "head_rx": rvec[:, 0],
        "head_ry": rvec[:, 1],
        "head_rz": rvec[:, 2],
        "head_tx": tvec[:, 0],
        "head_ty": tvec[:, 1],
        "head_tz": tvec[:, 2],
    }


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def write_tables(table: Any, out: Path, about: dict[str, Any]) -> tuple[Path, Path]:
    """``gaze.csv`` and ``gaze.json`` in ``out`` (written atomically)."""
    from gazebench.core.atomic import atomic_write

    csv_path = atomic_write(out / "gaze.csv", table.to_csv(index=False, float_format="%.7g"))
    rows = [{k: _plain(v) for k, v in row.items()} for row in table.to_dict(orient="records")]
    normalised = "norm_gaze_x" in table.columns
    doc = {
        "convention": CONVENTION + (NORMALISED_CONVENTION if normalised else ""),
        "columns": list(table.columns),
        **about,
        "rows": rows,
    }
    json_path = atomic_write(out / "gaze.json", json.dumps(doc, indent=1, default=str) + "\n")
    return csv_path, json_path


# --- the output folder ---------------------------------------------------------------------------


def previous_outputs(out: Path) -> list[Path]:
    """What an earlier ``gazebench predict`` wrote into ``out``: its tables and the drawn files or
    folders its ``gaze.json`` lists (each a child of ``out``); empty when there is no such table."""
    if not (out / "gaze.json").is_file():
        return []
    try:
        doc = json.loads((out / "gaze.json").read_text())
    except (OSError, ValueError):  # a damaged table: the tables are still its own
        doc = {}
    drawn = [d.get("drawn") for d in doc.get("inputs", []) if isinstance(d, dict)] if isinstance(doc, dict) else []
    return [out / name for name in TABLES] + [out / Path(d).name for d in drawn if isinstance(d, str) and Path(d).name]


def prepare_out(out: Path, targets: list[Path | None], overwrite: bool) -> list[Path]:
    """Check ``--out`` before any work; returns the previous prediction's files to remove (by
    :func:`clear_previous`, once the new one is ready to be written).  A non-empty folder without
    ``overwrite``, or a file of this prediction that would replace one not written by a previous
    prediction, is a user error naming it."""
    if not out.is_dir() or not any(out.iterdir()):
        return []
    entries = sorted(p.name for p in out.iterdir())
    shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
    if not overwrite:
        raise UserRuntimeError(
            f"--out {out} is not empty ({shown}): a prediction there would mix with what is there; "
            "give a new or empty folder, or --overwrite to replace a previous prediction's files "
            "(gaze.csv, gaze.json and the drawn frames gaze.json lists; nothing else is touched)"
        )
    old = {p for p in previous_outputs(out) if p.exists()}
    for path in [out / name for name in TABLES] + [t for t in targets if t is not None]:
        if path.exists() and path not in old:
            raise UserRuntimeError(
                f"--overwrite: {path} is not a file of a previous prediction (not in "
                f"{out / 'gaze.json'}); move it or give another --out"
            )
    return sorted(old)


def clear_previous(paths: list[Path]) -> None:
    """Remove a previous prediction's files: a drawn file, or a drawn folder's PNG frames (the
    folder too once it is empty; anything else in it stays)."""
    for path in paths:
        if path.is_dir():
            for frame in path.glob("*.png"):
                frame.unlink()
            if not any(path.iterdir()):
                path.rmdir()
        elif path.exists():
            path.unlink()


# --- drawn frames -------------------------------------------------------------------------------


def _unique(path: Path, used: set[Path]) -> Path:
    candidate, n = path, 1
    while candidate in used:
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    used.add(candidate)
    return candidate


def drawn_targets(sequences: list[Sequence], out: Path, video_out: str) -> list[Path | None]:
    """Where each sequence's drawn frames go: a file (image, MP4) or a folder (images, PNG frames);
    None for a video when ``video_out`` is ``none``."""
    used: set[Path] = set()
    targets: list[Path | None] = []
    for s in sequences:
        if s.kind == "image":
            targets.append(_unique(out / f"{s.path.stem}.png", used))
        elif s.kind == "folder":
            targets.append(_unique(out / (s.path.resolve().name or "images"), used))
        elif video_out == "none":
            targets.append(None)
        else:
            targets.append(_unique(out / (f"{s.path.stem}.mp4" if video_out == "mp4" else s.path.stem), used))
    return targets


class VideoWriter:
    """An MP4 written frame by frame with PyAV; odd sizes are padded by one black pixel (yuv420p)."""

    def __init__(self, path: Path, fps: Fraction | None) -> None:
        self.av = import_av()
        self.path = path
        self.fps = Fraction(fps) if fps else Fraction(DEFAULT_FPS)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.container = self.av.open(str(path), "w")
        self.stream: Any = None

    def _open_stream(self, height: int, width: int) -> None:
        codec = next((c for c in VIDEO_CODECS if c in self.av.codecs_available), VIDEO_CODECS[-1])
        self.stream = self.container.add_stream(codec, rate=self.fps)
        self.stream.width, self.stream.height = width + width % 2, height + height % 2
        self.stream.pix_fmt = "yuv420p"

    def write(self, image: np.ndarray) -> None:
        if self.stream is None:
            self._open_stream(*image.shape[:2])
        padded = np.zeros((self.stream.height, self.stream.width, 3), dtype=np.uint8)
        padded[: image.shape[0], : image.shape[1]] = image
        frame = self.av.VideoFrame.from_ndarray(padded, format="rgb24")
        self.container.mux(self.stream.encode(frame))

    def close(self) -> None:
        if self.stream is not None:
            self.container.mux(self.stream.encode(None))
        self.container.close()


def _save_png(image: np.ndarray, path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def draw_sequence(
    sequence: Sequence, target: Path, lookup: Callable[[str, int], Any], update: Callable[[int], None]
) -> None:
    """Re-read the sequence's frames and write them with their arrows to ``target``."""
    writer = VideoWriter(target, video_info(sequence.path)["fps"]) if target.suffix == ".mp4" else None
    try:
        for frame in sequence.frames():
            found = lookup(frame.input, frame.index)
            image = frame.image if found is None else draw_gaze(frame.image, *found)
            if writer is not None:
                writer.write(image)
            elif sequence.kind == "image":
                _save_png(image, target)
            else:
                name = f"{frame.index:06d}.png" if sequence.kind == "video" else f"{Path(frame.input).stem}.png"
                _save_png(image, target / name)
            update(1)
    finally:
        if writer is not None:
            writer.close()


def draw_all(sequences: list[Sequence], targets: list[Path | None], pred: Predictions, progress: bool = True) -> None:
    """Every sequence's drawn frames, to its target (:func:`drawn_targets`; None: not drawn)."""
    from gazebench.core.progress import progress_bar
    from gazebench.predict.infer import total_frames

    index = {(p.input, p.frame): (p.box, pred.vector[i]) for i, p in enumerate(pred.located)}
    drawn = [s for s, t in zip(sequences, targets) if t is not None]
    with progress_bar(total_frames(drawn), "draw", progress, unit="frame") as update:
        for sequence, target in zip(sequences, targets):
            if target is not None:
                draw_sequence(sequence, target, lambda name, i: index.get((name, i)), update)
