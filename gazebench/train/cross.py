"""Cross-dataset evaluation: a unit trained under one dataset's protocol, tested on another's.

``gazebench run --train D1 --test D2[,D3] --model M`` (or a suite's dataset entry with
``test: [D2, ...]``) trains and selects the unit under D1's protocol exactly as without ``--test``
and writes its record; then, for each test dataset D2, :func:`evaluate_cross` predicts D2's test
protocol with the selected model -- the test subjects of *all* of D2's folds (their union; a fixed
split: its test split), D2 opened with its own card, adapter and default protocol's data options,
the model's own view and the unit's image size -- and writes one more record beside the unit's
(:func:`gazebench.results.unit.cross_result_path`: ``<result>.cross-<D2>.json``) with its predictions CSV in the run
folder (``predictions_cross-<D2>.csv``).

That record is an ordinary result of D2 (``dataset`` D2, D2's protocol, its own population
``<D2>/test (all folds)``) plus ``trained_on`` (D1, its protocol, card version, options, fold,
the unit's id, and ``datasets``: ``[D1]``, or the sorted training datasets of a joint run,
``--train A,B``: gazebench.plan.joint, whose record also carries the ``joint`` block) and a ``label_space_note``: where D2's test gaze lies outside what D1's training
set shows (yaw/pitch beyond its range, back views it never has).  ``trained_on`` is part of the
identity, so a cross result never mixes with D2's own runs: the leaderboard shows it as its own
column ``D1 → D2 (protocol)`` (:func:`gazebench.leaderboard_rows.column_names`).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gazebench import population
from gazebench.core.config import ConfigError
from gazebench.core.geometry import vector_to_yawpitch
from gazebench.results.unit import cross_result_path

#: file name of a cross test's predictions inside the unit's run folder
PREDICTIONS = "predictions_cross-{name}.csv"


def cross_unit_id(unit_id: str, name: str) -> str:
    return f"{unit_id}.cross-{name}"


@dataclass
class CrossTest:
    """A test dataset opened for cross evaluation: its test rows (the union of its folds' test
    subjects), the subjects, and what keeps the population from the protocol's full one."""

    name: str
    dataset: Any  # GazeDataset
    card: Any
    protocol: Any
    rows: np.ndarray
    subjects: list[str]
    folds: list[str]
    shortfall: list[str]
    split: str = "test"  # or "all": every labelled sample (a dataset left out of training)


def open_test(
    name: str,
    root: str | None,
    model: Any,
    options: dict[str, Any] | None = None,
    protocol: str | None = None,
    split: str = "test",
) -> CrossTest:
    """Dataset ``name`` under ``protocol`` (None: its card's default; its data options, then
    ``options``: the test entry's and the ``--set`` data options it takes), with the union of every
    fold's test rows (``split="all"``: of every split's, the whole labelled dataset, for a dataset
    left out of training); the model's view checked against it before any training.  Samples whose
    labels the release withholds (ETH-XGaze's test) cannot be scored and are left out."""
    from gazebench.datasets import build_dataset
    from gazebench.datasets.base import resolve_dataset_options
    from gazebench.declared import dataset_card, dataset_class

    card = dataset_card(name)
    protocol = card.protocol(protocol)
    options = resolve_dataset_options(dataset_class(name), {**protocol.data, **(options or {})})
    ds = build_dataset(name, root, **options)
    if model.view.needs_sequences and not ds.has_sequences:
        raise ConfigError(
            f"--test {name}: the model needs {model.view.describe()}, but dataset {name!r} has no "
            "sequences to build frame windows from"
        )
    folds = card.folds()
    rows, subjects, named = [], [], []
    parts = ("train", "val", "test") if split == "all" else ("test",)
    for fold in folds:
        positions, split_subjects = ds.split_positions(fold), ds.split_subjects(fold)
        named_here = ds.named_subjects(fold)
        for part in parts:
            rows.append(np.asarray(positions[part], dtype=np.int64))
            subjects += split_subjects[part]
            named += named_here.get(part, [])
    union = np.unique(np.concatenate(rows)) if rows else np.zeros(0, np.int64)
    withheld = 0
    if "labelled" in ds.index.columns:
        labelled = ds.index["labelled"].to_numpy(bool)[union]
        union, withheld = union[labelled], int((~labelled).sum())
    if not len(union):
        why = (
            f" ({withheld} samples with withheld labels; test on its labelled subjects with split: all)"
            if withheld
            else ""
        )
        raise ConfigError(
            f"--test {name}: no labelled {'' if split == 'all' else 'test '}samples in any fold of "
            f"{name!r} under {ds.root}{why}"
        )
    subjects = sorted(set(subjects))
    lines = population.missing_subjects(
        {"test": list(dict.fromkeys(named))}, {"test": subjects}, ds.released_subjects()
    )
    lines += population.left_out_lines(ds.left_out, {"test": subjects}, population._left_out_option(ds))
    if withheld and split == "test":  # split all is every labelled sample by definition
        lines.append(f"{withheld} samples whose labels the release withholds are not scored")
    return CrossTest(name, ds, card, protocol, union, subjects, folds, lines, split)


def open_tests(unit: Any, model: Any) -> list[CrossTest]:
    """The unit's cross tests (``unit.spec.cross``: ``(name, root)`` pairs), opened."""
    given = getattr(unit.spec, "cross_options", {}) or {}
    protocols = getattr(unit.spec, "cross_protocols", {}) or {}
    whole = getattr(unit.spec, "cross_all", ()) or ()
    return [
        open_test(name, root, model, given.get(name), protocols.get(name), "all" if name in whole else "test")
        for name, root in getattr(unit.spec, "cross", ())
    ]


def label_space_note(train_gaze: np.ndarray, test_gaze: np.ndarray, train_name: str, test_name: str) -> dict[str, Any]:
    """How far the test gaze lies outside the training gaze: the yaw/pitch ranges (degrees) of each,
    the share of test samples outside the training range, and of back views (|yaw| > 90°) when
    training has none.  ``text``: one line, empty when the test set stays inside."""
    tr = np.degrees(np.asarray(vector_to_yawpitch(np.asarray(train_gaze, np.float64))))
    te = np.degrees(np.asarray(vector_to_yawpitch(np.asarray(test_gaze, np.float64))))
    tr = tr[np.isfinite(tr).all(axis=1)]
    te = te[np.isfinite(te).all(axis=1)]
    if not len(tr) or not len(te):
        return {"text": "", "train": None, "test": None}
    lo, hi = tr.min(axis=0), tr.max(axis=0)
    outside = ((te < lo) | (te > hi)).any(axis=1)
    yaw_out = ((te[:, 0] < lo[0]) | (te[:, 0] > hi[0])).mean()
    pitch_out = ((te[:, 1] < lo[1]) | (te[:, 1] > hi[1])).mean()
    back_train = float((np.abs(tr[:, 0]) > 90).mean())
    back_test = float((np.abs(te[:, 0]) > 90).mean())
    parts = []
    if back_train == 0 and back_test > 0:
        parts.append(
            f"{back_test:.1%} of {test_name}'s test samples look backwards (|yaw| > 90°), which "
            f"{train_name}'s training set never shows"
        )
    if outside.any():
        parts.append(
            f"{outside.mean():.1%} lie outside {train_name}'s training range (yaw {lo[0]:.0f}..{hi[0]:.0f}°, "
            f"pitch {lo[1]:.0f}..{hi[1]:.0f}°; yaw outside: {yaw_out:.1%}, pitch outside: {pitch_out:.1%})"
        )
    return {
        "text": "; ".join(parts),
        "train": {
            "yaw_deg": [float(lo[0]), float(hi[0])],
            "pitch_deg": [float(lo[1]), float(hi[1])],
            "back_share": back_train,
        },
        "test": {
            "yaw_deg": [float(te[:, 0].min()), float(te[:, 0].max())],
            "pitch_deg": [float(te[:, 1].min()), float(te[:, 1].max())],
            "back_share": back_test,
        },
        "outside_share": float(outside.mean()),
        "yaw_outside_share": float(yaw_out),
        "pitch_outside_share": float(pitch_out),
    }


def predict_test(setup: Any, test: CrossTest, progress: bool) -> tuple[dict[str, Any], list[int], Any]:
    """The selected model's predictions on ``test``'s rows (the model's view, the unit's image size
    and recipe), the rows skipped as unreadable, and the frame source used."""
    from gazebench.core.progress import progress_bar
    from gazebench.datasets.loading import FrameWindows, without_skipped
    from gazebench.datasets.sources import open_frame_source
    from gazebench.train.assemble import make_loader
    from gazebench.train.engine import predict_batches

    recipe = setup.recipe
    source = open_frame_source(test.dataset, recipe.image_size)
    windows = FrameWindows(test.dataset, test.rows, setup.model.view, source, recipe.on_bad_sample)
    loader = make_loader(windows, recipe, setup.num_workers, train=False)
    skipped: list[int] = []
    with progress_bar(len(windows), f"evaluate {test.name}", progress) as bar:
        pred = predict_batches(setup.step_model, without_skipped(loader, skipped), setup.ctx, None, bar)
    return pred, skipped, source


def evaluate_cross(setup: Any, record: dict[str, Any], tests: list[CrossTest], progress: bool = True) -> list[Path]:
    """For each cross test: predict, write the predictions CSV and the record; return the records' paths."""
    from gazebench.results.record_model import new_record
    from gazebench.results.store import write_record
    from gazebench.train.unit_record import metrics_for, skipped_summary, write_predictions

    unit, written = setup.unit, []
    sigma_trained = new_record(record).model.sigma_trained
    train_gaze = setup.dataset.gaze(setup.positions["train"])
    for test in tests:
        t0 = time.perf_counter()
        pred, skipped, source = predict_test(setup, test, progress)
        seconds = time.perf_counter() - t0
        ds = test.dataset
        note = label_space_note(train_gaze, ds.gaze(test.rows), unit.spec.dataset, test.name)
        if note["text"] or progress:
            print(
                f"label space ({unit.spec.dataset} → {test.name}): "
                f"{note['text'] or 'the test gaze lies inside the training range'}",
                file=sys.stderr,
            )
        lines = test.shortfall + (
            [f"{len(set(skipped))} unreadable test samples skipped (on_bad_sample=skip)"] if skipped else []
        )
        rows = np.asarray(pred["index"], dtype=np.int64)
        suffix = " (all folds)" if len(test.folds) > 1 and test.split == "test" else ""
        pop = population.describe_rows(ds, rows, lines, fold="default", suffix=suffix, split=test.split)
        population.warn(pop, test.protocol.name)
        predictions = write_predictions(pred, ds, unit.run_dir / PREDICTIONS.format(name=test.name))
        path = cross_result_path(unit.result_path, test.name)
        write_record(
            cross_record(
                record,
                test,
                pop,
                metrics_for(pred, ds, sigma_trained),
                note,
                skipped_summary({"test": skipped}, ds),
                source,
                predictions,
                seconds,
                len(pred["error"]),
                unit.result_path,
            ),
            path,
        )
        m = pop["count"]
        if progress:
            mean = float(np.mean(pred["error"])) if len(pred["error"]) else float("nan")
            print(
                f"{unit.label} trained on {unit.spec.dataset} fold {unit.fold}, tested on {test.name} "
                f"({pop['name']}): mean {mean:.2f} deg (n={m}) -> {path}",
                file=sys.stderr,
            )
        written.append(path)
    return written


def cross_record(
    record: dict[str, Any],
    test: CrossTest,
    pop: dict[str, Any],
    metrics: dict[str, Any],
    note: dict[str, Any],
    problems: dict[str, Any],
    source: Any,
    predictions: Path,
    seconds: float,
    n: int,
    result: Path,
) -> dict[str, Any]:
    """The unit's record turned into the record of its test on ``test``: D2's dataset, protocol,
    population and metrics; the identity with ``trained_on``; no validation metrics."""
    from gazebench.core.provenance import now_iso
    from gazebench.results.identity import identity_hash
    from gazebench.results.record_model import new_record

    own = new_record(record)  # the unit's own record, typed; the cross record keeps its other keys
    ds, base = test.dataset, own.identity.config
    trained_on = {k: base[k] for k in ("dataset", "card_version", "protocol", "data_options")}
    joint = own.joint
    if joint:  # joint training (gazebench.plan.joint): the training datasets, sorted; their protocols,
        # options and the sampling are in data_options. A single dataset's identity stays as it was.
        trained_on["datasets"] = list(joint["datasets"])
    config = {
        **base,
        "dataset": test.name,
        "card_version": str(test.card.version),
        "protocol": test.protocol.name,
        "data_options": json_ready(ds.options),
        "trained_on": trained_on,
    }
    return {
        **record,
        "unit_id": cross_unit_id(own.unit_id, test.name),
        "identity": {"hash": identity_hash(config), "config": config, "recipe_keys": own.identity.recipe_keys},
        "protocol": {
            "name": test.protocol.name,
            "source": test.protocol.source,
            "selection": f"{own.protocol.selection} (on {trained_on['dataset']})",
        },
        "population": pop,
        "dataset": {
            "name": test.name,
            "card_version": test.card.version,
            "options": ds.options,
            "root": str(ds.root),
            "subjects": {"test": test.subjects},
            "samples": {"test": int(len(test.rows))},
            "folds": test.folds,
            "frame_cache": source.describe(),
        },
        "trained_on": {
            **trained_on,
            "datasets": list(joint["datasets"]) if joint else [trained_on["dataset"]],
            "fold": own.fold,
            "unit_id": own.unit_id,
            "result": str(result),
        },
        "label_space_note": note,
        "metrics": metrics,
        "val_metrics": {},
        "timings": {"eval_seconds": seconds, "eval_samples_per_s": n / seconds if seconds > 0 else None},
        "data_problems": problems,
        "artifacts": {"predictions": str(predictions), "checkpoint": own.artifacts.checkpoint},
        "created_at": now_iso(),
    }


def json_ready(options: dict[str, Any]) -> dict[str, Any]:
    """Data options as the identity holds them (JSON-ready)."""
    import json

    return json.loads(json.dumps(options, sort_keys=True, default=str))
