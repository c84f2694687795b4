"""One unit on several processes under ``torchrun``: DistributedDataParallel that computes what one
process computes (docs/cluster.md).

``torchrun --nproc-per-node N -m gazebench run ...`` starts N copies of gazebench with
``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` set; :func:`init` joins them into a process group (gloo on
a CPU, NCCL on CUDA with device ``cuda:LOCAL_RANK``) with a finite timeout
(``$GAZEBENCH_DIST_TIMEOUT`` seconds, default :data:`DEFAULT_TIMEOUT_S`) and returns :class:`Dist`,
the strategy that set-up, the fit loop and the runner ask at the points of
:class:`gazebench.train.parallel.SingleProcess` (:func:`gazebench.train.parallel.join` imports this module only
when ``torchrun`` started several processes; a single process never enters it).

What makes N processes train as one process with the same global batch and seed:

* :class:`ShardedBatchSampler`: every rank draws the one-process permutation (the same
  ``RandomSampler`` with the same per-epoch generator, drawn at the same moments through torch's
  ``BatchSampler``), cuts it into the same global batches, and keeps its slice of each;
  :func:`label_shards` tells each batch where its slice sits in the global batch, so the
  augmentation draws its random numbers for the whole global batch and keeps the slice's
  (:class:`gazebench.train.augment.Augment` ``part``), and the loss is weighted so that DDP's average
  of the ranks' gradients is the gradient of the global batch mean.
* :func:`global_batchnorm`: BatchNorm normalises with the statistics of the global batch
  (``torch.nn.SyncBatchNorm`` on CUDA; :class:`GlobalBatchNorm` on a CPU, where SyncBatchNorm
  refuses to run), as one process does; running statistics are updated from them.
* Evaluation: each rank predicts a contiguous, unpadded share of the split
  (:meth:`Dist.shard_eval`); :meth:`Dist.gather_predictions` puts the shares back in index order on
  every rank, so each sample is counted once and every rank takes the same selection and early-
  stop decisions.

What remains different is the order of float sums (gradients summed per rank, then averaged;
BatchNorm statistics summed per rank): results agree to float rounding, not bit for bit.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import BatchSampler, Sampler

from gazebench.core.errors import UserRuntimeError
from gazebench.core.options import ConfigError

#: seconds a rank waits in a collective before it gives up (the others' failure, a stuck peer)
DEFAULT_TIMEOUT_S = 1800
TIMEOUT_ENV = "GAZEBENCH_DIST_TIMEOUT"


def env_rank() -> int | None:
    """This process's rank when ``torchrun`` started more than one process, else None (read from
    the environment: usable before the process group exists, e.g. for error messages)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        return int(os.environ.get("RANK", "0")) if world > 1 else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Dist:
    """This process's place in the job, and the strategy that answers the points of
    :class:`gazebench.train.parallel.SingleProcess` for it."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device
    timeout_s: float

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # --- coordination ---

    def all_gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (picklable), in rank order, on every rank."""
        import torch.distributed as tdist

        out: list[Any] = [None] * self.world_size
        tdist.all_gather_object(out, obj)
        return out

    def from_main(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (a decision all ranks must take alike)."""
        import torch.distributed as tdist

        box = [obj]
        tdist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        import torch.distributed as tdist

        tdist.barrier()

    # --- the model ---

    def local_device(self, device: torch.device) -> torch.device:
        """``cuda:LOCAL_RANK`` under torchrun on CUDA (the device :func:`init` was given otherwise)."""
        return self.device

    def prepare_model(self, model: nn.Module, recipe: Any, trains: bool) -> None:
        """A global batch the ranks can share, and BatchNorm over the global batch, as one process."""
        if trains:
            check_batch_size(recipe.batch_size, self.world_size)
        global_batchnorm(model, self.device)

    def wrap_model(self, model: nn.Module, recipe: Any) -> nn.Module:
        """``model`` (its BatchNorm already global) in DistributedDataParallel, compiled when the
        recipe asks: what training steps go through.  The plain model keeps the parameters
        (optimiser, checkpoints, evaluation)."""
        from torch.nn.parallel import DistributedDataParallel

        from gazebench.train.engine import compile_model

        ids = [self.device.index] if self.device.type == "cuda" else None
        # static_graph: the same parameters take part in every step; heads whose outputs a loss does
        # not use (a sigma head under an angular loss) are found once, in the first step
        ddp = DistributedDataParallel(model, device_ids=ids, static_graph=True)
        return compile_model(ddp, recipe.compile)

    # --- the data ---

    def shard_eval(self, n: int) -> list[int]:
        """This rank's contiguous share of ``n`` evaluation samples: the first ``n % world`` ranks
        one more; no padding, no sample twice (a rank may get none)."""
        base, extra = divmod(n, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return list(range(start, start + base + (self.rank < extra)))

    def shard_train(self, sampler: Sampler, batch_size: int, drop_last: bool) -> ShardedBatchSampler:
        return ShardedBatchSampler(sampler, batch_size, drop_last, self.rank, self.world_size)

    def train_batches(self, loader: Any) -> tuple[Iterator[dict], int]:
        """The loader's batches labelled with their place in the global batch (:func:`label_shards`)."""
        return label_shards(loader, loader.batch_sampler), loader.batch_sampler.local_samples()

    # --- the results ---

    def reduce_train_stats(self, stats: dict[str, float]) -> dict[str, float]:
        """One epoch's :func:`gazebench.train.engine.train_one_epoch` stats over all ranks: the mean loss
        over every sample, the samples of all ranks, the slowest rank's seconds."""
        parts = self.all_gather((stats["loss"], stats["samples"], stats["seconds"]))
        samples = sum(p[1] for p in parts)
        loss = sum(p[0] * p[1] for p in parts) / max(samples, 1)
        return {**stats, "loss": loss, "samples": samples, "seconds": max(p[2] for p in parts)}

    def gather_predictions(self, pred: dict[str, Any]) -> dict[str, Any]:
        """The ranks' :func:`gazebench.train.engine.predict_batches` outputs on their shares, joined in rank order
        (the shares are contiguous, so this is the split's order); the mean loss over all samples."""
        parts = self.all_gather({k: pred[k] for k in (*_CONCAT, "loss", "seconds")})
        out = {k: np.concatenate([p[k] for p in parts]) for k in _CONCAT}
        counts = [len(p["index"]) for p in parts]
        losses = [p["loss"] for p in parts]
        if all(np.isnan(losses)):
            out["loss"] = float("nan")
        else:
            out["loss"] = float(sum(loss * c for loss, c in zip(losses, counts) if c) / max(sum(counts), 1))
        out["seconds"] = max(p["seconds"] for p in parts)
        return {**pred, **out}

    def gather_skipped(self, skipped: dict[str, list[int]]) -> dict[str, list[int]]:
        """The unreadable samples every rank met, per split."""
        parts = self.all_gather(skipped)
        return {s: [r for p in parts for r in p.get(s, [])] for s in skipped}

    def describe(self) -> dict[str, Any]:
        """What a record says about the job (``environment.distributed``)."""
        return {
            "world_size": self.world_size,
            "backend": self.backend,
            "batchnorm": BATCHNORM_TEXT,
            "sampler": "the single-process order and global batches, one slice per rank",
        }


_CONCAT = ("index", "vector", "target", "error", "sigma")
BATCHNORM_TEXT = "global batch statistics (SyncBatchNorm on CUDA, gazebench GlobalBatchNorm on CPU)"

_dist: Dist | None = None


def is_main() -> bool:
    """Rank 0, or a single process: the one that writes files and prints progress."""
    return _dist is None or _dist.is_main


def timeout_seconds() -> float:
    raw = os.environ.get(TIMEOUT_ENV)
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        raise ConfigError(f"${TIMEOUT_ENV} must be a number of seconds; got {raw!r}") from None
    if not value > 0:
        raise ConfigError(f"${TIMEOUT_ENV} must be a positive number of seconds; got {raw!r}")
    return value


def init(device: torch.device | str = "cpu") -> Dist | None:
    """Join the job's process group when ``torchrun`` started more than one process (once; later
    calls return the same); None otherwise.  ``device``: the recipe's device resolved on this
    machine -- CUDA means NCCL on ``cuda:LOCAL_RANK``, anything else gloo."""
    global _dist
    if _dist is not None or env_rank() is None:
        return _dist
    import torch.distributed as tdist

    device = torch.device(device)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise UserRuntimeError(
                f"LOCAL_RANK {local_rank} but this node has {torch.cuda.device_count()} CUDA devices; "
                "start at most one process per GPU (--nproc-per-node)"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise ConfigError(f"torchrun with device {device.type!r}: gazebench runs DDP on CUDA (NCCL) or on CPUs (gloo)")
    timeout = timeout_seconds()
    if not tdist.is_initialized():
        kwargs = {"device_id": device} if backend == "nccl" else {}
        tdist.init_process_group(backend, timeout=timedelta(seconds=timeout), **kwargs)
    _dist = Dist(rank, world, local_rank, backend, device, timeout)
    atexit.register(shutdown)
    return _dist


def shutdown() -> None:
    """Leave the process group (at exit; harmless when not in one)."""
    global _dist, _bn_group
    import torch.distributed as tdist

    _dist, _bn_group = None, None
    if tdist.is_available() and tdist.is_initialized():
        tdist.destroy_process_group()


# --- training: the sampler ------------------------------------------------------------------------


def check_batch_size(batch_size: int, world: int) -> None:
    if batch_size % world:
        raise ConfigError(
            f"batch_size={batch_size} does not divide by the {world} processes of this torchrun job; "
            f"choose a global batch size that is a multiple of {world} (each rank takes "
            f"batch_size/{world} samples of every global batch)"
        )


class ShardedBatchSampler(Sampler[list[int]]):
    """The single-process run's training batches, this rank's slice of each.

    ``sampler`` is the one-process ``RandomSampler`` (``fit`` reseeds its ``generator`` every
    epoch); torch's ``BatchSampler`` over it draws the permutation at the same moments as the one
    process's loader does, so the generator's later draws (the augmentation's) stay aligned too.
    Global batch ``g`` of size ``G`` is cut into ``world`` consecutive slices (``G % world``
    leading ranks one sample more: only a final partial batch can be uneven); :attr:`plan` records
    ``(start, G, weight)`` of this rank's slice per batch.  A final batch with fewer samples than
    ranks is left out (one process keeps it; with 2 ranks that batch has one sample, which one
    process drops as well)."""

    def __init__(self, sampler: Sampler, batch_size: int, drop_last: bool, rank: int, world: int) -> None:
        check_batch_size(batch_size, world)
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.rank, self.world = rank, world
        self.plan: list[tuple[int, int, float]] = []

    def _slice(self, total: int) -> tuple[int, int]:
        base, extra = divmod(total, self.world)
        return self.rank * base + min(self.rank, extra), base + (self.rank < extra)

    def __iter__(self) -> Iterator[list[int]]:
        self.plan = []
        for batch in BatchSampler(self.sampler, self.batch_size, self.drop_last):
            total = len(batch)
            if total < self.world:
                continue
            start, size = self._slice(total)
            # DDP averages the ranks' gradients; a rank's loss is its slice's mean: weighting it by
            # size * world / total makes the average the global batch's mean
            self.plan.append((start, total, size * self.world / total))
            yield batch[start : start + size]

    def _totals(self) -> list[int]:
        n = len(self.sampler)  # type: ignore[arg-type]
        full, rest = divmod(n, self.batch_size)
        totals = [self.batch_size] * full + ([rest] if rest and not self.drop_last else [])
        return [t for t in totals if t >= self.world]

    def __len__(self) -> int:
        return len(self._totals())

    def local_samples(self) -> int:
        """How many samples this rank sees in an epoch."""
        return sum(self._slice(t)[1] for t in self._totals())


def label_shards(loader: Iterable[dict], batch_sampler: ShardedBatchSampler) -> Iterator[dict]:
    """The batches of ``loader`` (over ``batch_sampler``), each with ``"shard": (start, total,
    weight)`` from the sampler's plan.  A batch whose every sample was skipped (``on_bad_sample=
    skip``) stops the run: a rank without a step would leave the others waiting."""
    for k, batch in enumerate(loader):
        if "frames" not in batch and "rows" not in batch:  # (rows: frames held on the device)
            raise UserRuntimeError(
                "every sample of this rank's share of a training batch was unreadable "
                "(on_bad_sample=skip); under torchrun a rank cannot skip a step: fix or remove "
                f"the samples at rows {batch.get('skipped')}"
            )
        batch["shard"] = batch_sampler.plan[k]
        yield batch


# --- the model ------------------------------------------------------------------------------------


class _AllReduceSum(torch.autograd.Function):
    """Sum over the ranks; its gradient is the sum of the ranks' gradients (what flows back to each
    rank's share of a statistic every rank used)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, group: Any) -> torch.Tensor:  # type: ignore[override]
        import torch.distributed as tdist

        ctx.group = group
        out = tensor.clone(memory_format=torch.contiguous_format)
        tdist.all_reduce(out, group=group)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return _AllReduceSum.apply(grad.contiguous(), ctx.group), None


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the global batch of all ranks, for CPUs (``torch.nn.SyncBatchNorm`` runs only
    on accelerators).  Training: mean and (biased) variance of the batch of every rank, in two
    all-reduces (sum and count, then the squared deviations; differentiable), running statistics
    updated from them as ``nn.BatchNorm*d`` does (unbiased variance, ``momentum`` or the
    cumulative average).  Evaluation: the running statistics, as any BatchNorm.  Same parameters
    and buffers as the BatchNorm it replaces, so checkpoints load in either."""

    def __init__(self, *args: Any, process_group: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.process_group = process_group

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input (got {input.dim()}-D)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        import torch.distributed as tdist

        self._check_input_dim(input)
        if not (self.training and tdist.is_initialized()):
            return super().forward(input)
        dims = [0, *range(2, input.dim())]
        shape = [1, -1] + [1] * (input.dim() - 2)
        x = input.float()
        # per-channel sums in float64 (the count too: exact past 2**24 values per channel)
        count = torch.tensor([x.numel() // x.shape[1]], dtype=torch.float64, device=x.device)
        sums = _AllReduceSum.apply(torch.cat([x.sum(dims, dtype=torch.float64), count]), self.process_group)
        n = sums[-1]
        mean = (sums[:-1] / n).float()
        centred = x - mean.view(shape)
        squares = _AllReduceSum.apply((centred * centred).sum(dims, dtype=torch.float64), self.process_group)
        var = (squares / n).float()
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                unbiased = var * (n / (n - 1)) if float(n) > 1 else var
                self.running_mean.mul_(1 - factor).add_(mean.detach().to(self.running_mean.dtype), alpha=factor)
                self.running_var.mul_(1 - factor).add_(unbiased.detach().to(self.running_var.dtype), alpha=factor)
        return y.to(input.dtype)


_bn_group: Any = None
_PLAIN_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def global_batchnorm(model: nn.Module, device: torch.device) -> list[str]:
    """Replace every plain ``nn.BatchNorm1d/2d/3d`` of ``model`` (in place, the same parameters and
    buffers) by one over the global batch: ``nn.SyncBatchNorm`` on CUDA, :class:`GlobalBatchNorm`
    elsewhere.  Returns the names of other BatchNorm kinds, left per rank (none in gazebench's
    models)."""
    global _bn_group
    import torch.distributed as tdist

    # its own group: BatchNorm's collectives in the backward pass never interleave with DDP's
    # gradient buckets on the default group (made once, by every rank alike)
    if _bn_group is None:
        _bn_group = tdist.new_group(backend="nccl" if device.type == "cuda" else "gloo")
    group = _bn_group
    left: list[str] = []
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if type(child) in _PLAIN_BN:
                cls = nn.SyncBatchNorm if device.type == "cuda" else GlobalBatchNorm
                new = cls(
                    child.num_features,
                    child.eps,
                    child.momentum,
                    child.affine,
                    child.track_running_stats,
                    process_group=group,
                )
                if child.affine:
                    new.weight, new.bias = child.weight, child.bias
                if child.track_running_stats:
                    new.running_mean, new.running_var = child.running_mean, child.running_var
                    new.num_batches_tracked = child.num_batches_tracked
                new.train(child.training)
                setattr(module, child_name, new)
            elif isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(
                child, (GlobalBatchNorm, nn.SyncBatchNorm)
            ):
                left.append(f"{name}.{child_name}".lstrip("."))
    return left


__all__: Sequence[str] = (
    "Dist",
    "GlobalBatchNorm",
    "ShardedBatchSampler",
    "env_rank",
    "global_batchnorm",
    "init",
    "is_main",
    "label_shards",
    "shutdown",
)
