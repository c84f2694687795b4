"""``oracle``: one static model at several crop sizes, and the best crop picked per sample.

From the research notes (``research-notes.md``), lines 110-120 ("Theoretically best performance
from multiple Normal Magnifications on static model"): the model is evaluated at each crop size
(lines 99-108: "Normal Magnification on static model", Resize(224) -> CenterCrop(c) -> Resize(224),
line 73), and "for each instance, we pick the best crop size", i.e. the per-sample minimum error
over a set of crops, for nested sets that grow from the full image down: {224}, {210, 224}, …,
{100, …, 224} (the notes' sets, lines 114-120, with their 225 read as the full 224 image; SPEC §4).
The notes call it the "better than random" experiment on RT-GENE (line 850).  It is an oracle: it
needs the labels to choose, so it bounds what choosing a crop per image could gain.

The crop replaces the model's own (a static model trained on 175 px crops is evaluated at each
size of the list); only single-view models qualify.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gazebench.analysis.base import Analysis, label_axes, new_figure, numbers, register_kind
from gazebench.analysis.reevaluate import CROP_PX, DEVICE_OPTION
from gazebench.core.options import Option

CROPS = [224, 210, 200, 175, 150, 125, 100]


def nested_sets(crops: Sequence[int]) -> list[tuple[int, ...]]:
    """``{224}, {210, 224}, …``: the crops from the largest down, each set adding the next smaller."""
    ordered = sorted(set(crops), reverse=True)
    return [tuple(ordered[: k + 1]) for k in range(len(ordered))]


def oracle_errors(errors: Mapping[int, Any], crops: Sequence[int]) -> Any:
    """Per-sample minimum error over ``crops`` (``errors``: crop -> per-sample errors, aligned)."""
    import numpy as np

    return np.min(np.stack([np.asarray(errors[c], dtype=float) for c in crops]), axis=0)


def oracle_rows(errors: Mapping[int, Any], crops: Sequence[int]) -> list[dict[str, Any]]:
    """One row per nested set: the crop it adds and that crop's mean error alone, the best single
    crop of the set, the oracle's mean and median, and what the oracle gains over the best crop."""
    import numpy as np

    rows = []
    for chosen in nested_sets(crops):
        best = oracle_errors(errors, chosen)
        single = {c: float(np.mean(errors[c])) for c in chosen}
        best_crop = min(single, key=single.get)
        rows.append(
            {
                "crops": "{" + ",".join(map(str, sorted(chosen))) + "}",
                "size": len(chosen),
                "added": chosen[-1],
                "added_mean": single[chosen[-1]],
                "best_single": best_crop,
                "best_single_mean": single[best_crop],
                "oracle_mean": float(np.mean(best)),
                "oracle_median": float(np.median(best)),
                "gain": single[best_crop] - float(np.mean(best)),
                "n": int(len(best)),
            }
        )
    return rows


def choice_shares(errors: Mapping[int, Any], crops: Sequence[int]) -> dict[int, float]:
    """How often each crop is the oracle's pick over all of ``crops`` (ties: the larger crop)."""
    import numpy as np

    ordered = sorted(set(crops), reverse=True)
    picks = np.argmin(np.stack([np.asarray(errors[c], dtype=float) for c in ordered]), axis=0)
    return {c: float(np.mean(picks == i)) for i, c in enumerate(ordered)}


def _single_view(ev: Any) -> str | None:
    views = ev.view.num_views
    return None if views == 1 else f"the oracle needs a single-view (static) model; it has {views} views"


@register_kind(
    "oracle",
    "one static model at several crop sizes; the per-sample best crop over nested crop sets",
    options={
        "crops": Option(CROPS, numbers(int, 1, CROP_PX), "crop sizes in px of 224; the sets grow from the largest"),
        "device": DEVICE_OPTION,
    },
)
def oracle(runs: list, options: dict[str, Any]) -> Analysis:
    import pandas as pd

    from gazebench.analysis.reevaluate import px_crops, reevaluators, used_device

    crops = sorted(set(options["crops"]), reverse=True)
    evaluators, notes = reevaluators(runs, options, _single_view)
    rows, shares = [], []
    for ev in evaluators:
        errors = aligned_errors({c: ev.predictions(px_crops([c]), f"crop {c}") for c in crops})
        rows += [{"run": ev.name, **row} for row in oracle_rows(errors, crops)]
        shares += [{"run": ev.name, "crop": c, "share": s} for c, s in choice_shares(errors, crops).items()]
    table = pd.DataFrame(rows)
    figures = [("oracle.png", oracle_figure(table)), ("oracle-choice.png", choice_figure(pd.DataFrame(shares)))]
    notes.append("The oracle picks each sample's best crop knowing its label: a bound, not a method.")
    return Analysis(
        "oracle",
        "Crop oracle: the best crop per sample over nested crop sets",
        table,
        figures,
        notes,
        device=used_device(evaluators),
    )


def aligned_errors(predictions: Mapping[int, Any]) -> dict[int, Any]:
    """Per-crop error arrays in the order of the first crop's sample ids."""
    first = next(iter(predictions.values()))
    ids = first["id"]
    return {c: df.set_index("id")["error_deg"].reindex(ids).to_numpy() for c, df in predictions.items()}


def oracle_figure(table: Any) -> Any:
    """Per run: the error of each crop alone and of the oracle over the set down to that crop."""
    fig, ax = new_figure(7.0, 4.5)
    for run, part in table.groupby("run", sort=False):
        (line,) = ax.plot(part["added"], part["oracle_mean"], "-o", label=f"{run}: oracle over {{c, …, 224}}")
        ax.plot(part["added"], part["added_mean"], "--x", color=line.get_color(), label=f"{run}: crop c alone")
    ax.invert_xaxis()
    label_axes(ax, "crop c (px of 224)", "mean angular error (deg)", "Crop oracle: per-sample best crop vs one crop")
    return fig


def choice_figure(shares: Any) -> Any:
    """How often each crop is the best one for a sample, per run."""
    fig, ax = new_figure(7.0, 4.0)
    runs = list(dict.fromkeys(shares["run"]))
    crops = sorted(shares["crop"].unique(), reverse=True)
    width = 0.8 / max(len(runs), 1)
    for i, run in enumerate(runs):
        part = shares[shares["run"] == run].set_index("crop").reindex(crops)
        ax.bar([j + i * width for j in range(len(crops))], part["share"], width, label=run)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(crops))], [str(c) for c in crops])
    ax.set_xlabel("crop (px of 224)")
    ax.set_ylabel("share of samples where it is best")
    ax.set_title("The oracle's pick")
    ax.legend(fontsize="small")
    return fig
