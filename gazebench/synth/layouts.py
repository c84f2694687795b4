"""Write a SynthGaze scene to disk: in its own layout, or in the on-disk layout of any registered
dataset that provides a writer, so that its adapter is exercised on real files.

The layouts are found through the dataset registry: a dataset's adapter names its writer in
``layout_writer`` (``"module:function"``; the built-ins keep theirs in
``gazebench/datasets/<name>/layout.py``, SynthGaze's own too), and
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gazebench.synth.output import LayoutError, prepare_target
from gazebench.synth.scene import Scene


def _references() -> dict[str, str]:
    """Layout name -> ``"module:function"``: each registered dataset's ``layout_writer`` under the
    dataset's name, then its ``layout_writers`` (built-ins and plugins loaded)."""
    import gazebench.datasets  # noqa: F401  (the built-ins register)
    from gazebench.core.registry import DATASETS

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
        raise LayoutError(
            f"dataset {layout!r} names the layout writer {reference!r}, which cannot be loaded: {exc}"
        ) from exc


def layout_options(layout: str) -> list[str]:
    """Keyword options the writer of ``layout`` takes beyond ``workers`` and ``progress`` (e.g. ``splits``)."""
    params = list(inspect.signature(layout_writer(layout)).parameters)[2:]
    return [p for p in params if p not in ("workers", "progress")]


def write_layout(
    scene: Scene,
    out: str | os.PathLike[str],
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
        raise LayoutError(
            f"{', '.join(unknown)} does not apply to the {layout} layout (its options: {', '.join(accepted) or 'none'})"
        )
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
