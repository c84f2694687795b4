"""Fitting a set-up unit: the epoch loop, selection, early stopping, checkpoints and resume.

:func:`fit` trains ``setup.model`` for ``recipe.epochs`` epochs; after each epoch it validates,
keeps the best weights by the recipe's ``select`` rule, counts epochs without improvement of
``early_stop_on`` (stopping after ``patience`` of them), writes ``last.pt`` (everything needed to
resume: model, optimiser, scaler, RNG states, :class:`~gazebench.results.checkpoint.FitState`) and tells
the callbacks.  At the end the best weights are loaded and written to ``best.pt``.
:func:`evaluate` then predicts the validation and test splits with whatever weights the model has.

Every epoch reseeds its sampler, its augmentation and torch's RNG from ``(seed, epoch)``, so an
interrupted fit resumed from ``last.pt`` continues exactly as if it had not stopped.

The loop asks ``setup.strategy`` (:mod:`gazebench.train.parallel`) at a few points: which batches this
process trains on, the epoch's stats and the predictions over every process, and whether it is
the one that writes.  One process: each answer is what it was given.  Under torchrun
(:mod:`gazebench.train.distributed`, docs/cluster.md) every rank runs this loop on its slices of the
same batches, validation is gathered so every rank selects and stops alike, and only rank 0
writes ``last.pt``/``best.pt``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from gazebench.core.progress import progress_bar
from gazebench.datasets.loading import without_skipped
from gazebench.results import checkpoint
from gazebench.train.assemble import Setup, make_optimizer, make_scaler
from gazebench.train.augment import make_augment
from gazebench.train.engine import predict_batches, train_one_epoch
from gazebench.train.schedules import set_rate

LAST, BEST = "last.pt", "best.pt"


class Callback:
    """Hooks into :func:`fit`; subclass and override what you need (logging, TensorBoard, ...)."""

    def on_train_epoch_start(self, setup: Setup, epoch: int) -> None:
        """Right before the first batch of epoch ``epoch`` is asked for."""

    def on_train_epoch_end(self, setup: Setup, epoch: int, stats: dict[str, float]) -> None:
        """Right after the last training step of the epoch (before validation); ``stats`` is
        :func:`~gazebench.train.engine.train_one_epoch`'s (``loss``, ``samples``, ``seconds``)."""

    def on_epoch_end(self, setup: Setup, row: dict[str, Any]) -> None:
        """After epoch ``row["epoch"]`` was validated and checkpointed; ``row`` is its history
        entry (``train_loss``, ``val_loss``, ``val_mean``, ``train_seconds``, ``train_samples``,
        ``lr``: the learning rate of the epoch's first step, for a parameter group of ``lr_scale`` 1)."""

    def on_fit_end(self, setup: Setup, error: BaseException | None) -> None:
        """When the epoch loop is over: finished (``error`` None) or stopped by ``error``
        (flush and close files and connections here)."""


class EpochLog(Callback):
    """One line per epoch on stderr."""

    def on_epoch_end(self, setup: Setup, row: dict[str, Any]) -> None:
        print(
            f"epoch {row['epoch']}: train loss {row['train_loss']:.4f}, val loss {row['val_loss']:.4f}, "
            f"val error {row['val_mean']:.2f} deg",
            file=sys.stderr,
        )


@dataclass
class FitOutcome:
    """What the record says about training and selection."""

    history: list[dict[str, Any]] = field(default_factory=list)
    chosen_epoch: int = 0
    early_stopped: bool = False

    @property
    def train_seconds(self) -> float:
        return sum((h["train_seconds"] for h in self.history), 0.0)

    @property
    def train_samples(self) -> int:
        return sum(h["train_samples"] for h in self.history)


@dataclass
class Evaluation:
    """Predictions of the selected model on the validation and test splits (engine.predict_batches dicts)."""

    val: dict[str, Any]
    test: dict[str, Any]


def fit(
    setup: Setup, callbacks: Sequence[Callback] = (), *, resume: bool | None = None, progress: bool = True
) -> FitOutcome:
    """Train, validate, select and checkpoint ``setup`` (see the module doc).  A model that is not
    trained by gradient steps (or ``epochs=0``) returns an empty outcome and writes nothing.

    ``resume``: None (default) continues from ``last.pt`` when an interrupted fit left one;
    True does the same and says so when there is none; False starts over."""
    if not setup.trains:
        return FitOutcome()
    check_eval_frames(setup, progress)
    run_dir, recipe = setup.unit.run_dir, setup.recipe
    optimizer, scaler = make_optimizer(setup.model, recipe), make_scaler(setup)
    state = checkpoint.FitState()
    main = setup.strategy.is_main  # under torchrun only rank 0 writes and talks
    if resume is not False:  # under torchrun every rank loads the same last.pt
        resumed = checkpoint.load_into(run_dir / LAST, setup.model, optimizer, scaler)
        if resumed is None and resume and main:
            print(
                f"--resume: nothing to resume ({run_dir / LAST} does not exist); training from epoch 1", file=sys.stderr
            )
        elif resumed is not None and main:
            print(
                f"resuming after epoch {resumed.epoch} from {run_dir / LAST} (--restart starts over)", file=sys.stderr
            )
        state = resumed or state
    # one loader for all epochs (its workers persist); each epoch reseeds its sampler
    loader = setup.loader("train", generator=torch.Generator().manual_seed(setup.seed))
    early_stopped, error = False, None
    try:
        for epoch in range(state.epoch + 1, recipe.epochs + 1):
            row = run_epoch(setup, loader, optimizer, scaler, epoch, progress, callbacks)
            update_state(state, setup, row)
            if main:
                checkpoint.save(run_dir / LAST, setup.model, optimizer, scaler, state)
            for cb in callbacks:
                cb.on_epoch_end(setup, row)
            if recipe.patience is not None and state.bad_epochs >= recipe.patience:
                early_stopped = True
                break
    except BaseException as exc:  # told to the callbacks (a tracker marks its run failed), then raised
        error = exc
        raise
    finally:
        for cb in callbacks:
            cb.on_fit_end(setup, error)
    if state.best_model is not None:
        setup.model.load_state_dict(state.best_model)
    if main:
        checkpoint.save_weights(run_dir / BEST, setup.model)
    return FitOutcome(state.history, state.best_epoch, early_stopped)


def check_eval_frames(setup: Setup, progress: bool) -> None:
    """Read every validation and test frame once before the first epoch, so that a bad image there
    stops the run (or, with ``on_bad_sample=skip``, is recorded) before any training is spent."""
    for split in ("val", "test"):
        if not len(setup.sets[split]):
            continue
        with progress_bar(len(setup.eval_loaders[split].sampler), f"check {split} frames", progress) as bar:
            for batch in without_skipped(setup.eval_loaders[split], setup.skipped[split]):
                bar(len(batch["index"]))


def run_epoch(
    setup: Setup, loader, optimizer, scaler, epoch: int, progress: bool, callbacks: Sequence[Callback] = ()
) -> dict[str, Any]:
    """Train one epoch (sampler, augmentation and torch's RNG seeded from ``(seed, epoch)``), then
    validate; the epoch's history row."""
    recipe, seed = setup.recipe, setup.seed
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    torch.manual_seed(seed * 100_019 + epoch)
    loader.batch_sampler.sampler.generator = gen  # the RandomSampler (under torchrun: inside the sharded batches)
    aug = make_augment(recipe.augment, gen)
    setup.sets["train"].set_epoch(epoch)  # the data path's draws (resized_crop) of this epoch
    # the schedule is a function of (epoch, step), so a resumed fit continues it (gazebench.train.schedules)
    steps = len(loader.batch_sampler)
    lr = set_rate(optimizer, recipe, epoch, 0, steps)
    per_step = None
    if recipe.lr_schedule == "onecycle":

        def per_step(i: int) -> None:
            set_rate(optimizer, recipe, epoch, i, steps)

    for cb in callbacks:
        cb.on_train_epoch_start(setup, epoch)
    batches, total = setup.strategy.train_batches(loader)  # under torchrun: this rank's slices, labelled
    with progress_bar(total, f"epoch {epoch}/{recipe.epochs} train", progress) as bar:
        stats = train_one_epoch(
            setup.train_model,
            without_skipped(batches, setup.skipped["train"]),
            setup.loss_fn,
            optimizer,
            setup.ctx,
            scaler,
            bar,
            augment=aug,
            before_step=per_step,
        )
    stats = setup.strategy.reduce_train_stats(stats)  # under torchrun: all ranks' samples and loss
    for cb in callbacks:
        cb.on_train_epoch_end(setup, epoch, stats)
    if len(setup.sets["val"]):
        val = predict_split(setup, "val", f"epoch {epoch}/{recipe.epochs} val", progress, with_loss=True)
        val_loss, val_mean = val["loss"], float(np.mean(val["error"]))
    else:  # a protocol without validation (select=last): nothing to validate on
        val_loss = val_mean = float("nan")
    return {
        "epoch": epoch,
        "train_loss": stats["loss"],
        "val_loss": val_loss,
        "val_mean": val_mean,
        "train_seconds": stats["seconds"],
        "train_samples": stats["samples"],
        "lr": float(lr),
    }


def update_state(state: checkpoint.FitState, setup: Setup, row: dict[str, Any]) -> None:
    """Selection (the best weights by ``select``) and the early-stop count (``early_stop_on``)."""
    recipe, epoch = setup.recipe, row["epoch"]
    select_value = {"val_angular": row["val_mean"], "val_loss": row["val_loss"], "last": -epoch}[recipe.select]
    if select_value != select_value:  # NaN: validation gave no number; keep the last epoch
        select_value = -epoch
    if state.best_value is None or select_value < state.best_value:
        state.best_value, state.best_epoch = select_value, epoch
        state.best_model = {k: v.detach().cpu().clone() for k, v in setup.model.state_dict().items()}
    stop_value = row["val_loss"] if recipe.early_stop_on == "val_loss" else row["val_mean"]
    if state.stop_value is None or stop_value < state.stop_value:
        state.stop_value, state.bad_epochs = stop_value, 0
    else:
        state.bad_epochs += 1
    state.epoch = epoch
    state.history = state.history + [row]


def predict_split(setup: Setup, split: str, desc: str, progress: bool, with_loss: bool = False) -> dict[str, Any]:
    """Predictions for every sample of ``split`` (``val`` or ``test``), with the mean loss if asked."""
    loader = without_skipped(setup.eval_loaders[split], setup.skipped[split])
    with progress_bar(len(setup.eval_loaders[split].sampler), desc, progress) as bar:
        pred = predict_batches(setup.step_model, loader, setup.ctx, setup.loss_fn if with_loss else None, bar)
    # under torchrun each rank predicted its share: every rank gets all of them, in index order
    return setup.strategy.gather_predictions(pred)


def evaluate(setup: Setup, progress: bool = True) -> Evaluation:
    """The model as it is now (after :func:`fit`: the selected weights) on validation and test
    (under torchrun: gathered from the ranks' shares, with the unreadable samples every rank met)."""
    evaluation = Evaluation(
        predict_split(setup, "val", "evaluate val", progress), predict_split(setup, "test", "evaluate test", progress)
    )
    setup.skipped = setup.strategy.gather_skipped(setup.skipped)
    return evaluation
