"""Everything a planned unit needs before its first step: :func:`build_setup`.

Shared by ``gazebench run`` (:func:`gazebench.train.runner.run_unit`) and ``gazebench bench``: the
dataset and its splits, the model, loss and device, how a batch becomes model input
(:class:`~gazebench.train.engine.StepContext`), where frames come from (a frame source: the image files
or a prepared cache), the frame windows of each split and the loaders over them.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, Sampler, WeightedRandomSampler

from gazebench.core.config import ConfigError, Recipe
from gazebench.core.registry import LOSSES
from gazebench.core.runtime import configure_threads, resolve_num_workers
from gazebench.datasets import build_dataset
from gazebench.datasets.base import GazeDataset
from gazebench.datasets.device_frames import DeviceFrames, hold_on_device
from gazebench.datasets.loading import FrameWindows, collate_frames
from gazebench.datasets.sources import FrameSource, open_frame_source
from gazebench.losses import resolve_loss
from gazebench.models import build_model
from gazebench.models.base import GazeModel
from gazebench.results.unit import Unit
from gazebench.train import parallel
from gazebench.train.augment import source_crop
from gazebench.train.engine import LossFn, StepContext, compile_model, resolve_device
from gazebench.train.memory import check_batch_memory
from gazebench.train.schedules import param_groups

SPLITS = ("train", "val", "test")


@dataclass
class Setup:
    """A unit made ready to train: what :func:`gazebench.train.fit.fit`, evaluation and the record use."""

    unit: Unit
    dataset: GazeDataset
    positions: dict[str, np.ndarray]  # row positions of each split in the adapter's index
    subjects: dict[str, list[str]]
    model: GazeModel  # the plain model: optimisers and checkpoints use it
    step_model: nn.Module  # what forward passes go through (the compiled model, or the model)
    loss_name: str
    loss_fn: LossFn
    device: torch.device
    ctx: StepContext
    source: FrameSource
    sets: dict[str, FrameWindows]
    num_workers: int  # the recipe's num_workers, resolved for the device
    eval_loaders: dict[str, DataLoader] = field(default_factory=dict)
    skipped: dict[str, list[int]] = field(default_factory=lambda: {s: [] for s in SPLITS})
    #: how this unit's processes share the work (gazebench.train.parallel: one process, or torchrun's DDP)
    strategy: parallel.Strategy = field(default_factory=parallel.SingleProcess)
    #: what training steps go through when the strategy wraps the model (DDP); None: step_model
    wrapped_model: nn.Module | None = None

    @property
    def recipe(self) -> Recipe:
        return self.unit.recipe

    @property
    def seed(self) -> int:
        return self.unit.spec.seed

    @property
    def trains(self) -> bool:
        """Whether the model is trained by gradient steps (fitted baselines are not)."""
        return bool(self.model.trainable) and self.recipe.epochs > 0

    @property
    def train_model(self) -> nn.Module:
        """What training steps go through: the DDP model under torchrun, else :attr:`step_model`."""
        return self.wrapped_model if self.wrapped_model is not None else self.step_model

    def loader(
        self, split: str, generator: torch.Generator | None = None, sampler: Sampler | None = None
    ) -> DataLoader:
        """A loader over ``split`` with the recipe's batch size and the resolved workers; under
        torchrun this rank's slices of the training batches, or its share of an evaluation split."""
        train, shard = split == "train", None
        if sampler is None and train:
            shard = self.strategy.shard_train
        elif sampler is None:
            sampler = self.strategy.shard_eval(len(self.sets[split]))  # type: ignore[assignment]
        workers = 0 if self.sets[split].on_device is not None else self.num_workers  # rows need no decoding
        return make_loader(self.sets[split], self.recipe, workers, train, generator, sampler, shard)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    if deterministic:
        torch.use_deterministic_algorithms(True)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_setup(unit: Unit, *, deterministic: bool = False, cache_mode: str | None = None) -> Setup:
    """The dataset, then (seeded) the splits, model, loss, device, frame source, frame windows and
    evaluation loaders of ``unit``.  Frames come from a current frame cache, else the image files
    (``cache_mode``: ``auto``, ``off``, ``require``; default ``$GAZEBENCH_CACHE`` or ``auto``)."""
    recipe = unit.recipe
    dataset = open_dataset(unit)
    seed_everything(unit.spec.seed, deterministic)
    positions, subjects = split(dataset, unit.fold, recipe)
    model, loss_name = build_fitted_model(unit, dataset, positions["train"])
    device = resolve_device(recipe.device)
    strategy = parallel.join(device)  # one process, unless torchrun started several
    device = strategy.local_device(device)
    trains = bool(model.trainable) and recipe.epochs > 0
    strategy.prepare_model(model, recipe, trains)  # under torchrun: BatchNorm over the global batch
    # before any frame is decoded: a batch that cannot fit is one line, not an OOM kill later
    check_batch_memory(
        recipe,
        model.view.num_frames,
        model.view.num_views,
        {s: len(p) for s, p in positions.items()},
        device,
        trains,
        strategy.world_size,
    )
    workers = resolve_num_workers(recipe.num_workers, device.type)
    configure_threads(device.type, workers)
    ctx = StepContext(model.view, recipe.image_size, device, recipe.precision, recipe.channels_last)
    model.to(device)
    if ctx.channels_last:
        model.to(memory_format=torch.channels_last)
    step_model = compile_model(model, recipe.compile)  # shares model's parameters
    source = open_frame_source(dataset, recipe.image_size, mode=cache_mode)
    crop = source_crop(recipe.augment, unit.spec.seed)  # resized_crop: on the frame as read, training only
    sets = {
        s: FrameWindows(dataset, positions[s], model.view, source, recipe.on_bad_sample, crop if s == "train" else None)
        for s in SPLITS
    }
    held = place_frames_on_device(sets, dataset, source, device, workers, recipe.on_bad_sample)
    if held is not None:
        source, ctx.frames_on_device = held, held
    setup = Setup(
        unit,
        dataset,
        positions,
        subjects,
        model,
        step_model,
        loss_name,
        LOSSES.get(loss_name),
        device,
        ctx,
        source,
        sets,
        workers,
        strategy=strategy,
    )
    if setup.trains:
        setup.wrapped_model = strategy.wrap_model(model, recipe)
    setup.eval_loaders = {s: setup.loader(s) for s in ("val", "test")}
    return setup


def place_frames_on_device(
    sets: dict[str, FrameWindows],
    dataset: GazeDataset,
    source: FrameSource,
    device: torch.device,
    workers: int,
    on_bad_sample: str,
) -> DeviceFrames | None:
    """Hold every frame the splits read on ``device`` when :func:`hold_on_device` says so (a split
    that crops frames as decoded is left to its source); the splits then hand over rows."""
    held = [s for s in SPLITS if len(sets[s]) and sets[s].crop is None]
    rows = np.unique(np.concatenate([sets[s].rows.ravel() for s in held])) if held else np.empty(0, np.int64)
    if not len(rows) or not hold_on_device(device, len(rows), source.size):
        return None
    frames = DeviceFrames(source, rows, len(dataset), device, workers, skip_bad=on_bad_sample == "skip")
    for s in held:
        sets[s].hold_on(frames)
    return frames


def open_dataset(unit: Unit) -> GazeDataset:
    """The unit's dataset: its adapter on its root, or, for joint training, the composite of the
    members' adapters (:func:`gazebench.datasets.joint.build_joint`)."""
    if unit.spec.members:
        from gazebench.datasets.joint import build_joint

        return build_joint(unit.data_options, unit.spec.member_roots)
    return build_dataset(unit.spec.dataset, unit.spec.root, **unit.data_options)


def split(dataset: GazeDataset, fold: str, recipe: Recipe) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """Row positions and subjects of each split of ``fold``; the leakage guard runs here.  Only a
    recipe that selects nothing on validation (``select=last``, no ``patience``) may have no
    validation samples (e.g. MPIIFaceGaze's gazehub protocol)."""
    positions = dataset.split_positions(fold)
    subjects = dataset.split_subjects(fold)
    needs_val = recipe.select != "last" or recipe.patience is not None
    for s in SPLITS:
        if len(positions[s]) == 0 and (s != "val" or needs_val):
            why = (
                (
                    f"; recipe select={recipe.select}, patience={recipe.patience} need validation samples "
                    "(select=last without patience trains a fixed number of epochs)"
                )
                if s == "val"
                else ""
            )
            raise ConfigError(f"dataset {dataset.name!r} fold {fold}: the {s} split has no samples{why}")
    return positions, subjects


def build_fitted_model(unit: Unit, dataset: GazeDataset, train: np.ndarray) -> tuple[GazeModel, str]:
    """The unit's model, checked against the dataset, its prior fitted on the training gaze; and
    the name of its loss (the recipe's, else the model's default; losses.resolve_loss: MSE on a sin-cos model is mse_sincos)."""
    model = unit_model(unit)
    if model.view.needs_sequences and not dataset.has_sequences:
        lacking = getattr(dataset, "without_sequences", lambda: [dataset.name])()  # a joint run: the members
        raise ConfigError(
            f"model {unit.spec.model!r} needs {model.view.describe()}, but dataset {', '.join(map(repr, lacking))} "
            f"{'has' if len(lacking) == 1 else 'have'} no sequences to build frame windows from"
            + (f" (every dataset of a joint run {dataset.name!r} must)" if lacking != [dataset.name] else "")
            + "; choose a single-frame model"
        )
    loss_name = resolve_loss(unit.recipe.loss, model)  # an unknown loss fails before any data is read
    model.fit_prior(dataset.gaze(train))
    return model, loss_name


def unit_model(unit: Unit) -> GazeModel:
    """The unit's model: built from the registry, or, with ``init=published:NAME``, the published
    checkpoint in ``weights_file`` loaded into the model its card names (gazebench.published)."""
    name = unit.recipe.published
    if name is None:
        return build_model(unit.spec.model, **unit.model_kwargs)
    from gazebench.published import load_published, published_card

    card = published_card(name)
    if card.model != unit.spec.model:
        raise ConfigError(f"init=published:{name} is a {card.model!r} checkpoint; run it with --model {card.model}")
    from gazebench.published.cards import TRAINING_ONLY_OPTIONS

    training = {k: v for k, v in unit.spec.model_kwargs.items() if k in TRAINING_ONLY_OPTIONS and v is not None}
    return load_published(name, unit.model_kwargs["weights_file"], **training)


def _worker_init(worker_id: int) -> None:
    info = torch.utils.data.get_worker_info()
    np.random.seed(info.seed % 2**32)
    random.seed(info.seed)


def make_loader(
    ds: FrameWindows,
    recipe: Recipe,
    workers: int,
    train: bool,
    generator: torch.Generator | None = None,
    sampler: Sampler | None = None,
    shard: Callable[[Sampler, int, bool], Sampler | None] | None = None,
) -> DataLoader:
    """Workers (if any) stay up across epochs and keep ``prefetch_factor`` batches each in flight;
    batches land in pinned memory on CUDA so the copy to the device overlaps compute.
    ``shard``: a training loader's batch sampler from its sampler, batch size and ``drop_last``
    (the strategy's: one torchrun rank's slices of the single-process batches; None: plain batches)."""
    if sampler is None and train:
        cap = recipe.max_train_samples
        weights = ds.dataset.sample_weights(ds.positions)  # joint training's sampling law; None: uniform
        if weights is None:
            sampler = RandomSampler(ds, num_samples=min(cap, len(ds)) if cap else None, generator=generator)
        else:
            sampler = WeightedRandomSampler(
                torch.as_tensor(weights, dtype=torch.double),
                min(cap, len(ds)) if cap else len(ds),
                replacement=True,
                generator=generator,
            )
    # a training batch of one sample breaks BatchNorm; drop such a remainder, never more
    drop_last = train and _remainder(sampler, recipe.batch_size) == 1
    batch_sampler = shard(sampler, recipe.batch_size, drop_last) if train and shard is not None else None
    batching: dict = (
        dict(
            batch_size=recipe.batch_size if train else recipe.eval_batch_size,
            sampler=sampler,
            shuffle=False,
            drop_last=drop_last,
        )
        if batch_sampler is None
        else dict(batch_sampler=batch_sampler)
    )
    return DataLoader(
        ds,
        collate_fn=collate_frames,
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        worker_init_fn=_worker_init if workers > 0 else None,
        generator=generator,
        **batching,
    )


def _remainder(sampler: Sampler | None, batch_size: int) -> int:
    try:
        n = len(sampler)  # type: ignore[arg-type]
    except TypeError:
        return 0
    return n % batch_size if n > batch_size else 0


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """The recipe's optimiser over the trainable parameters: one group, or with ``layer_decay`` one
    group per layer with its ``lr_scale`` (:func:`gazebench.train.schedules.param_groups`)."""
    params = param_groups(model, recipe.layer_decay)
    if recipe.layer_decay is not None:
        for group in params:
            group["lr"] = recipe.lr * group["lr_scale"]
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, betas=tuple(recipe.betas), weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=recipe.lr, betas=tuple(recipe.betas), weight_decay=recipe.weight_decay)
    return torch.optim.SGD(params, lr=recipe.lr, momentum=0.9, weight_decay=recipe.weight_decay)


def make_scaler(setup: Setup) -> torch.amp.GradScaler | None:
    return torch.amp.GradScaler(setup.device.type) if setup.recipe.precision == "fp16" else None
