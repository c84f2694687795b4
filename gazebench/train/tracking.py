"""Experiment tracking: each epoch's curves to TensorBoard (the default), W&B or MLflow.

A unit's recipe names its loggers (``logger``: ``tensorboard``, ``wandb``, ``mlflow``, a comma
list, or ``none``); :func:`make_loggers` turns them into :class:`~gazebench.train.fit.Callback` s that the
runner hands to :func:`~gazebench.train.fit.fit`.  Every logger writes, per epoch (its global step is the
epoch number), the scalars of :data:`SCALARS`: the training loss, the validation loss and mean
angular error, the learning rate and the training throughput, all from the epoch's history row
(so they equal the record's ``history``).

- :class:`TensorBoardLog`: event files under ``<run_dir>/tensorboard/`` (``torch.utils.tensorboard``;
  ``tensorboard --logdir runs/`` shows every unit).  A resumed fit appends a new event file whose
  first step is the first epoch it runs, with TensorBoard's purge marker at that step, so an
  epoch is never shown twice (nor one of an earlier, abandoned fit after ``--restart``).
- :class:`WandbLog`, :class:`MLflowLog`: optional (pyproject extras ``wandb``, ``mlflow``); their
  packages are imported only when a recipe asks for them (never by planning, ``--dry-run`` or
  ``ls``), and contacted only then.  Each keeps its run id in the run folder, so a resumed fit
  continues the same tracker run from the next epoch and a ``--restart`` starts a new one: no epoch
  is logged twice.  They are :class:`Tracker` s: the runner tells them of the written result
  (:func:`log_result`), and MLflow stores the result JSON and the test predictions as artifacts.

The loggers change nothing a run computes: ``logger`` is in neither the unit id nor the
configuration identity (:data:`gazebench.core.config.NOT_IN_UNIT_ID`,
:data:`gazebench.results.identity.NOT_IN_IDENTITY`).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import secrets
import time
from pathlib import Path
from typing import Any

from gazebench.core.atomic import atomic_write
from gazebench.core.config import LOGGERS
from gazebench.core.errors import UserRuntimeError, UserValueError
from gazebench.train.assemble import Setup
from gazebench.train.fit import Callback
from gazebench.train.unit_record import identity_of

#: the event files' folder inside a unit's run folder
TENSORBOARD_DIR = "tensorboard"
#: where an MLflow logger keeps its run id, so a resumed fit continues the same MLflow run
MLFLOW_RUN_ID = "mlflow_run_id.txt"
#: where a W&B logger keeps its run id, so a resumed fit continues the same W&B run
WANDB_RUN_ID = "wandb_run_id.txt"

#: tag -> how it is read from an epoch's history row (gazebench.train.fit.run_epoch)
SCALARS = {
    "train/loss": lambda row: row["train_loss"],
    "val/loss": lambda row: row["val_loss"],
    "val/mean_angular_error_deg": lambda row: row["val_mean"],
    "train/lr": lambda row: row.get("lr"),
    "train/samples_per_s": lambda row: (
        row["train_samples"] / row["train_seconds"] if row.get("train_seconds") else None
    ),
}


def epoch_scalars(row: dict[str, Any]) -> dict[str, float]:
    """The :data:`SCALARS` of one history row; a value that is missing or not finite (NaN
    validation of a protocol without a validation split) is left out."""
    out = {}
    for tag, read in SCALARS.items():
        value = read(row)
        if value is not None and math.isfinite(float(value)):
            out[tag] = float(value)
    return out


def require(package: str) -> Any:
    """``import package``, or the one-line error saying which extra installs it."""
    try:
        return importlib.import_module(package)
    except ImportError:
        raise UserRuntimeError(
            f'logger={package} needs the {package} package: pip install "gazebench[{package}]" '
            "(or --set logger=tensorboard)"
        ) from None


class TensorBoardLog(Callback):
    """Per-epoch scalars as TensorBoard event files in ``log_dir`` (opened at the first epoch the
    fit runs, flushed after every epoch, closed when the fit ends)."""

    def __init__(self, log_dir: str | Path) -> None:
        self.log_dir = Path(log_dir)
        self.writer = None

    def on_train_epoch_start(self, setup: Setup, epoch: int) -> None:
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step: TensorBoard drops the steps >= epoch that an earlier fit wrote here
            # (a kill after the events, before last.pt; or --restart), so no step is shown twice
            self.writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=epoch)

    def on_epoch_end(self, setup: Setup, row: dict[str, Any]) -> None:
        if self.writer is None:  # pragma: no cover  (fit starts every epoch it ends)
            self.on_train_epoch_start(setup, row["epoch"])
        for tag, value in epoch_scalars(row).items():
            self.writer.add_scalar(tag, value, global_step=row["epoch"])
        self.writer.flush()  # a killed run keeps every epoch it checkpointed

    def on_fit_end(self, setup: Setup, error: BaseException | None) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class Tracker(Callback):
    """A logger: a fit :class:`~gazebench.train.fit.Callback` that also hears of the unit's written
    result (:meth:`on_result`)."""

    def on_result(self, setup: Setup, record: dict[str, Any], files: dict[str, Path]) -> None:
        """After the unit's record was written: ``files`` names the result JSON (``result``), the
        test predictions (``predictions``) and, for a predict-only unit, its ``submission``."""


def log_result(loggers: list[Callback], setup: Setup, record: dict[str, Any], files: dict[str, Path]) -> None:
    """Tell every :class:`Tracker` among ``loggers`` of the unit's written result."""
    for logger in loggers:
        if isinstance(logger, Tracker):
            logger.on_result(setup, record, files)


def stored_id(path: Path) -> str | None:
    """The run id a logger kept in ``path`` (None: no file, or an empty one)."""
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


class WandbLog(Tracker):
    """Per-epoch scalars to Weights & Biases: one W&B run per fit of a unit, ``epoch`` its step and
    x axis, the unit and its recipe its config.  The run id is kept in ``<run_dir>/wandb_run_id.txt``:
    a resumed fit (first epoch > 1) continues that run (``resume="allow"``) from the next epoch; a
    fit from epoch 1 (the first, or ``--restart``) starts a new run, as steps W&B has are never
    rewritten.  W&B's files go under ``$WANDB_DIR``, else the run folder.  Without a network, set
    ``WANDB_MODE=offline`` (``wandb sync`` uploads later)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.wandb = require("wandb")
        self.run_dir = Path(run_dir)
        self.run = None

    def on_train_epoch_start(self, setup: Setup, epoch: int) -> None:
        if self.run is not None:
            return
        unit, id_file = setup.unit, self.run_dir / WANDB_RUN_ID
        run_id = stored_id(id_file) if epoch > 1 else None
        if run_id is None:
            run_id = f"{unit.unit_id}-{secrets.token_hex(3)}"
            atomic_write(id_file, run_id + "\n")
        self.run = self.wandb.init(
            project=os.environ.get("WANDB_PROJECT", "gazebench"),
            id=run_id,
            resume="allow",
            name=run_name(unit),
            config=run_config(setup),
            **({} if os.environ.get("WANDB_DIR") else {"dir": str(self.run_dir)}),
        )
        self.run.define_metric("epoch")
        self.run.define_metric("*", step_metric="epoch")

    def on_epoch_end(self, setup: Setup, row: dict[str, Any]) -> None:
        # W&B's own step is the epoch too, so a resumed run's steps follow the first fit's
        self.run.log({"epoch": row["epoch"], **epoch_scalars(row)}, step=row["epoch"])

    def on_fit_end(self, setup: Setup, error: BaseException | None) -> None:
        if self.run is not None:
            self.run.finish(exit_code=0 if error is None else 1)
            self.run = None


class MLflowLog(Tracker):
    """Per-epoch scalars and the result to MLflow, through ``MlflowClient`` (the store is MLflow's
    setting: ``MLFLOW_TRACKING_URI``, else its default; the experiment ``$MLFLOW_EXPERIMENT_NAME``,
    else ``gazebench``).  One MLflow run per fit of a unit, tagged with the unit id
    (:data:`MLFLOW_TAGS`), the configuration identity's keys its parameters, ``step`` the epoch;
    when the unit's record is written, the result JSON and the test predictions become its
    artifacts and the test error its ``test_*`` metrics.

    Its id is kept in ``<run_dir>/mlflow_run_id.txt`` (a run tagged with this unit and run folder,
    when the file is missing).  A resumed fit continues that run from the next epoch; a fit that
    starts at an epoch the run already has (``--restart``) starts a new run, so no step is logged
    twice."""

    def __init__(self, run_dir: str | Path) -> None:
        self.mlflow = require("mlflow")
        self.run_dir = Path(run_dir)
        self.client = None
        self.run_id: str | None = None

    def on_train_epoch_start(self, setup: Setup, epoch: int) -> None:
        if self.run_id is None:
            self.run_id = self._open(setup, first_epoch=epoch)

    def on_epoch_end(self, setup: Setup, row: dict[str, Any]) -> None:
        Metric = importlib.import_module("mlflow.entities").Metric
        now = int(time.time() * 1000)
        metrics = [Metric(mlflow_key(tag), value, now, row["epoch"]) for tag, value in epoch_scalars(row).items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def on_fit_end(self, setup: Setup, error: BaseException | None) -> None:
        if self.run_id is not None:
            status = "FINISHED" if error is None else "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
            self.client.set_terminated(self.run_id, status)

    def on_result(self, setup: Setup, record: dict[str, Any], files: dict[str, Path]) -> None:
        run_id = self.run_id or self._open(setup)  # nothing trained in this process: the unit's run
        for path in files.values():
            if path is not None and Path(path).is_file():
                self.client.log_artifact(run_id, str(path))
        Metric = importlib.import_module("mlflow.entities").Metric
        now, step = int(time.time() * 1000), len(record.get("history") or [])
        test = (record.get("metrics") or {}).get("all") or {}
        metrics = [
            Metric(f"test_{name}_angular_error_deg", float(test[name]), now, step)
            for name in ("mean", "median", "p90")
            if name in test and math.isfinite(float(test[name]))
        ]
        if metrics:
            self.client.log_batch(run_id, metrics=metrics)
        self.client.set_terminated(run_id, "FINISHED")

    # -- the MLflow run of this unit's folder ---------------------------------------------------

    def _open(self, setup: Setup, first_epoch: int | None = None) -> str:
        """The unit's MLflow run to log to, RUNNING: the stored one, unless it already has
        ``first_epoch`` (then, and when there is none, a new run with its tags and parameters)."""
        entities = importlib.import_module("mlflow.entities")
        if self.client is None:
            self.client = importlib.import_module("mlflow.tracking").MlflowClient()
        client, unit = self.client, setup.unit
        experiment = self._experiment_id()
        run_id = self._stored_run(experiment, unit.unit_id)
        if run_id is not None and first_epoch is not None and self._last_step(run_id) >= first_epoch:
            run_id = None  # this folder's earlier fit logged these epochs (--restart): a new run
        if run_id is not None:
            client.update_run(run_id, status="RUNNING")
            return run_id
        identity = identity_of(setup)
        tags = {
            MLFLOW_TAGS["unit"]: unit.unit_id,
            MLFLOW_TAGS["identity"]: identity["hash"],
            MLFLOW_TAGS["run_dir"]: str(self.run_dir.resolve()),
            MLFLOW_TAGS["label"]: unit.label,
            MLFLOW_TAGS["fold"]: str(unit.fold),
            MLFLOW_TAGS["seed"]: str(unit.spec.seed),
        }
        run_id = client.create_run(experiment, run_name=run_name(unit), tags=tags).info.run_id
        atomic_write(self.run_dir / MLFLOW_RUN_ID, run_id + "\n")
        params = [entities.Param(k, v) for k, v in flat_params(identity["config"]).items()]
        for i in range(0, len(params), 100):  # MLflow takes at most 100 parameters a call
            client.log_batch(run_id, params=params[i : i + 100])
        return run_id

    def _experiment_id(self) -> str:
        if os.environ.get("MLFLOW_EXPERIMENT_ID"):
            return os.environ["MLFLOW_EXPERIMENT_ID"]
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or "gazebench"
        found = self.client.get_experiment_by_name(name)
        if found is None:
            try:
                return self.client.create_experiment(name)
            except importlib.import_module("mlflow.exceptions").MlflowException:
                found = self.client.get_experiment_by_name(name)  # another unit's process made it meanwhile
                if found is None:
                    raise
        return found.experiment_id

    def _stored_run(self, experiment: str, unit_id: str) -> str | None:
        """The run id in ``mlflow_run_id.txt`` when this store has that run; else the newest run
        tagged with this unit and run folder (a process stopped before it wrote the file); else None."""
        MlflowException = importlib.import_module("mlflow.exceptions").MlflowException
        run_id = stored_id(self.run_dir / MLFLOW_RUN_ID)
        if run_id is not None:
            try:
                if self.client.get_run(run_id).info.lifecycle_stage == "active":
                    return run_id
            except MlflowException:
                pass  # a run of another tracking store (MLFLOW_TRACKING_URI changed), or deleted for good
        here = str(self.run_dir.resolve())
        runs = self.client.search_runs(
            [experiment],
            filter_string=f"tags.`{MLFLOW_TAGS['unit']}` = '{unit_id}'",
            order_by=["attributes.start_time DESC"],
        )
        return next((r.info.run_id for r in runs if r.data.tags.get(MLFLOW_TAGS["run_dir"]) == here), None)

    def _last_step(self, run_id: str) -> int:
        return max((m.step for m in self.client.get_metric_history(run_id, mlflow_key("train/loss"))), default=0)


#: the tags an MLflow run of a unit carries
MLFLOW_TAGS = {
    "unit": "gazebench.unit_id",
    "identity": "gazebench.results.identity",
    "run_dir": "gazebench.run_dir",
    "label": "gazebench.label",
    "fold": "gazebench.fold",
    "seed": "gazebench.seed",
}


def mlflow_key(tag: str) -> str:
    """An epoch scalar's MLflow metric name (``val/loss`` -> ``val_loss``)."""
    return tag.replace("/", "_")


def flat_params(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """A configuration identity's keys as MLflow parameters: nested keys joined by ``.``
    (``recipe.lr``), values as text (JSON for lists and numbers)."""
    out: dict[str, str] = {}
    for key, value in sorted(config.items()):
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flat_params(value, f"{name}."))
        else:
            out[name] = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return out


def run_name(unit: Any) -> str:
    return f"{unit.label} {unit.spec.dataset} fold-{unit.fold} seed-{unit.spec.seed}"


def run_config(setup: Setup) -> dict[str, Any]:
    """What a tracker shows as the run's configuration: the unit, its identity and its recipe."""
    unit = setup.unit
    return {
        "unit_id": unit.unit_id,
        "identity": identity_of(setup)["hash"],
        "dataset": unit.spec.dataset,
        "fold": unit.fold,
        "seed": unit.spec.seed,
        "model": unit.spec.model,
        "label": unit.label,
        **unit.recipe.as_dict(),
    }


def make_loggers(names: tuple[str, ...] | list[str], run_dir: str | Path) -> list[Callback]:
    """The callbacks of a recipe's ``logger`` names; an optional logger whose package is missing is
    the one-line install hint, here, before any data is read."""
    unknown = [n for n in names if n not in LOGGERS]
    if unknown:  # Recipe.resolve checks this already; a hand-built recipe may not
        raise UserValueError(
            f"unknown logger {', '.join(map(repr, unknown))}; choose from {', '.join(LOGGERS)}, or none"
        )
    run_dir = Path(run_dir)
    makers = {
        "tensorboard": lambda: TensorBoardLog(run_dir / TENSORBOARD_DIR),
        "wandb": lambda: WandbLog(run_dir),
        "mlflow": lambda: MLflowLog(run_dir),
    }
    return [makers[n]() for n in names]
