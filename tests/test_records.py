"""What a result record claims and what the runner does with finished, stale and busy units:
identities that hold only what changes a number, data fingerprints, records checked against
their predictions, the unit lock, and a sweep whose every unit fails."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from gazebench.results import load_results
from tests.fixtures.make_results import write_cards, write_run
from tests.helpers import TINY_RECIPE, cli

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "results"


@pytest.fixture()
def fixture_cards(monkeypatch):
    monkeypatch.setenv("GAZEBENCH_CARDS", str(FIXTURE / "cards"))


def quiet_results(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_results(path)


# --- item: keys a model ignores are not in its identity --------------------------------------------


def run_mean(tiny_synth: Path, tmp_path: Path, *sets: str) -> int:
    return cli("run", "--dataset", "synthgaze", "--root", tiny_synth, "--model", "mean", "--results",
               tmp_path / "results", "--runs", tmp_path / "runs", "--no-table", "--quiet", *TINY_RECIPE, *sets)


def test_mean_runs_with_different_batch_sizes_share_one_identity_and_row(tiny_synth, tmp_path, capsys):
    assert run_mean(tiny_synth, tmp_path) == 0
    assert run_mean(tiny_synth, tmp_path, "--set", "batch_size=32", "--set", "lr=0.1", "--set", "augment=flip") == 0
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "results").rglob("*.json"))]
    assert len(records) == 2 and records[0]["unit_id"] != records[1]["unit_id"]  # two units ...
    assert records[0]["recipe"]["batch_size"] != records[1]["recipe"]["batch_size"]
    assert records[0]["identity"]["hash"] == records[1]["identity"]["hash"]  # ... of one configuration
    assert records[0]["identity"]["recipe_keys"] == [] and records[0]["identity"]["config"]["recipe"] == {}
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the two runs dedupe to the newest, with a warning
        assert cli("table", "--results", tmp_path / "results", "--format", "csv") == 0
    out = capsys.readouterr().out
    assert "batch_size" not in out and len(out.strip().splitlines()) == 2  # header + one row: mean


def test_a_trained_model_keeps_every_recipe_key_in_its_identity():
    from gazebench.identity import identity_config
    import gazebench.models  # noqa: F401
    from gazebench.models.base import identity_recipe_keys

    assert identity_recipe_keys("static") is None and identity_recipe_keys("mean") == ()
    common = dict(dataset="d", card_version="1", protocol="p", data_options={}, model="static", model_options={},
                  weights="none")
    a = identity_config(**common, recipe={"batch_size": 16, "device": "cpu"})
    b = identity_config(**common, recipe={"batch_size": 32, "device": "cpu"})
    assert a["recipe"] == {"batch_size": 16} and a != b


def test_old_mean_records_are_read_under_todays_declaration_and_compare_works(fixture_cards, tmp_path, capsys):
    # records as the starting code wrote them (identity over the whole recipe, no recipe_keys)
    for i, (label, seed, recipe) in enumerate([("mean", 0, {"batch_size": 16}), ("mean", 1, {"batch_size": 32}),
                                                ("static", 0, {"batch_size": 16}), ("static", 1, {"batch_size": 16})]):
        write_run(tmp_path, i, "synthgaze", label, "default", seed, recipe=recipe)
    write_cards(tmp_path)
    df = quiet_results(tmp_path)
    assert df.loc[df["label"] == "mean", "identity"].nunique() == 1
    capsys.readouterr()
    assert cli("table", "--results", tmp_path) == 0
    out = capsys.readouterr().out
    assert "batch_size" not in out and "| mean (" not in out and "| mean " in out
    assert cli("compare", "mean", "static", "--results", tmp_path, "--dataset", "synthgaze") == 0
    assert "paired" in capsys.readouterr().out.lower()
