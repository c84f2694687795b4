"""A missing or corrupt image stops a run with its name, or is skipped and recorded on request."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from gazebench.cli import main
from tests.helpers import TINY_RECIPE


@pytest.fixture(params=["off", "on"], ids=["frames-from-loader", "frames-held-on-device"], autouse=True)
def where_frames_are(request, monkeypatch) -> str:
    """Every case twice: frames decoded for each batch, and held on the device (here the CPU)."""
    monkeypatch.setenv("GAZEBENCH_DEVICE_FRAMES", request.param)
    return request.param


@pytest.fixture()
def damaged(tiny_synth, tmp_path) -> tuple[Path, list[str]]:
    """A copy of the tiny tree with one test frame truncated and one train frame deleted."""
    root = tmp_path / "damaged"
    shutil.copytree(tiny_synth, root)
    labels = pd.read_csv(root / "labels.csv")
    test_row = labels[labels.subject == "s000"].iloc[3]
    train_row = labels[labels.subject == "s002"].iloc[5]
    jpeg = root / test_row.path
    jpeg.write_bytes(jpeg.read_bytes()[:200])  # truncated JPEG
    (root / train_row.path).unlink()  # deleted frame
    return root, [test_row.id, train_row.id]


def _args(root: Path, out: Path, *extra: str) -> list[str]:
    return [
        "run",
        "--root",
        str(root),
        "--model",
        "static",
        "--epochs",
        "1",
        "--backbone",
        "test_resnet",
        "--results",
        str(out / "results"),
        "--runs",
        str(out / "runs"),
        "--no-table",
        "--quiet",
        *TINY_RECIPE,
        *extra,
    ]


@pytest.mark.parametrize("workers", ["0", "1"])
def test_bad_image_stops_the_run_naming_sample_path_and_check_data(workers, damaged, tmp_path, capsys):
    """One line, whether the frame was decoded in the training process or in a loader worker."""
    root, bad_ids = damaged
    assert main(_args(root, tmp_path, "--set", f"num_workers={workers}")) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "BadSample" in err and "synthgaze" in err
    assert any(i in err for i in bad_ids)
    assert str(root) in err
    assert "gazebench check-data" in err
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("*.json"))


def test_a_bad_test_image_stops_the_run_before_the_first_epoch(tiny_synth, tmp_path, capsys):
    root = tmp_path / "damaged"
    shutil.copytree(tiny_synth, root)
    labels = pd.read_csv(root / "labels.csv")
    row = labels[labels.subject == "s000"].iloc[3]  # a test subject
    (root / row.path).write_bytes((root / row.path).read_bytes()[:200])
    assert main(_args(root, tmp_path)) == 2
    assert row.id in capsys.readouterr().err
    assert not list((tmp_path / "runs").rglob("*.pt"))  # no epoch was trained


def test_skip_records_count_and_ids_and_never_substitutes(damaged, tmp_path):
    root, bad_ids = damaged
    assert main(_args(root, tmp_path, "--on-bad-sample", "skip")) == 0
    (path,) = list((tmp_path / "results").rglob("*.json"))
    record = json.loads(path.read_text())
    problems = record["data_problems"]
    assert problems["skipped_samples"] == {"train": 1, "val": 0, "test": 1}
    assert problems["skipped_ids"]["test"] == [bad_ids[0]] and problems["skipped_ids"]["train"] == [bad_ids[1]]
    # the skipped test sample is not scored
    assert record["metrics"]["all"]["n"] == record["dataset"]["samples"]["test"] - 1
    preds = pd.read_csv(record["artifacts"]["predictions"])
    assert bad_ids[0] not in set(preds["id"])
