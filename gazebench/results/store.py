"""Run records: one small JSON per finished unit of work, written atomically and last.

A record is a :class:`gazebench.results.record_model.ResultRecord` (typed; its JSON Schema ships as
``gazebench/schemas/result.schema.json``): :func:`write_record` writes one through the model,
:func:`load_record` reads one back (an older schema version upgraded on the way,
:func:`gazebench.results.record_model.upgrade`).  ``load_results(dir)`` reads every record under ``dir``
into a flat pandas DataFrame, one row per run, skipping (and naming) files that cannot be read, and,
with one note, the records of predict-only runs (test labels withheld: no metrics to rank; see
gazebench/train/runner.py).
"""

from __future__ import annotations

import json
import time
import warnings
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gazebench.core.atomic import atomic_write
from gazebench.core.lazymodule import LazyModule

if TYPE_CHECKING:
    from gazebench.results.record_model import ResultRecord

pd = LazyModule("pandas")  # imported on first use: status reads records without it
# gazebench.results.record_model (pydantic) is imported on first use too: a dry run with no results yet needs none


def write_record(record: dict[str, Any] | ResultRecord, path: Path) -> Path:
    """Write ``record`` (a dict as :func:`gazebench.train.unit_record.make_record` fills it in, without
    ``schema_version``, or a :class:`ResultRecord`) through the model: a field of the wrong type
    is a bug and raises here, before anything is written."""
    from gazebench.results.record_model import ResultRecord, new_record

    if not isinstance(record, ResultRecord):
        record = new_record(record)
    atomic_write(path, json.dumps(record.to_dict(), indent=2, sort_keys=False, default=_jsonable) + "\n")
    return path


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def load_record(path: Path) -> ResultRecord:
    """The record in ``path``, typed (any schema version this gazebench reads, upgraded); a file
    that is not one raises ValueError (:class:`gazebench.core.errors.UserValueError` naming the field)."""
    from gazebench.results.record_model import parse_record

    with open(path) as f:
        raw = json.load(f)
    return parse_record(raw)


def read_record(path: Path) -> dict[str, Any]:
    """:func:`load_record` as a plain dict (today's schema, as :func:`write_record` writes it), for code
    that has not moved to the typed record."""
    return load_record(path).to_dict()


def result_problem(path: Path, unit_id: str) -> str | None:
    """Why the result file of unit ``unit_id`` at ``path`` does not count as done, or None when it
    does: a file that does not parse as a record, or the record of another unit."""
    try:
        record = load_record(path)
    except (OSError, ValueError) as exc:
        return f"unreadable ({exc})"
    if record.unit_id != unit_id:
        return f"it is the record of unit {record.unit_id!r}, not {unit_id!r}"
    return None


def set_aside(path: Path) -> Path:
    """Rename a bad result file out of the way (``<name>.bad-<time>``, which no reader takes for a
    result) and return the new path."""
    target = path.with_name(f"{path.name}.bad-{time.strftime('%Y%m%dT%H%M%S')}")
    path.replace(target)
    return target


#: the folder under a results folder where ``gazebench analyze`` writes (its JSON files are not records)
ANALYSIS_DIR = "analysis"


def iter_records(results_dir: Path) -> list[tuple[Path, ResultRecord]]:
    """Every readable record under ``results_dir`` (not under its analysis folder), with its path;
    a file that cannot be read is skipped with a warning that names it."""
    out = []
    for path in sorted(Path(results_dir).rglob("*.json")):
        if path.name.startswith(".") or path.relative_to(results_dir).parts[0] == ANALYSIS_DIR:
            continue
        try:
            out.append((path, load_record(path)))
        except (OSError, ValueError) as exc:
            warnings.warn(f"skipping unreadable result {path}: {exc}", stacklevel=2)
    return out


def flatten_record(record: ResultRecord) -> dict[str, Any]:
    """One leaderboard row: identity columns plus ``metric.<subset>.<stat>`` columns."""
    ds = record.dataset
    row = {
        "dataset": ds.name,
        "card_version": str(ds.card_version) if "card_version" in ds.model_fields_set else "",
        "dataset_options": json.dumps(ds.options, sort_keys=True),
        "model": record.model.name,
        "label": record.display_label,
        "fold": str(record.fold),
        "seed": record.seed,
        "benchmark": record.benchmark,
        "unit_id": record.unit_id,
        "created_at": record.created_at,
        "chosen_epoch": record.selection.chosen_epoch,
        "model_kwargs": json.dumps(record.model.kwargs, sort_keys=True, default=str),
        "predictions": record.artifacts.predictions,
        **_identity_columns(record),
    }
    for subset, stats in record.metrics.items():
        for stat, value in stats.model_dump(exclude_unset=True).items():
            row[f"{subset}.{stat}"] = value
    for key, value in record.timings.model_dump(exclude_unset=True).items():
        row[f"timings.{key}"] = value
    return row


def _identity_columns(record: ResultRecord) -> dict[str, Any]:
    """What the leaderboard keeps apart: the protocol, the configuration identity (its hash and
    canonical config as JSON) and the test population (name, size, SHA-256 of its sorted ids,
    whether it is the protocol's full population, and what it lacks)."""
    identity, population = record.identity, record.population
    return {
        "protocol": record.protocol.name,
        "identity": identity.hash,
        # written before models declared their identity keys (see narrow_legacy)
        "identity_legacy": "recipe_keys" not in identity.model_fields_set,
        "identity_config": json.dumps(identity.config, sort_keys=True, default=str),
        "population": population.name,
        "population_count": population.count,
        "population_sha256": population.sha256,
        "population_complete": bool(population.complete),
        "population_shortfall": "; ".join(map(str, population.shortfall or [])),
        # the populations inside the test set (Gaze360's face), each with its own coverage
        "population_inner": json.dumps(
            {k: v.model_dump(exclude_unset=True) for k, v in (population.populations or {}).items()},
            sort_keys=True,
            default=str,
        ),
    }


#: what a label's runs must share to be one leaderboard column (the leaderboard splits rows inside it)
_COLUMN_OF_LABEL = ["label", "dataset", "card_version", "protocol", "dataset_options"]


def narrow_legacy(df: pd.DataFrame) -> pd.DataFrame:
    """Records written before models declared which recipe keys can change their number (no
    ``identity.recipe_keys``: ``identity_legacy``) re-derived under their model's declaration today
    (gazebench.results.identity.narrowed), so they share a row with the records of their configuration:
    only where a label holds several identities in one column (elsewhere nothing could merge, and
    the model registry, torch and timm, is not imported to learn it)."""
    if df.empty or not df["identity_legacy"].any():
        return df
    counts = df.groupby(_COLUMN_OF_LABEL, dropna=False)["identity"].transform("nunique")
    todo = df.index[df["identity_legacy"] & (counts > 1)]
    if not len(todo):
        return df
    from gazebench.results.identity import narrowed

    df = df.copy()
    for i in todo:
        config = json.loads(df.at[i, "identity_config"])
        keys = declared_recipe_keys(str(df.at[i, "model"]))
        identity = narrowed({"hash": df.at[i, "identity"], "config": config}, keys)
        df.at[i, "identity"] = identity["hash"]
        df.at[i, "identity_config"] = json.dumps(identity["config"], sort_keys=True, default=str)
    return df


@cache
def declared_recipe_keys(model: str) -> tuple[str, ...] | None:
    """Today's declaration of model ``model`` (None: every key, or a model that is not registered
    here, e.g. a plugin not loaded).  A built-in's is read from gazebench.model_catalog (no torch)."""
    from gazebench.core.errors import GazebenchError
    from gazebench.model_catalog import model_info

    try:
        return model_info(model).identity_recipe_keys
    except GazebenchError:
        return None


def resolve_predictions(row: Any, results_dir: Path) -> tuple[Path | None, list[Path]]:
    """The predictions file a record (a :func:`load_results` row: ``predictions``, ``path``) points
    to, and every place it was looked for.  A relative path is tried against the working
    directory, the folder holding ``results/`` (runs write ``runs/...`` beside it) and the record's
    own folder."""
    value = row.get("predictions")
    if not isinstance(value, str) or not value:
        return None, []
    path = Path(value)
    candidates = (
        [path] if path.is_absolute() else [path, Path(results_dir).parent / path, Path(row["path"]).parent / path]
    )
    for c in candidates:
        if c.is_file():
            return c, candidates
    return None, candidates


#: how far a record's ``all.mean`` may be from the mean of its predictions file's ``error_deg``
#: (relative): the file keeps 6 significant digits (``%.6g``, gazebench.train.unit_record.write_predictions),
#: so each error is off by at most 5e-6 of itself and so is the mean of those non-negative errors;
#: twice that bound, whatever the CPU
PREDICTIONS_RTOL = 1e-5


def predictions_check(row: Any, results_dir: Path) -> str:
    """ "" when a record's ``all.mean`` and ``all.n`` agree with its per-sample predictions file, or
    when there is no file to check against; else one sentence naming both files and both numbers
    (a record edited by hand, or a predictions file from another run)."""
    mean, n = row.get("all.mean"), row.get("all.n")
    if mean is None or pd.isna(mean):
        return ""
    path, _ = resolve_predictions(row, results_dir)
    if path is None:
        return ""
    try:
        errors = pd.read_csv(path, usecols=["error_deg"], dtype={"error_deg": "float64"})["error_deg"]
    except (OSError, ValueError) as exc:
        return f"{row['path']}: its predictions file {path} is unreadable ({exc})"
    if n is not None and not pd.isna(n) and int(n) != len(errors):
        return f"{row['path']} says n={int(n)} test samples, its predictions file {path} has {len(errors)}"
    actual = float(errors.mean()) if len(errors) else float("nan")
    if abs(actual - float(mean)) <= PREDICTIONS_RTOL * max(abs(actual), 1e-12):
        return ""
    return f"{row['path']} says all.mean {float(mean):.6g}, its predictions file {path} gives {actual:.6g}"


def check_predictions(df: pd.DataFrame, results_dir: str | Path) -> pd.DataFrame:
    """``df`` (load_results rows) with ``record_check``: :func:`predictions_check` of each row.
    Reads one column of each row's predictions file: filter the rows first."""
    if df.empty:
        return df.assign(record_check=pd.Series(dtype=object))
    return df.assign(record_check=[predictions_check(row, Path(results_dir)) for _, row in df.iterrows()])


def load_results(results_dir: str | Path = "results") -> pd.DataFrame:
    """Every readable record under ``results_dir`` as one DataFrame row (see flatten_record); a
    file that cannot be read is skipped with a warning that names it, predict-only records (no
    test metrics) with one warning for all.  A missing folder is an error."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise FileNotFoundError(f"no results folder {str(results_dir)!r} (pass --results DIR)")
    rows, unscored = [], []
    for path, record in iter_records(results_dir):
        if record.predict_only:
            unscored.append(path)
            continue
        row = flatten_record(record)  # the model has checked every field it reads
        row["path"] = str(path)
        rows.append(row)
    if unscored:
        warnings.warn(
            f"left out {len(unscored)} predict-only result{'s' if len(unscored) > 1 else ''} (test labels "
            f"withheld, no metrics; each run folder holds its leaderboard submission), e.g. {unscored[0]}",
            stacklevel=2,
        )
    return narrow_legacy(pd.DataFrame(rows))
