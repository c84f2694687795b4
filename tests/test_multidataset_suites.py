"""The cross-domain and leave-one-dataset-out suites of benchmarks.yaml: dry runs without data, and
end to end on SynthGaze trees written in every layout they read."""

from __future__ import annotations

import json

import pytest

from tests.helpers import cli, run_cli

TINY = [
    "--set",
    "epochs=1",
    "--set",
    "backbone=test_resnet",
    "--set",
    "image_size=32",
    "--set",
    "num_workers=0",
    "--set",
    "pretrained=false",
    "--set",
    "expect_samples=any",
    "--set",
    "batch_size=16",
    "--quiet",
    "--no-table",
]
TASKS = ["ethxgaze → mpiifacegaze", "ethxgaze → eyediap", "gaze360 → mpiifacegaze", "gaze360 → eyediap"]
ENV = ("ETHXGAZE_ROOT", "GAZE360_ROOT", "MPIIFACEGAZE_ROOT", "EYEDIAP_ROOT", "RTGENE_ROOT")


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("suites")
    layouts = (
        "ethxgaze",
        "gaze360-gazehub",
        "mpiifacegaze-gazehub",
        "eyediap-gazehub",  # cross-domain
        "mpiifacegaze",
        "rtgene",
        "eyediap",
    )  # leave-one-dataset-out: each card's default layout
    for layout in layouts:
        assert cli("synth", "--preset", "tiny", "--layout", layout, "--out", base / layout) == 0
    return base


@pytest.fixture
def no_roots(monkeypatch):
    for var in ENV:
        monkeypatch.delenv(var, raising=False)


def test_cross_domain_dry_run_lists_the_four_tasks(no_roots, tmp_path, capsys):
    capsys.readouterr()
    assert cli("run", "--benchmark", "cross-domain", "--dry-run", "--results", tmp_path) == 0
    out = capsys.readouterr().out
    for task in TASKS:
        assert task in out
    assert "protocol xgaze-baseline of ethxgaze" in out and "protocol gazehub of gaze360" in out


def test_cross_domain_reads_the_targets_as_gazehub_does(no_roots, tmp_path):
    from tests.test_joint import units

    ethx, g360 = units("--benchmark", "cross-domain", "--results", tmp_path)
    for u in (ethx, g360):
        assert [t for t, _ in u.spec.cross] == ["mpiifacegaze", "eyediap"]
        assert u.spec.cross_protocols == {"mpiifacegaze": "gazehub", "eyediap": "gazehub"}
        assert u.recipe.select == "last" and u.recipe.lr == pytest.approx(1e-4) and u.recipe.lr_step is None
    assert ethx.protocol.name == "xgaze-baseline" and ethx.data_options["validation"] == "none"
    assert g360.protocol.name == "gazehub" and g360.data_options["layout"] == "gazehub"
    assert (ethx.recipe.batch_size, ethx.recipe.epochs, g360.recipe.batch_size, g360.recipe.epochs) == (50, 5, 24, 100)


def test_leave_one_dataset_out_trains_on_four_and_tests_on_the_fifth(no_roots, tmp_path, capsys):
    from tests.test_joint import units

    five = {"ethxgaze", "gaze360", "mpiifacegaze", "eyediap", "rtgene"}
    planned = units("--benchmark", "leave-one-dataset-out", "--results", tmp_path)
    assert len(planned) == 5
    for u in planned:
        (left_out,) = [t for t, _ in u.spec.cross]
        assert set(u.spec.members) == five - {left_out} and u.spec.cross_all == (left_out,)
    capsys.readouterr()
    assert cli("run", "--benchmark", "leave-one-dataset-out", "--dry-run", "--results", tmp_path) == 0
    assert "ethxgaze+eyediap+gaze360+mpiifacegaze → rtgene" in capsys.readouterr().out


def test_cross_domain_runs_on_synthgaze_and_the_table_shows_the_four_columns(trees, tmp_path, capsys):
    results = tmp_path / "results"
    argv = [
        "run",
        "--benchmark",
        "cross-domain",
        "--results",
        results,
        "--runs",
        tmp_path / "runs",
        "--root",
        f"ethxgaze={trees / 'ethxgaze'}",
        "--root",
        f"gaze360={trees / 'gaze360-gazehub'}",
        "--root",
        f"mpiifacegaze={trees / 'mpiifacegaze-gazehub'}",
        "--root",
        f"eyediap={trees / 'eyediap-gazehub'}",
        *TINY,
    ]
    assert run_cli(argv) == 0
    crosses = sorted(results.rglob("*.cross-*.json"))
    assert len(crosses) == 4
    record = json.loads(
        next(p for p in crosses if "gaze360" in p.parts and p.name.endswith("eyediap.json")).read_text()
    )
    assert record["protocol"]["name"] == "gazehub" and record["trained_on"]["datasets"] == ["gaze360"]
    capsys.readouterr()
    assert run_cli(["table", "--results", results, "--benchmark", "cross-domain"]) == 0
    table = capsys.readouterr().out
    for task in TASKS:
        assert f"{task} (gazehub)" in table
    # the published numbers of the four tasks stand beside them, as marked rows under the measured ones
    measured, _, published = table.partition("published, not measured here:")
    assert "ref: PureGaze (ours)" in published and "ref:" not in measured
    puregaze = next(line for line in published.splitlines() if "ref: PureGaze (ours)" in line)
    assert all(value in puregaze for value in ("7.08", "7.48", "9.28", "9.32")) and "**" not in puregaze


def test_a_leave_one_dataset_out_task_runs_on_synthgaze(trees, tmp_path, capsys):
    """One of the suite's five tasks (the others differ only in which dataset is held out)."""
    results = tmp_path / "results"
    argv = [
        "run",
        "--benchmark",
        "leave-one-dataset-out",
        "--dataset",
        "rtgene+gaze360+ethxgaze+eyediap",
        "--results",
        results,
        "--runs",
        tmp_path / "runs",
        "--root",
        f"ethxgaze={trees / 'ethxgaze'}",
        "--root",
        f"gaze360={trees / 'gaze360-gazehub'}",
        "--root",
        f"mpiifacegaze={trees / 'mpiifacegaze'}",
        "--root",
        f"eyediap={trees / 'eyediap'}",
        "--root",
        f"rtgene={trees / 'rtgene'}",
        *TINY,
    ]
    assert run_cli(argv) == 0
    (cross,) = results.rglob("*.cross-mpiifacegaze.json")
    record = json.loads(cross.read_text())
    assert record["trained_on"]["datasets"] == ["ethxgaze", "eyediap", "gaze360", "rtgene"]
    assert record["population"]["name"] == "mpiifacegaze/all"
    assert record["joint"]["normalised"] == ["ethxgaze", "eyediap"]
    assert record["joint"]["not_normalised"] == ["gaze360", "rtgene"]
    capsys.readouterr()
    assert run_cli(["table", "--results", results]) == 0
    assert "ethxgaze+eyediap+gaze360+rtgene → mpiifacegaze (" in capsys.readouterr().out
