"""What every SynthGaze layout writer shares: render rows in worker processes, write their files,
describe the scene, and a target folder that appears whole or not at all.

A layout writer (``layout.py`` in a
dataset's folder, SynthGaze's own too) plans its files as tasks of rows -- one task per sequence, say --
each row with its outputs ``(glasses, zoom, relative path or None)``; :func:`render_all` renders
them in ``workers`` processes and writes the files, results collected in task order.  Output bytes
depend on the scene alone: JPEG/PNG encoding is deterministic and the tasks' order is fixed.
"""

from __future__ import annotations

import io
import json
import multiprocessing as mp
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from gazebench.core.errors import GazebenchError
from gazebench.core.progress import progress_bar
from gazebench.synth.render import render_row
from gazebench.synth.scene import GENERATOR_VERSION, Scene

JPEG_QUALITY = 95
SOURCE_FILE = "synthgaze_source.json"  # mapping back to SynthGaze ids, beside foreign layouts


class LayoutError(GazebenchError, ValueError):
    """A bad layout request (unknown layout, non-empty target, malformed splits)."""


# one output file of a frame: (glasses, zoom, relative path or None = return the pixels)
Output = tuple[bool, float, "str | None"]

_WORKER_SCENE: Scene | None = None


def _init_worker(scene: Scene) -> None:
    global _WORKER_SCENE
    _WORKER_SCENE = scene


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


def render_all(
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
    results: list[list[np.ndarray]] = []
    with progress_bar(total, f"SynthGaze: {label}", progress, unit="frame") as update:
        if workers <= 1 or len(tasks) <= 1:
            _init_worker(scene)
            try:
                for task in tasks:
                    results.append(_run_task(task))
                    update(len(task[1]))
            finally:
                _init_worker(None)  # type: ignore[arg-type]
        else:
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            ctx = mp.get_context(method)
            with ctx.Pool(min(workers, len(tasks)), initializer=_init_worker, initargs=(scene,)) as pool:
                for task, res in zip(tasks, pool.imap(_run_task, tasks, chunksize=1)):
                    results.append(res)
                    update(len(task[1]))
    return results


def sequence_tasks(frames: pd.DataFrame) -> list[list[int]]:
    """Row positions grouped by (subject, sequence), in scene order."""
    keys = list(zip(frames["subject"], frames["sequence"]))
    groups: dict[tuple[str, str], list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    return list(groups.values())


def write_json(path: Path, obj) -> None:
    """``obj`` as indented JSON (the layouts' ``synthgaze.json`` / ``synthgaze_source.json``)."""
    path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")


def scene_info(scene: Scene, layout: str) -> dict:
    """What every layout records about the scene it was rendered from (generator, preset, seed, counts)."""
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


def prepare_target(out: Path) -> Path:
    """A new temporary folder beside ``out`` to write into (``out`` must not exist or be empty);
    :func:`gazebench.synth.write_layout` renames it to ``out`` once the layout is complete."""
    if out.exists():
        if not out.is_dir():
            raise LayoutError(f"refusing to write SynthGaze data to {out}: it exists and is not a directory")
        if any(out.iterdir()):
            raise LayoutError(
                f"refusing to write SynthGaze data into non-empty directory {out}; remove it or choose another"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{out.name}.tmp-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    return tmp
