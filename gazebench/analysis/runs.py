"""The runs an analysis reads: a result record, its predictions file and its run folder.

``resolve_runs(runs, results, dataset, model, benchmark)`` turns what the user named into
:class:`RunRef` objects.  Each RUN is a result file (``results/.../fold-F_seed-S_<unit>.json``), a run
folder (``runs/...``: the record under ``results`` whose artifacts -- best.pt or the predictions
file -- lie in it) or a unit id.  Without RUN, the leaderboard's runs under ``results`` are taken,
narrowed by dataset, model (label or model name) and benchmark, with duplicate copies of a unit
dropped as the leaderboard drops them.  Nothing matching is one clear error.

Relative artifact paths are looked for as :func:`gazebench.compare.resolve_predictions` looks for
them: the working directory, the folder holding ``results/``, the record's own folder.  The
analyses written under ``<results>/analysis/`` are not records and are passed over silently.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gazebench.core.options import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from gazebench.results.record_model import ResultRecord

#: the predicted and the true gaze vector's columns in a predictions file
PRED, GAZE = ["pred_x", "pred_y", "pred_z"], ["gaze_x", "gaze_y", "gaze_z"]
#: the columns an analysis may rely on in every predictions file
PREDICTION_COLUMNS = ("id", "subject", "pred_x", "pred_y", "pred_z", "gaze_x", "gaze_y", "gaze_z", "error_deg", "sigma")


@dataclass
class RunRef:
    """One finished run as analyses see it.

    ``path``: its result JSON; ``record``: the record, typed
    (:class:`gazebench.results.record_model.ResultRecord`); ``label``; ``run_dir``: its run
    folder (where best.pt and the predictions lie; caches go beside them); ``name``: short and
    unique among the runs of one analysis (label, plus fold and seed when several share it);
    ``results``: the results folder it was found under.  ``predictions`` is read on first use."""

    path: Path
    record: ResultRecord
    label: str
    run_dir: Path | None
    name: str
    results: Path = Path("results")
    _predictions: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    @property
    def unit_id(self) -> str:
        return str(self.record.unit_id)

    @property
    def dataset(self) -> str:
        return self.record.dataset.name

    @property
    def fold(self) -> str:
        return str(self.record.fold)

    @property
    def seed(self) -> Any:
        return self.record.seed

    @property
    def population_sha256(self) -> str | None:
        return self.record.population.sha256

    @property
    def predictions_path(self) -> Path:
        value = self.record.artifacts.predictions
        found, tried = artifact(value, self.path, self.results)
        if found is None:
            where = f" (looked at {', '.join(map(str, tried))})" if tried else " (the record names none)"
            raise FileNotFoundError(f"run {self.name}: its predictions file is missing{where}; record {self.path}")
        return found

    @property
    def predictions(self) -> pd.DataFrame:
        """The run's test predictions (id, subject, pred_x/y/z, gaze_x/y/z, error_deg, sigma, and
        sequence and order where the run wrote them), one row per sample, in the file's order."""
        if self._predictions is None:
            self._predictions = read_predictions(self.predictions_path)
        return self._predictions


def read_predictions(path: Path) -> pd.DataFrame:
    """A predictions file, checked: every column of :data:`PREDICTION_COLUMNS`, ids unique."""
    import pandas as pd

    from gazebench.compare import _read_predictions

    table = _read_predictions(path)
    missing = [c for c in PREDICTION_COLUMNS if c not in table.columns]
    if missing:
        raise ConfigError(f"{path}: not a predictions file (no column {', '.join(missing)})")
    if "sequence" in table.columns:
        table["sequence"] = table["sequence"].astype(str)
    table["sigma"] = pd.to_numeric(table["sigma"], errors="coerce")
    return table


def artifact(value: Any, record_path: Path, results: Path) -> tuple[Path | None, list[Path]]:
    """Where an artifact path of a record is (see the module docstring), and where it was looked for."""
    from gazebench.compare import resolve_predictions

    return resolve_predictions({"predictions": value, "path": str(record_path)}, Path(results))


def run_folder(record: ResultRecord, path: Path, results: Path) -> Path | None:
    """The run folder: the parent of the record's best.pt, else of its predictions file (found
    on disk where possible, else as the record names it)."""
    artifacts = record.artifacts
    for value in (artifacts.checkpoint, artifacts.predictions):
        found, _ = artifact(value, path, results)
        if found is not None:
            return found.parent
    named = artifacts.checkpoint or artifacts.predictions
    return Path(named).parent if named else None


def resolve_runs(
    runs: list[str] | None,
    results: str | Path,
    dataset: list[str] | str | None = None,
    model: list[str] | str | None = None,
    benchmark: str | None = None,
) -> list[RunRef]:
    """The runs named (result files, run folders, unit ids), or without ``runs`` the leaderboard's
    runs under ``results`` narrowed by ``dataset``, ``model`` (label or model name) and ``benchmark``."""
    results = Path(results)
    if runs:
        if dataset or model or benchmark:
            raise ConfigError("name runs (--run) or filter the results (--dataset/--model/--benchmark), not both")
        found = [(path, record) for run in runs for path, record in [_named_run(run, results)]]
    else:
        found = _filtered(results, _as_list(dataset), _as_list(model), benchmark)
    refs = [RunRef(path, rec, rec.display_label, run_folder(rec, path, results), "", results) for path, rec in found]
    for ref, name in zip(refs, unique_names(refs)):
        ref.name = name
    return refs


def _as_list(value: list[str] | str | None) -> list[str] | None:
    from gazebench.core.options import csv_flag

    return csv_flag(value)


def _named_run(run: str, results: Path) -> tuple[Path, ResultRecord]:
    from gazebench.results.store import load_record

    path = Path(run)
    if path.is_file():
        try:
            return path, load_record(path)
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    records = quiet_records(results) if results.is_dir() else []
    if path.is_dir():
        match = [(p, r) for p, r in records if _same(run_folder(r, p, results), path)]
        what = f"run folder {run}: no result under {results} names it (its best.pt or predictions file)"
    else:
        match = [(p, r) for p, r in records if r.unit_id == run]
        what = f"run {run!r}: no such result file or run folder, and no result under {results} has that unit id"
    if not match:
        raise ConfigError(what)
    return max(match, key=lambda pr: (str(pr[1].created_at or ""), str(pr[0])))


def _same(a: Path | None, b: Path) -> bool:
    return a is not None and a.exists() and a.resolve() == b.resolve()


def _filtered(
    results: Path, datasets: list[str] | None, models: list[str] | None, benchmark: str | None
) -> list[tuple[Path, ResultRecord]]:
    from gazebench.leaderboard import dedupe
    from gazebench.results.store import load_record, load_results

    df = quietly(lambda: load_results(results), results)
    if not df.empty:
        df, messages = dedupe(df)
        for message in messages:
            warnings.warn(message, stacklevel=2)
        keep = df["dataset"].isin(datasets) if datasets else True
        keep &= (df["label"].isin(models) | df["model"].isin(models)) if models else True
        keep &= (df["benchmark"] == benchmark) if benchmark else True
        df = df[keep] if keep is not True else df
    if df.empty:
        raise ConfigError(
            f"no runs under {results} match {_filter_words(datasets, models, benchmark)}" + _what_there_is(results)
        )
    df = df.sort_values(["dataset", "label", "fold", "seed", "path"], kind="stable")
    return [(Path(p), load_record(Path(p))) for p in df["path"]]


def _filter_words(datasets: list[str] | None, models: list[str] | None, benchmark: str | None) -> str:
    words = [
        f"dataset {', '.join(datasets)}" if datasets else "",
        f"model {', '.join(models)}" if models else "",
        f"benchmark {benchmark}" if benchmark else "",
    ]
    return " and ".join(w for w in words if w) or "(no filter)"


def _what_there_is(results: Path) -> str:
    records = quiet_records(results) if results.is_dir() else []
    if not records:
        return " (there are no results there)"
    seen = sorted({f"{r.dataset.name}/{r.display_label}" for _, r in records})
    return f"; there: {', '.join(seen[:20])}" + (" ..." if len(seen) > 20 else "")


def unique_names(refs: list[RunRef]) -> list[str]:
    """Labels; where a label repeats, its runs' fold and seed (those that differ among them), and
    the unit id where that is not enough: ``static``, ``staticsc seed 1``, ``seqlstm fold 2 seed 0``."""
    names = [r.label for r in refs]
    for label in {n for n in names if names.count(n) > 1}:
        same = [i for i, n in enumerate(names) if n == label]
        for key in ("fold", "seed"):
            if len({str(getattr(refs[i], key)) for i in same}) > 1:
                for i in same:
                    names[i] += f" {key} {getattr(refs[i], key)}"
    return [n if names.count(n) == 1 else f"{n} {r.unit_id}" for n, r in zip(names, refs)]


def quiet_records(results: Path) -> list[tuple[Path, ResultRecord]]:
    from gazebench.results.store import iter_records

    return quietly(lambda: iter_records(results), results)


def quietly(read: Callable[[], Any], results: Path) -> Any:
    """``read()`` with the warnings about the files under ``<results>/analysis/`` (analyses, not
    records) dropped; any other warning is passed on."""
    inside = f"{Path(results) / 'analysis'}{os.sep}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = read()
    for w in caught:
        if inside not in str(w.message):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return value
