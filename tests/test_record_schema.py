"""The typed result record (gazebench/results/record_model.py): the shipped JSON Schema is what the models
generate, records of real runs validate against it and read back byte for byte, older schema
versions come through one upgrade, and a wrong field is one line naming it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from gazebench.core.errors import UserValueError
from gazebench.results.record_model import (
    SCHEMA_FILES,
    SCHEMA_VERSION,
    ResultRecord,
    parse_record,
    schema_path,
    schema_text,
    upgrade,
)
from gazebench.results.store import load_record, load_results, read_record, write_record
from tests.fixtures.make_results import predictions, record
from tests.helpers import SMALL_RUN, cli

ROOT = Path(__file__).resolve().parents[1]


def validator(kind: str):
    """A function that raises when an instance does not fit the shipped schema of ``kind``: the
    ``jsonschema`` package where installed (the test extra), else the pydantic models."""
    schema = json.loads(schema_path(kind).read_text())
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - the test extra installs it
        from gazebench.results.record_model import MODELS

        return MODELS[kind].model_validate
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema).validate


def test_the_shipped_schemas_are_what_the_models_generate():
    for kind in SCHEMA_FILES:
        assert schema_path(kind).read_text() == schema_text(kind), (
            f"{schema_path(kind)} is stale: regenerate it with "
            "python -c 'from gazebench.results.record_model import write_schemas; write_schemas()'"
        )
    schema = json.loads(schema_path("result").read_text())
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert schema["additionalProperties"] is True  # plugins' keys are allowed, and the schema says so
    assert {"identity", "population", "metrics", "dataset", "model"} <= set(schema["required"])


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory, tiny_synth):
    """A fitted baseline (mean) and a trained model (static, one epoch) on a tiny SynthGaze tree."""
    tmp = tmp_path_factory.mktemp("schema")
    assert (
        cli(
            "run",
            "--dataset",
            "synthgaze",
            "--root",
            tiny_synth,
            "--model",
            "mean,static",
            "--results",
            tmp / "results",
            "--runs",
            tmp / "runs",
            *SMALL_RUN,
        )
        == 0
    )
    paths = sorted((tmp / "results").rglob("*.json"))
    assert len(paths) == 2
    return paths


def test_records_of_real_runs_validate_against_the_shipped_schema_and_read_back_byte_for_byte(real_runs, tmp_path):
    check = validator("result")
    for path in real_runs:
        text = path.read_text()
        raw = json.loads(text)
        check(raw)
        typed = load_record(path)
        assert typed.population.count == typed.metrics["all"].n > 0
        # written through the model: the same keys, values and order as the record read
        again = write_record(typed, tmp_path / path.name)
        assert again.read_text() == text
        assert read_record(path) == raw
    static = load_record(next(p for p in real_runs if "static" in p.parts))
    assert static.history and static.selection.epochs_run == len(static.history) == 1
    assert static.artifacts.checkpoint and static.dataset.fingerprint.samples["test"] == static.population.count


def test_the_rows_of_real_predictions_files_validate_against_the_predictions_schema(real_runs):
    check = validator("predictions")
    for path in real_runs:
        table = pd.read_csv(load_record(path).artifacts.predictions, dtype={"id": str, "subject": str, "sequence": str})
        rows = json.loads(table.to_json(orient="records"))  # NaN sigma -> null, as the schema allows
        assert rows
        for row in rows:
            check(row)


def test_a_bad_value_is_refused_by_the_schema_and_by_the_reader(real_runs, tmp_path):
    raw = json.loads(real_runs[0].read_text())
    raw["metrics"]["all"]["mean"] = "small"
    with pytest.raises(Exception, match="mean"):
        validator("result")(raw)
    bad = tmp_path / "results" / "bad.json"
    bad.parent.mkdir()
    bad.write_text(json.dumps(raw))
    with pytest.raises(UserValueError, match=r"metrics\.all\.mean"):
        load_record(bad)
    with pytest.warns(UserWarning, match=r"skipping unreadable result .*bad\.json.*metrics\.all\.mean"):
        assert load_results(bad.parent).empty


def test_a_field_of_the_wrong_type_is_a_bug_when_writing_and_nothing_is_written(real_runs, tmp_path):
    from pydantic import ValidationError

    raw = json.loads(real_runs[0].read_text())
    del raw["schema_version"]
    raw["population"]["count"] = "many"
    with pytest.raises(ValidationError):
        write_record(raw, tmp_path / "r.json")
    assert not (tmp_path / "r.json").exists()


def test_keys_a_plugin_adds_are_kept_in_place_and_allowed_by_the_schema(real_runs, tmp_path):
    raw = json.loads(real_runs[0].read_text())
    raw["dataset"]["my_adapter_note"] = {"camera": 3}
    raw["my_plugin"] = [1, 2]
    validator("result")(raw)
    typed = parse_record(raw)
    assert typed.my_plugin == [1, 2] and typed.dataset.model_extra == {"my_adapter_note": {"camera": 3}}
    assert json.dumps(typed.to_dict()) == json.dumps(raw)


# --- older records --------------------------------------------------------------------------------


def schema_1_record(path: Path) -> dict:
    """What a schema-1 record held (gazebench.record, now gazebench.train.unit_record, before configuration identities: git show
    61e1df6^:gazebench/record.py): no identity, protocol, population or weights."""
    rec = json.loads(path.read_text())
    for key in ("identity", "protocol", "population", "weights"):
        del rec[key]
    del rec["model"]["options"], rec["model"]["sigma_trained"], rec["dataset"]["fingerprint"]
    return {**rec, "schema_version": 1}


def test_a_schema_1_record_is_upgraded_and_never_mixes_with_a_newer_one(real_runs, tmp_path, monkeypatch):
    mean = next(p for p in real_runs if "mean" in p.parts)
    old = schema_1_record(mean)
    upgraded = upgrade(old)
    assert old["schema_version"] == 1 and "identity" not in old  # the record given is left as it was
    typed = parse_record(old)
    now = load_record(mean)
    assert typed.schema_version == SCHEMA_VERSION and typed.protocol.name == "unrecorded"
    assert typed.identity.hash != now.identity.hash and typed.identity.recipe_keys is None
    assert typed.population.name == now.population.name and typed.population.count == now.population.count
    assert not typed.population.complete and typed.population.sha256 is None
    assert typed.metrics == now.metrics and typed.unit_id == now.unit_id
    validator("result")(upgraded)

    results = tmp_path / "results"
    (results / "old").mkdir(parents=True)
    (results / "old" / mean.name).write_text(json.dumps(old))
    (results / "new").mkdir()
    (results / "new" / mean.name).write_text(mean.read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = load_results(results)
    assert sorted(df["protocol"]) == ["standard", "unrecorded"]
    assert df.set_index("protocol").loc["unrecorded", "population_complete"] == False  # noqa: E712 (numpy bool)


@pytest.mark.parametrize("version", [None, 0, 3, "2"])
def test_an_unknown_schema_version_is_one_line_naming_what_is_read(version, real_runs):
    raw = {**json.loads(real_runs[0].read_text()), "schema_version": version}
    with pytest.raises(UserValueError, match=f"schema_version {version!r}; this gazebench reads 1 and 2"):
        parse_record(raw)


def test_a_malformed_schema_1_record_is_one_line_naming_the_field(real_runs):
    old = schema_1_record(real_runs[0])
    old["metrics"] = [1, 2]
    with pytest.raises(UserValueError, match="metrics: Input should be a valid dictionary"):
        parse_record(old)


def test_a_finished_unit_whose_record_is_not_valid_is_not_done(tmp_path):
    from gazebench.results.store import result_problem

    table = predictions("rtgene", "mean", "0", 0)
    rec = record(0, "rtgene", "1", "fixture", "mean", "0", 0, table, None)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(rec))
    assert result_problem(path, rec["unit_id"]) is None
    assert "record of unit" in result_problem(path, "other")
    del rec["population"]
    path.write_text(json.dumps(rec))
    assert "population: Field required" in result_problem(path, rec["unit_id"])


def test_the_fixture_records_are_valid():
    check = validator("result")
    paths = sorted((ROOT / "tests" / "fixtures" / "results").rglob("fold-*.json"))
    assert len(paths) > 20
    for path in paths:
        check(json.loads(path.read_text()))
        assert isinstance(load_record(path), ResultRecord)


def test_gazebench_schema_prints_the_shipped_schema_without_torch_or_pandas():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = (
        "import sys; from gazebench.cli import main; rc = main(sys.argv[1:]); "
        "heavy = [m for m in ('torch', 'timm', 'pandas', 'numpy') if m in sys.modules]; "
        "print('imported', heavy, file=sys.stderr) if heavy else None; sys.exit(rc or bool(heavy))"
    )
    for kind in SCHEMA_FILES:
        r = subprocess.run(
            [sys.executable, "-c", code, "schema", "--kind", kind], env=env, capture_output=True, text=True, timeout=120
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout == schema_path(kind).read_text()
