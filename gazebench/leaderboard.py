"""Aggregate run records over folds and seeds and render the leaderboard."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

FORMATS = ("github", "latex", "csv", "html", "json")


def _column_name(dataset: str, options: str, card_version: str, versions: set[str], option_sets: set[str]) -> str:
    opts = json.loads(options) if options and len(option_sets) > 1 else {}
    name = dataset
    if opts:
        name += "[" + ",".join(f"{k}={v}" for k, v in sorted(opts.items())) + "]"
    if len(versions) > 1:
        name += f" (card v{card_version})"
    return name


def aggregate(df: pd.DataFrame, metric: str = "all.mean") -> pd.DataFrame:
    """One row per (column, label): mean and std of ``metric`` over runs (folds x seeds), n runs,
    the folds covered.  Results from different card versions or data options never mix."""
    if df.empty:
        return pd.DataFrame(columns=["label", "column", "dataset", "mean", "std", "n", "folds", "seeds"])
    if metric not in df.columns:
        known = sorted(c for c in df.columns if "." in c and not c.startswith("timings."))
        raise KeyError(f"no metric {metric!r} in these results; known: {', '.join(known)}")
    versions = df.groupby("dataset")["card_version"].agg(lambda s: set(s)).to_dict()
    option_sets = df.groupby("dataset")["dataset_options"].agg(lambda s: set(s)).to_dict()
    rows = []
    for (dataset, version, options, label), g in df.groupby(["dataset", "card_version", "dataset_options", "label"], dropna=False):
        values = g[metric].astype(float).dropna().to_numpy()
        rows.append(
            {
                "label": label,
                "column": _column_name(dataset, options, version, versions[dataset], option_sets[dataset]),
                "dataset": dataset,
                "mean": float(values.mean()) if len(values) else math.nan,
                "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                "n": int(len(values)),
                "folds": sorted(set(g["fold"].astype(str))),
                "seeds": sorted(set(int(s) for s in g["seed"].dropna())),
            }
        )
    return pd.DataFrame(rows)


def _cell(r: pd.Series) -> str:
    if not r["n"]:
        return "—"
    return f"{r['mean']:.2f} ± {r['std']:.2f} (n={r['n']})"


def pivot(agg: pd.DataFrame) -> pd.DataFrame:
    """Rows = labels (best first by their mean over columns), columns = datasets, cells = text."""
    if agg.empty:
        return pd.DataFrame()
    cells = agg.assign(cell=agg.apply(_cell, axis=1)).pivot(index="label", columns="column", values="cell")
    order = agg.groupby("label")["mean"].mean().sort_values().index
    return cells.loc[order].fillna("—")


def render(agg: pd.DataFrame, fmt: str = "github", metric: str = "all.mean") -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if fmt == "csv":
        flat = agg.assign(folds=agg["folds"].map(" ".join), seeds=agg["seeds"].map(lambda s: " ".join(map(str, s))))
        return flat.drop(columns=["dataset"]).sort_values(["column", "mean"]).to_csv(index=False, float_format="%.4f")
    if fmt == "json":
        return json.dumps(json.loads(agg.to_json(orient="records")), indent=2)
    table = pivot(agg)
    if table.empty:
        return "(no results)"
    headers = ["model"] + list(table.columns)
    rows = [[label, *table.loc[label].tolist()] for label in table.index]
    tablefmt = {"github": "github", "latex": "latex", "html": "html"}[fmt]
    text = tabulate(rows, headers=headers, tablefmt=tablefmt, disable_numparse=True)
    if fmt == "github":
        text += f"\n\n{metric}: angular error in degrees, mean ± std over runs (folds × seeds), n = runs; best first."
    return text
