"""Aggregate run records over folds and seeds into leaderboard cells.

A *column* is a dataset at one card version, under one protocol, with one set of data options
(results from different card versions, protocols or options never mix).  A *row* is a label, split
into one row per configuration identity when the label holds several in one column
(:mod:`gazebench.leaderboard_rows`), so a cell aggregates the runs (folds x seeds) of exactly one
configuration: the mean and std of a metric with n runs.

A cell is *complete* when its folds are exactly the protocol's folds (the dataset card's list;
``default`` for a fixed split; when the results come from another card version than the installed
card, the folds seen in that column) and every fold has the same seeds.  Its *population* is in
order when every run was tested on the protocol's full test population and the runs of one fold
on the same one (same SHA-256 of the sorted sample ids).  A cell that fails either is still shown,
with its mean over the runs it has, but marked with a footnote that says why (``[k]``; ``†[k]`` for
a population; ``‡[k]`` for a record whose metric disagrees with its predictions file); it is never
bold and never enters the Mean column
(:mod:`gazebench.leaderboard_table` lays the table out and renders it).  Beside a cross-dataset
column, :func:`leaderboard` shows the numbers papers publish for the same training and test
datasets as marked reference rows (:func:`published_references`; ``references=False`` leaves them out).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from gazebench.core.errors import UserKeyError
from gazebench.leaderboard_rows import column_names, row_names, strict_refusal, trained_on
from gazebench.leaderboard_table import FORMATS, higher_is_better, layout, long_form, render

__all__ = [
    "FORMATS",
    "aggregate",
    "card_folds",
    "dedupe",
    "higher_is_better",
    "layout",
    "leaderboard",
    "long_form",
    "published_references",
    "render",
]

#: one cell of :func:`aggregate`
CELL_COLUMNS = [
    "row",
    "label",
    "column",
    "dataset",
    "card_version",
    "protocol",
    "identity",
    "mean",
    "std",
    "n",
    "folds",
    "seeds",
    "complete",
    "missing",
    "populations",
    "population_ok",
    "population_note",
    "record_ok",
    "record_note",
    "training",
]


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


def dedupe(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """One run per (label, configuration identity, fold, seed): the newest record wins.  Returns
    the kept rows and one message per group that had duplicates (which files were set aside), so
    two copies of a unit never count twice.  Different configurations are never duplicates."""
    if df.empty:
        return df, []
    keys = ["label", "identity", "fold", "seed"]
    df = df.sort_values(["created_at", "path"], na_position="first", kind="stable")
    dup = df.duplicated(keys, keep="last")
    messages = []
    if dup.any():
        for _, g in df[df.duplicated(keys, keep=False)].groupby(keys, dropna=False, sort=True):
            kept = g.iloc[-1]
            why = "copies of the same unit" if g["unit_id"].nunique() == 1 else "re-runs of one configuration"
            messages.append(
                f"{len(g)} results for {kept['label']} on {kept['dataset']} fold {kept['fold']} seed {kept['seed']} "
                f"({why}); using the newest, {kept['path']}; set aside: {', '.join(map(str, g['path'].iloc[:-1]))}"
            )
    return df[~dup].sort_index(), messages


def aggregate(
    df: pd.DataFrame,
    metric: str = "all.mean",
    folds_of: Callable[[str, str], list[str] | None] = card_folds,
    strict: bool = False,
) -> pd.DataFrame:
    """One row per cell (:data:`CELL_COLUMNS`): row, label, column, ..., mean, std, n, folds, seeds,
    complete, missing (why the folds or seeds are incomplete; "" when complete), populations,
    population_ok, population_note (what the test populations lack; "" when in order), record_ok,
    record_note (records whose metric disagrees with their predictions file: the ``record_check``
    column of :func:`gazebench.results.store.check_predictions`, when ``df`` has it), training (the
    datasets a cross-dataset column was trained on; () for a dataset's own column).

    ``df`` is :func:`gazebench.results.store.load_results` output (deduplicate it first with :func:`dedupe`);
    ``folds_of(dataset, card_version)`` gives a column's expected folds (None: the folds seen).
    ``strict``: a label holding several configurations in one column is an error, not several rows."""
    if df.empty:
        return pd.DataFrame(columns=CELL_COLUMNS)
    if metric not in df.columns:
        known = sorted(c for c in df.columns if "." in c and not c.startswith("timings."))
        raise UserKeyError(f"no metric {metric!r} in these results; known: {', '.join(known)}")
    df = df[df[metric].notna()]
    if df.empty:
        return pd.DataFrame(columns=CELL_COLUMNS)
    df = on_metric_population(df, metric)
    rows, split = row_names(df)
    if strict and split:
        from gazebench.core.options import ConfigError

        raise ConfigError(strict_refusal(split))
    df = df.assign(row=rows, column=column_names(df, metric))
    cells = []
    for (_column, dataset, version), col in df.groupby(["column", "dataset", "card_version"], sort=True):
        source = trained_on(col["identity_config"].iloc[0]) if "identity_config" in col else None
        if source:  # a cross-dataset column (gazebench.train.cross): its runs are the training dataset's folds
            dataset, version = source["dataset"], source["card_version"]
        expected = folds_of(dataset, version) or sorted(set(col["fold"].astype(str)), key=_fold_key)
        training = training_datasets(source)
        for _, runs in col.groupby("row", sort=True):
            cells.append({**_cell(runs, metric, expected), "training": training})
    return pd.DataFrame(cells, columns=CELL_COLUMNS)


def training_datasets(source: dict[str, Any] | None) -> tuple[str, ...]:
    """The datasets a cross-dataset column was trained on (its identity's ``trained_on``: ``datasets``
    for joint training, else ``dataset``); () for a dataset's own column."""
    if not source:
        return ()
    return tuple(source.get("datasets") or [source["dataset"]])


def on_metric_population(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """For a metric on a population inside the test set (``face.mean``, ``face_front180.mean``:
    Gaze360's face population), the runs' population columns describe that population (its name,
    count, hash, and whether the frames evaluated are all the frames its source keeps), so a cell
    on fewer frames than, e.g., GazeHub's face population is marked like any short population.
    Records from before populations recorded their coverage say nothing (complete)."""
    from gazebench.population import population_of_subset

    inner = population_of_subset(metric.split(".", 1)[0])
    if not inner or "population_inner" not in df.columns:
        return df
    out = df.copy()
    for i, text in df["population_inner"].items():
        pop = json.loads(text or "{}").get(inner)
        if not pop:
            continue
        out.at[i, "population"] = pop["name"]
        out.at[i, "population_count"] = pop["count"]
        out.at[i, "population_sha256"] = pop["sha256"]
        out.at[i, "population_complete"] = bool(pop.get("complete", True))
        out.at[i, "population_shortfall"] = "; ".join(map(str, pop.get("shortfall") or []))
    return out


def _cell(runs: pd.DataFrame, metric: str, expected: list[str]) -> dict[str, Any]:
    """The runs of one (row, column) summarised: the statistic, the folds and seeds, the checks."""
    values = runs[metric].astype(float).to_numpy()
    seeds_by_fold = {f: sorted(int(s) for s in g["seed"]) for f, g in runs.groupby(runs["fold"].astype(str))}
    first = runs.iloc[0]
    fold_notes, population_notes = fold_problems(seeds_by_fold, expected), population_problems(runs)
    # records that disagree with their predictions file (gazebench.results.store.check_predictions)
    record_notes = [c for c in runs.get("record_check", pd.Series(dtype=object)).fillna("") if c]
    return {
        "row": first["row"],
        "label": str(first["label"]),
        "column": first["column"],
        "dataset": first["dataset"],
        "card_version": str(first["card_version"]),
        "protocol": str(first["protocol"]),
        "identity": " ".join(sorted(runs["identity"].astype(str).unique())),
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if len(values) > 1 else math.nan,
        "n": int(len(values)),
        "folds": sorted(seeds_by_fold, key=_fold_key),
        "seeds": sorted({s for ss in seeds_by_fold.values() for s in ss}),
        "complete": not fold_notes,
        "missing": "; ".join(fold_notes),
        "populations": sorted(runs["population"].astype(str).unique(), key=_population_key),
        "population_ok": not population_notes,
        "population_note": "; ".join(population_notes),
        "record_ok": not record_notes,
        "record_note": "; ".join(record_notes),
    }


def fold_problems(seeds_by_fold: dict[str, list[int]], expected: list[str]) -> list[str]:
    """What keeps a cell's folds and seeds from the protocol's: missing or extra folds, unequal seeds."""
    folds = sorted(seeds_by_fold, key=_fold_key)
    problems = []
    missing = [f for f in expected if f not in seeds_by_fold]
    extra = [f for f in folds if f not in expected]
    if missing:
        problems.append(
            f"missing fold{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(has {', '.join(folds)} of {', '.join(expected)})"
        )
    if extra:
        problems.append(f"folds not in the protocol: {', '.join(extra)}")
    if len({tuple(s) for s in seeds_by_fold.values()}) > 1:
        problems.append(
            "seeds differ across folds ("
            + "; ".join(f"fold {f}: {', '.join(map(str, seeds_by_fold[f]))}" for f in folds)
            + ")"
        )
    return problems


def population_problems(runs: pd.DataFrame) -> list[str]:
    """What is wrong with a cell's test populations: runs whose record says they fell short of the
    protocol (its full test population; the shortfall the record names), and folds whose seeds
    were tested on different populations (their errors are not averages over the same samples)."""
    problems = []
    short = runs[runs["population_complete"].eq(False)]
    keys = ["fold", "population", "population_count", "population_shortfall"]
    for (fold, population, count, shortfall), g in short.groupby(keys, sort=True, dropna=False):
        problems.append(
            f"{_runs_text(fold, g['seed'])} on {population} ({int(count):,} samples) fell short of the "
            f"protocol: {shortfall or 'no reason recorded'}"
        )
    for fold, g in runs.groupby(runs["fold"].astype(str), sort=False):
        if g["population_sha256"].nunique() > 1:
            sizes = "; ".join(
                f"seed {r.seed}: {int(r.population_count):,} samples, sha256 {str(r.population_sha256)[:8]}"
                for r in g.sort_values("seed").itertuples()
            )
            problems.append(f"{_fold_text(fold)}the seeds were tested on different populations ({sizes})")
    return problems


def _fold_text(fold: Any) -> str:
    """``fold 2 `` (with its space); nothing for the single fold of a fixed split."""
    return "" if str(fold) == "default" else f"fold {fold} "


def _runs_text(fold: Any, seeds: pd.Series) -> str:
    seeds = sorted(int(s) for s in seeds)
    return f"{_fold_text(fold)}seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"


def _fold_key(fold: str) -> tuple[int, Any]:
    return (0, int(fold)) if str(fold).isdigit() else (1, str(fold))


def _population_key(name: str) -> tuple[Any, ...]:
    return tuple(_fold_key(part) for part in name.replace("-", "/").split("/"))


def leaderboard(
    df: pd.DataFrame,
    metric: str = "all.mean",
    fmt: str = "github",
    benchmark: str | None = None,
    datasets: list[str] | None = None,
    strict: bool = False,
    results_dir: str | Path | None = None,
    references: bool = True,
) -> str:
    """Filter, deduplicate, aggregate and render a :func:`load_results` frame; duplicate units are
    reported as warnings.  ``strict``: refuse labels that hold several configurations.
    ``results_dir`` (where ``df`` was loaded from): check each record that enters the table
    against its predictions file (:func:`gazebench.results.store.check_predictions`; a mismatch marks
    the cell ``‡``).  ``references``: show the published reference rows beside the cross-dataset
    columns they match (:func:`published_references`)."""
    if not df.empty and benchmark is not None:
        df = df[df["benchmark"] == benchmark]
    if not df.empty and datasets:
        df = df[df["dataset"].isin(datasets)]
    df, messages = dedupe(df)
    for message in messages:
        warnings.warn(message, stacklevel=2)
    if results_dir is not None:
        from gazebench.results.store import check_predictions

        df = check_predictions(df, results_dir)
    return render(
        aggregate(df, metric, strict=strict), fmt, metric, references=published_references(metric) if references else ()
    )


def published_references(metric: str) -> tuple:
    """The published reference rows (:mod:`gazebench.published.references`) for ``metric``: papers
    report the mean angular error over their whole test set, so only ``all.mean`` has any."""
    if metric != "all.mean":
        return ()
    from gazebench.published.references import load_references

    return tuple(load_references())
