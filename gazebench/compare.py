"""Paired comparison of two leaderboard rows on the same test samples.

Two rows A and B (labels, or rows as the table names them when a label holds several
configurations: ``staticsc (crops=175)``) are compared on the units they share (same dataset
column, fold and seed).  The two runs of a pair must have been tested on the same population
(the SHA-256 of their sorted test sample ids); otherwise the comparison is refused unless asked
for with ``allow_population_mismatch``, and then made on the samples both have, saying how many
were dropped from each side.  Two views of the evidence:

* **Per sample.**  The per-sample prediction files of A and B are joined by sample id.  Where both
  have several seeds on a fold, each sample's error is first averaged over those seeds, so every
  test sample counts once.  The mean paired difference A - B gets a 95% percentile bootstrap
  interval that resamples *subjects* (all samples of a drawn subject together) by default:
  frames of one person are strongly correlated, and resampling frames as if independent gives
  intervals that are far too narrow.  ``cluster="sample"`` resamples samples instead.  The
  Wilcoxon signed-rank test runs on the per-sample differences.
* **Per unit.**  The difference of the unit metric (e.g. ``all.mean``) for every paired
  (fold, seed): mean and std across units and how often each side won.

The verdict: the difference is called significant at 0.05 when the bootstrap interval excludes
zero *and* the Wilcoxon p-value is below 0.05; otherwise "no significant difference".
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gazebench.core.errors import GazebenchError
from gazebench.core.registry import closest
from gazebench.results.store import resolve_predictions

ALPHA = 0.05


class CompareError(GazebenchError, ValueError):
    """No paired units, missing prediction files, or an ambiguous request."""


@dataclass
class Pair:
    fold: str
    seed: int
    a: pd.Series  # load_results rows
    b: pd.Series


def _select(df: pd.DataFrame, name: str, dataset: str) -> pd.DataFrame:
    """The runs of leaderboard row ``name`` on ``dataset``: a row as the table names it
    (``staticsc (crops=175)``), or a label."""
    scope = df[df["dataset"] == dataset]
    rows = scope[scope["row"] == name]
    if rows.empty:
        rows = scope[scope["label"] == name]
    if rows.empty:
        names = sorted(set(scope["label"]) | set(scope["row"]))
        if not names:
            datasets = sorted(df["dataset"].unique()) if not df.empty else []
            raise CompareError(
                f"no results for dataset {dataset!r}.{closest(dataset, datasets)} "
                f"Datasets with results: {', '.join(datasets) or 'none'}"
            )
        raise CompareError(
            f"no results labelled {name!r} on {dataset}.{closest(name, names)} Labels: {', '.join(names)}"
        )
    several = rows.groupby("column")["row"].nunique()
    if (several > 1).any():
        choices = sorted(rows.loc[rows["column"] == several.idxmax(), "row"].unique())
        raise CompareError(
            f"{name} holds several configurations on {several.idxmax()}: "
            f"{', '.join(repr(c) for c in choices)}; name one of these rows"
        )
    return rows


def find_pairs(df: pd.DataFrame, a: str, b: str, dataset: str, column: str | None = None) -> tuple[str, list[Pair]]:
    """The leaderboard column compared and the (fold, seed) units both rows have there."""
    from gazebench.leaderboard import dedupe
    from gazebench.leaderboard_rows import column_names, row_names

    if a == b:
        raise CompareError(f"compare needs two different labels; got {a!r} twice")
    df, messages = dedupe(df)
    for message in messages:
        warnings.warn(message, stacklevel=2)
    if df.empty:
        raise CompareError(f"no results to compare on dataset {dataset!r}")
    df = df.assign(row=row_names(df)[0], column=column_names(df))
    rows = {lab: _select(df, lab, dataset) for lab in (a, b)}
    keyed = {
        lab: {(r["column"], str(r["fold"]), int(r["seed"])): r for _, r in g.iterrows()} for lab, g in rows.items()
    }
    shared = sorted(set(keyed[a]) & set(keyed[b]))
    columns = sorted({k[0] for k in shared})
    if column is not None:
        if column not in columns:
            raise CompareError(
                f"{a} and {b} share no units in column {column!r}; shared columns: {', '.join(columns) or 'none'}"
            )
        columns = [column]
    if not shared:
        have = {lab: ", ".join(f"{c} fold {f} seed {s}" for c, f, s in sorted(keyed[lab])) for lab in (a, b)}
        raise CompareError(
            f"no paired units: {a} and {b} share no (fold, seed) on {dataset}. {a} has: {have[a]}. {b} has: {have[b]}"
        )
    if len(columns) > 1:
        raise CompareError(
            f"{a} and {b} have results in several columns of {dataset} (protocols, card versions or "
            f"data options): {', '.join(columns)}; choose one with --column"
        )
    pairs = [Pair(f, s, keyed[a][(c, f, s)], keyed[b][(c, f, s)]) for c, f, s in shared if c == columns[0]]
    return columns[0], pairs


def population_mismatches(pairs: list[Pair]) -> list[str]:
    """The paired units whose two runs were tested on different populations (SHA-256 of the
    sorted test sample ids), each in words."""
    out = []
    for p in pairs:
        ha, hb = p.a.get("population_sha256"), p.b.get("population_sha256")
        if isinstance(ha, str) and isinstance(hb, str) and ha != hb:
            out.append(
                f"fold {p.fold} seed {p.seed}: {p.a['row']} on {p.a['population']} "
                f"({int(p.a['population_count']):,} samples), {p.b['row']} on {p.b['population']} "
                f"({int(p.b['population_count']):,} samples)"
            )
    return out


def check_populations(pairs: list[Pair], allow_mismatch: bool) -> list[str]:
    """Refuse pairs tested on different populations unless ``allow_mismatch``; then the notes
    that say so (the samples dropped are counted per unit by :func:`paired_samples`)."""
    mismatch = population_mismatches(pairs)
    if not mismatch:
        return []
    shown = "; ".join(mismatch[:3]) + (f"; and {len(mismatch) - 3} more" if len(mismatch) > 3 else "")
    if not allow_mismatch:
        raise CompareError(
            f"the paired runs were tested on different populations ({shown}), so their errors are "
            "not over the same samples; --allow-population-mismatch compares them on the samples "
            "both have"
        )
    return [
        f"test populations differ (--allow-population-mismatch): {m}; the per-unit metrics of this unit are "
        "over different samples"
        for m in mismatch
    ]


def _read_predictions(path: Path) -> pd.DataFrame:
    table = pd.read_csv(path, dtype={"id": str, "subject": str})
    missing = [c for c in ("id", "subject", "error_deg") if c not in table.columns]
    if missing:
        raise CompareError(f"{path}: not a predictions file (no column {', '.join(missing)})")
    if table["id"].duplicated().any():
        raise CompareError(f"{path}: sample id {table['id'][table['id'].duplicated()].iloc[0]!r} appears twice")
    return table


def _subset(table: pd.DataFrame, subset: str, path: Path) -> pd.DataFrame:
    """The rows of a predictions table in ``subset``: a gaze subset, or a population the run's
    dataset defines (its ``in_<population>`` column) alone or with a gaze subset (``face_back``)."""
    if subset == "all":
        return table
    from gazebench.population import POPULATION_COLUMN, population_of_subset, table_subset_masks

    cols = ["gaze_x", "gaze_y", "gaze_z"]
    if not set(cols) <= set(table.columns):
        raise CompareError(f"{path}: no gaze columns, so subset {subset!r} cannot be selected")
    masks = table_subset_masks(table)
    if subset not in masks:
        pop = population_of_subset(subset)
        why = ""
        if pop is not None and POPULATION_COLUMN.format(pop) not in table.columns:
            why = (
                f" (a population's subsets need the column {POPULATION_COLUMN.format(pop)!r}, written by runs "
                "whose dataset defines that population; re-run units older than it)"
            )
        raise CompareError(
            f"{path}: unknown subset {subset!r}.{closest(subset, list(masks))} Subsets: all, {', '.join(masks)}{why}"
        )
    return table[masks[subset]]


def paired_samples(pairs: list[Pair], results_dir: Path, subset: str = "all") -> tuple[pd.DataFrame, list[str]]:
    """One row per test sample (fold, id, subject, error_a, error_b), each error averaged over the
    paired seeds of its fold; plus notes on samples only one side had."""
    located, missing = {}, []
    for p in pairs:
        for side, row in (("a", p.a), ("b", p.b)):
            path, tried = resolve_predictions(row, results_dir)
            if path is None:
                where = f" (looked at {', '.join(map(str, tried))})" if tried else " (the record names none)"
                missing.append(
                    f"{row['row']} fold {p.fold} seed {p.seed}: {row.get('predictions')}{where}; record {row['path']}"
                )
            located[(p.fold, p.seed, side)] = path
    if missing:
        raise CompareError("predictions files missing, so the samples cannot be paired:\n  " + "\n  ".join(missing))
    notes, per_unit = [], []
    for p in pairs:
        a_path, b_path = located[(p.fold, p.seed, "a")], located[(p.fold, p.seed, "b")]
        a, b = _read_predictions(a_path), _read_predictions(b_path)
        keep = [c for c in ("id", "subject", "error_deg", "gaze_x", "gaze_y", "gaze_z") if c in a.columns]
        joined = a[keep].merge(b[["id", "error_deg"]], on="id", suffixes=("_a", "_b"))
        only_a, only_b = len(a) - len(joined), len(b) - len(joined)
        if only_a or only_b:
            notes.append(
                f"fold {p.fold} seed {p.seed}: {only_a} samples only in {p.a['row']}, {only_b} only in "
                f"{p.b['row']}; compared on the {len(joined)} both have"
            )
        joined = _subset(joined, subset, a_path)
        joined["fold"] = p.fold
        per_unit.append(joined)
    data = pd.concat(per_unit, ignore_index=True)
    if data.empty:
        raise CompareError(
            "the paired units have no test samples in common" + (f" in subset {subset}" if subset != "all" else "")
        )
    merged = (
        data.groupby(["fold", "id"], sort=True)
        .agg(subject=("subject", "first"), error_a=("error_deg_a", "mean"), error_b=("error_deg_b", "mean"))
        .reset_index()
    )
    return merged, notes


def bootstrap_ci(
    diff: np.ndarray, clusters: np.ndarray | None, resamples: int, seed: int, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of the mean of ``diff`` under resampling of clusters (whole subjects)
    or, with ``clusters=None``, of single values."""
    rng = np.random.default_rng(seed)
    if clusters is not None:
        codes, uniques = pd.factorize(clusters, sort=True)
        sums = np.bincount(codes, weights=diff, minlength=len(uniques))
        counts = np.bincount(codes, minlength=len(uniques)).astype(float)
        draw = rng.integers(0, len(uniques), size=(resamples, len(uniques)))
        means = sums[draw].sum(1) / counts[draw].sum(1)
    else:
        means = np.empty(resamples)
        chunk = max(1, 2_000_000 // max(1, len(diff)))
        for start in range(0, resamples, chunk):
            stop = min(resamples, start + chunk)
            draw = rng.integers(0, len(diff), size=(stop - start, len(diff)))
            means[start:stop] = diff[draw].mean(1)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


def wilcoxon_p(diff: np.ndarray) -> float:
    from scipy.stats import wilcoxon

    if len(diff) == 0 or np.all(diff == 0):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(wilcoxon(diff).pvalue)


def compare(
    df: pd.DataFrame,
    a: str,
    b: str,
    dataset: str,
    results_dir: str | Path = "results",
    metric: str = "all.mean",
    subset: str = "all",
    column: str | None = None,
    resamples: int = 2000,
    seed: int = 0,
    cluster: str = "subject",
    allow_population_mismatch: bool = False,
) -> dict[str, Any]:
    """Compare rows ``a`` and ``b`` on ``dataset`` (``df`` from :func:`gazebench.results.store.load_results`).
    Pairs tested on different populations are refused unless ``allow_population_mismatch``.
    Returns a plain dict (see :func:`render_text` for its reading)."""
    if cluster not in ("subject", "sample"):
        raise CompareError(f"bootstrap resamples 'subject' or 'sample', not {cluster!r}")
    if metric not in df.columns:
        known = sorted(c for c in df.columns if "." in c and not c.startswith("timings."))
        raise CompareError(f"no metric {metric!r} in the records; known: {', '.join(known)}")
    col, pairs = find_pairs(df, a, b, dataset, column)
    population_notes = check_populations(pairs, allow_population_mismatch)
    samples, notes = paired_samples(pairs, Path(results_dir), subset)
    per_sample = sample_statistics(samples, cluster, resamples, seed)
    units = [unit_row(pair, metric) for pair in pairs]
    lo, hi = per_sample["ci95"]
    return {
        "a": a,
        "b": b,
        "dataset": dataset,
        "column": col,
        "subset": subset,
        "folds": sorted({p.fold for p in pairs}, key=lambda f: (not f.isdigit(), int(f) if f.isdigit() else 0, f)),
        "seeds": sorted({p.seed for p in pairs}),
        "units": units,
        "samples": per_sample,
        "per_unit": unit_statistics(units, metric),
        "significant": bool((lo > 0 or hi < 0) and per_sample["wilcoxon_p"] < ALPHA),
        "verdict": verdict(a, b, per_sample["mean_diff"], lo, hi, per_sample["wilcoxon_p"]),
        "notes": population_notes + notes,
    }


def sample_statistics(samples: pd.DataFrame, cluster: str, resamples: int, seed: int) -> dict[str, Any]:
    """The paired per-sample part: mean errors, the mean difference A - B with its bootstrap 95%
    interval (resampling subjects or samples) and the Wilcoxon signed-rank p-value."""
    diff = (samples["error_a"] - samples["error_b"]).to_numpy()
    clusters = samples["subject"].to_numpy() if cluster == "subject" else None
    lo, hi = bootstrap_ci(diff, clusters, resamples, seed)
    return {
        "n": int(len(samples)),
        "subjects": int(samples["subject"].nunique()),
        "folds": int(samples["fold"].nunique()),
        "mean_a": float(samples["error_a"].mean()),
        "mean_b": float(samples["error_b"].mean()),
        "mean_diff": float(diff.mean()),
        "ci95": [lo, hi],
        "bootstrap": {"resample": cluster, "resamples": resamples, "seed": seed},
        "wilcoxon_p": wilcoxon_p(diff),
    }


def unit_row(pair: Any, metric: str) -> dict[str, Any]:
    va, vb = float(pair.a[metric]), float(pair.b[metric])
    return {"fold": pair.fold, "seed": pair.seed, "a": va, "b": vb, "diff": va - vb}


def unit_statistics(units: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """The across-units part: the metric's mean difference over paired (fold, seed) units and who
    is better in how many of them (for sigma-error correlations higher is better)."""
    unit_diff = np.array([u["diff"] for u in units])
    lower_better = not metric.rpartition(".")[2].startswith("sigma_error")
    a_wins = int(np.sum(unit_diff < 0) if lower_better else np.sum(unit_diff > 0))
    b_wins = int(np.sum(unit_diff > 0) if lower_better else np.sum(unit_diff < 0))
    return {
        "metric": metric,
        "n": len(units),
        "mean_diff": float(unit_diff.mean()),
        "std_diff": float(unit_diff.std(ddof=1)) if len(units) > 1 else None,
        "a_better": a_wins,
        "b_better": b_wins,
        "ties": int(len(units) - a_wins - b_wins),
    }


def verdict(a: str, b: str, diff: float, lo: float, hi: float, p: float) -> str:
    """One sentence: who is better (lower error), by how much, and whether it is significant."""
    if (lo > 0 or hi < 0) and p < ALPHA:
        if diff < 0:
            return f"{a} is better than {b} by {-diff:.2f}° (95% CI {-hi:.2f}–{-lo:.2f}), significant at 0.05"
        return f"{b} is better than {a} by {diff:.2f}° (95% CI {lo:.2f}–{hi:.2f}), significant at 0.05"
    why = "the bootstrap interval includes 0" if lo <= 0 <= hi else f"Wilcoxon p = {_p(p)} ≥ 0.05"
    return (
        f"no significant difference between {a} and {b} at 0.05 ({a} − {b} = {diff:+.2f}°, "
        f"95% CI {lo:+.2f} to {hi:+.2f}; {why})"
    )


def _p(p: float) -> str:
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def render_text(r: dict[str, Any]) -> str:
    s, u = r["samples"], r["per_unit"]
    a, b = r["a"], r["b"]
    seeds = ", ".join(map(str, r["seeds"]))
    lines = [
        f"{a} vs {b} on {r['column']}" + (f", subset {r['subset']}" if r["subset"] != "all" else ""),
        f"paired units: {u['n']} (folds {', '.join(r['folds'])}; seeds {seeds})",
        "",
        f"per sample ({s['n']} test samples, {s['subjects']} subjects; each sample's error averaged over the paired seeds):",
        f"  mean error        {a} {s['mean_a']:.2f}°   {b} {s['mean_b']:.2f}°",
        f"  difference {a} − {b}  {s['mean_diff']:+.2f}°  95% CI {s['ci95'][0]:+.2f} to {s['ci95'][1]:+.2f} "
        f"({s['bootstrap']['resample']} bootstrap, {s['bootstrap']['resamples']} resamples, seed {s['bootstrap']['seed']})",
        f"  Wilcoxon signed-rank p = {_p(s['wilcoxon_p'])}",
        "",
        f"per unit ({u['metric']}, {u['n']} paired units):",
        f"  difference {a} − {b}  {u['mean_diff']:+.2f}"
        + (f" ± {u['std_diff']:.2f}" if u["std_diff"] is not None and not math.isnan(u["std_diff"]) else "")
        + f"; {a} better in {u['a_better']}, {b} better in {u['b_better']}, ties {u['ties']}",
    ]
    for unit in r["units"]:
        lines.append(
            f"    fold {unit['fold']} seed {unit['seed']}: {a} {unit['a']:.2f}, {b} {unit['b']:.2f}, "
            f"difference {unit['diff']:+.2f}"
        )
    lines += ["", r["verdict"]]
    lines += [f"note: {n}" for n in r["notes"]]
    return "\n".join(lines)


def rounded(value: Any, digits: int = 6) -> Any:
    """``value`` with floats rounded (stable JSON across platforms)."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}") if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    return value
