"""``gallery``: the worst, median and best K test images of a run (by angular error), each with
its predicted and true gaze arrows -- the notes' "worst images, 50 % quantile images".

The images are the run's own test frames: the record's dataset (name, root, options) is opened
with :func:`gazebench.datasets.build_dataset` and each sample id is read resized to ``size``
(``--set root=DIR`` when the data has moved since the run).  The arrows follow the canonical
convention of :mod:`gazebench.predict.drawing` (its :func:`~gazebench.predict.drawing.arrow_tip`:
yaw > 0 to the image's left, pitch > 0 up), from the image centre: true gaze green, predicted
yellow as ``gazebench predict`` draws it.  Rows: worst (worst first), median (the K samples
around the median rank), best (best first); one PNG per run.
"""

from __future__ import annotations

import re
from typing import Any

from gazebench.analysis.base import Analysis, new_grid, register_kind
from gazebench.analysis.runs import GAZE, PRED
from gazebench.core.errors import UserValueError
from gazebench.core.options import Option, any_value, integer

OPTIONS = {
    "k": Option(4, integer(1), "images per row (worst, median, best)"),
    "size": Option(160, integer(32), "side of each image in pixels"),
    "root": Option(None, any_value("a folder"), "dataset root when it moved since the run (default: the record's)"),
}
GROUPS = ("worst", "median", "best")
TRUE_COLOUR = (60, 220, 90)


@register_kind(
    "gallery", "the worst, median and best K test images of each run with predicted and true gaze arrows", OPTIONS
)
def gallery(runs: list, options: dict[str, Any]) -> Analysis:
    import pandas as pd

    tables, figures, notes = [], [], []
    for run in runs:
        chosen = choose(run.predictions, options["k"])
        if chosen["id"].duplicated().any():
            notes.append(f"{run.name}: only {len(run.predictions)} test samples, so the rows share images")
        images = read_images(run, chosen["id"].tolist(), options)
        figures.append((f"gallery_{file_safe(run.name)}.png", grid_figure(run.name, chosen, images, options["k"])))
        tables.append(chosen.assign(run=run.name))
    table = pd.concat(tables, ignore_index=True)
    table = table[["run", *[c for c in table.columns if c != "run"]]]
    return Analysis(
        "gallery", f"Worst, median and best test images ({', '.join(r.name for r in runs)})", table, figures, notes
    )


def choose(pred: Any, k: int) -> Any:
    """The rows of the worst, median and best ``k`` samples by error (ties broken by id), with the
    true and predicted yaw and pitch in degrees."""
    import numpy as np
    import pandas as pd

    from gazebench.core.geometry import vector_to_yawpitch

    ranked = pred.sort_values(["error_deg", "id"], kind="stable").reset_index(drop=True)
    n = len(ranked)
    start = min(max(0, n // 2 - k // 2), max(0, n - k))
    picks = {"worst": ranked.index[::-1][:k], "median": ranked.index[start : start + k], "best": ranked.index[:k]}
    parts = []
    for group in GROUPS:
        rows = ranked.loc[picks[group], ["id", "subject", "error_deg", *GAZE, *PRED]].reset_index(drop=True)
        rows.insert(0, "rank", np.arange(1, len(rows) + 1))
        rows.insert(0, "group", group)
        rows["true_yaw"], rows["true_pitch"] = np.degrees(vector_to_yawpitch(rows[GAZE].to_numpy(float))).T
        rows["pred_yaw"], rows["pred_pitch"] = np.degrees(vector_to_yawpitch(rows[PRED].to_numpy(float))).T
        parts.append(rows)
    return pd.concat(parts, ignore_index=True)


def read_images(run: Any, ids: list[str], options: dict[str, Any]) -> dict[str, Any]:
    """``{id: uint8 [size, size, 3]}``: the run's dataset opened as the record names it."""
    from gazebench.datasets import build_dataset

    part = run.record.dataset
    root = options["root"] or part.root
    try:
        dataset = build_dataset(part.name, root, **part.options)
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"run {run.name}: its dataset is not where the record says ({exc}); --set root=DIR names where it is now"
        ) from None
    positions = {str(i): p for p, i in enumerate(dataset.index["id"].astype(str))}
    unknown = [i for i in ids if i not in positions]
    if unknown:
        raise UserValueError(f"run {run.name}: sample {unknown[0]!r} is not in dataset {part.name} at {dataset.root}")
    return {i: dataset.read_resized(positions[i], options["size"]) for i in dict.fromkeys(ids)}


def grid_figure(name: str, chosen: Any, images: dict[str, Any], k: int) -> Any:
    """Rows worst / median / best, ``k`` images each, with the two arrows and the error."""
    from gazebench.predict.drawing import ARROW_COLOUR

    fig, axes = new_grid(len(GROUPS), k, 2.0 * k + 0.6, 2.3 * len(GROUPS) + 0.6)
    for r, group in enumerate(GROUPS):
        rows = chosen[chosen["group"] == group].reset_index(drop=True)
        for c in range(k):
            ax = axes[r][c]
            ax.set_axis_off()
            if c >= len(rows):
                continue
            row = rows.loc[c]
            image = images[str(row["id"])]
            ax.imshow(image)
            for cols, colour in ((GAZE, TRUE_COLOUR), (PRED, ARROW_COLOUR)):
                draw_arrow(ax, image.shape[1], [row[x] for x in cols], colour)
            ax.set_title(f"{group} {c + 1}: {row['error_deg']:.1f}°\n{row['id']}", fontsize=7)
    fig.suptitle(f"{name}: worst, median and best test images (green: true gaze, yellow: predicted)", fontsize=9)
    return fig


def draw_arrow(ax: Any, size: int, vector: list[float], colour: tuple[int, int, int]) -> None:
    """The gaze arrow from the image centre, its tip placed by :func:`gazebench.predict.drawing.arrow_tip`."""
    from gazebench.predict.drawing import ARROW_SCALE, OUTLINE, arrow_tip

    centre = (size / 2.0, size / 2.0)
    tip = arrow_tip(centre, vector, ARROW_SCALE * size)
    rgb, edge = tuple(v / 255 for v in colour), tuple(v / 255 for v in OUTLINE)
    ax.annotate(
        "",
        xy=tip,
        xytext=centre,
        arrowprops={"arrowstyle": "-|>", "color": rgb, "lw": 2.0, "mutation_scale": 12, "path_effects": _outline(edge)},
    )
    ax.plot([centre[0]], [centre[1]], "o", color=rgb, markersize=3, markeredgecolor=edge)


def _outline(edge: tuple[float, float, float]) -> list:
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=3.5, foreground=edge)]


def file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "run"
