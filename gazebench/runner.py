"""A run spec -> seed, build, fit, select, evaluate, write the result.  Skips finished work."""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, RandomSampler

from gazebench import checkpoint
from gazebench.cache import attach_cache
from gazebench.config import ConfigError, resolve_recipe
from gazebench.datasets import build_dataset
from gazebench.datasets.base import GazeDataset
from gazebench.datasets.cards import Card
from gazebench.datasets.loading import FrameWindows, collate_frames, without_skipped
from gazebench.engine import StepContext, compile_model, predict, random_flip, resolve_device, train_one_epoch
from gazebench.geometry import error_summary, subset_masks
from gazebench.models import build_model, count_parameters
from gazebench.models.base import GazeModel, model_kwargs
from gazebench.perf.runtime import configure_threads
from gazebench.progress import progress_bar
from gazebench.provenance import environment, now_iso
from gazebench.registry import LOSSES
from gazebench.results import atomic_write_text, write_record


@dataclass
class RunSpec:
    """One unit of work: a model config trained and tested on one fold of one dataset, one seed."""

    dataset: str
    model: str
    fold: str | None = None
    seed: int = 0
    root: str | None = None
    data_options: dict[str, Any] = field(default_factory=dict)
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)
    label: str | None = None  # leaderboard row name; defaults to the model name
    benchmark: str | None = None

    @property
    def row_label(self) -> str:
        return self.label or self.model


@dataclass
class Unit:
    """A RunSpec resolved against its dataset card: recipe filled in, fold named, id fixed."""

    spec: RunSpec
    fold: str
    recipe: dict[str, Any]
    card_version: str
    unit_id: str
    result_path: Path
    run_dir: Path


def resolve_unit(spec: RunSpec, dataset: GazeDataset, results_dir: Path, runs_dir: Path) -> Unit:
    return plan_unit(spec, dataset.card, dataset.options, dataset.resolve_fold(spec.fold), results_dir, runs_dir)


def plan_unit(spec: RunSpec, card: Card, options: dict[str, Any], fold: str, results_dir: Path, runs_dir: Path) -> Unit:
    """The unit of ``spec`` from the dataset's card and resolved options alone (no data is read),
    so a sweep can tell which units are done before opening any dataset."""
    recipe = resolve_recipe(card.get("recipe") or {}, spec.recipe)
    identity = {
        "dataset": spec.dataset,
        "card_version": card.version,
        "data_options": options,
        "model": spec.model,
        "model_kwargs": spec.model_kwargs,
        "recipe": recipe,
        "fold": fold,
        "seed": spec.seed,
    }
    uid = hashlib.sha1(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:10]
    stem = f"fold-{fold}_seed-{spec.seed}_{uid}"
    rel = Path(spec.dataset) / spec.row_label / stem
    return Unit(spec, fold, recipe, card.version, uid, Path(results_dir) / rel.with_suffix(".json"), Path(runs_dir) / rel)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _worker_init(worker_id: int) -> None:
    info = torch.utils.data.get_worker_info()
    np.random.seed(info.seed % 2**32)
    random.seed(info.seed)


def make_loader(
    ds: FrameWindows,
    recipe: dict[str, Any],
    train: bool,
    generator: torch.Generator | None = None,
    sampler: torch.utils.data.Sampler | None = None,
) -> DataLoader:
    """Workers (if any) stay up across epochs and keep ``prefetch_factor`` batches each in flight;
    batches land in pinned memory on CUDA so the copy to the device overlaps compute."""
    workers = recipe["num_workers"]
    if sampler is None and train:
        cap = recipe.get("max_train_samples")
        sampler = RandomSampler(ds, num_samples=min(cap, len(ds)) if cap else None, generator=generator)
    return DataLoader(
        ds,
        collate_fn=collate_frames,
        batch_size=recipe["batch_size"] if train else recipe["eval_batch_size"],
        sampler=sampler,
        shuffle=False,
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        worker_init_fn=_worker_init if workers > 0 else None,
        generator=generator,
        # a training batch of one sample breaks BatchNorm; drop such a remainder, never more
        drop_last=train and _remainder(sampler, recipe["batch_size"]) == 1,
    )


def _remainder(sampler: torch.utils.data.Sampler | None, batch_size: int) -> int:
    try:
        n = len(sampler)  # type: ignore[arg-type]
    except TypeError:
        return 0
    return n % batch_size if n > batch_size else 0


def make_optimizer(model: torch.nn.Module, recipe: dict[str, Any]) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if recipe["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=recipe["lr"], betas=tuple(recipe["betas"]), weight_decay=recipe["weight_decay"])
    if recipe["optimizer"] == "adamw":
        return torch.optim.AdamW(params, lr=recipe["lr"], betas=tuple(recipe["betas"]), weight_decay=recipe["weight_decay"])
    return torch.optim.SGD(params, lr=recipe["lr"], momentum=0.9, weight_decay=recipe["weight_decay"])


def resolved_model_kwargs(name: str, given: dict[str, Any]) -> dict[str, Any]:
    out = {k: p.default for k, p in model_kwargs(name).items() if p.default is not p.empty}
    out.update({k: v for k, v in given.items() if v is not None})
    return out


def check_compatible(model: GazeModel, model_name: str, dataset: GazeDataset) -> None:
    if model.view.needs_sequences and not dataset.has_sequences:
        raise ConfigError(
            f"model {model_name!r} needs {model.view.describe()}, but dataset {dataset.name!r} has no sequences "
            "to build frame windows from; choose a single-frame model"
        )


def metrics_for(pred: dict[str, Any], dataset: GazeDataset) -> dict[str, dict[str, float]]:
    metrics = {"all": error_summary(pred["error"])}
    if dataset.subsets and len(pred["target"]):
        masks = subset_masks(pred["target"])
        for name in dataset.subsets:
            metrics[name] = error_summary(pred["error"][masks[name]])
    sigma = pred["sigma"]
    if len(sigma) > 2 and np.isfinite(sigma).all() and np.std(sigma) > 0:
        err = pred["error"]
        metrics["all"]["sigma_error_pearson"] = float(np.corrcoef(sigma, err)[0, 1])
        metrics["all"]["sigma_error_spearman"] = float(pd.Series(sigma).corr(pd.Series(err), method="spearman"))
    return metrics


def write_predictions(pred: dict[str, Any], dataset: GazeDataset, path: Path) -> None:
    idx = dataset.index
    rows = pred["index"]
    table = pd.DataFrame(
        {
            "id": idx["id"].to_numpy()[rows],
            "subject": idx["subject"].to_numpy()[rows],
            "pred_x": pred["vector"][:, 0],
            "pred_y": pred["vector"][:, 1],
            "pred_z": pred["vector"][:, 2],
            "gaze_x": pred["target"][:, 0],
            "gaze_y": pred["target"][:, 1],
            "gaze_z": pred["target"][:, 2],
            "error_deg": pred["error"],
            "sigma": pred["sigma"],
        }
    )
    atomic_write_text(path, table.to_csv(index=False, float_format="%.6g"))


def skipped_summary(skipped: dict[str, list[int]], dataset: GazeDataset) -> dict[str, Any]:
    """Which samples ``--on-bad-sample skip`` left out, per split (ids, each once)."""
    ids = dataset.index["id"].to_numpy()
    per_split = {s: sorted({str(ids[p]) for p in rows}) for s, rows in skipped.items()}
    if any(per_split.values()):
        total = sum(len(v) for v in per_split.values())
        print(f"warning: skipped {total} unreadable samples ({', '.join(f'{s}: {len(v)}' for s, v in per_split.items())}); "
              "ids are in the result's data_problems", file=sys.stderr)
    return {"skipped_samples": {s: len(v) for s, v in per_split.items()}, "skipped_ids": per_split}


def run_unit(
    spec: RunSpec,
    results_dir: str | Path = "results",
    runs_dir: str | Path = "runs",
    overwrite: str = "only-missing",
    resume: bool = False,
    progress: bool = True,
    deterministic: bool = False,
) -> dict[str, Any] | None:
    """Train, select and test one unit; write its record.  Returns the record, or None when a
    finished result exists and ``overwrite == "only-missing"``."""
    t_start = time.perf_counter()
    dataset = build_dataset(spec.dataset, spec.root, **spec.data_options)
    unit = resolve_unit(spec, dataset, Path(results_dir), Path(runs_dir))
    if unit.result_path.exists() and overwrite == "only-missing":
        print(f"done already: {unit.result_path} (use --overwrite always to redo)", file=sys.stderr)
        return None
    recipe = unit.recipe
    if deterministic:
        torch.use_deterministic_algorithms(True)
    seed_everything(spec.seed)

    positions = dataset.split_positions(unit.fold)  # the leakage guard runs here
    subjects = dataset.split_subjects(unit.fold)
    for split in ("train", "val", "test"):
        if len(positions[split]) == 0:
            raise ConfigError(f"dataset {dataset.name!r} fold {unit.fold}: the {split} split has no samples")

    model_kw = resolved_model_kwargs(spec.model, spec.model_kwargs)
    model = build_model(spec.model, **spec.model_kwargs)
    check_compatible(model, spec.model, dataset)
    loss_name = recipe["loss"] or model.default_loss
    loss_fn = LOSSES.get(loss_name)
    model.fit_prior(dataset.gaze(positions["train"]))

    device = resolve_device(recipe["device"])
    configure_threads(device, recipe["num_workers"])
    ctx = StepContext(model.view, recipe["image_size"], device, recipe["precision"], recipe["channels_last"])
    model.to(device)
    if ctx.channels_last:
        model.to(memory_format=torch.channels_last)
    step_model = compile_model(model, recipe["compile"])  # shares model's parameters
    frame_cache = attach_cache(dataset, recipe["image_size"])  # frames from `gazebench prepare`, when current
    sets = {s: FrameWindows(dataset, positions[s], model.view, recipe["image_size"], recipe["on_bad_sample"])
            for s in ("train", "val", "test")}
    skipped: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    eval_loaders = {s: make_loader(sets[s], recipe, train=False) for s in ("val", "test")}

    history: list[dict[str, Any]] = []
    chosen_epoch, early_stopped = 0, False
    train_seconds, train_samples = 0.0, 0
    if model.trainable and recipe["epochs"] > 0:
        optimizer = make_optimizer(model, recipe)
        scaler = torch.amp.GradScaler(device.type) if recipe["precision"] == "fp16" else None
        state = checkpoint.FitState()
        if resume:
            state = checkpoint.load_into(unit.run_dir / "last.pt", model, optimizer, scaler) or state
        better = (lambda a, b: a < b)
        # one loader for all epochs (its workers persist); each epoch reseeds its sampler
        loader = make_loader(sets["train"], recipe, train=True, generator=torch.Generator().manual_seed(spec.seed))
        for epoch in range(state.epoch + 1, recipe["epochs"] + 1):
            gen = torch.Generator().manual_seed(spec.seed * 100_003 + epoch)
            torch.manual_seed(spec.seed * 100_019 + epoch)
            loader.sampler.generator = gen
            n_epoch = len(loader.sampler)
            with progress_bar(n_epoch, f"epoch {epoch}/{recipe['epochs']} train", progress) as bar:
                aug = (lambda v, t: random_flip(v, t, gen)) if recipe["augment_flip"] else None
                stats = train_one_epoch(step_model, without_skipped(loader, skipped["train"]), loss_fn, optimizer, ctx, scaler, bar, augment=aug)
            train_seconds += stats["seconds"]
            train_samples += stats["samples"]
            with progress_bar(len(sets["val"]), f"epoch {epoch}/{recipe['epochs']} val", progress) as bar:
                val = predict(step_model, without_skipped(eval_loaders["val"], skipped["val"]), ctx, loss_fn, bar)
            val_mean = float(np.mean(val["error"]))
            history.append(
                {"epoch": epoch, "train_loss": stats["loss"], "val_loss": val["loss"], "val_mean": val_mean,
                 "train_seconds": stats["seconds"], "train_samples": stats["samples"]}
            )
            select_value = {"val_angular": val_mean, "val_loss": val["loss"], "last": -epoch}[recipe["select"]]
            if state.best_value is None or better(select_value, state.best_value):
                state.best_value, state.best_epoch = select_value, epoch
                state.best_model = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            stop_value = val["loss"] if recipe["early_stop_on"] == "val_loss" else val_mean
            if state.stop_value is None or stop_value < state.stop_value:
                state.stop_value, state.bad_epochs = stop_value, 0
            else:
                state.bad_epochs += 1
            state.epoch = epoch
            state.history = state.history + [history[-1]]
            checkpoint.save(unit.run_dir / "last.pt", model, optimizer, scaler, state)
            if progress:
                print(f"epoch {epoch}: train loss {stats['loss']:.4f}, val loss {val['loss']:.4f}, "
                      f"val error {val_mean:.2f} deg", file=sys.stderr)
            if recipe["patience"] is not None and state.bad_epochs >= recipe["patience"]:
                early_stopped = True
                break
        history = state.history
        chosen_epoch = state.best_epoch
        if state.best_model is not None:
            model.load_state_dict(state.best_model)
        checkpoint.save_weights(unit.run_dir / "best.pt", model)
        train_seconds = sum(h["train_seconds"] for h in history)
        train_samples = sum(h["train_samples"] for h in history)

    with progress_bar(len(sets["val"]), "evaluate val", progress) as bar:
        val = predict(step_model, without_skipped(eval_loaders["val"], skipped["val"]), ctx, None, bar)
    with progress_bar(len(sets["test"]), "evaluate test", progress) as bar:
        test = predict(step_model, without_skipped(eval_loaders["test"], skipped["test"]), ctx, None, bar)
    unit.run_dir.mkdir(parents=True, exist_ok=True)
    write_predictions(test, dataset, unit.run_dir / "predictions_test.csv")

    record = {
        "unit_id": unit.unit_id,
        "label": spec.row_label,
        "benchmark": spec.benchmark,
        "dataset": {
            "name": dataset.name,
            "card_version": unit.card_version,
            "options": dataset.options,
            "root": str(dataset.root),
            "subjects": subjects,
            "samples": {s: int(len(positions[s])) for s in positions},
            "windows_complete": {s: int(sets[s].complete.sum()) for s in sets} if model.view.needs_sequences else None,
            "frame_cache": frame_cache.as_dict(),
        },
        "fold": unit.fold,
        "seed": spec.seed,
        "model": {
            "name": spec.model,
            "kwargs": model_kw,
            "view": model.view.describe(),
            "parameters": count_parameters(model),
            "loss": loss_name,
        },
        "recipe": recipe,
        "selection": {
            "rule": f"best {recipe['select']} over epochs" if model.trainable else "no training (fitted baseline)",
            "chosen_epoch": chosen_epoch,
            "epochs_run": len(history),
            "early_stopped": early_stopped,
            "val_mean_at_chosen": float(np.mean(val["error"])) if len(val["error"]) else None,
        },
        "history": history,
        "metrics": metrics_for(test, dataset),
        "val_metrics": metrics_for(val, dataset),
        "timings": {
            "train_seconds": train_seconds,
            "train_samples": train_samples,
            "train_samples_per_s": train_samples / train_seconds if train_seconds > 0 else None,
            "eval_seconds": test["seconds"],
            "eval_samples_per_s": len(test["error"]) / test["seconds"] if test["seconds"] > 0 else None,
            "total_seconds": time.perf_counter() - t_start,
        },
        "data_problems": skipped_summary(skipped, dataset),
        "environment": environment(device),
        "artifacts": {
            "predictions": str(unit.run_dir / "predictions_test.csv"),
            "checkpoint": str(unit.run_dir / "best.pt") if model.trainable else None,
        },
        "created_at": now_iso(),
    }
    write_record(record, unit.result_path)
    if progress:
        m = record["metrics"]["all"]
        print(f"{spec.row_label} on {dataset.name} fold {unit.fold}: test mean {m['mean']:.2f} deg "
              f"(median {m['median']:.2f}, n={m['n']}) -> {unit.result_path}", file=sys.stderr)
    return record


def spec_dict(spec: RunSpec) -> dict[str, Any]:
    return asdict(spec)
