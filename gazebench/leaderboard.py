"""Aggregate run records over folds and seeds and render the leaderboard.

One *cell* is a (row label, column) pair; a column is a dataset at one card version with one set of
data options (results from different card versions or options never mix).  A cell is the mean and
std of a metric over its runs (folds x seeds) with n runs.

A cell is *complete* when its folds are exactly the protocol's folds (the dataset card's list;
``default`` for a fixed split; when the results come from another card version than the installed
card, the folds seen in that column) and every fold has the same seeds.  An incomplete cell is
still shown, with its mean over the runs it has, but marked with a footnote that says what is
missing; it is never bold and never enters the Mean column.  The Mean column (tables with more
than one column) averages a row's cells and is given only for rows complete in every column.
Rows are sorted best first: complete rows by their Mean, then the others.
"""

from __future__ import annotations

import html
import json
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
from tabulate import tabulate

FORMATS = ("github", "latex", "csv", "html", "json")
#: metrics where a larger value is better (everything else is an error: smaller is better)
HIGHER_IS_BETTER = ("sigma_error_pearson", "sigma_error_spearman")
LONG_COLUMNS = ["label", "column", "dataset", "card_version", "mean", "std", "n", "folds", "seeds", "complete", "missing"]


def higher_is_better(metric: str) -> bool:
    return metric.rpartition(".")[2] in HIGHER_IS_BETTER


def card_folds(dataset: str, card_version: str) -> list[str] | None:
    """The protocol's folds from the installed card, or None when the card is missing or is
    another version than the one the results were made with."""
    from gazebench.datasets.cards import CardError, load_card

    try:
        card = load_card(dataset)
    except CardError:
        return None
    if card.version != str(card_version):
        return None
    return card.folds()


def _column_name(dataset: str, options: str, card_version: str, versions: set[str], option_sets: set[str]) -> str:
    opts = json.loads(options) if options and len(option_sets) > 1 else {}
    name = dataset
    if opts:
        name += "[" + ",".join(f"{k}={v}" for k, v in sorted(opts.items())) + "]"
    if len(versions) > 1:
        name += f" (card v{card_version})"
    return name


def dedupe(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """One run per (dataset, card version, options, label, fold, seed): the newest record wins.
    Returns the kept rows and one message per group that had duplicates (which files were set
    aside), so two copies of a unit never count twice."""
    if df.empty:
        return df, []
    keys = ["dataset", "card_version", "dataset_options", "label", "fold", "seed"]
    df = df.sort_values(["created_at", "path"], na_position="first", kind="stable")
    dup = df.duplicated(keys, keep="last")
    messages = []
    if dup.any():
        for key, g in df[df.duplicated(keys, keep=False)].groupby(keys, dropna=False, sort=True):
            kept = g.iloc[-1]
            same = g["unit_id"].nunique() == 1
            why = "copies of the same unit" if same else "different configurations under one label"
            messages.append(
                f"{len(g)} results for {kept['label']} on {kept['dataset']} fold {kept['fold']} seed {kept['seed']} "
                f"({why}); using the newest, {kept['path']}; set aside: {', '.join(map(str, g['path'].iloc[:-1]))}"
            )
    return df[~dup].sort_index(), messages


def aggregate(
    df: pd.DataFrame,
    metric: str = "all.mean",
    folds_of: Callable[[str, str], list[str] | None] = card_folds,
) -> pd.DataFrame:
    """Long form, one row per cell: label, column, dataset, card_version, mean, std, n, folds,
    seeds, complete, missing (why a cell is incomplete; "" when complete).

    ``df`` is :func:`gazebench.results.load_results` output (deduplicate it first with :func:`dedupe`);
    ``folds_of(dataset, card_version)`` gives a column's expected folds (None: the folds seen)."""
    if df.empty:
        return pd.DataFrame(columns=LONG_COLUMNS)
    if metric not in df.columns:
        known = sorted(c for c in df.columns if "." in c and not c.startswith("timings."))
        raise KeyError(f"no metric {metric!r} in these results; known: {', '.join(known)}")
    df = df[df[metric].notna()]
    versions = df.groupby("dataset")["card_version"].agg(lambda s: set(s)).to_dict()
    option_sets = df.groupby("dataset")["dataset_options"].agg(lambda s: set(s)).to_dict()
    rows = []
    for (dataset, version, options), col in df.groupby(["dataset", "card_version", "dataset_options"], sort=True):
        name = _column_name(dataset, options, version, versions[dataset], option_sets[dataset])
        expected = folds_of(dataset, version) or sorted(set(col["fold"].astype(str)), key=_fold_key)
        for label, g in col.groupby("label", sort=True):
            values = g[metric].astype(float).to_numpy()
            seeds_by_fold = {f: sorted(int(s) for s in gg["seed"]) for f, gg in g.groupby(g["fold"].astype(str))}
            folds = sorted(seeds_by_fold, key=_fold_key)
            problems = []
            missing = [f for f in expected if f not in seeds_by_fold]
            extra = [f for f in folds if f not in expected]
            if missing:
                problems.append(f"missing fold{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                                f"(has {', '.join(folds)} of {', '.join(expected)})")
            if extra:
                problems.append(f"folds not in the protocol: {', '.join(extra)}")
            if len({tuple(s) for s in seeds_by_fold.values()}) > 1:
                problems.append("seeds differ across folds ("
                                + "; ".join(f"fold {f}: {', '.join(map(str, seeds_by_fold[f]))}" for f in folds) + ")")
            rows.append(
                {
                    "label": str(label),
                    "column": name,
                    "dataset": dataset,
                    "card_version": str(version),
                    "mean": float(values.mean()),
                    "std": float(values.std(ddof=1)) if len(values) > 1 else math.nan,
                    "n": int(len(values)),
                    "folds": folds,
                    "seeds": sorted({s for ss in seeds_by_fold.values() for s in ss}),
                    "complete": not problems,
                    "missing": "; ".join(problems),
                }
            )
    return pd.DataFrame(rows, columns=LONG_COLUMNS)


def _fold_key(fold: str) -> tuple[int, Any]:
    return (0, int(fold)) if str(fold).isdigit() else (1, str(fold))


# --- the table ----------------------------------------------------------------------------------


@dataclass
class Table:
    """The leaderboard laid out: ``rows`` of (label, {column: cell}), the Mean per row (complete
    rows only), best values, and numbered footnotes."""

    metric: str
    columns: list[str]
    rows: list[tuple[str, dict[str, dict[str, Any]]]]
    row_mean: dict[str, float]
    best: dict[str, float]
    footnotes: list[str] = field(default_factory=list)
    marks: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def has_mean(self) -> bool:
        return len(self.columns) > 1


def layout(agg: pd.DataFrame, metric: str = "all.mean") -> Table:
    hib = higher_is_better(metric)
    sign = -1.0 if hib else 1.0
    columns = sorted(agg["column"].unique(), key=lambda c: (c.split(" (")[0], c)) if len(agg) else []
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for rec in agg.to_dict("records"):
        cells.setdefault(rec["label"], {})[rec["column"]] = rec
    row_mean = {
        label: float(np.mean([c[col]["mean"] for col in columns]))
        for label, c in cells.items()
        if all(col in c and c[col]["complete"] for col in columns)
    }

    def order(label: str) -> tuple[int, float, str]:
        if label in row_mean:
            return (0, sign * row_mean[label], label)
        present = [cells[label][c]["mean"] for c in columns if c in cells[label]]
        return (1, sign * float(np.mean(present)), label)

    labels = sorted(cells, key=order)
    best = {}
    for col in columns:
        values = [cells[lab][col]["mean"] for lab in labels if col in cells[lab] and cells[lab][col]["complete"]]
        if values:
            best[col] = max(values) if hib else min(values)
    if row_mean and len(columns) > 1:
        best["Mean"] = max(row_mean.values()) if hib else min(row_mean.values())
    table = Table(metric, columns, [(lab, cells[lab]) for lab in labels], row_mean, best)
    for lab in labels:
        for col in columns:
            cell = cells[lab].get(col)
            if cell is not None and not cell["complete"]:
                table.footnotes.append(f"{lab}, {col}: {cell['missing']}; averaged over the runs it has.")
                table.marks[(lab, col)] = len(table.footnotes)
    return table


def _is_best(value: float, best: float | None) -> bool:
    return best is not None and abs(value - best) <= 1e-9 * max(1.0, abs(best))


def _number_text(cell: dict[str, Any]) -> str:
    if cell["n"] > 1 and not math.isnan(cell["std"]):
        return f"{cell['mean']:.2f} ± {cell['std']:.2f} (n={cell['n']})"
    return f"{cell['mean']:.2f} (n={cell['n']})"


_STYLES = {
    "github": {"bold": "**{}**", "escape": lambda s: s.replace("|", "\\|"), "pm": "±", "none": "—", "fmt": "github"},
    "html": {"bold": "<b>{}</b>", "escape": html.escape, "pm": "±", "none": "—", "fmt": "unsafehtml"},
    "latex": {"bold": "\\textbf{{{}}}", "escape": lambda s: _latex_escape(s), "pm": "$\\pm$", "none": "--",
              "fmt": "latex_raw"},
}


def _latex_escape(text: str) -> str:
    out = text.replace("\\", "\\textbackslash{}")
    for ch in "&%$#_{}":
        out = out.replace(ch, "\\" + ch)
    return out.replace("~", "\\textasciitilde{}").replace("^", "\\textasciicircum{}")


def _legend(table: Table, lines_sep: str = "\n") -> list[str]:
    hib = higher_is_better(table.metric)
    what = "higher is better" if hib else "angular error in degrees, lower is better"
    lines = [
        f"{table.metric} ({what}): mean ± std over runs (folds × seeds), n = runs. Bold: best complete cell per column."
        + (" Mean: average over the columns, only for rows complete in every column." if table.has_mean else "")
        + " Sorted best first."
    ]
    lines += [f"[{i}] {note}" for i, note in enumerate(table.footnotes, 1)]
    return lines


def _render_table(table: Table, fmt: str) -> str:
    style = _STYLES[fmt]
    esc, pm = style["escape"], style["pm"]
    headers = ["model"] + [esc(c) for c in table.columns] + (["Mean"] if table.has_mean else [])
    body = []
    for label, cells in table.rows:
        line = [esc(label)]
        for col in table.columns:
            cell = cells.get(col)
            if cell is None:
                line.append(style["none"])
                continue
            text = esc(_number_text(cell)).replace("±", pm)
            if cell["complete"] and _is_best(cell["mean"], table.best.get(col)):
                text = style["bold"].format(text)
            if (label, col) in table.marks:
                text += f" [{table.marks[(label, col)]}]"
            line.append(text)
        if table.has_mean:
            if label in table.row_mean:
                text = f"{table.row_mean[label]:.2f}"
                if _is_best(table.row_mean[label], table.best.get("Mean")):
                    text = style["bold"].format(text)
                line.append(text)
            else:
                line.append(style["none"])
        body.append(line)
    colalign = ["left"] + ["right"] * (len(headers) - 1)
    text = tabulate(body, headers=headers, tablefmt=style["fmt"], disable_numparse=True, colalign=colalign)
    legend = _legend(table)
    if fmt == "html":
        return text + "\n" + "\n".join(f"<p>{html.escape(line)}</p>" for line in legend)
    if fmt == "latex":
        return text + "\n" + "\n".join(f"% {line}" for line in legend)
    return text + "\n\n" + "\n".join(legend)


def long_form(agg: pd.DataFrame, metric: str = "all.mean") -> list[dict[str, Any]]:
    """The cells in table order (best row first) as plain records, for CSV and JSON."""
    table = layout(agg, metric)
    out = []
    for label, cells in table.rows:
        for col in table.columns:
            if col in cells:
                c = cells[col]
                out.append({
                    "label": label, "column": col, "dataset": c["dataset"], "card_version": c["card_version"],
                    "metric": metric, "mean": round(c["mean"], 6),
                    "std": None if math.isnan(c["std"]) else round(c["std"], 6), "n": c["n"],
                    "folds": list(c["folds"]), "seeds": list(c["seeds"]), "complete": bool(c["complete"]),
                    "missing": c["missing"],
                })
    return out


def render(agg: pd.DataFrame, fmt: str = "github", metric: str = "all.mean") -> str:
    """The leaderboard as text: ``github`` (Markdown), ``latex``, ``html`` (tables with bold best
    values and footnotes), or ``csv`` / ``json`` (long form, one record per cell)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if fmt in ("csv", "json"):
        records = long_form(agg, metric)
        if fmt == "json":
            return json.dumps(records, indent=2, ensure_ascii=False)
        flat = pd.DataFrame(records, columns=["label", "column", "dataset", "card_version", "metric", "mean", "std", "n",
                                              "folds", "seeds", "complete", "missing"])
        flat["folds"] = flat["folds"].map(" ".join)
        flat["seeds"] = flat["seeds"].map(lambda s: " ".join(map(str, s)))
        return flat.to_csv(index=False, float_format="%.4f", lineterminator="\n").rstrip("\n")
    if agg.empty:
        return "(no results)"
    return _render_table(layout(agg, metric), fmt)


def leaderboard(
    df: pd.DataFrame, metric: str = "all.mean", fmt: str = "github", benchmark: str | None = None,
    datasets: list[str] | None = None,
) -> str:
    """Filter, deduplicate, aggregate and render a :func:`load_results` frame; duplicate units are
    reported as warnings."""
    if not df.empty and benchmark is not None:
        df = df[df["benchmark"] == benchmark]
    if not df.empty and datasets:
        df = df[df["dataset"].isin(datasets)]
    df, messages = dedupe(df)
    for message in messages:
        warnings.warn(message, stacklevel=2)
    return render(aggregate(df, metric), fmt, metric)
