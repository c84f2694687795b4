"""Flags that mean the same in every command, as argparse parent parsers, and their parsing.

- ``--dataset NAME``: the dataset a command works on (``table``/``run --benchmark``: a filter,
  comma separated); ``--root DIR`` its folder; ``--set KEY=VALUE`` a recipe key, model option or
  data option, routed by :func:`gazebench.core.config.route_settings` (a command that has no model or
  recipe takes data options only, and says so for any other key).
- ``--results DIR``: the results folder (default ``results/``) that runs write and tables read.
- ``--plugin FILE`` and ``--traceback`` are global (:mod:`gazebench.cli`): accepted before or
  after the command name.

Nothing here imports torch, pandas or the adapters: ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gazebench.core.options import csv_flag
from gazebench.core.request import RESULTS_HELP, SET_HELP

PLUGIN_HELP = (
    "a Python file that registers datasets, models or losses (repeatable; a dataset's card "
    "may sit beside it as <name>.yaml); see docs/adding-a-dataset.md"
)


def global_flags(add_help: bool = False) -> argparse.ArgumentParser:
    """``--plugin`` and ``--traceback``: read by a pre-parse before the commands are built."""
    p = argparse.ArgumentParser(add_help=add_help, allow_abbrev=False)
    p.add_argument("--plugin", dest="plugins", action="append", default=[], metavar="FILE", help=PLUGIN_HELP)
    p.add_argument("--traceback", action="store_true", help="show the full traceback on errors")
    return p


def results_flag() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--results", default=Path("results"), type=Path, help=RESULTS_HELP)
    return p


def dataset_flags(default: str | None = "synthgaze") -> argparse.ArgumentParser:
    """``--dataset``, ``--root``, ``--set`` for a command that works on one dataset."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--dataset", default=default, help=f"registered dataset (default: {default})")
    p.add_argument("--root", help="dataset root (default: the data root's <dataset> folder)")
    p.add_argument(
        "--protocol",
        help="read the data as this protocol of the dataset's card does (its data options, "
        "e.g. RT-GENE's image variant; default: the card's default protocol)",
    )
    sets_flag(p)
    return p


def sets_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="sets", action="append", metavar="KEY=VALUE", default=[], help=SET_HELP)


def data_options(dataset: str, sets: list[str], command: str, protocol: str | None = None) -> dict[str, Any]:
    """The data options of a command that reads data without training (``check-data``,
    ``prepare``): the protocol's (``--protocol``, default the card's default protocol, so the
    files checked or cached are the ones a default run reads), under the ``--set`` values, routed
    like everywhere else, so an unknown key gets the same error; a recipe or model key is an
    error saying this command does not train."""
    from gazebench.core.config import ConfigError, parse_sets, route_settings
    from gazebench.declared import dataset_card, dataset_option_keys

    routed = route_settings(parse_sets(sets), (), dataset_option_keys(dataset))
    if routed.recipe:
        raise ConfigError(
            f"gazebench {command} takes data options only; {', '.join(routed.recipe)} "
            "is a recipe key (use it with gazebench run)"
        )
    return {**dataset_card(dataset).protocol(protocol).data, **routed.data}


def check_benchmark(name: str | None, results: Path) -> None:
    """``--benchmark NAME`` of a command that reads results (``table``, ``report``): a name that is
    neither a suite of the benchmark file nor a folder of ``results`` (where ``run --benchmark``
    writes) is a user error naming the suites, not an empty table."""
    if name is None or (Path(results) / name).is_dir():
        return
    from gazebench.core.errors import GazebenchError, UserValueError
    from gazebench.core.registry import closest
    from gazebench.plan.suites import read_benchmarks

    try:
        source, raw = read_benchmarks()
    except GazebenchError:  # no benchmark file, or a broken one: only the results can tell
        source, raw = None, {}
    names = [str(n) for n in raw]
    if name in names:
        return  # a suite not run yet: the command says it has no results
    where = f"no suite of that name in {source}" if source else "no benchmark file"
    known = f" Benchmarks: {', '.join(names)}" if names else ""
    raise UserValueError(
        f"--benchmark {name!r}: {where} and no {Path(results) / name} folder.{closest(name, names)}{known}"
    )


def dataset_names(value: str | None) -> str | None:
    """A ``--dataset`` value (comma separated) with each registered alias replaced by the dataset's
    own name (``rt-gene`` -> ``rtgene``; :func:`gazebench.plan.planning.canonical_datasets`)."""
    if not value:
        return value
    from gazebench.plan.planning import canonical_datasets

    return ",".join(canonical_datasets(csv_flag(value) or []))
