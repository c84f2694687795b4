"""Published reference rows: numbers papers report for cross-dataset tasks, read from cited YAML.

The files in ``gazebench/published/tables/`` (package data) hold, per source (a paper's table, or
the authors' repository file that reproduces it), the paper, venue, table, URL and the training and
test populations as the source states them, and rows (method, backbone, adaptation) with results
keyed ``"TRAIN -> TEST"`` (gazebench dataset names; ``"A+B -> C"`` for joint training).
:func:`load_references` flattens them into :class:`Reference` entries, one per published number,
each carrying every fact a reader needs to judge it.  The leaderboard shows them beside the
columns whose training datasets and test dataset match (:mod:`gazebench.leaderboard_table`).

A malformed entry is one :class:`~gazebench.core.options.ConfigError` line naming the file, the source
and the row or result.  Nothing here imports torch or pandas.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gazebench.core.options import ConfigError

#: where the shipped reference tables live (package data)
TABLE_DIR = Path(__file__).resolve().parent / "tables"
SOURCE_KEYS = ("key", "short", "paper", "venue", "table", "url", "training_populations", "test_populations", "rows")
ROW_KEYS = ("method", "backbone", "adaptation", "results")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_KEY = re.compile(r"^\s*([^>]+?)\s*->\s*(\S+?)\s*$")


@dataclass(frozen=True)
class Reference:
    """One published number: ``value`` (degrees, as printed in ``text``) of ``method`` trained on
    ``training`` (dataset names) and tested on ``test``, with the populations, adaptation, backbone
    and the source (paper, venue, table, url) it comes from; ``source`` is the source's key and
    ``short`` its short citation (``PureGaze, AAAI 2022``)."""

    source: str
    short: str
    paper: str
    venue: str
    table: str
    url: str
    method: str
    backbone: str
    adaptation: str
    training: tuple[str, ...]
    test: str
    training_population: str
    test_population: str
    value: float
    text: str
    file: str

    @property
    def adapted(self) -> bool:
        """Whether the number used target-domain data (an adaptation method), by its ``adaptation`` text."""
        return not self.adaptation.lower().startswith("none")

    def matches(self, training: tuple[str, ...] | list[str], test: str) -> bool:
        """Whether this number is for a column trained on ``training`` (in any order) and tested on ``test``."""
        return self.test == test and sorted(self.training) == sorted(training)


def _text(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def _parse_key(key: Any, where: str) -> tuple[tuple[str, ...], str]:
    """``"ethxgaze+gaze360 -> eyediap"`` -> (("ethxgaze", "gaze360"), "eyediap")."""
    match = _KEY.match(str(key))
    training = tuple(p.strip() for p in match.group(1).split("+")) if match else ()
    test = match.group(2) if match else ""
    names = [*training, test]
    if not match or not all(_NAME.match(n) for n in names) or test in training or len(set(training)) < len(training):
        raise ConfigError(
            f"{where}: is not 'TRAIN -> TEST' with gazebench dataset names "
            "(lower case; several training datasets joined by '+', none of them the test dataset), "
            "e.g. 'ethxgaze -> mpiifacegaze'"
        )
    return training, test


def _value(raw: Any, where: str) -> tuple[float, str]:
    """The published number and its text as printed; a mean angular error in degrees."""
    text = str(raw).strip() if isinstance(raw, (str, int, float)) and not isinstance(raw, bool) else ""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0 < value < 180):
        raise ConfigError(
            f"{where}: {raw!r} is not a mean angular error in degrees (a number between 0 and 180); "
            "leave out a number no source states"
        )
    return value, text


def _populations(data: Any, where: str, what: str) -> dict[str, str]:
    if not isinstance(data, dict) or not all(isinstance(k, str) and _text(v) for k, v in data.items()):
        raise ConfigError(
            f"{where}: {what} must map each dataset name to the population the source states "
            '("not stated" when it states none)'
        )
    return {k: _text(v) for k, v in data.items()}


def _row(source: dict[str, Any], row: Any, where: str, file: str) -> list[Reference]:
    missing = [k for k in ROW_KEYS if not isinstance(row, dict) or not row.get(k)]
    if missing:
        raise ConfigError(f'{where}: lacks {", ".join(missing)} ("not stated" where the source states nothing)')
    results = row["results"]
    if not isinstance(results, dict) or not results:
        raise ConfigError(f"{where}: results must map 'TRAIN -> TEST' to the published number")
    trains = {
        **source["training_populations"],
        **_populations(row.get("training_populations", {}), where, "training_populations"),
    }
    tests = {**source["test_populations"], **_populations(row.get("test_populations", {}), where, "test_populations")}
    out = []
    for key, raw in results.items():
        at = f"{where}, result {str(key)!r}"
        training, test = _parse_key(key, at)
        value, text = _value(raw, at)
        lacking = [d for d in training if d not in trains] + ([test] if test not in tests else [])
        if lacking:
            raise ConfigError(
                f"{at}: no population for {', '.join(lacking)} (add it to training_populations or "
                "test_populations of the source or the row)"
            )
        out.append(
            Reference(
                source=source["key"],
                short=_text(source["short"]),
                paper=_text(source["paper"]),
                venue=_text(source["venue"]),
                table=_text(source["table"]),
                url=_text(source["url"]),
                method=_text(row["method"]),
                backbone=_text(row["backbone"]),
                adaptation=_text(row["adaptation"]),
                training=training,
                test=test,
                training_population="; ".join(f"{d}: {trains[d]}" for d in training),
                test_population=tests[test],
                value=value,
                text=text,
                file=file,
            )
        )
    return out


def read_references(path: str | Path) -> list[Reference]:
    """Every published number of one reference file, in file order; a malformed file or entry is one
    ConfigError line naming the file and the entry."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"reference file {path}: cannot be read as YAML ({first})") from exc
    sources = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(sources, list) or not sources:
        raise ConfigError(f"reference file {path}: needs a non-empty list 'sources:'")
    out: list[Reference] = []
    seen: set[str] = set()
    for i, source in enumerate(sources, 1):
        name = source.get("key") if isinstance(source, dict) else None
        where = f"reference file {path}: source {name!r}" if name else f"reference file {path}: source {i}"
        missing = [k for k in SOURCE_KEYS if not isinstance(source, dict) or not source.get(k)]
        if missing:
            raise ConfigError(f'{where}: lacks {", ".join(missing)} ("not stated" where the source states nothing)')
        if name in seen:
            raise ConfigError(f"{where}: the key is used twice; each source needs its own")
        seen.add(name)
        source = {
            **source,
            "training_populations": _populations(source["training_populations"], where, "training_populations"),
            "test_populations": _populations(source["test_populations"], where, "test_populations"),
        }
        if not isinstance(source["rows"], list):
            raise ConfigError(f"{where}: rows must be a list of {{method, backbone, adaptation, results}}")
        for j, row in enumerate(source["rows"], 1):
            method = row.get("method") if isinstance(row, dict) else None
            out += _row(source, row, f"{where}, row {j}" + (f" ({_text(method)!r})" if method else ""), str(path))
    return out


@functools.cache
def _shipped(directory: Path) -> tuple[Reference, ...]:
    return tuple(r for path in sorted(directory.glob("*.yaml")) for r in read_references(path))


def load_references(directory: str | Path | None = None) -> list[Reference]:
    """Every published number of the reference files in ``directory`` (default: the shipped ones)."""
    return list(_shipped(Path(directory) if directory is not None else TABLE_DIR))


def matching(
    references: list[Reference] | tuple[Reference, ...], training: tuple[str, ...] | list[str], test: str
) -> list[Reference]:
    """The references for a column trained on ``training`` and tested on ``test``, in file order."""
    return [r for r in references if r.matches(training, test)]
