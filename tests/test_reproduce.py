"""``gazebench reproduce`` and ``init=published:NAME``: a published checkpoint evaluated under its
paper's protocol, set against the published numbers, and fine-tuned like any model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gazebench.datasets.gaze360.fake import render as render_gaze360
from gazebench.published import published_card
from tests.helpers import cli
from tests.test_published import REFERENCE, reference_weights, save_released

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def gaze360_lstm_file(tmp_path_factory) -> Path:
    """The reference weights of gaze360-lstm, packed as the released file is."""
    path = tmp_path_factory.mktemp("weights") / "gaze360_model.pth.tar"
    return save_released("gaze360-lstm", reference_weights(REFERENCE / "gaze360-lstm"), path)


@pytest.fixture(scope="module")
def gaze360_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("g360") / "tree"
    render_gaze360(root)
    return root


def _reproduce(root: Path, weights: Path, out: Path, *extra: str) -> int:
    # 32 px keeps the test fast; the card's 224 is what a real reproduction uses
    return cli(
        "reproduce",
        "gaze360-lstm",
        "--root",
        root,
        "--weights",
        weights,
        "--results",
        out / "results",
        "--runs",
        out / "runs",
        "--quiet",
        "--set",
        "image_size=32",
        "--set",
        "num_workers=0",
        *extra,
    )


def test_reproduce_gaze360_lstm_prints_each_published_number_and_records_the_checkpoint(
    gaze360_tree, gaze360_lstm_file, tmp_path, capsys
):
    assert _reproduce(gaze360_tree, gaze360_lstm_file, tmp_path) == 0
    out = capsys.readouterr().out
    card = published_card("gaze360-lstm")
    rows = [line for line in out.splitlines() if line.startswith("| ") and line.split("|")[1].strip() != "subset"]
    assert [r.split("|")[1].strip() for r in rows] == ["all", "front180", "front20 or front20axis"]
    (path,) = (tmp_path / "results").rglob("*.json")
    record = json.loads(path.read_text())
    for row, number in zip(rows, card.published):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] == f"{number.value:.2f}"
        if number.subset_known:
            got = record["metrics"][number.subset]["mean"]
            assert cells[3] == f"{got:.2f}" and cells[4] == f"{got - number.value:+.2f}"
        else:  # "front facing": no source says |yaw| or the camera axis; both measured, no difference
            both = (f"{record['metrics'][c]['mean']:.2f} ({c})" for c in ("front20", "front20axis"))
            assert cells[3] == ", ".join(both)
            assert cells[4] == "none: subset not stated"
    assert (
        'no difference for "Gaze360 test, front-facing" 11.1°: no source read says which subset it is on' in out
        and "subset_source in gaze360-lstm.yaml" in out
    )
    assert record["selection"]["rule"].startswith("published checkpoint gaze360-lstm")
    assert record["weights"]["tag"] == "published:gaze360-lstm" and len(record["weights"]["sha256"]) == 64
    assert record["label"] == "gaze360-lstm (published)" and record["history"] == []
    # a SynthGaze tree is not Gaze360's test set: the population says so, and the table marks the row
    assert not record["population"]["complete"] and "25,969" in " ".join(record["population"]["shortfall"])
    assert cli("table", "--results", tmp_path / "results") == 0
    table = capsys.readouterr().out
    assert "| gaze360-lstm (published)" in table and "†" in table


def test_a_checkpoint_is_not_evaluated_on_data_it_was_trained_on(monkeypatch, gaze360_lstm_file, tmp_path):
    from gazebench.core.options import ConfigError
    from gazebench.plan.reproduce import check_reproducible

    card = published_card("gaze360-lstm")
    monkeypatch.setitem(card.training, "splits", ["train", "test"])
    with pytest.raises(ConfigError, match="trained on the test split of gaze360"):
        check_reproducible(card)
    check_reproducible(card, allow_training_data=True)  # asked for: allowed, and the row says so


def test_a_card_whose_population_gazebench_cannot_read_says_why(monkeypatch):
    from gazebench.core.options import ConfigError
    from gazebench.plan.reproduce import check_reproducible

    card = published_card("l2cs-gaze360")
    monkeypatch.setitem(card.reproduce, "dataset", None)
    monkeypatch.setitem(card.reproduce, "population", "a test set no adapter reads")
    with pytest.raises(ConfigError, match="cannot be reproduced here: its published numbers are on a test set no"):
        check_reproducible(card)


def test_a_published_checkpoint_fine_tunes_like_any_model(tiny_synth, gaze360_lstm_file, tmp_path):
    assert (
        cli(
            "run",
            "--dataset",
            "synthgaze",
            "--root",
            tiny_synth,
            "--model",
            "seqlstm",
            "--epochs",
            "1",
            "--set",
            "init=published:gaze360-lstm",
            "--set",
            f"weights_file={gaze360_lstm_file}",
            "--set",
            "image_size=32",
            "--set",
            "batch_size=16",
            "--set",
            "num_workers=0",
            "--set",
            "max_train_samples=32",
            "--results",
            tmp_path / "results",
            "--runs",
            tmp_path / "runs",
            "--quiet",
            "--no-table",
        )
        == 0
    )
    (path,) = (tmp_path / "results").rglob("*.json")
    record = json.loads(path.read_text())
    assert "fine-tuned from the published checkpoint gaze360-lstm" in record["selection"]["rule"]
    assert record["weights"]["tag"] == "published:gaze360-lstm" and record["recipe"]["init"] == "published:gaze360-lstm"


def test_init_needs_the_file_and_the_cards_model(tiny_synth, tmp_path, capsys):
    common = [
        "run",
        "--dataset",
        "synthgaze",
        "--root",
        tiny_synth,
        "--epochs",
        "1",
        "--dry-run",
        "--set",
        "init=published:gaze360-lstm",
        "--results",
        tmp_path,
    ]
    assert cli(*common, "--model", "seqlstm") == 2
    assert "weights_file=FILE" in capsys.readouterr().err


def test_dry_run_needs_no_weights_and_a_run_asks_for_them(tmp_path, capsys):
    assert cli("reproduce", "gaze360-lstm", "--dry-run", "--results", tmp_path) == 0
    out = capsys.readouterr().out
    assert "protocol original of gaze360" in out and "its result file is named once --weights is given" in out
    assert cli("reproduce", "gaze360-lstm", "--results", tmp_path) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--weights FILE" in err and "gaze360_model.pth.tar" in err
