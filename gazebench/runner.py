"""A planned unit -> set up, fit, evaluate, write the predictions and the record.  Skips finished work.

:func:`run_unit` reads as its steps: the set-up (:mod:`gazebench.setup`: seed, dataset, splits,
model, loss, device, frames, loaders), the fit (:mod:`gazebench.fit`: epochs, selection, early
stop, checkpoints, resume), the evaluation of the selected model on validation and test, the test
predictions as CSV and the result record (:mod:`gazebench.record`), written atomically and last.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from gazebench.atomic import check_writable
from gazebench.fit import EpochLog, evaluate, fit
from gazebench.planning import Unit
from gazebench.record import PREDICTIONS, make_record, write_predictions
from gazebench.results import result_problem, set_aside, write_record
from gazebench.setup import build_setup


def run_unit(
    unit: Unit,
    *,
    overwrite: str = "only-missing",
    resume: bool | None = None,
    progress: bool = True,
    deterministic: bool = False,
) -> dict[str, Any] | None:
    """Train, select and test one unit; write its record.  Returns the record, or None when a
    finished result exists and ``overwrite == "only-missing"``.  An interrupted fit continues from
    its last checkpoint unless ``resume`` is False (see :func:`gazebench.fit.fit`)."""
    t_start = time.perf_counter()
    status = unit.status()
    if status == "done" and overwrite == "only-missing":
        print(f"done already: {unit.result_path} (use --overwrite always to redo)", file=sys.stderr)
        return None
    if status == "bad":
        why = result_problem(unit.result_path, unit.unit_id)
        print(f"warning: {unit.result_path} is not a finished result of this unit ({why}); moved it to "
              f"{set_aside(unit.result_path)} and running the unit", file=sys.stderr)
    check_writable(unit.result_path.parent, unit.run_dir)
    setup = build_setup(unit, deterministic=deterministic)
    outcome = fit(setup, [EpochLog()] if progress else [], resume=resume, progress=progress)
    evaluation = evaluate(setup, progress)
    write_predictions(evaluation.test, setup.dataset, unit.run_dir / PREDICTIONS)
    record = make_record(setup, outcome, evaluation, time.perf_counter() - t_start)
    write_record(record, unit.result_path)
    if progress:
        m = record["metrics"]["all"]
        print(f"{unit.label} on {unit.spec.dataset} fold {unit.fold}: test mean {m['mean']:.2f} deg "
              f"(median {m['median']:.2f}, n={m['n']}) -> {unit.result_path}", file=sys.stderr)
    return record
