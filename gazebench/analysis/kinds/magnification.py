"""``magnification``: a trained model re-evaluated with its crops shrunk (the image magnified).

From the research notes (``research-notes.md``):

- *every crop*, lines 612-642 ("Detoriation in angular error with increase in magnification"):
  each crop ``c`` (px of 224) becomes ``⌊c·(224−δ)/224⌋`` for δ = 0, 10, …, 80 (the logged lists,
  e.g. 224,200,175,150 at δ = 80 -> 144,128,112,96, line 617; a static 175 crop -> 167 at δ = 10,
  line 677); SPEC §4.  A model without a crop has ``c = 224``.  (The notes' earlier sweep,
  lines 596-607, subtracted δ from each crop and is called incorrect there, line 597.)
- *one view at a time*, lines 90-97 ("OneInSequenceMagnification"): only the K-th image of the
  window of 7 is magnified, K = 1 … 7, the others kept; here view K's crop is shrunk by δ.
- *random views*, lines 81-88 ("RandomCenterCrop Magnification") and line 69 ("randomly pick few
  frames to magnify"): each view magnified with probability 0.5.  The engine gives one view to a
  whole batch, so each draw is one seeded choice of views for all samples; the mean over
  ``random`` draws estimates the per-sample version's mean error (``random=0``: off).

δ = 0 is the run's own view, so its error equals the run's recorded test error (a note says
when it does not: the checkpoint or the data changed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from gazebench.analysis.base import Analysis, label_axes, new_figure, numbers, register_kind
from gazebench.analysis.reevaluate import CROP_PX, DEVICE_OPTION, crop_px
from gazebench.core.options import Option, boolean, integer

DELTAS = list(range(0, 90, 10))
#: a δ = 0 error further than this from the run's recorded test mean (degrees) is reported
SAME_TOLERANCE = 1e-3


def magnify(crop: float, delta: int) -> float:
    """A relative crop shrunk by ``delta`` px of 224: ``c -> ⌊c·(224−δ)/224⌋`` in pixels."""
    if delta == 0:
        return crop
    return (crop_px(crop) * (CROP_PX - delta) // CROP_PX) / CROP_PX


def magnified(crops: Sequence[float], delta: int, mask: Sequence[bool] | None = None) -> tuple[float, ...]:
    """``crops`` with the views where ``mask`` is true (default: all) shrunk by ``delta``."""
    mask = [True] * len(crops) if mask is None else list(mask)
    return tuple(magnify(c, delta) if m else c for c, m in zip(crops, mask))


def random_masks(views: int, draws: int, seed: int) -> list[tuple[bool, ...]]:
    """``draws`` seeded choices of views, each view chosen with probability 0.5."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return [tuple(bool(x) for x in rng.random(views) < 0.5) for _ in range(draws)]


def variants(
    crops: Sequence[float], deltas: Sequence[int], single: bool, masks: Sequence[Sequence[bool]]
) -> list[dict[str, Any]]:
    """The crop lists to evaluate: every view at each δ; with ``single`` (and more than one view)
    view K alone (``view K``, 1-based as the notes' K); each random mask (``random``, ``draw``)."""
    out = [{"variant": "all", "delta": d, "crops": magnified(crops, d)} for d in deltas]
    if single and len(crops) > 1:
        for k in range(len(crops)):
            only = [i == k for i in range(len(crops))]
            out += [{"variant": f"view {k + 1}", "delta": d, "crops": magnified(crops, d, only)} for d in deltas]
    for draw, mask in enumerate(masks):
        out += [{"variant": "random", "draw": draw, "delta": d, "crops": magnified(crops, d, mask)} for d in deltas]
    return out


@register_kind(
    "magnification",
    "every crop shrunk by δ px of 224 (c -> ⌊c·(224−δ)/224⌋): error vs δ per run; also one view at a time",
    options={
        "deltas": Option(DELTAS, numbers(int, 0, CROP_PX - 1), "δ values in px of 224 (0, the run's own view, always)"),
        "single": Option(True, boolean(), "also magnify one view (crop or frame) at a time (the notes' OneInSequence)"),
        "random": Option(0, integer(0), "also magnify each view with probability 0.5: this many seeded draws (0: off)"),
        "seed": Option(0, integer(0), "seed of the random draws"),
        "device": DEVICE_OPTION,
    },
)
def magnification(runs: list, options: dict[str, Any]) -> Analysis:
    import pandas as pd

    from gazebench.analysis.reevaluate import base_crops, describe_crops, error_stats, reevaluators, used_device

    deltas = sorted(set(options["deltas"]) | {0})
    evaluators, notes = reevaluators(runs, options)
    rows = []
    for ev in evaluators:
        crops = base_crops(ev.view)
        masks = random_masks(len(crops), options["random"], options["seed"])
        for v in variants(crops, deltas, options["single"], masks):
            stats = error_stats(ev.predictions(v["crops"], f"δ={v['delta']} {v['variant']}"))
            rows.append(
                {
                    "run": ev.name,
                    "variant": v["variant"],
                    "draw": v.get("draw"),
                    "delta": v["delta"],
                    "crops_px": describe_crops(v["crops"]),
                    **stats,
                    "run_mean": ev.record.metrics["all"].mean,
                }
            )
    table = summarise(pd.DataFrame(rows))
    notes += same_at_zero(table)
    figures = [("magnification.png", sweep_figure(table))]
    figures += [
        (f"magnification-single-{_slug(run)}.png", single_figure(table, run))
        for run in table["run"].unique()
        if table[table["run"] == run]["variant"].str.startswith("view").any()
    ]
    return Analysis(
        "magnification",
        "Error vs magnification (every crop shrunk by δ px of 224)",
        table,
        figures,
        notes,
        device=used_device(evaluators),
    )


def summarise(rows: Any) -> Any:
    """One row per run, variant and δ (random draws averaged: ``draws`` says how many) with the
    change from the run's δ = 0 error."""
    keys = ["run", "variant", "delta"]
    draws = rows.groupby(keys, sort=False)["draw"].count().rename("draws")
    first = rows.groupby(keys, sort=False).agg({"crops_px": "first", "n": "first", "run_mean": "first"})
    means = rows.groupby(keys, sort=False)[["mean", "median", "p90"]].mean()
    table = first.join(means).join(draws).reset_index()
    table.loc[table["variant"] == "random", "crops_px"] = "each view with p=0.5"
    zero = table[table["delta"] == 0].set_index(["run", "variant"])["mean"]
    table["change"] = table["mean"] - [zero.get((r, v), math.nan) for r, v in zip(table["run"], table["variant"])]
    columns = ["run", "variant", "delta", "crops_px", "mean", "median", "p90", "change", "n", "draws", "run_mean"]
    return table[columns]


def same_at_zero(table: Any) -> list[str]:
    """Whether δ = 0 reproduced each run's recorded test error."""
    zero = table[(table["variant"] == "all") & (table["delta"] == 0)]
    off = zero[(zero["mean"] - zero["run_mean"]).abs() > SAME_TOLERANCE]
    notes = [
        f"{r.run}: δ = 0 gives {r.mean:.4f} deg but the run recorded {r.run_mean:.4f} deg (its checkpoint "
        "or data changed since)"
        for r in off.itertuples()
    ]
    if off.empty:
        notes.append("δ = 0 reproduces every run's recorded test error (re-evaluated from its checkpoint).")
    return notes


def sweep_figure(table: Any) -> Any:
    """Mean error vs δ: one line per run (every crop), dashed where views were drawn at random."""
    fig, ax = new_figure(7.0, 4.5)
    for (run, variant), part in table[table["variant"].isin(["all", "random"])].groupby(["run", "variant"], sort=False):
        style = "-o" if variant == "all" else "--x"
        ax.plot(part["delta"], part["mean"], style, label=run if variant == "all" else f"{run} (random views)")
    label_axes(
        ax,
        "δ (px of 224 removed from every crop)",
        "mean angular error (deg)",
        "Magnification: every crop c -> ⌊c·(224−δ)/224⌋",
    )
    return fig


def single_figure(table: Any, run: str) -> Any:
    """One run: mean error vs δ with only view K magnified, one line per K, and every view dashed."""
    fig, ax = new_figure(7.0, 4.5)
    part = table[table["run"] == run]
    for variant, rows in part.groupby("variant", sort=False):
        if variant == "random":
            continue
        ax.plot(rows["delta"], rows["mean"], "k--" if variant == "all" else "-o", label=variant, markersize=3)
    ax.set_xlabel("δ (px of 224 removed from the magnified crops)")
    ax.set_ylabel("mean angular error (deg)")
    ax.set_title(f"{run}: one view magnified at a time")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", ncol=2)
    return fig


def _slug(name: str) -> str:
    from gazebench.plan.planning import folder_name

    return folder_name(name)
