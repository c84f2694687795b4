"""The result record as typed models: what one ``results/.../fold-F_seed-S_<unit>.json`` holds.

:class:`ResultRecord` and its parts model the file exactly as :func:`gazebench.train.unit_record.make_record`
(and :func:`gazebench.train.cross.cross_record`) fill it in: :func:`gazebench.results.store.write_record`
writes every record through it (the same keys, values and order as the dict it is given), and
:func:`gazebench.results.store.load_record` reads one back as a :class:`ResultRecord`.  Every part allows
keys it does not name (a plugin's or an adapter's own, or fields a later gazebench adds): they are
kept, in the record's order, after the named ones.

A record of an older schema is brought to today's shape by :func:`upgrade`, the one place that
knows what each version lacked.  :data:`SCHEMA_VERSION` changes only when the file's content does.

``gazebench schema`` prints :func:`json_schema` (also shipped as ``gazebench/schemas/result.schema.json``);
``--kind predictions`` the columns of a run's ``predictions_test.csv`` (:class:`PredictionRow`).
This module imports pydantic only (no torch or pandas; numpy only to upgrade a schema-1 record).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from gazebench.core.errors import UserValueError

#: the version written into every record; 1: before configuration identities and populations
SCHEMA_VERSION = 2

#: where the generated JSON Schemas are shipped (package data)
SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"  # gazebench/schemas/
SCHEMA_FILES = {"result": "result.schema.json", "predictions": "predictions.schema.json"}

#: a number kept as it was written (an integer stays an integer, so a record reads back byte for byte)
Number = Annotated[int | float, WithJsonSchema({"type": "number"})]


class Part(BaseModel):
    """A part of a record; keys it does not name are kept (plugins and adapters add their own) and
    read as attributes too (``record.my_key``, ``record.model_extra``)."""

    model_config = ConfigDict(extra="allow", defer_build=True)  # built on first use: importing stays cheap


class Identity(Part):
    """The configuration identity (gazebench.results.identity): what changes the number, hashed."""

    hash: str = Field(description="first 16 hex digits of the SHA-256 of the canonical config")
    config: dict[str, Any] = Field(
        description="dataset, card_version, protocol, data_options, model, "
        "model_options, weights, recipe (and trained_on for a cross test)"
    )
    recipe_keys: list[str] | None = Field(
        None,
        description="the model's declaration of the recipe keys in its "
        "identity (null: every key); absent in records made "
        "before models declared them",
    )


class Protocol(Part):
    name: str
    source: str = ""
    selection: str | None = None


class InnerPopulation(Part):
    """A population the dataset defines inside its test set (Gaze360's ``face``)."""

    name: str
    count: int
    sha256: str | None
    source_count: int | None = None
    complete: bool | None = None
    shortfall: list[str] | None = None


class Population(Part):
    """The test population (gazebench.population): which samples the metrics are over."""

    name: str
    count: int
    sha256: str | None = Field(description="SHA-256 of the sorted test ids (null: not recorded, schema 1)")
    subsets: dict[str, int] | None = None
    populations: dict[str, InnerPopulation] | None = None
    complete: bool
    shortfall: list[str] = Field(default_factory=list, description="why it is not the protocol's full population")
    labels: Literal["withheld"] | None = Field(None, description="'withheld': a predict-only run, not scored")


class Weights(Part):
    tag: str
    file: str | None = None
    sha256: str | None = None


class Fingerprint(Part):
    """What a unit's splits read (gazebench.results.fingerprint)."""

    version: int
    sha256: str
    samples: dict[str, int]


class Dataset(Part):
    name: str
    card_version: str | int | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    root: str | None = None
    subjects: dict[str, list[str]] | None = None
    samples: dict[str, int] | None = None
    windows_complete: dict[str, int] | None = None
    folds: list[str] | None = Field(None, description="a cross-dataset test: the folds whose test subjects it holds")
    fingerprint: Fingerprint | None = None
    frame_cache: dict[str, Any] | None = None


class Model(Part):
    name: str
    kwargs: dict[str, Any] = Field(default_factory=dict, description="the options as given")
    options: dict[str, Any] | None = Field(None, description="the built model's resolved options")
    view: str | None = None
    parameters: int | None = None
    loss: str | None = None
    sigma_trained: bool | None = None


class Selection(Part):
    rule: str | None = None
    chosen_epoch: int | None = None
    epochs_run: int | None = None
    early_stopped: bool | None = None
    val_mean_at_chosen: Number | None = None
    validation_samples: int | None = None


class ErrorSummary(Part):
    """Angular error statistics (degrees) over one subset of samples (gazebench.core.geometry.error_summary)."""

    mean: Number
    median: Number
    std: Number
    p90: Number
    n: int
    sigma_error_pearson: Number | None = None
    sigma_error_spearman: Number | None = None


class Timings(Part):
    train_seconds: Number | None = None
    train_samples: int | None = None
    train_samples_per_s: Number | None = None
    eval_seconds: Number | None = None
    eval_samples_per_s: Number | None = None
    total_seconds: Number | None = None


class DataProblems(Part):
    """What ``--on-bad-sample skip`` left out, per split."""

    skipped_samples: dict[str, int] = Field(default_factory=dict)
    skipped_ids: dict[str, list[str]] = Field(default_factory=dict)


class Environment(Part):
    gazebench: str | None = None
    torch: str | None = None
    timm: str | None = None
    python: str | None = None
    platform: str | None = None
    device: str | None = None
    device_name: str | None = None
    cpu_count: int | None = None
    torch_threads: int | None = None
    allocator: str | None = None
    git_sha: str | None = None
    git_dirty: bool | None = None
    distributed: dict[str, Any] | None = Field(None, description="world_size and backend under torchrun")


class Artifacts(Part):
    predictions: str | None = Field(None, description="the per-sample predictions CSV (see --kind predictions)")
    checkpoint: str | None = None
    submission: str | None = Field(None, description="a predict-only run's leaderboard file")


class TrainedOn(Part):
    """A cross-dataset test's training unit (gazebench.train.cross)."""

    dataset: str
    card_version: str | None = None
    protocol: str | None = None
    data_options: dict[str, Any] | None = None
    datasets: list[str] | None = None
    fold: str | None = None
    unit_id: str | None = None
    result: str | None = None


class ResultRecord(Part):
    """One finished unit's result (``gazebench run``): what was run, on which data and test
    population, with which configuration identity, and its angular errors.  Every object in a record
    may hold keys this schema does not name (plugins and adapters add their own)."""

    model_config = ConfigDict(
        extra="allow",
        defer_build=True,
        title="gazebench result record",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    schema_version: Literal[2] = SCHEMA_VERSION
    unit_id: str
    label: str | None = None
    benchmark: str | None = None
    identity: Identity
    protocol: Protocol
    population: Population
    weights: Weights
    dataset: Dataset
    fold: str = "default"
    seed: int | None = None
    model: Model
    recipe: dict[str, Any] = Field(default_factory=dict, description="gazebench.core.config.Recipe as a dict")
    selection: Selection = Field(default_factory=Selection)
    history: list[dict[str, Any]] = Field(default_factory=list, description="one row per epoch")
    metrics: dict[str, ErrorSummary] = Field(
        description="per subset: 'all', then the dataset's subsets (front180, ..., face); empty: test labels withheld"
    )
    val_metrics: dict[str, ErrorSummary] = Field(default_factory=dict)
    timings: Timings = Field(default_factory=Timings)
    data_problems: DataProblems = Field(default_factory=DataProblems)
    joint: dict[str, Any] | None = Field(None, description="joint training: members, sampling, per-member val errors")
    environment: Environment = Field(default_factory=Environment)
    artifacts: Artifacts = Field(default_factory=Artifacts)
    created_at: str | None = None
    trained_on: TrainedOn | None = Field(None, description="a cross-dataset test: the unit it was trained in")
    label_space_note: dict[str, Any] | None = None

    @property
    def display_label(self) -> str:
        """The label, or the model's name where the record has none."""
        return self.label or self.model.name

    @property
    def predict_only(self) -> bool:
        """Whether the run was not scored: its test labels were withheld, so no metrics."""
        return self.population.labels == "withheld" or not self.metrics

    def to_dict(self) -> dict[str, Any]:
        """The record as a dict, only the keys it was given: the named ones in the models' order
        (make_record's, so a record made by gazebench is written as it was filled in), then any
        others in theirs."""
        return self.model_dump(mode="python", exclude_unset=True)


class PredictionRow(BaseModel):
    """One row (one test sample) of a run's ``predictions_test.csv`` (gazebench.train.unit_record.write_predictions).
    A dataset that defines populations inside its test set adds a 0/1 column ``in_<population>``
    each (Gaze360's ``in_face``)."""

    model_config = ConfigDict(
        extra="allow",
        defer_build=True,
        title="gazebench predictions row",
        json_schema_extra={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "patternProperties": {"^in_": {"enum": [0, 1]}},
        },
    )

    id: str
    subject: str
    sequence: str | None = Field(None, description="the sequence the frame belongs to")
    order: Number | None = Field(None, description="its order inside the sequence (a timestamp: every digit)")
    pred_x: Number
    pred_y: Number
    pred_z: Number
    gaze_x: Number
    gaze_y: Number
    gaze_z: Number
    error_deg: Number = Field(description="angle between predicted and true gaze, degrees")
    sigma: Number | None = Field(None, description="the predicted spread (NaN when the model has none)")


MODELS: dict[str, type[BaseModel]] = {"result": ResultRecord, "predictions": PredictionRow}


def json_schema(kind: str = "result") -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that the models of ``kind`` generate."""
    return MODELS[kind].model_json_schema()


def schema_text(kind: str = "result") -> str:
    """:func:`json_schema` as the shipped file holds it."""
    return json.dumps(json_schema(kind), indent=2, sort_keys=False) + "\n"


def schema_path(kind: str = "result") -> Path:
    """The shipped schema file of ``kind`` (``result`` or ``predictions``)."""
    return SCHEMA_DIR / SCHEMA_FILES[kind]


def write_schemas() -> list[Path]:
    """Regenerate the shipped schema files from the models (after changing a model)."""
    SCHEMA_DIR.mkdir(exist_ok=True)
    written = []
    for kind in SCHEMA_FILES:
        schema_path(kind).write_text(schema_text(kind))
        written.append(schema_path(kind))
    return written


def upgrade(raw: Any) -> dict[str, Any]:
    """A record of any schema version this gazebench knows, as today's schema holds it (a new
    dict; ``raw`` is left as it was).  Version 2 is today's; its fields added since are optional.
    Version 1 (before configuration identities, protocols, test populations and weights) gets
    them filled in so it never mixes with a newer result: protocol and weights ``unrecorded``,
    its identity hashed with those, and a population that says it was not recorded (so a
    leaderboard marks its cell)."""
    if not isinstance(raw, dict) or "metrics" not in raw:
        raise UserValueError("not a gazebench result record (no 'metrics')")
    version = raw.get("schema_version")
    if version == SCHEMA_VERSION:
        return dict(raw)
    if version == 1:
        return _from_v1(raw)
    raise UserValueError(f"schema_version {version!r}; this gazebench reads 1 and {SCHEMA_VERSION}")


UNRECORDED = "unrecorded"


def _from_v1(raw: dict[str, Any]) -> dict[str, Any]:
    from gazebench.population import population_name
    from gazebench.results.identity import identity_config, identity_hash

    dataset, model = _dict(raw.get("dataset")), _dict(raw.get("model"))
    config = identity_config(
        dataset=str(dataset.get("name")),
        card_version=str(dataset.get("card_version", "")),
        protocol=UNRECORDED,
        data_options=dataset.get("options") or {},
        model=str(model.get("name")),
        model_options=model.get("kwargs") or {},
        weights=UNRECORDED,
        recipe=_dict(raw.get("recipe")),
    )
    name = population_name(str(dataset.get("name")), str(raw.get("fold", "default")))
    count = _dict(_dict(raw["metrics"]).get("all")).get("n", _dict(dataset.get("samples")).get("test", 0))
    rule = _dict(raw.get("selection")).get("rule")
    head = {
        "schema_version": SCHEMA_VERSION,
        "unit_id": raw.get("unit_id"),
        "label": raw.get("label"),
        "benchmark": raw.get("benchmark"),
        # no recipe_keys: read as a legacy identity (gazebench.results.store.narrow_legacy)
        "identity": {"hash": identity_hash(config), "config": config},
        "protocol": {"name": UNRECORDED, "source": "a schema 1 record names no protocol", "selection": rule},
        "population": {
            "name": name,
            "count": count,
            "sha256": None,
            "complete": False,
            "shortfall": ["a schema 1 record: its test ids were not recorded (re-run the unit)"],
        },
        "weights": {"tag": UNRECORDED, "file": None, "sha256": None},
    }
    return {**head, **{k: v for k, v in raw.items() if k not in head}}


def _dict(value: Any) -> dict[str, Any]:
    """``value`` where it is a mapping, else {} (a malformed part fails validation afterwards, naming it)."""
    return value if isinstance(value, dict) else {}


def parse_record(raw: Any) -> ResultRecord:
    """:func:`upgrade` and validate; a record that does not fit is one :class:`UserValueError`
    naming the first fields that are wrong."""
    from pydantic import ValidationError

    data = upgrade(raw)
    try:
        return ResultRecord.model_validate(data)
    except ValidationError as exc:
        wrong = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors()[:3])
        more = f" (and {exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
        raise UserValueError(f"not a valid gazebench result record: {wrong}{more}") from None


def new_record(record: dict[str, Any]) -> ResultRecord:
    """A record being made (a dict as :func:`gazebench.train.unit_record.make_record` fills it in, without
    ``schema_version``) typed; a field of the wrong type is a bug: pydantic's ValidationError."""
    return ResultRecord.model_validate({"schema_version": SCHEMA_VERSION, **record})


def as_record(record: ResultRecord | dict[str, Any]) -> ResultRecord:
    """``record`` typed: a :class:`ResultRecord` as it is, a record read as a dict parsed."""
    return record if isinstance(record, ResultRecord) else parse_record(record)
