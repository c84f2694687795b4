"""A saved run re-evaluated on its test split with other crops: the re-evaluation engine.

The ``magnification``, ``oracle`` and ``order`` analyses ask what a trained model predicts when
its views change: every crop shrunk, one frame magnified, the crops in another order.  A
:class:`Reevaluator` rebuilds the run's unit from its record (dataset, protocol, fold, model with
the recorded options, recipe; ``pretrained=false``, because the weights come from the run's
``best.pt``, read with ``weights_only=True``), sets it up with :func:`gazebench.train.assemble.build_setup`
and predicts the test split through the engine's own path (:func:`gazebench.train.fit.predict_split`:
batched, on the recipe's device, with progress bars), with the step context's view replaced.

A view here keeps the model's frames (offsets) and number of views and changes only the crops:
one relative crop per view (SPEC §3: a crop of ``c`` px of 224 is ``c / 224``).

Each view's predictions are cached beside the run, in ``<run_dir>/analysis-cache/<key>.csv``
(the columns of ``predictions_test.csv``) with ``<key>.json`` describing the view, where ``key``
hashes the view and the checkpoint's SHA-256: re-running an analysis reads them back, and a
retrained run (another checkpoint) never reads a stale file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gazebench.core.atomic import atomic_write
from gazebench.core.config import RECIPE_OPTIONS
from gazebench.core.options import ConfigError, Option
from gazebench.results.record_model import ResultRecord, as_record

if TYPE_CHECKING:  # torch and pandas load when a run is re-evaluated, not when kinds are listed
    import pandas as pd

    from gazebench.analysis.runs import RunRef
    from gazebench.datasets.views import ViewSpec

#: the notes' crop pixels are of a 224 px image (SPEC §3); crops here are relative sizes
CROP_PX = 224
CACHE_DIR = "analysis-cache"
#: bump when the cached files change meaning (the key hashes it)
CACHE_FORMAT = 1
BEST = "best.pt"  # gazebench.train.fit.BEST, without importing torch code at import time


# --- views: crops per view --------------------------------------------------------------------


def crop_px(rel: float) -> int:
    """A relative crop in pixels of 224 (``0.78125`` -> 175)."""
    return int(round(rel * CROP_PX))


def px_crops(pixels: Sequence[int]) -> tuple[float, ...]:
    """Pixels of 224 -> relative crops (``(224, 175)`` -> ``(1.0, 0.78125)``)."""
    return tuple(p / CROP_PX for p in pixels)


def describe_crops(crops: Sequence[float]) -> str:
    """``"224,200,175"``: a crop list as the notes write it."""
    return ",".join(str(crop_px(c)) for c in crops)


def base_crops(view: ViewSpec) -> tuple[float, ...]:
    """One relative crop per view of ``view`` (1.0 where it takes the frame as it is)."""
    return tuple(view.crops) if view.crops is not None else (1.0,) * view.num_views


def with_crops(view: ViewSpec, crops: Sequence[float]) -> ViewSpec:
    """``view``'s frames with other crops, one per view; the view itself when they are its own."""
    crops = tuple(float(c) for c in crops)
    if len(crops) != view.num_views:
        raise ConfigError(f"a crop list for {view.describe()} needs {view.num_views} crops; got {len(crops)}")
    if crops == base_crops(view):
        return view
    from gazebench.datasets.views import ViewSpec

    return ViewSpec(view.offsets, crops)


def cache_key(view: ViewSpec, checkpoint_sha256: str) -> str:
    """The cache file's name: a hash of the view (frames and crops) and the checkpoint."""
    payload = {
        "format": CACHE_FORMAT,
        "offsets": list(view.offsets),
        "crops": None if view.crops is None else [round(c, 9) for c in view.crops],
        "checkpoint_sha256": checkpoint_sha256,
    }
    return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


# --- the unit of a record ------------------------------------------------------------------------


def published_file(record: ResultRecord) -> str | None:
    """The checkpoint file of a run that started from a published checkpoint (``init=published:NAME``),
    as it was given (``--set weights_file``) or recorded in its weights; None for other runs."""
    if not str(record.recipe.get("init", "none")).startswith("published:"):
        return None
    return record.model.kwargs.get("weights_file") or record.weights.file


def unit_from_record(record: ResultRecord | dict[str, Any], run_dir: Path, device: str | None = None) -> Any:
    """The planned unit of ``record`` (gazebench.plan.planning.plan_unit), its paths the run's own.

    The model is built from the recorded resolved options with ``pretrained=false`` and no
    backbone weights file: the weights come from ``best.pt``.  Only a published checkpoint that
    was evaluated as released (``init=published:NAME``, no ``best.pt``) keeps its ``weights_file``
    (the model is that file).  ``device`` replaces the recipe's device."""
    from gazebench.plan.planning import RunSpec, plan_unit

    record = as_record(record)
    ds, model = record.dataset, record.model
    recipe = dict(record.recipe)
    options = {**(model.options or model.kwargs or {}), "pretrained": False}
    as_released = published_file(record) if not (run_dir / BEST).is_file() else None
    recipe["init"] = recipe["init"] if as_released else "none"
    options["weights_file"] = as_released
    if device:
        recipe["device"] = device
    given = dict(
        dataset=ds.name,
        model=model.name,
        fold=record.fold,
        seed=record.seed,
        root=ds.root,
        data_options=dict(ds.options),
        model_kwargs=options,
        recipe=recipe,
        label=record.label,
        benchmark=record.benchmark,
        protocol=record.protocol.name,
    )
    spec = RunSpec(**{**given, **joint_spec_part(record)})
    unit = plan_unit(spec, run_dir.parent, run_dir.parent)
    if ds.card_version not in (None, unit.card.version):
        print(
            f"warning: {ds.name}'s card is version {unit.card.version}; the run used version "
            f"{ds.card_version} (its test split may differ)",
            file=sys.stderr,
        )
    return dataclasses.replace(unit, run_dir=run_dir, unit_id=record.unit_id)


def joint_spec_part(record: ResultRecord) -> dict[str, Any]:
    """A joint run's members as a RunSpec holds them (gazebench.plan.joint), from its record's ``joint``
    block: each training dataset's root, protocol and data options, and the sampling; {} otherwise."""
    joint = record.joint
    if not joint:
        return {}
    members = joint["members"]
    return {
        "members": tuple(joint["datasets"]),
        "root": None,
        "protocol": None,
        "data_options": {"sampling": joint["sampling"], "sampling_weights": joint["sampling_weights"]},
        "member_roots": {n: m.get("root") for n, m in members.items()},
        "member_protocols": {n: m["protocol"] for n, m in members.items()},
        "member_options": {n: dict(m["options"]) for n, m in members.items()},
    }


def checkpoint_file(record: ResultRecord, run_dir: Path) -> Path:
    """The weights a re-evaluation uses: the run's ``best.pt``, or for a published checkpoint
    evaluated as released, its ``weights_file``.  A run without either is a one-line error."""
    best = run_dir / BEST
    if best.is_file():
        return best
    weights = published_file(record)
    if weights and Path(weights).expanduser().is_file():
        return Path(weights).expanduser()
    raise ConfigError(
        f"run {record.label} ({run_dir}) has no checkpoint {best}; re-evaluation needs a "
        "trained run's best.pt (a fitted baseline such as mean has none)"
    )


# --- the re-evaluator ----------------------------------------------------------------------------


class Reevaluator:
    """One saved run: its model (built lazily) predicting its test split with other views, each
    view's predictions cached beside the run (see the module doc)."""

    def __init__(
        self,
        record: ResultRecord | dict[str, Any],
        run_dir: str | Path,
        *,
        device: str | None = None,
        progress: bool = True,
        name: str | None = None,
    ) -> None:
        self.record, self.run_dir = as_record(record), Path(run_dir)
        self.name = name or str(self.record.label or self.run_dir.name)
        self.checkpoint = checkpoint_file(self.record, self.run_dir)
        self.device_option, self.progress = device, progress
        self._unit: Any = None
        self._setup: Any = None
        self._view: ViewSpec | None = None
        self._sha: str | None = None

    @classmethod
    def of(cls, run: RunRef, **kwargs: Any) -> Reevaluator:
        """From a :class:`gazebench.analysis.runs.RunRef` (anything with ``record`` and ``run_dir``)."""
        if run.run_dir is None:
            raise ConfigError(f"run {run.name} ({run.path}): its record names no run folder (no best.pt)")
        return cls(run.record, run.run_dir, name=getattr(run, "name", None), **kwargs)

    @property
    def device(self) -> str | None:
        """The device the model ran on, when it ran (None: every view came from the cache)."""
        return None if self._setup is None else str(self._setup.device)

    @property
    def unit(self) -> Any:
        if self._unit is None:
            self._unit = unit_from_record(self.record, self.run_dir, self.device_option)
        return self._unit

    @property
    def view(self) -> ViewSpec:
        """The model's own view (the model is built for it once, without data)."""
        if self._view is None:
            if self._setup is not None:
                self._view = self._setup.model.view
            else:
                from gazebench.train.assemble import unit_model

                self._view = unit_model(self.unit).view
        return self._view

    @property
    def checkpoint_sha256(self) -> str:
        if self._sha is None:
            from gazebench.models.weights import sha256_file

            self._sha = sha256_file(self.checkpoint)
        return self._sha

    def cache_path(self, view: ViewSpec) -> Path:
        return self.run_dir / CACHE_DIR / f"{cache_key(view, self.checkpoint_sha256)}.csv"

    def predictions(self, crops: Sequence[float] | None = None, desc: str = "") -> pd.DataFrame:
        """Test predictions (the columns of ``predictions_test.csv``) with ``crops`` (one
        relative crop per view; None: the model's own), from the cache or computed and cached."""
        view = self.view if crops is None else with_crops(self.view, crops)
        path = self.cache_path(view)
        if not path.is_file():
            self._predict_to(view, path, desc or describe_crops(base_crops(view)))
        from gazebench.analysis.runs import read_predictions

        return read_predictions(path)

    def _predict_to(self, view: ViewSpec, path: Path, desc: str) -> None:
        from gazebench.train.fit import predict_split
        from gazebench.train.unit_record import write_predictions

        setup = self.setup()
        setup.ctx = dataclasses.replace(setup.ctx, spec=view)
        pred = predict_split(setup, "test", f"{self.name}: crops {desc}", self.progress)
        about = {
            "run": self.name,
            "view": view.describe(),
            "offsets": list(view.offsets),
            "crops": list(base_crops(view)),
            "crops_px": [crop_px(c) for c in base_crops(view)],
            "checkpoint": str(self.checkpoint),
            "checkpoint_sha256": self.checkpoint_sha256,
            "format": CACHE_FORMAT,
            "device": str(setup.device),
            "samples": int(len(pred["error"])),
        }
        atomic_write(path.with_suffix(".json"), json.dumps(about, indent=2) + "\n")
        write_predictions(pred, setup.dataset, path)  # atomic, and written last: its presence is the cache hit

    def setup(self) -> Any:
        """The run's set-up (gazebench.train.assemble.build_setup) with the checkpoint's weights, built once."""
        if self._setup is None:
            from gazebench.results.checkpoint import load_weights
            from gazebench.train.assemble import build_setup

            setup = build_setup(self.unit)
            if self.checkpoint == self.run_dir / BEST:  # else a published file, loaded by build_setup
                load_weights(self.checkpoint, setup.model)
            self._setup = setup
        return self._setup


# --- what the kinds share -------------------------------------------------------------------------

#: the re-evaluating kinds' ``device`` option (None: the run's recipe device)
DEVICE_OPTION = Option(None, RECIPE_OPTIONS["device"].check, "where the model runs (default: the run's recipe device)")


def reevaluators(
    runs: list[RunRef], options: dict[str, Any], usable: Any = None
) -> tuple[list[Reevaluator], list[str]]:
    """A :class:`Reevaluator` per run that has a checkpoint (and passes ``usable(ev)``: None, or
    why not), and a note for each run left out; no usable run at all is one error."""
    kept, notes = [], []
    for run in runs:
        try:
            ev = Reevaluator.of(run, device=options.get("device"))
            why = unscored(ev.record) or (usable(ev) if usable is not None else None)
        except ConfigError as exc:
            why = str(exc)
        if why:
            notes.append(f"left out {run.name}: {why}")
        else:
            kept.append(ev)
    if not kept:
        raise ConfigError("no run to re-evaluate: " + "; ".join(notes))
    return kept, notes


def unscored(record: ResultRecord | dict[str, Any]) -> str | None:
    """Why a run's test errors cannot be measured (its labels withheld: a predict-only run), or None."""
    if "all" in as_record(record).metrics:
        return None
    return "its test labels are withheld (a predict-only run): there is no error to measure"


def used_device(evaluators: list[Reevaluator]) -> str | None:
    """The device a model ran on in this analysis (None: everything came from the caches)."""
    return next((ev.device for ev in evaluators if ev.device is not None), None)


def error_stats(predictions: pd.DataFrame) -> dict[str, float]:
    """Mean, median and p90 angular error (degrees) and n of a predictions table."""
    from gazebench.core.geometry import error_summary

    summary = error_summary(predictions["error_deg"].to_numpy())
    return {k: summary[k] for k in ("mean", "median", "p90", "n")}
