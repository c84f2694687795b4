"""Write a SynthGaze scene to disk: in its own layout, or in the on-disk layout of any registered
dataset that provides a writer, so that its adapter is exercised on real files.

The layouts are found through the dataset registry: a dataset's adapter names its writer in
``layout_writer`` (``"module:function"``; the built-ins keep theirs in
``gazebench/datasets/<name>/layout.py``, SynthGaze's own is :func:`write_synthgaze` below), and
further layouts of the same adapter in ``layout_writers`` (layout name -> ``"module:function"``,
e.g. Gaze360's ``{"gaze360-gazehub": ...}``: GazeHub's preprocessing of the same data).  A
writer is called as ``writer(scene, root, workers=..., progress=..., **options)`` on an empty
temporary folder, which :func:`write_layout` renames into place when the writer returns, so a
layout that exists is whole.  Output bytes depend on the scene alone (see
:mod:`gazebench.synth.output`).
"""

from __future__ import annotations

import importlib
import inspect
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from gazebench.synth.output import JPEG_QUALITY, LayoutError, prepare_target, render_all, scene_info, sequence_tasks, write_json
from gazebench.synth.scene import HEAD_FRACTION, Scene

LABEL_COLUMNS = (
    "id", "subject", "sequence", "frame", "path",
    "gaze_x", "gaze_y", "gaze_z", "head_yaw", "head_pitch", "head_roll",
    "distance", "glasses", "timestamp",
)  # fmt: skip


def _references() -> dict[str, str]:
    """Layout name -> ``"module:function"``: each registered dataset's ``layout_writer`` under the
    dataset's name, then its ``layout_writers`` (built-ins and plugins loaded)."""
    import gazebench.datasets  # noqa: F401  (the built-ins register)
    from gazebench.registry import DATASETS

    out: dict[str, str] = {}
    for entry in DATASETS:
        if getattr(entry.obj, "layout_writer", None):
            out[entry.name] = entry.obj.layout_writer
        out.update(entry.obj.layout_writers)
    return out


def layout_names() -> list[str]:
    """The layouts SynthGaze can write: the registered datasets whose adapter names a writer, and
    their further layouts (``gaze360-gazehub``, ...)."""
    return list(_references())


def layout_writer(layout: str) -> Callable[..., None]:
    """The writer of ``layout`` (a dataset name, or a further layout an adapter names), imported
    from its ``"module:function"`` reference."""
    reference = _references().get(layout)
    if not reference:
        raise LayoutError(f"unknown SynthGaze layout {layout!r}; choose one of {', '.join(layout_names())}")
    module, _, name = reference.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise LayoutError(f"dataset {layout!r} names the layout writer {reference!r}, which cannot be loaded: {exc}") from exc


def layout_options(layout: str) -> list[str]:
    """Keyword options the writer of ``layout`` takes beyond ``workers`` and ``progress`` (e.g. ``splits``)."""
    params = list(inspect.signature(layout_writer(layout)).parameters)[2:]
    return [p for p in params if p not in ("workers", "progress")]


def write_layout(
    scene: Scene,
    out: "str | os.PathLike[str]",
    layout: str = "synthgaze",
    workers: int = 2,
    progress: bool = True,
    **options: Any,
) -> Path:
    """Render ``scene`` and write it to ``out`` in ``layout`` (see :func:`layout_names`); returns ``out``.

    ``out`` must not exist or be an empty directory.  ``options`` go to the layout's writer, e.g.
    ``splits`` for Gaze360 (``test`` / ``val`` / optionally ``train`` -> subject ids; by default
    :func:`gazebench.datasets.gaze360.layout.default_splits`)."""
    writer = layout_writer(layout)
    accepted = layout_options(layout)
    unknown = [key for key in options if key not in accepted]
    if unknown:
        raise LayoutError(f"{', '.join(unknown)} does not apply to the {layout} layout "
                          f"(its options: {', '.join(accepted) or 'none'})")
    out = Path(out)
    tmp = prepare_target(out)
    try:
        writer(scene, tmp, workers=workers, progress=progress, **options)
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


def write_synthgaze(scene: Scene, root: Path, workers: int = 2, progress: bool = True) -> None:
    """SynthGaze's own layout: ``labels.csv``, ``synthgaze.json`` and the ``images/`` (glasses on for
    wearers) and ``inpainted/`` (no glasses) JPEGs, one folder per subject and sequence."""
    f = scene.frames
    rel = [f"{s}/{q}/{int(i):04d}.jpg" for s, q, i in zip(f["subject"], f["sequence"], f["frame"])]
    plan = []
    for rows in sequence_tasks(f):
        plan.append((rows, [[(True, 1.0, "images/" + rel[r]), (False, 1.0, "inpainted/" + rel[r])] for r in rows]))
    render_all(scene, root, plan, workers, progress, "synthgaze layout")

    labels = pd.DataFrame({"id": f["id"], "subject": f["subject"], "sequence": f["sequence"], "frame": f["frame"]})
    labels["path"] = ["images/" + p for p in rel]
    for col in ("gaze_x", "gaze_y", "gaze_z", "head_yaw", "head_pitch", "head_roll", "distance"):
        labels[col] = _fmt_float(f[col])
    labels["glasses"] = np.where(f["glasses"].to_numpy(bool), "True", "False")
    labels["timestamp"] = _fmt_float(f["timestamp"], "%.6f")
    labels[list(LABEL_COLUMNS)].to_csv(root / "labels.csv", index=False, lineterminator="\n")

    info = scene_info(scene, "synthgaze")
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
    write_json(root / "synthgaze.json", info)
