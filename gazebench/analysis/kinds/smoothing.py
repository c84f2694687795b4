"""``smoothing``: a static model's predictions averaged along each sequence, and what that does
to the error (the notes: "predictions are smoother in LSTM ... smoothen the static model
predictions. It works").

For each window K (odd; default 1, 3, 5, 7, 9) the predicted gaze vectors of each sequence are
replaced by their centred rolling mean over K consecutive test samples of that sequence (fewer at
the sequence's ends), renormalised to unit length, and the angular error to the true gaze is
recomputed.  K = 1 is the run's own predictions.  Sequences never mix: a sequence is the
predictions file's (``subject``, ``sequence``) and its samples follow ``order``; a file written
before those columns existed falls back to one sequence per subject in the file's order, and the
notes say so.  Neighbours are consecutive *test samples*: where a dataset labels only some frames
of a sequence, the window spans the labelled ones, whatever their distance in time.
"""

from __future__ import annotations

from typing import Any

from gazebench.analysis.base import Analysis, label_axes, new_figure, numbers, register_kind
from gazebench.analysis.runs import GAZE, PRED
from gazebench.core.options import Option, OptionValueError


def odd_windows(value: Any) -> list[int]:
    """Window sizes: odd integers >= 1 (a centred window has as many samples before as after)."""
    windows = numbers(int, 1)(value)
    if any(k % 2 == 0 for k in windows):
        raise OptionValueError("must be odd integers >= 1 (a centred window), e.g. 1,3,5")
    return windows


odd_windows.describe = "odd integers >= 1, e.g. 1,3,5"  # type: ignore[attr-defined]
OPTIONS = {"windows": Option([1, 3, 5, 7, 9], odd_windows, "rolling-mean windows K (odd: centred)")}


@register_kind(
    "smoothing", "rolling mean of the predictions along each sequence (window K) and its effect on error", OPTIONS
)
def smoothing(runs: list, options: dict[str, Any]) -> Analysis:
    import pandas as pd

    rows, notes = [], []
    for run in runs:
        pred, how = in_sequence_order(run.predictions)
        notes += [f"{run.name}: {how}"] if how else []
        view = run.record.model.view or ""
        if view and not view.startswith("1 frame"):
            notes.append(f"{run.name}: its model already sees {view}; smoothing adds to that")
        rows += run_rows(run.name, pred, options["windows"])
    table = pd.DataFrame(rows)
    figure = error_figure(table)
    return Analysis(
        "smoothing",
        f"Temporal smoothing of predictions ({', '.join(r.name for r in runs)})",
        table,
        [("smoothing.png", figure)],
        notes,
    )


def run_rows(name: str, pred: Any, windows: list[int]) -> list[dict[str, Any]]:
    """One row per window: n, sequences, mean and median error, and the change of the mean from K = 1."""
    import numpy as np

    sequences = int(pred.groupby(["subject", "sequence"]).ngroups)
    own = float(smoothed_error(pred, 1).mean())
    rows = []
    for k in windows:
        err = smoothed_error(pred, k)
        rows.append(
            {
                "run": name,
                "K": k,
                "n": len(err),
                "sequences": sequences,
                "mean": float(err.mean()),
                "median": float(np.median(err)),
                "change_vs_K1": float(err.mean()) - own,
            }
        )
    return rows


def in_sequence_order(pred: Any) -> tuple[Any, str | None]:
    """The predictions sorted by (subject, sequence, order), and a note when the file has no
    sequence columns (then: one sequence per subject, in the file's order)."""
    pred = pred.reset_index(drop=True)
    note = None
    if "sequence" not in pred.columns or "order" not in pred.columns:
        note = (
            "its predictions file has no sequence/order columns (written by an older gazebench): each "
            "subject's samples are taken as one sequence, in the file's order"
        )
        pred = pred.assign(sequence=pred["subject"].astype(str), order=range(len(pred)))
    pred = pred.assign(_row=range(len(pred)))
    ordered = pred.sort_values(["subject", "sequence", "order", "_row"], kind="stable")
    return ordered.drop(columns="_row").reset_index(drop=True), note


def smoothed_vectors(pred: Any, k: int) -> Any:
    """The centred rolling mean of the predicted vectors over ``k`` samples within each sequence
    (``pred`` in sequence order), renormalised: ``[N, 3]`` in ``pred``'s row order."""
    from gazebench.core.geometry import normalize

    vectors = pred[PRED].astype(float)
    groups = [pred["subject"].astype(str), pred["sequence"].astype(str)]
    rolled = vectors.groupby(groups, sort=False).transform(lambda s: s.rolling(k, center=True, min_periods=1).mean())
    return normalize(rolled.to_numpy(float))


def smoothed_error(pred: Any, k: int) -> Any:
    from gazebench.core.geometry import angular_error_deg

    return angular_error_deg(smoothed_vectors(pred, k), pred[GAZE].to_numpy(float))


def error_figure(table: Any) -> Any:
    fig, ax = new_figure()
    for name, rows in table.groupby("run", sort=False):
        ax.plot(rows["K"], rows["mean"], marker="o", label=name)
    label_axes(
        ax,
        "window K (samples, centred)",
        "mean angular error (°)",
        "rolling mean of the predictions along each sequence",
    )
    return fig
