"""End-to-end: the commands a researcher types, on tiny generated data."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.helpers import TINY_RECIPE, cli



def test_run_writes_a_complete_result_and_table_lists_it(tiny_synth, tmp_path, capsys):
    results = tmp_path / "results"
    rc = cli("run", "--dataset", "synthgaze", "--root", tiny_synth, "--model", "static,mean", "--epochs", "1",
                 "--backbone", "test_resnet", "--results", results, "--runs", tmp_path / "runs", "--quiet",
                 *TINY_RECIPE)
    assert rc == 0
    files = sorted(results.rglob("*.json"))
    assert [f.parent.name for f in files] == ["mean", "static"]
    record = json.loads(files[1].read_text())
    m = record["metrics"]
    for stat in ("mean", "median", "std", "p90", "n"):
        assert stat in m["all"]
    assert m["all"]["n"] == record["dataset"]["samples"]["test"] > 0
    assert {"front180", "front20", "back"} <= set(m)
    assert record["recipe"]["epochs"] == 1 and record["recipe"]["image_size"] == 32
    assert record["model"]["kwargs"]["backbone"] == "test_resnet"
    assert record["seed"] == 0 and record["selection"]["chosen_epoch"] == 1
    for key in ("train_samples_per_s", "eval_samples_per_s", "train_seconds", "total_seconds"):
        assert record["timings"][key] > 0
    for key in ("gazebench", "torch", "timm", "device", "git_sha"):
        assert key in record["environment"]
    assert record["created_at"]
    subjects = record["dataset"]["subjects"]
    assert not set(subjects["train"]) & set(subjects["test"])
    # per-sample predictions sit beside the checkpoint, outside results/
    assert Path(record["artifacts"]["predictions"]).exists()

    capsys.readouterr()
    assert cli("table", "--results", results, "--format", "csv") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["label"] for r in rows} == {"static", "mean"}
    static = next(r for r in rows if r["label"] == "static")
    assert float(static["mean"]) == pytest.approx(m["all"]["mean"], abs=1e-3)
    assert static["n"] == "1"


def test_second_run_skips_finished_work(tiny_synth, tmp_path, capsys):
    args = ["run", "--dataset", "synthgaze", "--root", tiny_synth, "--model", "mean", "--results", tmp_path / "r",
            "--runs", tmp_path / "runs", "--no-table", *TINY_RECIPE]
    assert cli(*args) == 0
    first = sorted((tmp_path / "r").rglob("*.json"))
    stamp = first[0].stat().st_mtime_ns
    capsys.readouterr()
    assert cli(*args) == 0
    assert "done already" in capsys.readouterr().err
    assert first[0].stat().st_mtime_ns == stamp


def test_missing_root_says_where_it_looked_and_how_to_get_data(tmp_path, capsys):
    rc = cli("run", "--dataset", "synthgaze", "--root", tmp_path / "nowhere", "--model", "mean", "--no-table")
    assert rc == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "nowhere") in err
    assert "gazebench synth" in err  # where to get it
    assert "labels.csv" in err  # the expected layout


def test_unknown_model_and_setting_suggest_close_names(tiny_synth, capsys):
    assert cli("run", "--root", tiny_synth, "--model", "statc", "--no-table") == 2
    assert "Did you mean 'static'" in capsys.readouterr().err
    assert cli("run", "--root", tiny_synth, "--model", "static", "--set", "epoch=2", "--no-table") == 2
    assert "Did you mean 'epochs'" in capsys.readouterr().err


def test_ls_lists_models_and_datasets_with_descriptions(capsys):
    assert cli("ls", "models") == 0
    out = capsys.readouterr().out
    for name in ("static", "mean", "seqsclstmsym"):
        assert name in out
    assert "training set's mean gaze" in out
    assert cli("ls", "datasets") == 0
    assert "synthgaze" in capsys.readouterr().out
    assert cli("ls", "analyses") == 0
    out = capsys.readouterr().out
    from gazebench.analysis import KINDS

    for name, kind in KINDS.items():  # every kind, with its description and options
        assert name in out and kind.description[:40] in out
    assert "deltas=" in out and "resamples=2000" in out
