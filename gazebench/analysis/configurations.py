"""One configuration per label: the runs an analysis compares by label, checked and paired.

An analysis that compares labels (``findings``: "staticsc-175 beats staticsc") must compare two
*configurations*, each over its seeds.  :func:`one_configuration` takes a label's runs and returns
them as a :class:`Side` when they are one configuration identity (:mod:`gazebench.results.identity`) with
one run per (fold, seed); otherwise it refuses, in one line, as ``gazebench compare`` and ``table
--strict`` do:

- two identities under one label: the keys whose values differ between them (``batch_size=16`` vs
  ``batch_size=32``), each identity's short hash and runs, and the fix (narrow the runs, or give
  each configuration its own label);
- two runs of one (identity, fold, seed): both files, and the fix.

The same file named twice is one run.  :func:`paired_runs` pairs two sides by (fold, seed) and says
in words what it paired and what it left without a partner (:func:`runs_text`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gazebench.core.options import ConfigError

#: the first hex digits of an identity hash that name it in tables and messages (as row names do)
SHORT = 8
FIX = (
    "narrow the runs (--benchmark, --dataset, or --run for each run) or give each configuration its own "
    "label (gazebench run --label NAME, or 'label:' on the model's entry in a suite)"
)


@dataclass(frozen=True)
class Side:
    """A label's runs: one configuration identity, one run per (fold, seed), sorted by fold and seed."""

    label: str
    identity: str
    runs: tuple

    @property
    def short(self) -> str:
        return self.identity[:SHORT]


def identity_of(run: Any) -> str:
    """A run's configuration identity hash (the record's ``identity.hash``)."""
    value = run.record.identity.hash
    if not value:
        raise ConfigError(
            f"{run.path}: the record has no configuration identity (identity.hash); re-run the unit "
            "with this version of gazebench"
        )
    return str(value)


def one_configuration(label: str, runs: list) -> Side:
    """``runs`` (all labelled ``label``) as one :class:`Side`, or the refusal (module docstring)."""
    by_identity: dict[str, list] = {}
    for run in runs:
        by_identity.setdefault(identity_of(run), []).append(run)
    if len(by_identity) > 1:
        raise ConfigError(several_configurations(label, by_identity))
    ((identity, mine),) = by_identity.items()
    by_unit: dict[tuple[str, str], dict[str, Any]] = {}
    for run in mine:
        by_unit.setdefault(unit_key(run), {})[str(run.path.resolve())] = run
    for (fold, seed), files in sorted(by_unit.items()):
        if len(files) > 1:
            raise ConfigError(
                f"{label} (identity {identity[:SHORT]}) has {len(files)} runs of fold {fold} seed {seed}: "
                f"{' and '.join(sorted(str(r.path) for r in files.values()))}; which one counts is "
                "ambiguous: move the one that should not count out of the results folder, or name the "
                "runs with --run"
            )
    ordered = sorted((next(iter(files.values())) for files in by_unit.values()), key=lambda r: order(unit_key(r)))
    return Side(label, identity, tuple(ordered))


def several_configurations(label: str, by_identity: dict[str, list]) -> str:
    """The one-line refusal of a label holding several identities: what differs, and the fix."""
    from gazebench.leaderboard_rows import compact, short_names

    configs = {h: flat_identity(runs[0].record.identity.config) for h, runs in by_identity.items()}
    every = set().union(*configs.values())
    keys = sorted(k for k in every if len({shown_value(c, k) for c in configs.values()}) > 1)
    short = short_names(keys, every)
    shown = []
    for h, runs in sorted(by_identity.items()):
        values = ", ".join(f"{short[k]}={compact(configs[h][k]) if k in configs[h] else 'unset'}" for k in keys)
        shown.append(f"{h[:SHORT]} ({values or 'configs not recorded'}; {runs_text(unit_key(r) for r in runs)})")
    return (
        f"{label} holds {len(by_identity)} configurations in these runs: {' and '.join(shown)}; a claim "
        f"compares one configuration per label: {FIX}"
    )


def shown_value(config: dict[str, Any], key: str) -> str:
    return json.dumps(config[key], sort_keys=True, default=str) if key in config else "\0"


def flat_identity(config: dict[str, Any]) -> dict[str, Any]:
    """An identity config as dotted keys (``recipe.batch_size``), the dataset's keys included."""
    from gazebench.leaderboard_rows import COLUMN_CONFIG_KEYS, flat_config

    flat = flat_config(config)
    for key in COLUMN_CONFIG_KEYS:
        if key in config:
            value = config[key]
            flat.update(flat_config(value, f"{key}.") if isinstance(value, dict) and value else {key: value})
    return flat


def unit_key(run: Any) -> tuple[str, str]:
    return str(run.fold), str(run.seed)


def order(key: tuple[str, str]) -> tuple:
    """Folds and seeds in numeric order where they are numbers."""
    return tuple((not k.lstrip("-").isdigit(), int(k) if k.lstrip("-").isdigit() else 0, k) for k in key)


def runs_text(keys: Any) -> str:
    """``seeds 0, 1, 2`` (fold ``default``), ``fold 0: seeds 0, 1; fold 1: seed 0`` otherwise."""
    seeds_of: dict[str, list[str]] = {}
    for fold, seed in sorted(set(keys), key=order):
        seeds_of.setdefault(fold, []).append(seed)
    parts = [
        ("" if fold == "default" else f"fold {fold}: ") + ("seeds " if len(s) > 1 else "seed ") + ", ".join(s)
        for fold, s in seeds_of.items()
    ]
    return "; ".join(parts) or "no runs"


def paired_runs(a: Side, b: Side) -> tuple[list[tuple[Any, Any]], str]:
    """The runs of ``a`` and ``b`` with the same fold and seed, and in words what was paired."""
    mine, theirs = {unit_key(r): r for r in a.runs}, {unit_key(r): r for r in b.runs}
    shared = sorted(set(mine) & set(theirs), key=order)
    if not shared:
        raise ConfigError(
            f"no fold and seed shared by {a.label} ({runs_text(mine)}) and {b.label} ({runs_text(theirs)})"
        )
    text = f"{runs_text(shared)} ({len(shared)} pair{'s' if len(shared) > 1 else ''})"
    left = [
        f"{side.label} {runs_text(set(keyed) - set(shared))}"
        for side, keyed in ((a, mine), (b, theirs))
        if set(keyed) - set(shared)
    ]
    if left:
        text += f"; without a partner: {', '.join(left)}"
    return [(mine[k], theirs[k]) for k in shared], text
