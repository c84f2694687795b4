"""What a finished unit leaves behind: its test predictions (CSV) and its result record.

The record's typed model, schema version and JSON Schema live in :mod:`gazebench.results.record_model`,
its reading and writing in :mod:`gazebench.results.store`; :func:`make_record` is the one place its
fields are filled in (docs/leaderboards.md lists them).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gazebench import population
from gazebench.core.atomic import atomic_write
from gazebench.core.geometry import error_summary
from gazebench.core.provenance import environment, now_iso
from gazebench.datasets.base import GazeDataset
from gazebench.models import count_parameters
from gazebench.models.base import identity_recipe_keys
from gazebench.results.fingerprint import data_fingerprint
from gazebench.results.identity import identity_config, identity_hash
from gazebench.train.assemble import Setup
from gazebench.train.fit import BEST, Evaluation, FitOutcome

PREDICTIONS = "predictions_test.csv"


def metrics_for(pred: dict[str, Any], dataset: GazeDataset, sigma_trained: bool = True) -> dict[str, dict[str, float]]:
    """Angular error statistics over all samples and per subset (the gaze subsets, and the
    populations the adapter defines with theirs: :func:`gazebench.population.subset_masks`);
    sigma-error correlations when the model predicts a spread that its loss trained."""
    metrics = {"all": error_summary(pred["error"])}
    if len(pred["target"]):
        masks = population.subset_masks(dataset, pred["index"], pred["target"])
        for name, mask in masks.items():
            metrics[name] = error_summary(pred["error"][mask])
    sigma = pred["sigma"]
    if sigma_trained and len(sigma) > 2 and np.isfinite(sigma).all() and np.std(sigma) > 0:
        err = pred["error"]
        metrics["all"]["sigma_error_pearson"] = float(np.corrcoef(sigma, err)[0, 1])
        metrics["all"]["sigma_error_spearman"] = float(pd.Series(sigma).corr(pd.Series(err), method="spearman"))
    return metrics


def write_predictions(pred: dict[str, Any], dataset: GazeDataset, path: Path) -> Path:
    """One row per test sample: id, subject, its sequence and order inside it (the dataset index's
    ``sequence`` and ``order``: analyses follow a subject's frames with them), predicted and true
    gaze vectors, error, sigma, and a 0/1 column ``in_<population>`` per population the dataset
    defines inside its test set (Gaze360's ``in_face``)."""
    idx = dataset.index
    rows = pred["index"]
    table = pd.DataFrame(
        {
            "id": idx["id"].to_numpy()[rows],
            "subject": idx["subject"].to_numpy()[rows],
            "sequence": idx["sequence"].to_numpy()[rows],
            "order": [f"{v:.17g}" for v in idx["order"].to_numpy(np.float64)[rows]],  # timestamps keep every digit
            "pred_x": pred["vector"][:, 0],
            "pred_y": pred["vector"][:, 1],
            "pred_z": pred["vector"][:, 2],
            "gaze_x": pred["target"][:, 0],
            "gaze_y": pred["target"][:, 1],
            "gaze_z": pred["target"][:, 2],
            "error_deg": pred["error"],
            "sigma": pred["sigma"],
            **population.population_flags(dataset, rows),  # in_face, ...: compare --subset face_back cuts by them
        }
    )
    return atomic_write(path, table.to_csv(index=False, float_format="%.6g"))


def skipped_summary(skipped: dict[str, list[int]], dataset: GazeDataset) -> dict[str, Any]:
    """Which samples ``--on-bad-sample skip`` left out, per split (ids, each once)."""
    ids = dataset.index["id"].to_numpy()
    per_split = {s: sorted({str(ids[p]) for p in rows}) for s, rows in skipped.items()}
    if any(per_split.values()):
        total = sum(len(v) for v in per_split.values())
        print(
            f"warning: skipped {total} unreadable samples ({', '.join(f'{s}: {len(v)}' for s, v in per_split.items())}); "
            "ids are in the result's data_problems",
            file=sys.stderr,
        )
    return {"skipped_samples": {s: len(v) for s, v in per_split.items()}, "skipped_ids": per_split}


def make_record(
    setup: Setup,
    outcome: FitOutcome,
    evaluation: Evaluation,
    total_seconds: float,
    predict_only: bool = False,
    submission: Path | None = None,
) -> dict[str, Any]:
    """The result record of a finished unit (without ``schema_version``: write_record adds it).
    ``predict_only``: the test split was not scored (its labels are withheld): ``metrics`` is
    empty, the population says ``labels: withheld``, ``artifacts.submission`` names the
    leaderboard file written, if any."""
    unit, model, ds = setup.unit, setup.model, setup.dataset
    weights = model_weights(model)
    pop = population.describe(setup, evaluation.test["index"], withheld=predict_only)
    population.warn(pop, unit.protocol.name)
    sigma_trained = bool(getattr(setup.loss_fn, "trains_sigma", True))
    return {
        "unit_id": unit.unit_id,
        "label": unit.label,
        "benchmark": unit.spec.benchmark,
        "identity": _identity_part(setup, weights["tag"]),
        "protocol": {"name": unit.protocol.name, "source": unit.protocol.source, "selection": _selection_rule(setup)},
        "population": pop,
        "weights": weights,
        "dataset": _dataset_part(setup),
        "fold": unit.fold,
        "seed": unit.spec.seed,
        "model": {
            "name": unit.spec.model,
            "kwargs": unit.model_kwargs,
            "options": model_options(model, unit),
            "view": model.view.describe(),
            "parameters": count_parameters(model),
            "loss": setup.loss_name,
            "sigma_trained": sigma_trained,
        },
        "recipe": unit.recipe.as_dict(),
        "selection": _selection_part(setup, outcome, evaluation),
        "history": outcome.history,
        "metrics": {} if predict_only else metrics_for(evaluation.test, ds, sigma_trained),
        "val_metrics": metrics_for(evaluation.val, ds, sigma_trained) if len(evaluation.val["error"]) else {},
        "timings": _timings_part(outcome, evaluation, total_seconds),
        "data_problems": skipped_summary(setup.skipped, ds),
        # joint training: the members, their label spaces (which were normalised), the sampling,
        # each member's validation error (gazebench.datasets.joint)
        **({"joint": ds.summary(evaluation.val, setup.positions)} if setup.unit.spec.members else {}),
        # world size and backend under torchrun (docs/cluster.md): not in the identity -- they change
        # only the order of float sums
        "environment": {**environment(setup.device), "distributed": setup.strategy.describe()},
        "artifacts": {
            "predictions": str(unit.run_dir / PREDICTIONS),
            "checkpoint": str(unit.run_dir / BEST) if model.trainable else None,
            **({"submission": str(submission) if submission else None} if predict_only else {}),
        },
        "created_at": now_iso(),
    }


NO_WEIGHTS = {"tag": "none", "file": None, "sha256": None}


def model_weights(model: Any) -> dict[str, Any]:
    """The backbone weights a model started from (``model.weights``; models without a backbone: none)."""
    return dict(getattr(model, "weights", None) or NO_WEIGHTS)


def model_options(model: Any, unit: Any) -> dict[str, Any]:
    """The built model's resolved options (a plugin model without ``options``: the unit's kwargs)."""
    return dict(getattr(model, "options", None) or unit.model_kwargs)


def identity_of(setup: Setup) -> dict[str, Any]:
    """The configuration identity (``hash``, ``config``, ``recipe_keys``) that ``setup``'s record will
    carry; known once the model is built (the trackers name their runs' parameters with it)."""
    return _identity_part(setup, model_weights(setup.model)["tag"])


def _identity_part(setup: Setup, weights_tag: str) -> dict[str, Any]:
    unit = setup.unit
    keys = identity_recipe_keys(unit.spec.model)  # the model's declaration (gazebench.results.identity)
    config = identity_config(
        dataset=unit.spec.dataset,
        card_version=unit.card.version,
        protocol=unit.protocol.name,
        data_options=setup.dataset.options,
        model=unit.spec.model,
        model_options=model_options(setup.model, unit),
        weights=weights_tag,
        recipe=unit.recipe.as_dict(),
        recipe_keys=keys,
    )
    return {"hash": identity_hash(config), "config": config, "recipe_keys": None if keys is None else sorted(keys)}


def _selection_rule(setup: Setup) -> str:
    published = setup.recipe.published
    if published is not None and not setup.trains:
        return setup.recipe.selection()
    if not setup.model.trainable:
        return "no training (fitted baseline)"
    rule = setup.recipe.selection() + (f"; fine-tuned from the published checkpoint {published}" if published else "")
    if len(setup.positions["val"]) == 0:
        rule += f"; protocol {setup.unit.protocol.name} has no validation split"
    return rule


def _dataset_part(setup: Setup) -> dict[str, Any]:
    ds, sets, positions = setup.dataset, setup.sets, setup.positions
    return {
        "name": ds.name,
        "card_version": setup.unit.card.version,
        "options": ds.options,
        "root": str(ds.root),
        "subjects": setup.subjects,
        "samples": {s: int(len(positions[s])) for s in positions},
        "windows_complete": {s: int(sets[s].complete.sum()) for s in sets}
        if setup.model.view.needs_sequences
        else None,
        # what the splits read (ids, labels, relative paths): a later run notices other data (gazebench.results.fingerprint)
        "fingerprint": data_fingerprint(ds.index, positions),
        "frame_cache": setup.source.describe(),
    }


def _selection_part(setup: Setup, outcome: FitOutcome, evaluation: Evaluation) -> dict[str, Any]:
    val_error = evaluation.val["error"]
    return {
        "rule": _selection_rule(setup),
        "chosen_epoch": outcome.chosen_epoch,
        "epochs_run": len(outcome.history),
        "early_stopped": outcome.early_stopped,
        "val_mean_at_chosen": float(np.mean(val_error)) if len(val_error) else None,
        "validation_samples": int(len(setup.positions["val"])),
    }


def _timings_part(outcome: FitOutcome, evaluation: Evaluation, total_seconds: float) -> dict[str, Any]:
    seconds, samples, test = outcome.train_seconds, outcome.train_samples, evaluation.test
    return {
        "train_seconds": seconds,
        "train_samples": samples,
        "train_samples_per_s": samples / seconds if seconds > 0 else None,
        "eval_seconds": test["seconds"],
        "eval_samples_per_s": len(test["error"]) / test["seconds"] if test["seconds"] > 0 else None,
        "total_seconds": total_seconds,
    }
