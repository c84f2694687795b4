"""``uncertainty``: does the predicted spread σ say which predictions are bad?

Per run: the Pearson and Spearman correlations of σ with the angular error (scipy), the mean
error after dropping the k % most uncertain samples (highest σ; k = 0, 10, ..., 50 by default:
round(n·k/100) samples dropped, ties broken by file order), and a reliability plot: the samples
cut into equal-count bins of σ, each bin's mean σ against its mean error.

A run whose predictions carry no σ (NaN: its model predicts none) or whose loss did not train σ
(the record's ``model.sigma_trained`` is false: the head's σ output is then arbitrary) is listed
with the reason and left out of the plots.
"""

from __future__ import annotations

from typing import Any

from gazebench.analysis.base import Analysis, label_axes, new_figure, numbers, register_kind
from gazebench.core.options import Option, integer

OPTIONS = {
    "drop": Option([0, 10, 20, 30, 40, 50], numbers(int, 0, 99), "percentages of the most uncertain samples dropped"),
    "bins": Option(10, integer(2), "equal-count σ bins of the reliability plot"),
}


@register_kind(
    "uncertainty",
    "σ against error: Pearson, Spearman, a reliability plot and the error after dropping the most uncertain k %",
    OPTIONS,
)
def uncertainty(runs: list, options: dict[str, Any]) -> Analysis:
    import pandas as pd

    rows, curves, notes = [], {}, []
    for run in runs:
        why = no_sigma(run)
        if why:
            notes.append(f"{run.name}: {why}; not analysed")
            rows.append({"run": run.name, "n": len(run.predictions), "status": why})
            continue
        sigma, error = run.predictions["sigma"].to_numpy(float), run.predictions["error_deg"].to_numpy(float)
        row = {"run": run.name, "n": len(error), "status": "ok", **correlations(sigma, error)}
        row.update({f"error_drop_{k}": v for k, v in dropped_means(sigma, error, options["drop"]).items()})
        rows.append(row)
        curves[run.name] = reliability(sigma, error, options["bins"])
    figures = []
    if curves:
        figures = [
            ("reliability.png", reliability_figure(curves)),
            ("drop.png", drop_figure([r for r in rows if r["status"] == "ok"], options["drop"])),
        ]
    else:
        notes.append("no run has a trained σ: no plots")
    title = f"Uncertainty σ against angular error ({', '.join(r.name for r in runs)})"
    return Analysis("uncertainty", title, pd.DataFrame(rows), figures, notes)


def no_sigma(run: Any) -> str | None:
    """Why a run has no σ to analyse, or None."""
    import numpy as np

    if run.record.model.sigma_trained is False:
        return f"its loss ({run.record.model.loss}) does not train σ"
    sigma = run.predictions["sigma"].to_numpy(float)
    if not np.isfinite(sigma).all():
        return "its model predicts no σ (NaN)" if not np.isfinite(sigma).any() else "σ is NaN for some samples"
    if len(sigma) < 3 or np.std(sigma) == 0:
        return "σ is constant (or fewer than 3 samples)"
    return None


def correlations(sigma: Any, error: Any) -> dict[str, float]:
    from scipy.stats import pearsonr, spearmanr

    pearson, spearman = pearsonr(sigma, error), spearmanr(sigma, error)
    return {
        "pearson": float(pearson.statistic),
        "pearson_p": float(pearson.pvalue),
        "spearman": float(spearman.statistic),
        "spearman_p": float(spearman.pvalue),
    }


def dropped_means(sigma: Any, error: Any, percents: list[int]) -> dict[int, float]:
    """The mean error of the samples kept after dropping the ``k`` % with the highest σ."""
    import numpy as np

    order = np.argsort(-sigma, kind="stable")  # most uncertain first
    n = len(error)
    return {k: float(error[order[int(round(n * k / 100)) :]].mean()) for k in percents}


def reliability(sigma: Any, error: Any, bins: int) -> tuple[Any, Any]:
    """Equal-count σ bins (as equal as n allows): each bin's mean σ and mean error."""
    import numpy as np

    order = np.argsort(sigma, kind="stable")
    parts = [p for p in np.array_split(order, min(bins, len(order))) if len(p)]
    return np.array([sigma[p].mean() for p in parts]), np.array([error[p].mean() for p in parts])


def reliability_figure(curves: dict[str, tuple[Any, Any]]) -> Any:
    fig, ax = new_figure()
    for name, (s, e) in curves.items():
        ax.plot(s, e, marker="o", label=name)
    label_axes(
        ax,
        "mean σ in the bin (as the model outputs it)",
        "mean angular error (°)",
        "reliability: equal-count bins of σ",
    )
    return fig


def drop_figure(rows: list[dict[str, Any]], percents: list[int]) -> Any:
    fig, ax = new_figure()
    for row in rows:
        ax.plot(percents, [row[f"error_drop_{k}"] for k in percents], marker="o", label=row["run"])
    label_axes(ax, "most uncertain samples dropped (%)", "mean angular error of the rest (°)")
    return fig
