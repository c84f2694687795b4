"""``bins``: angular error by bins of the true gaze's yaw (the full circle) and pitch, front vs
back, and per subject; for exactly two runs on one test population, the paired difference per bin.

Every sample falls in exactly one bin of each axis, so each axis's counts add up to the run's
samples.  Bins are ``[low, high)`` from -180° (yaw) and -90° (pitch) in steps of the bin width,
the last one closed (yaw = 180° and pitch = 90° belong to it); an empty bin stays in the table
with n = 0.  Front/back are the Gaze360 subsets (``front180``: g_z <= 0, ``back``: g_z > 0).

The difference A - B of two runs is taken per sample (joined by sample id) and its 95% interval
is a seeded percentile bootstrap (:func:`gazebench.compare.bootstrap_ci`) that resamples whole
subjects by default -- frames of one person are correlated -- or single samples.  Two runs tested
on different populations are refused, as ``gazebench compare`` refuses them.
"""

from __future__ import annotations

from typing import Any

from gazebench.analysis.base import Analysis, label_axes, new_figure, register_kind
from gazebench.analysis.runs import GAZE
from gazebench.core.options import ConfigError, Option, boolean, integer, number_in, one_of

OPTIONS = {
    "yaw_bin": Option(20.0, number_in(1, 180), "yaw bin width in degrees (bins from -180)"),
    "pitch_bin": Option(10.0, number_in(1, 90), "pitch bin width in degrees (bins from -90)"),
    "resamples": Option(2000, integer(100), "bootstrap resamples of the two-run difference"),
    "seed": Option(0, integer(0), "bootstrap seed"),
    "bootstrap": Option("subject", one_of("subject", "sample"), "resample whole subjects or single samples"),
    "difference": Option(True, boolean(), "two runs: also their paired difference per bin"),
}
AXES = ("yaw", "pitch", "side", "subject")


@register_kind(
    "bins",
    "error by gaze-yaw bins (full circle), pitch bins, front/back and subject; two runs: paired difference per bin",
    OPTIONS,
)
def bins(runs: list, options: dict[str, Any]) -> Analysis:
    import pandas as pd

    tables = [bin_table(run.predictions, options).assign(run=run.name) for run in runs]
    notes = []
    two = len(runs) == 2 and options["difference"]
    if two:
        tables.append(difference_table(runs[0], runs[1], options))
        unit = "subjects" if options["bootstrap"] == "subject" else "samples"
        notes.append(
            f"{tables[-1]['run'].iat[0]}: paired by sample id; 95% interval of a {options['bootstrap']} "
            f"bootstrap ({options['resamples']} resamples, seed {options['seed']}), none for a bin of fewer "
            f"than two {unit}"
            + (" (so none per subject; --set bootstrap=sample resamples frames)" if unit == "subjects" else "")
        )
    table = pd.concat(tables, ignore_index=True)
    table = table[["run", *[c for c in table.columns if c != "run"]]]
    figures = [
        ("yaw_polar.png", polar_figure(table, [r.name for r in runs])),
        ("pitch.png", axis_figure(table, [r.name for r in runs], "pitch")),
    ]
    if two:
        figures.append(("difference_yaw.png", difference_figure(table[table["run"] == tables[-1]["run"].iat[0]])))
    return Analysis("bins", f"Error by gaze direction ({', '.join(r.name for r in runs)})", table, figures, notes)


def edges(width: float, low: float) -> Any:
    """Bin edges from ``low`` to ``-low`` in steps of ``width`` (the last bin may be narrower)."""
    import numpy as np

    inner = np.arange(low, -low, width)
    return np.append(inner, -low)


def bin_of(values: Any, bin_edges: Any) -> Any:
    """The bin index of each value: ``[low, high)``, the last bin closed."""
    import numpy as np

    return np.clip(np.searchsorted(bin_edges, values, side="right") - 1, 0, len(bin_edges) - 2)


def sample_axes(pred: Any, options: dict[str, Any]) -> dict[str, tuple[list[str], Any, Any]]:
    """For each axis: the bin names, each sample's bin index, and the bins' (low, high) or None."""
    import numpy as np

    from gazebench.core.geometry import subset_masks, vector_to_yawpitch

    gaze = pred[GAZE].to_numpy(np.float64)
    yaw, pitch = np.degrees(vector_to_yawpitch(gaze)).T
    out = {}
    for axis, values, low, width in (
        ("yaw", yaw, -180.0, options["yaw_bin"]),
        ("pitch", pitch, -90.0, options["pitch_bin"]),
    ):
        e = edges(width, low)
        out[axis] = (
            [f"[{a:g}, {b:g}{']' if i == len(e) - 2 else ')'}" for i, (a, b) in enumerate(zip(e[:-1], e[1:]))],
            bin_of(values, e),
            np.stack([e[:-1], e[1:]], 1),
        )
    out["side"] = (["front", "back"], subset_masks(gaze)["back"].astype(int), None)
    subjects, codes = np.unique(pred["subject"].astype(str).to_numpy(), return_inverse=True)
    out["subject"] = (list(subjects), codes, None)
    return out


def bin_table(pred: Any, options: dict[str, Any], value: str = "error_deg") -> Any:
    """One row per (axis, bin): its bounds, n, mean and median of ``value``."""
    import numpy as np
    import pandas as pd

    rows = []
    v, subjects = pred[value].to_numpy(np.float64), pred["subject"].astype(str).to_numpy()
    for axis, (names, codes, bounds) in sample_axes(pred, options).items():
        for i, name in enumerate(names):
            sel = v[codes == i]
            rows.append(
                {
                    "axis": axis,
                    "bin": name,
                    "low": bounds[i][0] if bounds is not None else np.nan,
                    "high": bounds[i][1] if bounds is not None else np.nan,
                    "n": int(sel.size),
                    "subjects": len(set(subjects[codes == i])),
                    "mean": float(sel.mean()) if sel.size else np.nan,
                    "median": float(np.median(sel)) if sel.size else np.nan,
                }
            )
    return pd.DataFrame(rows)


def paired(a: Any, b: Any) -> Any:
    """The samples of runs ``a`` and ``b`` joined by id (true gaze of ``a``), with ``diff`` = A - B;
    refused when the runs were tested on different populations."""
    if a.population_sha256 and b.population_sha256 and a.population_sha256 != b.population_sha256:
        raise ConfigError(
            f"{a.name} and {b.name} were tested on different populations "
            f"({a.record.population.name}, {a.record.population.count} samples vs "
            f"{b.record.population.name}, {b.record.population.count}), so their "
            "errors are not over the same samples; --set difference=false shows each run's bins alone"
        )
    joined = a.predictions.merge(b.predictions[["id", "error_deg"]], on="id", suffixes=("", "_b"))
    if len(joined) != len(a.predictions) or len(joined) != len(b.predictions):
        raise ConfigError(
            f"{a.name} and {b.name} do not have the same test sample ids "
            f"({len(a.predictions)} and {len(b.predictions)}, {len(joined)} shared)"
        )
    return joined.assign(diff=joined["error_deg"] - joined["error_deg_b"])


def difference_table(a: Any, b: Any, options: dict[str, Any]) -> Any:
    """Per bin: the mean paired difference A - B and its bootstrap 95% interval."""
    import numpy as np

    from gazebench.compare import bootstrap_ci

    joined = paired(a, b)
    table = bin_table(joined, options, value="diff")
    lows, highs = [], []
    for names, codes, _ in sample_axes(joined, options).values():
        for i in range(len(names)):
            sel = joined[codes == i]
            clusters = sel["subject"].astype(str).to_numpy() if options["bootstrap"] == "subject" else None
            units = len(set(clusters)) if clusters is not None else len(sel)
            lo, hi = (
                bootstrap_ci(sel["diff"].to_numpy(np.float64), clusters, options["resamples"], options["seed"])
                if units >= 2
                else (np.nan, np.nan)
            )
            lows.append(lo)
            highs.append(hi)
    return table.assign(ci95_low=lows, ci95_high=highs, run=f"{a.name} − {b.name}")


def polar_figure(table: Any, names: list[str]) -> Any:
    """Mean error against the true gaze's yaw, one closed line per run (0° = towards the camera)."""
    import numpy as np

    fig, ax = new_figure(6.0, 6.0, polar=True)
    for name in names:
        rows = table[(table["run"] == name) & (table["axis"] == "yaw")]
        theta = np.radians((rows["low"] + rows["high"]).to_numpy() / 2)
        r = rows["mean"].to_numpy()
        ax.plot(np.append(theta, theta[:1]), np.append(r, r[:1]), marker="o", label=name)
    ax.set_theta_zero_location("N")  # counter-clockwise: +yaw (gaze to the image's left) on the left
    ax.set_thetagrids(range(0, 360, 45), ["0°", "45°", "90°", "135°", "±180°", "−135°", "−90°", "−45°"])
    ax.set_title("mean angular error (°) by gaze yaw\n0° = towards the camera, +90° = to the image's left")
    ax.legend(loc="lower left", bbox_to_anchor=(-0.1, -0.12), fontsize="small")
    return fig


def axis_figure(table: Any, names: list[str], axis: str) -> Any:
    """Mean error against the bin centre of ``axis``, one line per run."""
    fig, ax = new_figure()
    for name in names:
        rows = table[(table["run"] == name) & (table["axis"] == axis)]
        ax.plot((rows["low"] + rows["high"]) / 2, rows["mean"], marker="o", label=name)
    label_axes(ax, f"gaze {axis} (°, bin centre)", "mean angular error (°)")
    return fig


def difference_figure(rows: Any) -> Any:
    """The paired difference per yaw bin with its 95% interval."""
    rows = rows[rows["axis"] == "yaw"]
    centre = (rows["low"] + rows["high"]) / 2
    fig, ax = new_figure()
    ax.axhline(0, color="grey", lw=1)
    ax.errorbar(
        centre,
        rows["mean"],
        yerr=[rows["mean"] - rows["ci95_low"], rows["ci95_high"] - rows["mean"]],
        fmt="o",
        capsize=3,
    )
    label_axes(
        ax,
        "gaze yaw (°, bin centre)",
        f"{rows['run'].iat[0]} (°)",
        "paired difference of the mean error per yaw bin (95% interval)",
        legend=False,
    )
    return fig
