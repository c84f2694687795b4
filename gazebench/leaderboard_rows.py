"""Leaderboard columns and rows from the records' configuration identities.

Every record carries ``identity``: a hash of its canonical configuration (dataset, card version,
protocol, data options, model, the model's resolved options, weights tag and recipe; see
``gazebench/train/unit_record.py``).  A *column* fixes the first four: a dataset at one card version, under
one protocol, with one set of data options.  A *row* is a label; a label that holds several
configurations in one column is split into one row per configuration, named by every key that
differs among the label's configurations, e.g. ``staticsc (crops=175, lr=0.001)``.  A label whose
configurations differ only between columns (each dataset's own recipe) stays one row.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

#: the record fields (load_results columns) that make a leaderboard column; ``trained_on``: the
#: training column of a cross-dataset result (:func:`with_trained_on`; "" for a dataset's own runs)
COLUMN = ["dataset", "card_version", "protocol", "dataset_options", "trained_on"]
#: the same facts inside ``identity.config``: left out of row names, the column shows them
COLUMN_CONFIG_KEYS = ("dataset", "card_version", "protocol", "data_options", "trained_on")
_UNSET = object()


def trained_on(config: Any) -> dict[str, Any] | None:
    """The ``trained_on`` of a cross-dataset result's identity config (JSON text or dict), else None
    (gazebench.train.cross: dataset, card_version, protocol, data_options of the training column)."""
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except ValueError:
            return None
    return config.get("trained_on") if isinstance(config, dict) else None


def with_trained_on(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with a ``trained_on`` column (canonical JSON of the identity's ``trained_on``; "" for
    a dataset's own runs), derived from ``identity_config`` when the frame has none."""
    if "trained_on" in df.columns:
        return df
    if "identity_config" not in df.columns:
        return df.assign(trained_on="")
    keys = [trained_on(c) for c in df["identity_config"]]
    return df.assign(trained_on=[json.dumps(k, sort_keys=True) if k else "" for k in keys])


def column_names(df: pd.DataFrame, metric: str = "all.mean") -> pd.Series:
    """The column header of every run: ``rtgene (original)``; data options in brackets when a
    dataset has results under several option sets, the card version when it has several; and,
    for a dataset whose results hold more than one population (Gaze360: the full test set and its
    face-detectable frames), the population ``metric`` is on: ``gaze360 (original) — test`` or
    ``gaze360 (original) — test[face]`` (:func:`population_label`).  A cross-dataset result
    (gazebench.train.cross) is its own column ``synthgaze → rtgene (original)``: the training dataset
    first, with its protocol (and card version, options) when its cross results hold several."""
    df = with_trained_on(df)
    sources = df.loc[df["trained_on"] != "", "trained_on"].map(json.loads)
    source_sets: dict[str, set] = {}
    for t in sources:
        source_sets.setdefault(t["dataset"], set()).add(json.dumps(t, sort_keys=True))
    versions = df.groupby("dataset")["card_version"].agg(lambda s: set(s)).to_dict()
    option_sets = df.groupby("dataset")["dataset_options"].agg(lambda s: set(s)).to_dict()
    with_population = datasets_with_populations(df)
    keys = COLUMN + ["population"]
    names = {}
    for key in df[keys].drop_duplicates().itertuples(index=False):
        dataset, version, protocol, options, source, population = key
        opts = json.loads(options) if options and len(option_sets[dataset]) > 1 else {}
        name = dataset + ("[" + ",".join(f"{k}={v}" for k, v in sorted(opts.items())) + "]" if opts else "")
        notes = [str(protocol)] + ([f"card v{version}"] if len(versions[dataset]) > 1 else [])
        shown = f" — {population_label(str(population), metric)}" if dataset in with_population else ""
        names[tuple(key)] = f"{_source_name(source, source_sets)}{name} ({', '.join(notes)}){shown}"
    return pd.Series([names[tuple(k)] for k in df[keys].itertuples(index=False)], index=df.index, dtype=object)


def _source_name(source: str, source_sets: dict[str, set]) -> str:
    """``synthgaze → `` for a cross-dataset column ("" for a dataset's own): the training dataset,
    with its protocol, card version and options when its cross results hold several of them."""
    if not source:
        return ""
    t = json.loads(source)
    if len(source_sets.get(t["dataset"], ())) < 2:
        return f"{t['dataset']} → "
    if t.get("datasets"):  # joint training (gazebench.plan.joint): only what tells it from the others
        return f"{t['dataset']}[{_joint_differences(t, source_sets[t['dataset']])}] → "
    opts = ",".join(f"{k}={v}" for k, v in sorted((t.get("data_options") or {}).items()))
    return f"{t['dataset']}{'[' + opts + ']' if opts else ''} ({t['protocol']}, card v{t['card_version']}) → "


def _joint_differences(t: dict[str, Any], sources: set) -> str:
    """``eyediap.layout=release,sampling=balanced``: the keys of a joint training column's
    options (the members' protocols, folds and options, the sampling) whose values differ among the
    joint runs of the same training datasets, with this one's values."""

    def flat(x: dict[str, Any]) -> dict[str, Any]:
        out = flat_config(x.get("data_options") or {})
        out["card_version"] = x.get("card_version")
        return {k.replace("members.", "", 1).replace(".options.", "."): v for k, v in out.items()}

    flats = [flat(json.loads(s)) for s in sources]
    mine = flat(t)
    keys = sorted(
        k
        for k in set().union(*flats)
        if len({json.dumps(f.get(k, "\0"), sort_keys=True, default=str) for f in flats}) > 1
    )
    return ",".join(f"{k}={compact(mine.get(k, _UNSET))}" for k in keys)


def population_label(population: str, metric: str) -> str:
    """The test population a metric of a run is on: the run's population without the dataset and
    fold (``gaze360/test`` -> ``test``), narrowed to the population of the metric's subset
    (``face_front180.mean`` -> ``test[face]``; :func:`gazebench.population.population_of_subset`)."""
    from gazebench.population import population_of_subset

    split = population.rsplit("/", 1)[-1]
    inner = population_of_subset(metric.split(".", 1)[0])
    return f"{split}[{inner}]" if inner and "[" not in split else split


def datasets_with_populations(df: pd.DataFrame) -> set[str]:
    """Datasets whose runs are on a named population (``gaze360/test[face]``) or report a
    population's subsets (a ``face.mean`` column): their headers name the population."""
    from gazebench.population import population_of_subset

    columns = [c for c in df.columns if c.endswith(".mean") and population_of_subset(c.split(".", 1)[0])]
    tagged = df["population"].astype(str).str.contains("[", regex=False)
    reported = df[columns].notna().any(axis=1) if columns else pd.Series(False, index=df.index)
    return set(df.loc[tagged | reported, "dataset"])


def flat_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"recipe": {"lr": 1e-4}}`` -> ``{"recipe.lr": 1e-4}``, without the column's keys."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if not prefix and key in COLUMN_CONFIG_KEYS:
            continue
        if isinstance(value, dict) and value:
            out.update(flat_config(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def compact(value: Any) -> str:
    """A value as a row name shows it: ``0.001``, ``175``, ``true``, ``flip+resized_crop``."""
    if value is _UNSET:
        return "unset"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        short = format(value, "g")
        return short if float(short) == value else repr(value)
    if isinstance(value, (list, tuple)):
        return "+".join(compact(v) for v in value) or "none"
    if isinstance(value, dict):
        return "{}"
    return str(value)


def short_names(keys: list[str], every: set[str]) -> dict[str, str]:
    """Each dotted key's shortest trailing part that no other key of ``every`` ends with:
    ``model_options.crops`` -> ``crops``, but ``recipe.loss`` stays whole beside ``model_options.loss``."""
    out = {}
    for key in keys:
        parts = key.split(".")
        out[key] = key
        for n in range(1, len(parts) + 1):
            tail = ".".join(parts[-n:])
            if sum(1 for k in every if k == tail or k.endswith("." + tail)) == 1:
                out[key] = tail
                break
    return out


def differing_keys(runs: pd.DataFrame, configs: dict[str, dict[str, Any]]) -> list[str]:
    """The keys whose values differ among one label's configurations within some column."""
    keys: set[str] = set()
    for _, col in runs.groupby(COLUMN, sort=False, dropna=False):
        flats = [configs[h] for h in col["identity"].unique()]
        if len(flats) < 2:
            continue
        every = set().union(*flats)
        keys |= {
            k
            for k in every
            if len({json.dumps(f.get(k), sort_keys=True, default=str) if k in f else "\0" for f in flats}) > 1
        }
    return sorted(keys)


def _label_rows(label: str, runs: pd.DataFrame) -> tuple[dict[str, str], list[str]]:
    """Row name per identity hash of one label's runs, and the (short) keys that name them."""
    configs = {h: flat_config(json.loads(c)) for h, c in zip(runs["identity"], runs["identity_config"])}
    if runs.groupby(COLUMN, dropna=False)["identity"].nunique().max() < 2:
        return {h: label for h in configs}, []
    keys = differing_keys(runs, configs)
    short = short_names(keys, set().union(*configs.values()))
    pairs = {h: [(short[k], compact(c.get(k, _UNSET))) for k in keys] for h, c in configs.items()}
    rows = {h: _name(label, p) for h, p in pairs.items()}
    named = runs.assign(row=runs["identity"].map(rows)).groupby(COLUMN, dropna=False)
    if any(g.groupby("row")["identity"].nunique().max() > 1 for _, g in named):  # one config, two hashes
        rows = {h: _name(label, p + [("identity", h[:8])]) for h, p in pairs.items()}
        keys.append("identity")
    return rows, [short.get(k, k) for k in keys]


def _name(label: str, pairs: list[tuple[str, str]]) -> str:
    return f"{label} ({', '.join(f'{k}={v}' for k, v in pairs)})"


def row_names(df: pd.DataFrame) -> tuple[pd.Series, dict[str, tuple[int, list[str]]]]:
    """The leaderboard row of every run (aligned with ``df``), and for each label split into
    several rows: how many configurations it holds and the keys that tell them apart."""
    df = with_trained_on(df)
    names = df["label"].astype(str).copy()
    split = {}
    for label, runs in df.groupby(df["label"].astype(str), sort=True):
        rows, keys = _label_rows(str(label), runs)
        if keys:
            names.loc[runs.index] = runs["identity"].map(rows)
            split[str(label)] = (len(set(rows.values())), keys)
    return names, split


def strict_refusal(split: dict[str, tuple[int, list[str]]]) -> str:
    """Why ``table --strict`` refuses: the labels holding several configurations, the keys that
    differ, and how to give each configuration its own label."""
    which = "; ".join(
        f"{label} holds {n} configurations that differ in {', '.join(keys)}"
        for label, (n, keys) in sorted(split.items())
    )
    return (
        f"--strict: {which}. Give each configuration its own label (gazebench run --label NAME, or "
        "'label:' on the model's entry in a suite), or leave out --strict to show one row per configuration"
    )
