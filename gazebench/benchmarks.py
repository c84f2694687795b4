"""Benchmark suites: named sweeps of datasets x models x folds x seeds under one recipe.

Suites live in ``benchmarks.yaml`` (names and keyword arguments only, no code)::

    benchmarks:
      quickstart:
        description: one line shown by ``gazebench run --benchmark``
        datasets:                       # a name, or {name, root, options, recipe, folds}
          - synthgaze
          - {name: rtgene, root: "${RTGENE_ROOT}", options: {variant: inpainted}}
        models:                         # a name, or {name, label, kwargs}
          - mean
          - {name: staticsc, label: staticsc-175, kwargs: {crops: 175}}
        model_kwargs: {backbone: resnet18}   # shared: given to every model that accepts the key
        folds: all                      # or a list of fold names
        seeds: [0, 1, 2]
        recipe: {epochs: 3, image_size: 64}  # over the dataset card's recipe

Layers, later wins: recipe defaults < the dataset card's ``recipe`` < the suite's ``recipe`` < the
dataset entry's ``recipe`` < ``--set``.  Model kwargs: the suite's shared ``model_kwargs`` (only
where the model accepts the key) < the model entry's ``kwargs`` < ``--set``.

Strings may use ``${VAR}`` or ``${VAR:-default}``; they are expanded when the suite is expanded into
units, so an unset variable of one suite never gets in the way of another.

A *unit* is one (dataset, fold, model config, seed); :func:`expand` turns a suite into one
:class:`~gazebench.runner.RunSpec` per unit and :func:`plan` finds each unit's result file without
reading any data, so a sweep knows what is done before it starts.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterable

import yaml

from gazebench.config import RECIPE_DEFAULTS, ConfigError, resolve_recipe, route_overrides
from gazebench.datasets.cards import SOURCE_ROOT
from gazebench.registry import closest

BENCHMARKS_FILE = "benchmarks.yaml"
SUITE_KEYS = ("description", "plugins", "datasets", "models", "model_kwargs", "folds", "seeds", "recipe")
DATASET_KEYS = ("name", "root", "options", "recipe", "folds")
MODEL_KEYS = ("name", "label", "kwargs")


class BenchmarkError(ConfigError):
    """A missing or malformed benchmark suite."""


# --- finding and reading the file ---------------------------------------------------------------


def benchmark_files() -> list[Path]:
    """Where ``benchmarks.yaml`` is looked up, first existing file wins: ``$GAZEBENCH_BENCHMARKS``,
    the checkout's ``benchmarks.yaml``, then the installed ``<prefix>/share/gazebench/benchmarks.yaml``."""
    files = []
    if os.environ.get("GAZEBENCH_BENCHMARKS"):
        files.append(Path(os.environ["GAZEBENCH_BENCHMARKS"]).expanduser())
    files.append(SOURCE_ROOT / BENCHMARKS_FILE)
    files.append(Path(sys.prefix) / "share" / "gazebench" / BENCHMARKS_FILE)
    return files


def find_benchmarks_file(path: str | Path | None = None) -> Path:
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise BenchmarkError(f"benchmark file {str(path)!r} does not exist")
        return path
    for candidate in benchmark_files():
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(p) for p in benchmark_files())
    raise BenchmarkError(f"no {BENCHMARKS_FILE} found; looked at {looked} (or pass --config FILE)")


def read_benchmarks(path: str | Path | None = None) -> tuple[Path, dict[str, Any]]:
    """The raw suites of the benchmark file (``{name: mapping}``) and the file they came from."""
    path = find_benchmarks_file(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise BenchmarkError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), dict):
        raise BenchmarkError(f"{path}: expected a mapping with a 'benchmarks' key holding the suites by name")
    return path, data["benchmarks"]


# --- the suite model ----------------------------------------------------------------------------


@dataclass
class DatasetEntry:
    name: str
    root: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)
    folds: Any = None  # None: the suite's folds


@dataclass
class ModelEntry:
    name: str
    label: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Suite:
    name: str
    source: Path
    description: str = ""
    datasets: list[DatasetEntry] = field(default_factory=list)
    models: list[ModelEntry] = field(default_factory=list)
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    folds: Any = "all"
    seeds: list[int] = field(default_factory=lambda: [0])
    recipe: dict[str, Any] = field(default_factory=dict)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BenchmarkError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
    return dict(value)


def _check_keys(given: dict[str, Any], allowed: Iterable[str], where: str) -> None:
    allowed = list(allowed)
    for key in given:
        if key not in allowed:
            raise BenchmarkError(f"{where}: unknown key {key!r}.{closest(str(key), allowed)} Keys: {', '.join(allowed)}")


def _seeds(value: Any, where: str) -> list[int]:
    values = value if isinstance(value, list) else [value]
    try:
        seeds = [int(s) for s in values]
    except (TypeError, ValueError):
        raise BenchmarkError(f"{where}: seeds must be integers, got {value!r}") from None
    if not seeds:
        raise BenchmarkError(f"{where}: needs at least one seed")
    return seeds


def parse_suite(name: str, raw: Any, source: Path) -> Suite:
    where = f"{source}: benchmark {name!r}"
    raw = _mapping(raw, where)
    _check_keys(raw, SUITE_KEYS, where)
    if raw.get("plugins"):
        from gazebench.plugins import load_plugin_files

        # plugin adapters/models register before the suite's names are looked up; paths are
        # relative to the benchmark file
        load_plugin_files(raw["plugins"], source.parent)
    datasets = []
    for i, entry in enumerate(raw.get("datasets") or []):
        w = f"{where}, datasets[{i}]"
        entry = {"name": entry} if isinstance(entry, str) else _mapping(entry, w)
        _check_keys(entry, DATASET_KEYS, w)
        if not entry.get("name"):
            raise BenchmarkError(f"{w}: needs a name")
        root = entry.get("root")
        datasets.append(DatasetEntry(str(entry["name"]), None if root in (None, "") else str(root),
                                     _mapping(entry.get("options"), f"{w}.options"),
                                     _mapping(entry.get("recipe"), f"{w}.recipe"), entry.get("folds")))
    models = []
    for i, entry in enumerate(raw.get("models") or []):
        w = f"{where}, models[{i}]"
        entry = {"name": entry} if isinstance(entry, str) else _mapping(entry, w)
        _check_keys(entry, MODEL_KEYS, w)
        if not entry.get("name"):
            raise BenchmarkError(f"{w}: needs a name")
        models.append(ModelEntry(str(entry["name"]), str(entry.get("label") or entry["name"]),
                                 _mapping(entry.get("kwargs"), f"{w}.kwargs")))
    if not datasets or not models:
        raise BenchmarkError(f"{where}: needs at least one dataset and one model")
    labels = [m.label for m in models]
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise BenchmarkError(f"{where}: label {dup[0]!r} is used by two model entries; give each variant its own label")
    return Suite(
        name=name,
        source=source,
        description=str(raw.get("description") or "").strip(),
        datasets=datasets,
        models=models,
        model_kwargs=_mapping(raw.get("model_kwargs"), f"{where}.model_kwargs"),
        folds=raw.get("folds", "all"),
        seeds=_seeds(raw.get("seeds", [0]), where),
        recipe=_mapping(raw.get("recipe"), f"{where}.recipe"),
    )


def load_suites(path: str | Path | None = None) -> dict[str, Suite]:
    source, raw = read_benchmarks(path)
    return {str(name): parse_suite(str(name), spec, source) for name, spec in raw.items()}


def get_suite(name: str, path: str | Path | None = None) -> Suite:
    """The suite ``name`` of the benchmark file (``path`` overrides the lookup)."""
    source, raw = read_benchmarks(path)
    if name not in raw:
        names = [str(n) for n in raw]
        raise BenchmarkError(f"no benchmark {name!r} in {source}.{closest(name, names)} Benchmarks: {', '.join(names)}")
    return parse_suite(name, raw[name], source)


# --- ${ENV} expansion ---------------------------------------------------------------------------

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(value: Any, where: str = "benchmark", environ: dict[str, str] | None = None) -> Any:
    """``${VAR}`` and ``${VAR:-default}`` in every string of ``value`` (nested lists/dicts too).
    An unset (or empty) variable takes its default; without one it is an error naming it."""
    env = os.environ if environ is None else environ
    if isinstance(value, dict):
        return {k: expand_env(v, f"{where}.{k}", env) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, f"{where}[{i}]", env) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        var, default = m.group(1), m.group(2)
        if env.get(var):
            return env[var]
        if default is not None:
            return default
        raise BenchmarkError(
            f"{where}: environment variable {var} is not set (it is used as ${{{var}}}); "
            f"export {var}=... or give a default as ${{{var}:-...}}"
        )

    return _ENV.sub(sub, value)


# --- expansion into units -----------------------------------------------------------------------


def _dataset_class(name: str) -> Any:
    import gazebench.datasets  # noqa: F401  (registers the built-in adapters)
    from gazebench.registry import DATASETS

    return DATASETS.get(name)


def _card_view(name: str) -> SimpleNamespace:
    """What the adapter's protocol methods read (card, name, option choices), without a root:
    folds and options can be resolved before any data is opened."""
    from gazebench.datasets.cards import load_card

    cls = _dataset_class(name)
    view = SimpleNamespace(cls=cls, card=load_card(name), name=name, option_choices=cls.option_choices)
    view.folds = lambda: cls.folds(view)
    return view


def card_folds(name: str) -> list[str]:
    view = _card_view(name)
    return list(view.cls.folds(view))


def _suite_folds(wanted: Any, all_folds: list[str], where: str) -> list[str]:
    if wanted is None or wanted == "all":
        return all_folds
    values = wanted if isinstance(wanted, list) else [wanted]
    folds = [str(f) for f in values]
    for f in folds:
        if f not in all_folds:
            raise BenchmarkError(f"{where}: fold {f!r} is not a fold of the dataset; folds: {', '.join(all_folds)} (or 'all')")
    return folds


def _applies(key: str, model_keys: list[str], data_keys: list[str]) -> bool:
    scope, _, bare = key.rpartition(".")
    return (
        (scope in ("", "recipe") and bare in RECIPE_DEFAULTS)
        or (scope in ("", "model") and bare in model_keys)
        or (scope in ("", "data") and bare in data_keys)
    )


def parse_roots(items: list[str] | None, datasets: list[str]) -> dict[str, str]:
    """``--root DIR`` (a one-dataset suite) or ``--root NAME=DIR`` (repeatable) -> {dataset: DIR}."""
    roots: dict[str, str] = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if sep and name in datasets:
            roots[name] = path
        elif len(datasets) == 1:
            roots[datasets[0]] = item
        else:
            raise BenchmarkError(
                f"--root {item!r}: this suite has datasets {', '.join(datasets)}; say which one as --root NAME=DIR"
            )
    return roots


def expand(
    suite: Suite,
    overrides: dict[str, Any] | None = None,
    roots: dict[str, str] | None = None,
    environ: dict[str, str] | None = None,
) -> list[Any]:
    """One RunSpec per unit, datasets x folds x seeds x models (models vary fastest, so a sweep
    stopped halfway leaves whole comparisons: every model on the folds and seeds it reached).

    ``overrides`` are ``--set`` values for every unit: recipe keys go to every unit, model and data
    keys to the units whose model / dataset takes them; a key nothing takes is an error that
    names the closest known key.  ``roots`` replace dataset roots ({dataset: DIR})."""
    import gazebench.models  # noqa: F401  (registers the models)
    from gazebench.models.base import model_kwargs
    from gazebench.registry import MODELS
    from gazebench.runner import RunSpec

    overrides = dict(overrides or {})
    roots = dict(roots or {})
    where = f"benchmark {suite.name!r}"
    for name in roots:
        if name not in [d.name for d in suite.datasets]:
            raise BenchmarkError(f"--root {name}=...: {where} has no dataset {name!r}")

    model_keys = {}
    for m in suite.models:
        MODELS.get(m.name)  # unknown names fail here, with suggestions
        model_keys[m.name] = list(model_kwargs(m.name))
        accepted = model_keys[m.name]
        for key in m.kwargs:
            if key not in accepted:
                raise BenchmarkError(
                    f"{where}, model {m.label!r}: {m.name} has no option {key!r}.{closest(key, accepted)} "
                    f"Options: {', '.join(accepted)}"
                )
    all_model_keys = sorted({k for keys in model_keys.values() for k in keys})
    for key in suite.model_kwargs:
        if key not in all_model_keys:
            raise BenchmarkError(f"{where}.model_kwargs: no model of the suite takes {key!r}.{closest(key, all_model_keys)}")
    data_keys = {d.name: list(_dataset_class(d.name).option_choices) for d in suite.datasets}
    all_data_keys = sorted({k for keys in data_keys.values() for k in keys})
    route_overrides(overrides, all_model_keys, all_data_keys)  # raises on a key nothing takes
    resolve_recipe(expand_env(suite.recipe, where, environ))  # bad recipe keys fail before any work

    specs = []
    for d in suite.datasets:
        dwhere = f"{where}, dataset {d.name!r}"
        root = roots.get(d.name)
        if root is None and d.root is not None:
            root = expand_env(d.root, f"{dwhere} root", environ) or None
        options = expand_env(d.options, f"{dwhere} options", environ)
        recipe = {**expand_env(suite.recipe, where, environ), **expand_env(d.recipe, f"{dwhere} recipe", environ)}
        folds = _suite_folds(d.folds if d.folds is not None else suite.folds, card_folds(d.name), dwhere)
        for fold in folds:
            for seed in suite.seeds:
                for m in suite.models:
                    keys = model_keys[m.name]
                    mine = {k: v for k, v in overrides.items() if _applies(k, keys, data_keys[d.name])}
                    set_recipe, set_model, set_data = route_overrides(mine, keys, data_keys[d.name])
                    shared = {k: v for k, v in suite.model_kwargs.items() if k in keys}
                    kwargs = expand_env({**shared, **m.kwargs}, f"{where}, model {m.label!r}", environ)
                    unit_recipe = {**recipe, **set_recipe}
                    resolve_recipe(unit_recipe)
                    specs.append(RunSpec(
                        dataset=d.name, model=m.name, fold=fold, seed=seed, root=root,
                        data_options={**options, **set_data}, model_kwargs={**kwargs, **set_model},
                        recipe=unit_recipe, label=m.label, benchmark=suite.name,
                    ))
    return specs


def dropped_overrides(suite: Suite, overrides: dict[str, Any]) -> dict[str, list[str]]:
    """``--set`` model/data keys that some units of the suite do not take: {key: [labels]}."""
    import gazebench.models  # noqa: F401
    from gazebench.models.base import model_kwargs

    out: dict[str, list[str]] = {}
    data_keys = sorted({k for d in suite.datasets for k in _dataset_class(d.name).option_choices})
    for key in overrides:
        for m in suite.models:
            if not _applies(key, list(model_kwargs(m.name)), data_keys):
                out.setdefault(key, []).append(m.label)
    return out


# --- planning: which units are done -------------------------------------------------------------


@dataclass
class PlannedUnit:
    spec: Any  # RunSpec
    unit: Any  # runner.Unit

    @property
    def done(self) -> bool:
        return self.unit.result_path.exists()


def plan(specs: list[Any], results_dir: str | Path, runs_dir: str | Path) -> list[PlannedUnit]:
    """Each spec's unit (result path included) from the dataset card alone: no data is read, no
    dataset is rendered, so a dry run is instant and works without the data."""
    from gazebench.runner import plan_unit

    views: dict[str, SimpleNamespace] = {}
    out = []
    for spec in specs:
        view = views.get(spec.dataset) or views.setdefault(spec.dataset, _card_view(spec.dataset))
        options = view.cls._resolve_options(view, spec.data_options)
        fold = view.cls.resolve_fold(view, spec.fold)
        out.append(PlannedUnit(spec, plan_unit(spec, view.card, options, fold, Path(results_dir), Path(runs_dir))))
    return out


def select(specs: list[Any], datasets: list[str] | None = None, models: list[str] | None = None,
           folds: list[str] | None = None, seeds: list[int] | None = None) -> list[Any]:
    """The units of a suite matching every given filter (model: a label or a model name); a filter
    value that matches no unit is an error naming what the suite has."""
    def check(values: list[Any] | None, known: set[Any], what: str) -> None:
        for v in values or []:
            if v not in known:
                names = sorted(map(str, known))
                raise BenchmarkError(f"the suite has no {what} {v!r}.{closest(str(v), names)} It has: {', '.join(names)}")

    check(datasets, {s.dataset for s in specs}, "dataset")
    check(models, {s.row_label for s in specs} | {s.model for s in specs}, "model")
    check(folds, {str(s.fold) for s in specs}, "fold")
    check(seeds, {s.seed for s in specs}, "seed")
    return [
        s for s in specs
        if (not datasets or s.dataset in datasets)
        and (not models or s.row_label in models or s.model in models)
        and (not folds or str(s.fold) in folds)
        and (seeds is None or s.seed in seeds)
    ]
