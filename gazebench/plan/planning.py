"""From a request to units: ``expand`` a suite into run specs, ``plan`` each into a unit.

Every ``gazebench run`` goes this one way.  A named benchmark suite comes from benchmarks.yaml
(:mod:`gazebench.plan.suites`); a single ``gazebench run --dataset D --model M`` is an *anonymous*
suite of that one dataset and those models (:func:`single_run_suite`).  Then:

1. :func:`expand` -- one :class:`RunSpec` per (dataset, fold, seed, model config), with the
   suite's recipe and options and the ``--set`` values routed to the units that take them
   (:func:`gazebench.core.config.route_settings`); a key that no unit takes is an error.
2. :func:`select` -- the ``--dataset/--model/--fold/--seed`` filters.
3. :func:`plan` -- each spec resolved against its dataset's card and declared options into a
   :class:`Unit`: recipe filled in, fold named, unit id and result path fixed.  Only the card is
   read -- never the data -- so ``--dry-run`` works on any request, with or without the data.

A :class:`gazebench.core.request.Request` goes all three steps at once: :func:`plan_request`.
The runner (:func:`gazebench.train.runner.run_unit`) executes units.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gazebench.core.config import NOT_IN_UNIT_ID, ConfigError, Recipe, route_settings, takes, unknown_setting
from gazebench.core.paths import folder_name, inside
from gazebench.core.registry import closest
from gazebench.core.request import Request
from gazebench.declared import (
    dataset_card,
    dataset_class,
    dataset_option_keys,
    model_is_trained,
    model_option_keys,
    model_options_without_effect,
    resolved_model_kwargs,
)  # noqa: F401
from gazebench.plan.cross_entries import cross_all, cross_protocols, cross_settings
from gazebench.plan.suites import BenchmarkError, DatasetEntry, ModelEntry, Suite, chosen_protocol, expand_env
from gazebench.results.unit import RunSpec, Unit

# --- requests -> suites ---------------------------------------------------------------------------


def csv_list(value: str | None) -> list[str] | None:
    """``"a, b"`` -> ``["a", "b"]``; None or "" -> None."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def single_run_suite(
    dataset: str,
    models: list[str],
    seeds: list[int],
    root: str | None = None,
    label: str | None = None,
    protocol: str | None = None,
    test: list[str] | None = None,
    members: list[str] | None = None,
) -> Suite:
    """The anonymous suite of ``gazebench run --dataset D --model M[,M2] --seed S``: all the
    card's folds (``--fold`` then selects), the given seeds, the given protocol (None: the card's
    default), no recipe of its own; ``test``: datasets to evaluate the trained units on
    (``--test``, gazebench.train.cross); ``members``: train on these datasets at once (``--train A,B``,
    gazebench.plan.joint; ``dataset`` is then ignored)."""
    if label is not None and len(models) != 1:
        raise ConfigError(f"--label names one configuration's row; got {len(models)} models ({', '.join(models)})")
    entries = [ModelEntry(m, label or m) for m in models]
    if members:
        from gazebench.plan.suites import _joint_entry

        entry = _joint_entry({"train": list(members), "test": list(test or [])}, "--train")
    else:
        entry = DatasetEntry(dataset, root, protocol=protocol, test=list(test or []))
    return Suite(name="", source=Path("<command line>"), datasets=[entry], models=entries, folds="all", seeds=seeds)


# --- expand ---------------------------------------------------------------------------------------


def _check_model_entries(suite: Suite, where: str) -> None:
    from gazebench.model_catalog import check_options

    for m in suite.models:
        try:
            check_options(m.name, m.kwargs)  # an unknown model fails here too, with suggestions
        except TypeError as exc:
            raise BenchmarkError(f"{where}, model {m.label!r}: {exc}") from None
    every = sorted({k for m in suite.models for k in model_option_keys(m.name)})
    for key in suite.model_kwargs:
        if key not in every:
            raise BenchmarkError(f"{where}.model_kwargs: no model of the suite takes {key!r}.{closest(key, every)}")


def _check_settings(suite: Suite, settings: dict[str, Any]) -> None:
    """A ``--set`` key must be taken by at least one unit of the suite: the one unknown-key error."""
    from gazebench.plan.joint import data_keys as entry_data_keys

    model_keys = {k for m in suite.models for k in model_option_keys(m.name)}
    data_keys = {k for d in suite.datasets for k in entry_data_keys(d)}
    data_keys |= {k for d in suite.datasets for name in d.test for k in dataset_option_keys(name)}
    for key in settings:
        if not takes(key, model_keys, data_keys):
            raise unknown_setting(key, model_keys, data_keys)


def suite_folds(wanted: Any, card: Any, where: str) -> list[str]:
    """``all`` (or None): the card's folds; else the named ones, each checked against the card."""
    folds = card.folds()
    if wanted is None or wanted == "all":
        return folds
    chosen = [str(f) for f in (wanted if isinstance(wanted, list) else [wanted])]
    for f in chosen:
        if f not in folds:
            raise BenchmarkError(
                f"{where}: fold {f!r} is not a fold of {card.name}; folds: {', '.join(folds)} (or 'all')"
            )
    return chosen


def _dataset_specs(
    suite: Suite,
    d: DatasetEntry,
    settings: dict[str, Any],
    root: str | None,
    environ: dict[str, str] | None,
    protocol: str | None = None,
    cross_roots: dict[str, str] | None = None,
    root_map: dict[str, str] | None = None,
) -> list[RunSpec]:
    if d.members:
        from gazebench.plan.joint import joint_specs

        return joint_specs(suite, d, settings, root_map or {}, environ, protocol, cross_roots or {})
    where = f"benchmark {suite.name!r}" if suite.name else "run"
    dwhere = f"{where}, dataset {d.name!r}"
    if root is None and d.root is not None:
        root = expand_env(d.root, f"{dwhere} root", environ) or None
    options = expand_env(d.options, f"{dwhere} options", environ)
    recipe = {**expand_env(suite.recipe, where, environ), **expand_env(d.recipe, f"{dwhere} recipe", environ)}
    card = dataset_card(d.name)
    folds = suite_folds(d.folds if d.folds is not None else suite.folds, card, dwhere)
    protocol = chosen_protocol(card, protocol or d.protocol, dwhere)
    data_keys = dataset_option_keys(d.name)
    cross = tuple((t, (cross_roots or {}).get(t)) for t in d.test)
    for t in d.test:
        dataset_card(t)  # an unknown test dataset fails here, with suggestions
        if t == d.name:
            raise BenchmarkError(
                f"{dwhere}: test dataset {t!r} is the training dataset (its own test split is evaluated anyway)"
            )
    specs = []
    for fold in folds:
        for seed in suite.seeds:
            for m in suite.models:
                keys = model_option_keys(m.name)
                mine = route_settings({k: v for k, v in settings.items() if takes(k, keys, data_keys)}, keys, data_keys)
                shared = {k: v for k, v in suite.model_kwargs.items() if k in keys}
                kwargs = expand_env({**shared, **m.kwargs}, f"{where}, model {m.label!r}", environ)
                tested = cross_settings(d, settings, keys, environ, where)
                specs.append(
                    RunSpec(
                        dataset=d.name,
                        model=m.name,
                        fold=fold,
                        seed=seed,
                        root=root,
                        data_options={**options, **mine.data},
                        model_kwargs={**kwargs, **mine.model},
                        recipe={**recipe, **mine.recipe},
                        label=m.label,
                        benchmark=suite.name or None,
                        protocol=protocol,
                        cross=cross,
                        cross_options={t: o for t, o in tested.items() if o},
                        cross_protocols=cross_protocols(d),
                        cross_all=cross_all(d),
                    )
                )
    return specs


def expand(
    suite: Suite,
    settings: dict[str, Any] | None = None,
    roots: dict[str, str] | None = None,
    environ: dict[str, str] | None = None,
    protocol: str | None = None,
) -> list[RunSpec]:
    """One RunSpec per unit: datasets x folds x seeds x models (models vary fastest, so a sweep
    stopped halfway leaves whole comparisons).  ``settings`` are ``--set`` values, each routed to
    the units that take it; ``roots`` replace dataset roots ({dataset: DIR}); ``protocol``
    (``--protocol``) replaces every dataset's protocol."""
    settings, roots = dict(settings or {}), dict(roots or {})
    where = f"benchmark {suite.name!r}" if suite.name else "run"
    for name in roots:
        if name not in [n for d in suite.datasets for n in (*d.trained_on, *d.test)]:
            raise BenchmarkError(f"--root {name}=...: {where} has no dataset {name!r}")
    _check_model_entries(suite, where)
    _check_settings(suite, settings)
    Recipe.resolve(expand_env(suite.recipe, where, environ))  # bad recipe keys fail before any work
    cross_roots = {**test_roots(suite, where, environ), **roots}
    return [
        spec
        for d in suite.datasets
        for spec in _dataset_specs(suite, d, settings, roots.get(d.name), environ, protocol, cross_roots, roots)
    ]


def test_roots(suite: Suite, where: str, environ: dict[str, str] | None) -> dict[str, str]:
    """The roots of the suite's own dataset entries that other entries test on (``test:``): a
    dataset trained in the suite is tested from the same folder (``--root NAME=DIR`` wins)."""
    tested = {t for d in suite.datasets for t in d.test}
    roots = {
        d.name: expand_env(d.root, f"{where}, dataset {d.name!r} root", environ)
        for d in suite.datasets
        if d.name in tested and d.root
    }
    for d in suite.datasets:  # a test entry's own root (test: [{name: D, root: ...}])
        for t, entry in d.test_entries.items():
            if entry.get("root") and t not in roots:
                roots[t] = expand_env(entry["root"], f"{where}, test {t!r} root", environ)
    # a joint entry's member roots serve the other entries too (a leave-one-dataset-out suite names each root once)
    for d in suite.datasets:
        for m, r in d.roots.items():
            if r and m not in roots:
                roots[m] = expand_env(r, f"{where}, dataset {d.name!r} root of {m}", environ)
    return {k: v for k, v in roots.items() if v}


def dropped_settings(suite: Suite, settings: dict[str, Any]) -> dict[str, list[str]]:
    """``--set`` keys that some model configs of the suite do not take: {key: [labels]}."""
    from gazebench.plan.joint import data_keys as entry_data_keys

    data_keys = sorted(
        {k for d in suite.datasets for k in entry_data_keys(d)}
        | {k for d in suite.datasets for name in d.test for k in dataset_option_keys(name)}
    )
    out: dict[str, list[str]] = {}
    for key in settings:
        for m in suite.models:
            if not takes(key, model_option_keys(m.name), data_keys):
                out.setdefault(key, []).append(m.label)
    return out


# --- select ---------------------------------------------------------------------------------------


def select(
    specs: list[RunSpec],
    datasets: list[str] | None = None,
    models: list[str] | None = None,
    folds: list[str] | None = None,
    seeds: list[int] | None = None,
) -> list[RunSpec]:
    """The specs matching every given filter (model: a label or a model name); a filter value that
    matches no spec is an error naming what there is."""

    def check(values: list[Any] | None, known: set[Any], what: str) -> None:
        for v in values or []:
            if v not in known:
                names = sorted(map(str, known))
                raise ConfigError(
                    f"--{what} {v}: not among the units asked for.{closest(str(v), names)} "
                    f"They have {what}s: {', '.join(names)}"
                )

    check(datasets, {s.dataset for s in specs}, "dataset")
    check(models, {s.row_label for s in specs} | {s.model for s in specs}, "model")
    check(folds, {str(s.fold) for s in specs}, "fold")
    check(seeds, {s.seed for s in specs}, "seed")
    return [
        s
        for s in specs
        if (not datasets or s.dataset in datasets)
        and (not models or s.row_label in models or s.model in models)
        and (not folds or str(s.fold) in folds)
        and (seeds is None or s.seed in seeds)
    ]


# --- plan -----------------------------------------------------------------------------------------


def unit_id(identity: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:10]


def plan_unit(spec: RunSpec, results_dir: str | Path, runs_dir: str | Path) -> Unit:
    """The unit of ``spec`` from its dataset's card and declared options alone (no data is read)."""
    from gazebench.datasets.base import resolve_dataset_options

    if spec.members:  # joint training: the composite's card, protocol and options (gazebench.plan.joint)
        from gazebench.plan.joint import plan_joint

        card, protocol, options = plan_joint(spec)
    else:
        card = dataset_card(spec.dataset)
        protocol = card.protocol(spec.protocol)
        options = resolve_dataset_options(dataset_class(spec.dataset), {**protocol.data, **spec.data_options})
    keys = set(model_option_keys(spec.model)) - model_options_without_effect(spec.model, spec.model_kwargs)
    model_kwargs = {**{k: v for k, v in protocol.model.items() if k in keys}, **spec.model_kwargs}
    fold = card.resolve_fold(spec.fold)
    recipe = Recipe.resolve(protocol.recipe, spec.recipe)
    if recipe.epochs == 0 and model_is_trained(spec.model) and recipe.published is None:
        raise ConfigError(
            f"recipe epochs=0: model {spec.model!r} is trained by gradient descent and needs "
            "epochs >= 1 (only fitted baselines such as mean, and published checkpoints "
            "(init=published:NAME), run without epochs)"
        )
    if recipe.published is not None and not model_kwargs.get("weights_file"):
        raise ConfigError(
            f"recipe init={recipe.init}: give the checkpoint file with --set weights_file=FILE "
            "(docs/published.md says where the authors host it)"
        )
    identity = {
        "dataset": spec.dataset,
        "card_version": card.version,
        "protocol": protocol.name,
        "data_options": options,
        "model": spec.model,
        "model_kwargs": model_kwargs,
        "recipe": {k: v for k, v in recipe.as_dict().items() if k not in NOT_IN_UNIT_ID},  # not the loggers
        "fold": fold,
        "seed": spec.seed,
    }
    uid = unit_id(identity)
    rel = Path(spec.dataset) / folder_name(spec.row_label) / f"fold-{fold}_seed-{spec.seed}_{uid}"
    return Unit(
        spec,
        fold,
        recipe,
        options,
        resolved_model_kwargs(spec.model, model_kwargs),
        card,
        uid,
        inside(results_dir, rel.with_suffix(".json")),
        inside(runs_dir, rel, what="run"),
        protocol,
    )


def plan(specs: list[RunSpec], results_dir: str | Path, runs_dir: str | Path) -> list[Unit]:
    """Every spec's unit, result path included: a dry run is instant and needs no data."""
    return [plan_unit(spec, results_dir, runs_dir) for spec in specs]


def note_dropped(suite: Suite, settings: dict[str, Any]) -> None:
    for key, labels in dropped_settings(suite, settings).items():
        print(
            f"note: --set {key} does not apply to {', '.join(sorted(set(labels)))} (not an option of that model)",
            file=sys.stderr,
        )


# --- a request ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """A request planned: its suite (named, or the anonymous suite of a single run), the units
    and the folders their results and runs go to (a named suite's own subfolders)."""

    suite: Suite
    units: list[Unit]
    results_dir: Path
    runs_dir: Path


def canonical_datasets(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Each registered alias replaced by its dataset's own name (``rt-gene`` -> ``rtgene``): cards,
    results and unit ids use that name.  An unknown name is left for the caller to report."""
    if not names:
        return ()
    import gazebench.datasets  # noqa: F401  (registers the built-in adapters)
    from gazebench.core.registry import DATASETS

    return tuple(DATASETS.canonical(n) for n in names)


def plan_request(request: Request) -> Planned:
    """The request expanded (its settings routed, its roots given), filtered and planned."""
    from gazebench.core.errors import UserValueError
    from gazebench.plan.suites import get_suite, parse_roots

    datasets, train, test = (canonical_datasets(v) for v in (request.datasets, request.train, request.test))
    folds = None if request.folds in ((), ("all",)) else list(request.folds)
    seeds = list(request.seeds) or None
    members = list(train) if len(train) > 1 else None  # joint training
    if members and (datasets or request.benchmark):
        raise UserValueError(
            f"--train {','.join(train)}: joint training is a single run (no --dataset"
            + (", no --benchmark: in a suite give a dataset entry 'train: [A, B]')" if request.benchmark else ")")
        )
    if train and datasets and train != datasets:
        raise UserValueError(
            f"--train {','.join(train)} and --dataset {','.join(datasets)} name different datasets; give one"
        )
    datasets = datasets or (() if members else train)
    if request.benchmark:
        if test:
            raise UserValueError(
                "--test is for a single run; in a suite give a dataset entry 'test: [D2, ...]' (benchmarks.yaml)"
            )
        if request.label:
            raise UserValueError("--label names a single run's row; a suite's labels come from benchmarks.yaml")
        suite = get_suite(request.benchmark, request.config)
        # a joint entry is named by its training datasets joined with '+', in any order
        wanted = [("+".join(sorted(d.split("+"))) if "+" in d else d) for d in datasets]
        filters = {"datasets": wanted or None, "models": list(request.models) or None, "folds": folds, "seeds": seeds}
        results_dir = inside(request.results, suite.name, what="results")
        runs_dir = inside(request.runs, suite.name, what="runs")
    else:
        if request.config:
            raise UserValueError("--config needs --benchmark NAME")
        dataset = ",".join(datasets) or "synthgaze"
        suite = single_run_suite(
            dataset,
            list(request.models) or ["static"],
            seeds or [0],
            label=request.label,
            protocol=request.protocol,
            test=list(test),
            members=members,
        )
        if not request.folds:
            folds = ["default"] if members else [dataset_card(dataset).resolve_fold(None)]
        filters = {"folds": folds}
        results_dir, runs_dir = Path(request.results), Path(request.runs)
    settings = request.settings()
    roots = parse_roots(
        list(request.roots),
        [n for d in suite.datasets for n in d.trained_on],
        [t for d in suite.datasets for t in d.test],
    )
    specs = select(expand(suite, settings, roots, protocol=request.protocol), **filters)
    note_dropped(suite, settings)
    return Planned(suite, plan(specs, results_dir, runs_dir), results_dir, runs_dir)
