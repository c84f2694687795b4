"""Benchmark suites: named sweeps of datasets x models x folds x seeds under one recipe.

Suites live in ``benchmarks.yaml`` (names and keyword arguments only, no code)::

    benchmarks:
      quickstart:
        description: one line shown by ``gazebench run --benchmark``
        datasets:                       # a name, or {name, root, protocol, options, recipe, folds}
          - synthgaze
          - {name: rtgene, root: "${RTGENE_ROOT}", protocol: original, options: {variant: inpainted}}
        models:                         # a name, or {name, label, kwargs}
          - mean
          - {name: staticsc, label: staticsc-175, kwargs: {crops: 175}}
        model_kwargs: {backbone: resnet18}   # shared: given to every model that accepts the key
        folds: all                      # or a list of fold names
        seeds: [0, 1, 2]
        recipe: {epochs: 3, image_size: 64}  # over the protocol's recipe
        launcher: {max_parallel: 8, gpus_per_unit: 1, timeout_min: 240}  # for --launcher slurm|local

Each dataset is run under one of its card's protocols (``protocol:``; default: the card's
default protocol).  Layers, later wins: recipe defaults (:class:`gazebench.core.config.Recipe`) < the
protocol's ``recipe`` < the suite's ``recipe`` < the dataset entry's ``recipe`` < ``--set``.
Model kwargs: the protocol's ``model`` defaults and the suite's shared ``model_kwargs`` (each only
where the model accepts the key) < the model entry's ``kwargs`` < ``--set``.  Dataset options:
the protocol's ``data`` < the entry's ``options`` < ``--set``.

A suite's name becomes a folder, ``<results>/<name>/`` and ``<runs>/<name>/``, so it holds only
letters, digits, ``.``, ``_`` and ``-`` and starts with a letter or digit (a name such as
``../x`` is refused when the file is read; :func:`gazebench.core.paths.name_problem`).

Strings may use ``${VAR}`` or ``${VAR:-default}``; they are expanded when the suite is expanded into
units, so an unset variable of one suite never gets in the way of another.

This module reads and checks the file; :mod:`gazebench.plan.planning` turns a suite (or the anonymous
suite of a single ``gazebench run``) into units.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from gazebench.core.config import ConfigError
from gazebench.core.paths import SOURCE_ROOT, name_problem
from gazebench.core.registry import closest
from gazebench.core.request import LAUNCHERS, RESOURCE_KEYS, SUITE_ONLY_KEYS

if TYPE_CHECKING:
    from gazebench.datasets.cards import Card

BENCHMARKS_FILE = "benchmarks.yaml"
SUITE_KEYS = ("description", "plugins", "datasets", "models", "model_kwargs", "folds", "seeds", "recipe", "launcher")
DATASET_KEYS = ("name", "train", "root", "protocol", "options", "recipe", "folds", "test")
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
    protocol: str | None = None  # None: the card's default protocol
    test: list[str] = field(default_factory=list)  # cross-dataset tests (gazebench.train.cross)
    #: joint training (gazebench.plan.joint): the training datasets (``train: [A, B]``; ``name`` is then
    #: ``A+B``, sorted); ``roots`` and ``protocols``: per member; ``options``: the joint's options
    #: (sampling, sampling_weights) and, under a member's name, that member's data options
    members: list[str] = field(default_factory=list)
    roots: dict[str, Any] = field(default_factory=dict)
    protocols: dict[str, Any] = field(default_factory=dict)
    #: a test given as a mapping (``test: [{name: mpiifacegaze, protocol: gazehub, root: ..., options: ...}]``):
    #: its root, protocol and data options by name (a bare name: the card's default protocol)
    test_entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def trained_on(self) -> list[str]:
        """The datasets the entry trains on: its members, or its one dataset."""
        return list(self.members) or [self.name]


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
    launcher: dict[str, Any] = field(default_factory=dict)  # submitit resources (gazebench.plan.launch)


def _names(value: Any, where: str) -> list[str]:
    """A list of dataset names: ``[a, b]`` or ``"a, b"``; None -> []."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise BenchmarkError(f"{where}: expected a list of dataset names, got {value!r}")


TEST_KEYS = ("name", "root", "protocol", "options", "split")


def _tests(value: Any, where: str) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """A dataset entry's ``test:``: names, or mappings ``{name, root, protocol, options, split}`` (a
    test read under another protocol than its card's default, e.g. GazeHub's MPIIFaceGaze; ``split:
    all``: every labelled sample of a dataset held out of training, not only its test subjects) ->
    the names and the mappings by name."""
    if not isinstance(value, list) or all(isinstance(v, str) for v in value):
        return _names(value, where), {}
    names, entries = [], {}
    for i, item in enumerate(value):
        w = f"{where}[{i}]"
        item = {"name": item} if isinstance(item, str) else _mapping(item, w)
        _check_keys(item, TEST_KEYS, w)
        if not item.get("name"):
            raise BenchmarkError(f"{w}: needs a name")
        names.append(str(item["name"]))
        entries[str(item["name"])] = {
            "root": None if item.get("root") in (None, "") else str(item["root"]),
            "protocol": None if item.get("protocol") is None else str(item["protocol"]),
            "options": _mapping(item.get("options"), f"{w}.options"),
            "split": _test_split(item.get("split"), f"{w}.split"),
        }
    return names, entries


TEST_SPLITS = ("test", "all")


def _test_split(value: Any, where: str) -> str:
    if value is None:
        return "test"
    if value not in TEST_SPLITS:
        raise BenchmarkError(
            f"{where}: {value!r}; give test (the union of its folds' test subjects, the default) or all "
            "(every labelled sample: a dataset left out of training)"
        )
    return str(value)


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
            raise BenchmarkError(
                f"{where}: unknown key {key!r}.{closest(str(key), allowed)} Keys: {', '.join(allowed)}"
            )


def _seeds(value: Any, where: str) -> list[int]:
    values = value if isinstance(value, list) else [value]
    try:
        seeds = [int(s) for s in values]
    except (TypeError, ValueError):
        raise BenchmarkError(f"{where}: seeds must be integers, got {value!r}") from None
    if not seeds:
        raise BenchmarkError(f"{where}: needs at least one seed")
    return seeds


def _entries(raw: dict[str, Any], key: str, allowed: Iterable[str], where: str) -> list[tuple[str, dict[str, Any]]]:
    """The entries of a suite's ``datasets`` or ``models`` list as mappings (a bare name becomes
    ``{name: ...}``), each with its place for error messages; keys checked, a name required."""
    out = []
    for i, entry in enumerate(raw.get(key) or []):
        w = f"{where}, {key}[{i}]"
        entry = {"name": entry} if isinstance(entry, str) else _mapping(entry, w)
        _check_keys(entry, allowed, w)
        if not entry.get("name") and not entry.get("train"):
            raise BenchmarkError(
                f"{w}: needs a name" + (" (or train: [A, B] for joint training)" if key == "datasets" else "")
            )
        out.append((w, entry))
    return out


def parse_suite(name: str, raw: Any, source: Path) -> Suite:
    where = f"{source}: benchmark {name!r}"
    problem = name_problem(name)
    if problem:  # the name becomes results/<name>/ and runs/<name>/: no '..', '/' or hidden folder
        raise BenchmarkError(f"{where}: {problem}")
    raw = _mapping(raw, where)
    _check_keys(raw, SUITE_KEYS, where)
    if raw.get("plugins"):
        from gazebench.plugins import load_plugin_files

        # plugin adapters/models register before the suite's names are looked up; paths are
        # relative to the benchmark file
        load_plugin_files(raw["plugins"], source.parent)
    datasets = []
    for w, entry in _entries(raw, "datasets", DATASET_KEYS, where):
        if entry.get("train") is not None:
            datasets.append(_joint_entry(entry, w))
            continue
        root = entry.get("root")
        datasets.append(
            DatasetEntry(
                str(entry["name"]),
                None if root in (None, "") else str(root),
                _mapping(entry.get("options"), f"{w}.options"),
                _mapping(entry.get("recipe"), f"{w}.recipe"),
                entry.get("folds"),
                None if entry.get("protocol") is None else str(entry["protocol"]),
                *_tests(entry.get("test"), f"{w}.test")[:1],
                test_entries=_tests(entry.get("test"), f"{w}.test")[1],
            )
        )
    models = [
        ModelEntry(
            str(entry["name"]), str(entry.get("label") or entry["name"]), _mapping(entry.get("kwargs"), f"{w}.kwargs")
        )
        for w, entry in _entries(raw, "models", MODEL_KEYS, where)
    ]
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
        launcher=_launcher(raw.get("launcher"), f"{where}.launcher"),
    )


def _joint_entry(entry: dict[str, Any], where: str) -> DatasetEntry:
    """A dataset entry that trains on several datasets at once (``train: [A, B]``; gazebench.plan.joint)::

    - train: [ethxgaze, gaze360]
      root: {ethxgaze: "${ETHXGAZE_ROOT}", gaze360: "${GAZE360_ROOT}"}   # per member
      protocol: {gaze360: gazehub}       # per member (default: each card's default)
      options: {sampling: balanced, sampling_weights: "gaze360:2", gaze360: {layout: gazehub}}
      test: [mpiifacegaze]
    """
    members = _names(entry.get("train"), f"{where}.train")
    if len(members) < 2 or len(set(members)) != len(members):
        raise BenchmarkError(
            f"{where}.train: joint training needs two or more different datasets, got {members!r} "
            "(one dataset: give it as name:)"
        )
    if entry.get("name"):
        raise BenchmarkError(f"{where}: give either name: (one dataset) or train: (joint training), not both")
    from gazebench.datasets.joint import joint_name

    tests, test_entries = _tests(entry.get("test"), f"{where}.test")
    roots, protocols = (_member_map(entry.get(k), members + tests, f"{where}.{k}") for k in ("root", "protocol"))
    for t in tests:  # root: and protocol: may name the tests too (one mapping for a whole task)
        given = test_entries.setdefault(t, {"root": None, "protocol": None, "options": {}, "split": "test"})
        given["root"] = given["root"] or roots.pop(t, None)
        given["protocol"] = given["protocol"] or protocols.pop(t, None)
    return DatasetEntry(
        joint_name(members),
        None,
        _mapping(entry.get("options"), f"{where}.options"),
        _mapping(entry.get("recipe"), f"{where}.recipe"),
        entry.get("folds"),
        None,
        tests,
        sorted(members),
        roots,
        protocols,
        test_entries,
    )


def _member_map(value: Any, names: list[str], where: str) -> dict[str, Any]:
    """A joint entry's ``root:`` or ``protocol:``: a mapping by dataset (each key one of its
    training or test datasets)."""
    out = _mapping(value, where + " (a mapping by dataset, e.g. {gaze360: ...})")
    for key in out:
        if key not in names:
            raise BenchmarkError(
                f"{where}: {key!r} is not one of the entry's training or test datasets ({', '.join(names)})"
            )
    return {str(k): (None if v in (None, "") else str(v)) for k, v in out.items()}


def _launcher(value: Any, where: str) -> dict[str, Any]:
    """A suite's ``launcher:`` mapping (resources for ``--launcher``), keys checked; the values are
    checked when a launcher uses them (:func:`gazebench.plan.launch.launch_options`)."""
    out = _mapping(value, where)
    _check_keys(out, (*RESOURCE_KEYS, *SUITE_ONLY_KEYS, *LAUNCHERS), where)
    for name in LAUNCHERS:
        if name in out:
            out[name] = _mapping(out[name], f"{where}.{name}")
            _check_keys(out[name], (*RESOURCE_KEYS, *SUITE_ONLY_KEYS), f"{where}.{name}")
    return out


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


def parse_roots(items: list[str] | None, datasets: list[str], tests: list[str] | None = None) -> dict[str, str]:
    """``--root DIR`` (a one-dataset suite) or ``--root NAME=DIR`` (repeatable) -> {dataset: DIR}.
    ``tests``: the suite's cross-dataset test datasets, whose roots are given as NAME=DIR."""
    roots: dict[str, str] = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if sep and (name in datasets or name in (tests or [])):
            roots[name] = path
        elif len(datasets) == 1:
            roots[datasets[0]] = item
        else:
            raise BenchmarkError(
                f"--root {item!r}: this suite has datasets {', '.join(datasets)}; say which one as --root NAME=DIR"
            )
    return roots


def chosen_protocol(card: Card, name: str | None, where: str) -> str:
    """The protocol ``name`` of ``card`` (None: its default), checked: an unknown one names them."""
    from gazebench.datasets.cards import CardError

    try:
        return card.protocol(name).name
    except CardError as exc:
        raise BenchmarkError(f"{where}: {exc}") from None
