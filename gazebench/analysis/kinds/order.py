"""``order``: a multi-view (LSTM) model re-evaluated with its crops in other orders and sizes.

The research notes (``research-notes.md``, lines 136-154, "Magnification Analysis of LSTM model
with differential cropping") evaluated the multi-zoom LSTM trained on 224,200,175,150,175,200,224
with other crop lists, "a" to "n" (:data:`NOTES_LISTS`: the lists as written, each with its line
and the Gaze360 validation error the notes got); "m" and "n" reorder the crops (line 149,
"Reordered cropping"), and the notes conclude that the order matters (lines 152-154).  Generic
ablations for any multi-view model: the same crop everywhere (each crop of the model's list:
the notes' b-e), the list reversed (the notes' "reversing", lines 159 and 181) and shuffled
(seeded).  The notes' lists apply to models with 7 views.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from gazebench.analysis.base import Analysis, new_figure, register_kind
from gazebench.analysis.reevaluate import DEVICE_OPTION
from gazebench.core.options import Option, boolean, integer


class NotesList(NamedTuple):
    """One crop list of the notes: the crops (px of 224), its line in research-notes.md and the
    mean validation error (degrees, Gaze360) the notes report for it."""

    crops: tuple[int, ...]
    line: int
    notes_error: float


#: research-notes.md lines 138-151 (the notes have no list "h")
NOTES_LISTS: dict[str, NotesList] = {
    "a": NotesList((224, 200, 175, 150, 175, 200, 224), 138, 12.06),  # the training list
    "b": NotesList((224,) * 7, 139, 14.53),
    "c": NotesList((200,) * 7, 140, 12.6139),
    "d": NotesList((175,) * 7, 141, 12.36),
    "e": NotesList((150,) * 7, 142, 13.21),
    "f": NotesList((200, 200, 175, 150, 175, 200, 200), 143, 12.12),
    "g": NotesList((224, 224, 175, 150, 175, 224, 224), 144, 12.20),
    "i": NotesList((224, 175, 175, 150, 175, 175, 224), 145, 12.10),
    "j": NotesList((224, 200, 150, 150, 150, 200, 224), 146, 12.11),
    "k": NotesList((224, 200, 200, 150, 200, 200, 224), 147, 12.29),
    "l": NotesList((224, 200, 175, 175, 175, 200, 224), 148, 12.13),
    "m": NotesList((175, 200, 224, 150, 224, 200, 175), 150, 12.66),  # reordered
    "n": NotesList((224, 200, 175, 150, 224, 200, 175), 151, 12.31),  # reordered
}


def shuffled(crops: Sequence[float], seed: int) -> tuple[float, ...]:
    """``crops`` in a seeded random order (numpy's default_rng(seed) permutation)."""
    import numpy as np

    order = np.random.default_rng(seed).permutation(len(crops))
    return tuple(crops[i] for i in order)


def order_variants(crops: Sequence[float], shuffles: int, seed: int, notes_lists: bool) -> list[dict[str, Any]]:
    """The crop lists to evaluate: ``own``, ``same <c>`` for each crop of the list, ``reversed``,
    ``shuffled <i>`` (seed + i), and the notes' lists when the model has as many views."""
    from gazebench.analysis.reevaluate import crop_px, px_crops

    crops = tuple(crops)
    out = [{"variant": "own", "source": "the run's crops", "crops": crops}]
    for c in sorted(set(crops), reverse=True):
        out.append({"variant": f"same {crop_px(c)}", "source": "one crop everywhere", "crops": (c,) * len(crops)})
    symmetric = " (the same list: it is symmetric)" if crops[::-1] == crops else ""
    out.append({"variant": "reversed", "source": "the run's crops reversed" + symmetric, "crops": crops[::-1]})
    for i in range(shuffles):
        out.append(
            {
                "variant": f"shuffled {i + 1}",
                "source": f"the run's crops shuffled (seed {seed + i})",
                "crops": shuffled(crops, seed + i),
            }
        )
    if notes_lists:
        for name, listed in NOTES_LISTS.items():
            if len(listed.crops) == len(crops):
                out.append(
                    {
                        "variant": f"notes {name}",
                        "source": f"research-notes.md line {listed.line}",
                        "crops": px_crops(listed.crops),
                        "notes_error": listed.notes_error,
                    }
                )
    return out


def _several_views(ev: Any) -> str | None:
    views = ev.view.num_views
    return None if views > 1 else "crop order needs a model with several views (zoom crops or frames); it has 1"


@register_kind(
    "order",
    "crop-order ablations of multi-view (LSTM) models: one crop everywhere, reversed, shuffled, the notes' lists a-n",
    options={
        "shuffles": Option(3, integer(0), "seeded shuffles of the run's crop list"),
        "seed": Option(0, integer(0), "seed of the first shuffle (the i-th uses seed + i)"),
        "notes_lists": Option(True, boolean(), "also the research notes' crop lists a-n (models with 7 views)"),
        "device": DEVICE_OPTION,
    },
)
def order(runs: list, options: dict[str, Any]) -> Analysis:
    import pandas as pd

    from gazebench.analysis.reevaluate import base_crops, describe_crops, error_stats, reevaluators, used_device

    evaluators, notes = reevaluators(runs, options, _several_views)
    rows = []
    for ev in evaluators:
        for v in order_variants(base_crops(ev.view), options["shuffles"], options["seed"], options["notes_lists"]):
            stats = error_stats(ev.predictions(v["crops"], v["variant"]))
            rows.append(
                {
                    "run": ev.name,
                    "variant": v["variant"],
                    "source": v["source"],
                    "crops_px": describe_crops(v["crops"]),
                    **stats,
                    "notes_error": v.get("notes_error"),
                }
            )
    table = pd.DataFrame(rows)
    own = table[table["variant"] == "own"].set_index("run")["mean"]
    table.insert(table.columns.get_loc("n"), "vs_own", table["mean"] - table["run"].map(own))
    if table["notes_error"].notna().any():
        notes.append(
            "notes_error: the notes' Gaze360 validation error for that list (their multi-zoom LSTM), "
            "for reference; it is not this run's number."
        )
    elif options["notes_lists"]:
        notes.append("the notes' lists a-n have 7 crops; no run here has 7 views")
    return Analysis(
        "order",
        "Crop order: the same model with its crops in other orders and sizes",
        table,
        [("order.png", order_figure(table))],
        notes,
        device=used_device(evaluators),
    )


def order_figure(table: Any) -> Any:
    """Mean error of each crop list (rows), one marker per run; the own list's error as a line."""
    variants = list(dict.fromkeys(table["variant"]))
    fig, ax = new_figure(7.0, max(3.0, 0.32 * len(variants) + 1.2))
    for run, part in table.groupby("run", sort=False):
        part = part.set_index("variant").reindex(variants)
        dots = ax.plot(part["mean"], range(len(variants)), "o", label=run)
        ax.axvline(part.loc["own", "mean"], color=dots[0].get_color(), alpha=0.4, linestyle="--")
    ax.set_yticks(
        range(len(variants)), [f"{v}  [{c}]" for v, c in zip(variants, _crops_of(table, variants))], fontsize="x-small"
    )
    ax.invert_yaxis()
    ax.set_xlabel("mean angular error (deg); dashed: the run's own crop list")
    ax.set_title("Crop order and size ablations")
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize="small")
    return fig


def _crops_of(table: Any, variants: list[str]) -> list[str]:
    first = table.drop_duplicates("variant").set_index("variant")["crops_px"]
    return [first[v] if table[table["variant"] == v]["crops_px"].nunique() == 1 else "per run" for v in variants]
