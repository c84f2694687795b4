"""How the processes of one unit share its work: the few points where set-up, the fit loop and the
runner ask, and the single process's answers.

:func:`join` gives the strategy of this process: :class:`SingleProcess` unless ``torchrun``
started several processes (``WORLD_SIZE`` > 1), then :class:`gazebench.train.distributed.Dist`, which
answers the same points with DistributedDataParallel (docs/cluster.md).  A single-process run
never imports :mod:`gazebench.train.distributed`: every point here leaves things as one process has them.

The points, in the order a unit meets them:

* coordination (runner, fit): :attr:`~SingleProcess.is_main` (the process that writes and talks),
  :meth:`~SingleProcess.from_main` (a decision every process takes alike), :meth:`~SingleProcess.barrier`;
* the model (set-up): :meth:`~SingleProcess.local_device`, :meth:`~SingleProcess.prepare_model`
  (before the model is moved and its batch memory checked), :meth:`~SingleProcess.wrap_model`
  (what training steps go through);
* the data (loaders, each epoch): :meth:`~SingleProcess.shard_eval`, :meth:`~SingleProcess.shard_train`,
  :meth:`~SingleProcess.train_batches`;
* the results: :meth:`~SingleProcess.reduce_train_stats`, :meth:`~SingleProcess.gather_predictions`,
  :meth:`~SingleProcess.gather_skipped`, :meth:`~SingleProcess.describe` (the record's
  ``environment.distributed``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, Sampler

    from gazebench.core.config import Recipe
    from gazebench.train.distributed import Dist


def torchrun_world() -> int:
    """How many processes ``torchrun`` started (``WORLD_SIZE``; 1 when unset or unreadable)."""
    try:
        return max(int(os.environ.get("WORLD_SIZE", "1")), 1)
    except ValueError:
        return 1


def join(device: torch.device | str = "cpu") -> Strategy:
    """This process's strategy: under ``torchrun`` with several processes, the job's process group
    (joined once: :func:`gazebench.train.distributed.init`; ``device`` picks NCCL or gloo); otherwise
    :class:`SingleProcess`."""
    if torchrun_world() == 1:
        return SingleProcess()
    from gazebench.train.distributed import init

    return init(device) or SingleProcess()  # (RANK unreadable: as torchrun_world, one process)


def is_main_process() -> bool:
    """This process writes files and prints progress: one process alone, or rank 0 of the job it
    joined (:func:`join`); a single process never imports :mod:`gazebench.train.distributed` for it."""
    if torchrun_world() == 1:
        return True
    from gazebench.train.distributed import is_main

    return is_main()


class SingleProcess:
    """One process does all the work: each point answers with what it was given."""

    world_size = 1
    is_main = True  # writes the files and prints progress

    def from_main(self, obj: Any) -> Any:
        """The main process's ``obj`` in every process."""
        return obj

    def barrier(self) -> None:
        """Wait for every process."""

    def local_device(self, device: torch.device) -> torch.device:
        """The device this process uses for the recipe's ``device``."""
        return device

    def prepare_model(self, model: nn.Module, recipe: Recipe, trains: bool) -> None:
        """Before the model is moved to its device (and the batch's memory is checked)."""

    def wrap_model(self, model: nn.Module, recipe: Recipe) -> nn.Module | None:
        """The model training steps go through, when it is not the set-up's ``step_model``."""
        return None

    def shard_eval(self, n: int) -> Sampler | list[int] | None:
        """Which of an evaluation split's ``n`` samples this process predicts (None: all, in order)."""
        return None

    def shard_train(self, sampler: Sampler, batch_size: int, drop_last: bool) -> Sampler | None:
        """The batch sampler of a training loader over ``sampler`` (None: plain batches)."""
        return None

    def train_batches(self, loader: DataLoader) -> tuple[Iterable[dict], int]:
        """An epoch's training batches and how many samples this process sees in them."""
        return loader, len(loader.batch_sampler.sampler)  # type: ignore[union-attr, arg-type]

    def reduce_train_stats(self, stats: dict[str, float]) -> dict[str, float]:
        """An epoch's training stats over every process."""
        return stats

    def gather_predictions(self, pred: dict[str, Any]) -> dict[str, Any]:
        """A split's predictions of every process, in index order."""
        return pred

    def gather_skipped(self, skipped: dict[str, list[int]]) -> dict[str, list[int]]:
        """The unreadable samples every process met, per split."""
        return skipped

    def describe(self) -> dict[str, Any]:
        """``environment.distributed`` of the record."""
        return {"world_size": 1, "backend": None}


if TYPE_CHECKING:
    #: what :func:`join` gives: both answer the points of :class:`SingleProcess`
    Strategy = SingleProcess | Dist
