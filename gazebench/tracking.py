"""Experiment tracking: each epoch's curves to TensorBoard (the default), W&B or MLflow.

A unit's recipe names its loggers (``logger``: ``tensorboard``, ``wandb``, ``mlflow``, a comma
list, or ``none``); :func:`make_loggers` turns them into :class:`~gazebench.fit.Callback` s that the
runner hands to :func:`~gazebench.fit.fit`.  Every logger writes, per epoch (its global step is the
epoch number), the scalars of :data:`SCALARS`: the training loss, the validation loss and mean
angular error, the learning rate and the training throughput, all from the epoch's history row
(so they equal the record's ``history``).

- :class:`TensorBoardLog`: event files under ``<run_dir>/tensorboard/`` (``torch.utils.tensorboard``;
  ``tensorboard --logdir runs/`` shows every unit).  A resumed fit appends a new event file whose
  first step is the first epoch it runs, with TensorBoard's purge marker at that step, so an
  epoch is never shown twice (nor one of an earlier, abandoned fit after ``--restart``).
- :class:`WandbLog`, :class:`MLflowLog`: optional (pyproject extras ``wandb``, ``mlflow``); their
  packages are imported only when a recipe asks for them, and contacted only then.

The loggers change nothing a run computes: ``logger`` is in neither the unit id nor the
configuration identity (:data:`gazebench.config.NOT_IN_UNIT_ID`,
:data:`gazebench.identity.NOT_IN_IDENTITY`).
"""

from __future__ import annotations

import importlib
import math
import os
from pathlib import Path
from typing import Any

from gazebench.config import LOGGERS
from gazebench.errors import UserRuntimeError, UserValueError
from gazebench.fit import Callback
from gazebench.setup import Setup

#: the event files' folder inside a unit's run folder
TENSORBOARD_DIR = "tensorboard"
#: where an MLflow logger keeps its run id, so a resumed fit continues the same MLflow run
MLFLOW_RUN_ID = "mlflow_run_id.txt"

#: tag -> how it is read from an epoch's history row (gazebench.fit.run_epoch)
SCALARS = {
    "train/loss": lambda row: row["train_loss"],
    "val/loss": lambda row: row["val_loss"],
    "val/mean_angular_error_deg": lambda row: row["val_mean"],
    "train/lr": lambda row: row.get("lr"),
    "train/samples_per_s": lambda row: (row["train_samples"] / row["train_seconds"]
                                        if row.get("train_seconds") else None),
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
        raise UserRuntimeError(f"logger={package} needs the {package} package: pip install \"gazebench[{package}]\" "
                               "(or --set logger=tensorboard)") from None


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


class WandbLog(Callback):
    """Per-epoch scalars to Weights & Biases: one W&B run per unit (its id the unit id, so a
    resumed fit continues it), ``epoch`` its x axis, the recipe its config.  Without a network,
    set ``WANDB_MODE=offline`` (``wandb sync`` uploads later)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.wandb = require("wandb")
        self.run_dir = Path(run_dir)
        self.run = None

    def on_train_epoch_start(self, setup: Setup, epoch: int) -> None:
        if self.run is None:
            unit = setup.unit
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.run = self.wandb.init(
                project=os.environ.get("WANDB_PROJECT", "gazebench"), id=unit.unit_id, resume="allow",
                name=f"{unit.label} {unit.spec.dataset} fold-{unit.fold} seed-{unit.spec.seed}",
                dir=str(self.run_dir), config=run_config(setup),
            )
            self.run.define_metric("epoch")
            self.run.define_metric("*", step_metric="epoch")

    def on_epoch_end(self, setup: Setup, row: dict[str, Any]) -> None:
        self.run.log({"epoch": row["epoch"], **epoch_scalars(row)})

    def on_fit_end(self, setup: Setup, error: BaseException | None) -> None:
        if self.run is not None:
            self.run.finish(exit_code=0 if error is None else 1)
            self.run = None


class MLflowLog(Callback):
    """Per-epoch scalars to MLflow (``MLFLOW_TRACKING_URI``; MLflow's default is a local
    ``./mlruns``): one MLflow run per unit, its id kept in ``<run_dir>/mlflow_run_id.txt`` so a
    resumed fit continues it; the recipe as parameters, ``step`` the epoch."""

    def __init__(self, run_dir: str | Path) -> None:
        self.mlflow = require("mlflow")
        self.run_dir = Path(run_dir)
        self.run = None

    def on_train_epoch_start(self, setup: Setup, epoch: int) -> None:
        if self.run is not None:
            return
        unit, id_file = setup.unit, self.run_dir / MLFLOW_RUN_ID
        run_id = id_file.read_text().strip() if id_file.is_file() else None
        self.run = self.mlflow.start_run(
            run_id=run_id, run_name=None if run_id else f"{unit.label} {unit.spec.dataset} fold-{unit.fold} "
                                                        f"seed-{unit.spec.seed}")
        if run_id is None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            id_file.write_text(self.run.info.run_id + "\n")
            self.mlflow.log_params({k: str(v)[:250] for k, v in run_config(setup).items()})

    def on_epoch_end(self, setup: Setup, row: dict[str, Any]) -> None:
        self.mlflow.log_metrics({tag.replace("/", "_"): v for tag, v in epoch_scalars(row).items()},
                                step=row["epoch"])

    def on_fit_end(self, setup: Setup, error: BaseException | None) -> None:
        if self.run is not None:
            self.mlflow.end_run(status="FINISHED" if error is None else "FAILED")
            self.run = None


def run_config(setup: Setup) -> dict[str, Any]:
    """What a tracker shows as the run's configuration: the unit and its recipe."""
    unit = setup.unit
    return {"unit_id": unit.unit_id, "dataset": unit.spec.dataset, "fold": unit.fold, "seed": unit.spec.seed,
            "model": unit.spec.model, "label": unit.label, **unit.recipe.as_dict()}


def make_loggers(names: tuple[str, ...] | list[str], run_dir: str | Path) -> list[Callback]:
    """The callbacks of a recipe's ``logger`` names; an optional logger whose package is missing is
    the one-line install hint, here, before any data is read."""
    unknown = [n for n in names if n not in LOGGERS]
    if unknown:  # Recipe.resolve checks this already; a hand-built recipe may not
        raise UserValueError(f"unknown logger {', '.join(map(repr, unknown))}; choose from {', '.join(LOGGERS)}, or none")
    run_dir = Path(run_dir)
    makers = {"tensorboard": lambda: TensorBoardLog(run_dir / TENSORBOARD_DIR),
              "wandb": lambda: WandbLog(run_dir), "mlflow": lambda: MLflowLog(run_dir)}
    return [makers[n]() for n in names]
