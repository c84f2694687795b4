"""A planned unit -> set up, fit, evaluate, write the predictions and the record.  Skips finished work.

:func:`run_unit` reads as its steps: the set-up (:mod:`gazebench.train.assemble`: seed, dataset, splits,
model, loss, device, frames, loaders), the fit (:mod:`gazebench.train.fit`: epochs, selection, early
stop, checkpoints, resume), the evaluation of the selected model on validation and test, the test
predictions as CSV and the result record (:mod:`gazebench.train.unit_record`), written atomically and last.

Predict-only: when the test split has samples without labels (the release withholds them, e.g.
ETH-XGaze's test files; :func:`gazebench.population.labels_withheld`) or the options' ``predict_only``
is asked for, the unit trains and selects as usual, predicts the test split, writes the dataset's
leaderboard submission (the adapter's ``write_submission``) to ``<run_dir>/submission.txt`` and a
record with no test metrics whose population says ``labels: withheld``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gazebench import population
from gazebench.core.atomic import check_writable
from gazebench.core.errors import GazebenchError
from gazebench.core.request import RunOptions
from gazebench.datasets import build_dataset
from gazebench.datasets.cards import default_data_root
from gazebench.results import unitlock
from gazebench.results.fingerprint import data_fingerprint, recorded_fingerprint, stale_data_note
from gazebench.results.store import read_record, result_problem, set_aside, write_record
from gazebench.results.unit import Unit
from gazebench.train import cross, parallel
from gazebench.train.assemble import Setup, build_setup
from gazebench.train.engine import resolve_device
from gazebench.train.fit import EpochLog, evaluate, fit
from gazebench.train.tracking import log_result, make_loggers
from gazebench.train.unit_record import PREDICTIONS, make_record, write_predictions

if TYPE_CHECKING:
    from gazebench.train.parallel import Strategy

#: the leaderboard file a predict-only unit writes in its run folder
SUBMISSION = "submission.txt"


def run_unit(unit: Unit, options: RunOptions | None = None) -> dict[str, Any] | None:
    """Train, select and test one unit; write its record.  Returns the record, or None when a
    finished result exists and ``options.overwrite == "only-missing"``, or when another process is
    running the unit (it holds the unit's lock, :mod:`gazebench.results.unitlock`; one line says so).
    ``options``: the run's (None: the defaults, :class:`gazebench.core.request.RunOptions`).  An
    interrupted fit continues from its last checkpoint unless ``options.resume`` is False (see
    :func:`gazebench.train.fit.fit`).  ``options.predict_only`` (automatic when the test labels are
    withheld): see the module docstring.  Of the options only these, ``progress`` and
    ``deterministic`` reach a unit.  Under torchrun only rank 0 writes and returns the record (the
    other ranks return None)."""
    t_start = time.perf_counter()
    options = options or RunOptions()
    # under torchrun (docs/cluster.md) every rank runs the unit; rank 0 decides, writes and talks
    strategy = parallel.join(resolve_device(unit.recipe.device))
    main = strategy.is_main
    status = strategy.from_main(unit.status())
    if status == "done" and options.overwrite == "only-missing":
        if main:
            print(f"done already: {unit.result_path} (use --overwrite always to redo)", file=sys.stderr)
            check_done_data(unit)
        return None
    check_writable(unit.result_path.parent, unit.run_dir)
    # one process at a time runs a unit (gazebench.results.unitlock); rank 0 holds the lock for all ranks
    lock = unitlock.acquire(unit.run_dir, unit.unit_id) if main else None
    if strategy.from_main(main and not isinstance(lock, unitlock.UnitLock)):
        if main:
            print(
                f"unit {unit.unit_id} ({unit.describe()}) is being run by {unitlock.holder_text(lock)}; skipping "
                f"it here (its lock: {unit.run_dir / unitlock.LOCK_NAME}). Run the same command again once it has "
                "finished or stopped",
                file=sys.stderr,
            )
        return None
    try:
        return _run_locked(unit, options, strategy, t_start)
    finally:
        if isinstance(lock, unitlock.UnitLock):
            lock.release()


def _run_locked(unit: Unit, options: RunOptions, strategy: Strategy, t_start: float) -> dict[str, Any] | None:
    """:func:`run_unit` once this process holds the unit's lock; ``strategy``: the one it joined."""
    main = strategy.is_main
    progress = options.progress and main
    # another process may have finished the unit between this one's first look and its lock
    status = strategy.from_main(unit.status())
    if status == "done" and options.overwrite == "only-missing":
        if main:
            print(f"done meanwhile by another process: {unit.result_path}", file=sys.stderr)
        return None
    if status == "bad" and main:
        why = result_problem(unit.result_path, unit.unit_id)
        print(
            f"warning: {unit.result_path} is not a finished result of this unit ({why}); moved it to "
            f"{set_aside(unit.result_path)} and running the unit",
            file=sys.stderr,
        )
    # a missing optional logger fails before any data
    loggers = make_loggers(unit.recipe.logger, unit.run_dir) if main else []
    setup = build_setup(unit, deterministic=options.deterministic)
    if progress:
        say_frames(setup.source.describe())
    # cross-dataset tests (gazebench.train.cross): opened before training, so a bad root fails early
    cross_tests = cross.open_tests(unit, setup.model) if main else []
    predict_only = options.predict_only or population.labels_withheld(setup.dataset, setup.positions["test"])
    # the loggers first: an epoch's events are written (and flushed) right after its last.pt
    outcome = fit(setup, loggers + ([EpochLog()] if progress else []), resume=options.resume, progress=progress)
    evaluation = evaluate(setup, progress)
    if not main:  # rank 0 writes; the others wait for it, so the job ends with the unit written
        strategy.barrier()
        return None
    submission = None
    if predict_only:
        evaluation.test = unscored(evaluation.test)
        submission = write_submission(setup, evaluation.test, unit.run_dir / SUBMISSION)
    write_predictions(evaluation.test, setup.dataset, unit.run_dir / PREDICTIONS)
    record = make_record(setup, outcome, evaluation, time.perf_counter() - t_start, predict_only, submission)
    write_record(record, unit.result_path)
    log_result(
        loggers,
        setup,
        record,
        {
            "result": unit.result_path,
            "predictions": unit.run_dir / PREDICTIONS,
            **({"submission": submission} if submission else {}),
        },
    )
    if progress:
        say_done(unit, record)
    cross.evaluate_cross(setup, record, cross_tests, progress)
    strategy.barrier()
    return record


def check_done_data(unit: Unit, opened: dict[tuple, Any] | None = None) -> None:
    """For a unit found done: one line on stderr when its result was made on other data than its
    dataset holds now (gazebench.results.fingerprint).  ``opened``: adapters already opened by the caller,
    by (dataset, root, options), so a sweep reads each dataset's index once.  A record without a
    fingerprint (older code) or data that is not there (nothing is rendered or fetched to check):
    nothing is said."""
    root = Path(unit.spec.root).expanduser() if unit.spec.root else default_data_root() / unit.spec.dataset
    if not root.is_dir():
        return
    try:
        recorded = recorded_fingerprint(read_record(unit.result_path))
    except (OSError, ValueError):
        return
    if recorded is None:
        return
    opened = {} if opened is None else opened
    key = (unit.spec.dataset, unit.spec.root, json.dumps(unit.data_options, sort_keys=True, default=str))
    try:
        if key not in opened:
            opened[key] = build_dataset(unit.spec.dataset, unit.spec.root, **unit.data_options)
        dataset = opened[key]
        current = data_fingerprint(dataset.index, dataset.split_positions(unit.fold))["sha256"]
    except (GazebenchError, OSError, ValueError):
        return
    note = stale_data_note(unit.result_path, recorded, current, dataset.root)
    if note:
        print(note, file=sys.stderr)


def unscored(pred: dict[str, Any]) -> dict[str, Any]:
    """Test predictions of a predict-only unit: the targets and errors NaN (there is no label)."""
    return {**pred, "target": np.full_like(pred["target"], np.nan), "error": np.full_like(pred["error"], np.nan)}


def write_submission(setup: Setup, pred: dict[str, Any], path: Path) -> Path | None:
    """The dataset's leaderboard file for the test predictions (``write_submission(rows, vectors,
    path)`` of the adapter), or None, said on stderr, when the dataset has no such format."""
    written = setup.dataset.write_submission(pred["index"], pred["vector"], path)
    if written is None:
        print(
            f"note: dataset {setup.dataset.name!r} has no leaderboard submission format; the test predictions "
            f"are in {path.parent / PREDICTIONS}",
            file=sys.stderr,
        )
    return written


def say_frames(frames: dict[str, Any]) -> None:
    """One line on stderr when the frames come from a ``gazebench prepare`` cache, one when they are
    held on the device (the record keeps both: ``dataset.frame_cache``)."""
    if frames.get("state") == "used":
        print(
            f"frames: from the prepared cache {frames['path']} (cache fingerprint {frames.get('fingerprint')})",
            file=sys.stderr,
        )
    if frames.get("on_device"):
        print(
            f"frames: held on {frames['on_device']} for the run ($GAZEBENCH_DEVICE_FRAMES=off reads them per batch)",
            file=sys.stderr,
        )


def say_done(unit: Any, record: dict[str, Any]) -> None:
    """One line on stderr: the test error, or where a predict-only unit's predictions went."""
    where = f"{unit.label} on {unit.spec.dataset} fold {unit.fold}"
    if not record["metrics"]:
        sub = record["artifacts"].get("submission") or record["artifacts"]["predictions"]
        print(
            f"{where}: predict-only (test labels withheld), {record['population']['count']} test predictions "
            f"-> {sub}; record {unit.result_path}",
            file=sys.stderr,
        )
        return
    m = record["metrics"]["all"]
    print(
        f"{where}: test mean {m['mean']:.2f} deg (median {m['median']:.2f}, n={m['n']}) -> {unit.result_path}",
        file=sys.stderr,
    )
