"""Cross-dataset evaluation (gazebench.train.cross): train on SynthGaze, test on an RT-GENE-layout tree."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gazebench.core.geometry import yawpitch_to_vector
from gazebench.train.cross import label_space_note
from tests.helpers import cli, run_cli

FLAGS = [
    "--model",
    "static",
    "--epochs",
    "1",
    "--backbone",
    "test_resnet",
    "--set",
    "image_size=32",
    "--set",
    "num_workers=0",
    "--set",
    "pretrained=false",
    "--quiet",
    "--no-table",
]


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("cross")
    for layout in ("synthgaze", "rtgene"):
        assert cli("synth", "--preset", "tiny", "--layout", layout, "--out", base / layout) == 0
    return base


def test_cross_dataset_run_writes_its_own_record_and_column(trees, tmp_path, capsys):
    results, runs = tmp_path / "results", tmp_path / "runs"
    argv = [
        "run",
        "--dataset",
        "synthgaze",
        "--root",
        trees / "synthgaze",
        "--test",
        "rtgene",
        "--root",
        f"rtgene={trees / 'rtgene'}",
        "--results",
        results,
        "--runs",
        runs,
        *FLAGS,
    ]
    assert run_cli(argv) == 0
    files = sorted(results.rglob("*.json"))
    assert len(files) == 2
    own = json.loads(next(f for f in files if ".cross-" not in f.name).read_text())
    cross = json.loads(next(f for f in files if f.name.endswith(".cross-rtgene.json")).read_text())
    assert own["dataset"]["name"] == "synthgaze" and "trained_on" not in own
    assert cross["dataset"]["name"] == "rtgene" and cross["protocol"]["name"] == "original"
    assert cross["trained_on"]["dataset"] == "synthgaze" and cross["trained_on"]["unit_id"] == own["unit_id"]
    assert cross["identity"]["config"]["trained_on"]["dataset"] == "synthgaze"
    assert cross["identity"]["hash"] != own["identity"]["hash"]
    assert "text" in cross["label_space_note"]

    # n = the union of every rtgene fold's test subjects' samples
    from gazebench.datasets import build_dataset

    ds = build_dataset("rtgene", str(trees / "rtgene"))
    from gazebench.plan.planning import dataset_card

    union = np.unique(np.concatenate([ds.split_positions(f)["test"] for f in dataset_card("rtgene").folds()]))
    assert cross["population"]["name"] == "rtgene/test (all folds)"
    assert cross["population"]["count"] == len(union) == cross["metrics"]["all"]["n"]
    from gazebench.population import ids_sha256

    assert cross["population"]["sha256"] == ids_sha256(ds.index["id"].to_numpy()[union])
    preds = cross["artifacts"]["predictions"]
    assert preds.endswith("predictions_cross-rtgene.csv") and len(open_lines(preds)) == len(union) + 1

    capsys.readouterr()
    assert run_cli(["table", "--results", results]) == 0
    table = capsys.readouterr().out
    assert "synthgaze → rtgene (original)" in table and "synthgaze (standard)" in table
    # a second run has nothing left to do (the cross record counts as part of the unit)
    capsys.readouterr()
    assert run_cli(argv) == 0
    assert "done already" in capsys.readouterr().err or len(sorted(results.rglob("*.json"))) == 2


def open_lines(path: str) -> list[str]:
    with open(path) as f:
        return f.read().splitlines()


def test_train_is_dataset_and_dry_run_needs_no_data(tmp_path, capsys):
    assert run_cli(["run", "--train", "synthgaze", "--test", "rtgene", "--dry-run", "--results", tmp_path, *FLAGS]) == 0
    with pytest.raises(ValueError, match="different datasets"):
        run_cli(["run", "--train", "synthgaze", "--dataset", "rtgene", "--dry-run", *FLAGS])


def test_label_space_note_names_back_views():
    rng = np.random.default_rng(0)
    front = np.c_[rng.uniform(-1.2, 1.2, 200), rng.uniform(-0.5, 0.5, 200)]
    wide = np.c_[rng.uniform(-3.0, 3.0, 200), front[:, 1]]
    note = label_space_note(yawpitch_to_vector(front), yawpitch_to_vector(wide), "rtgene", "gaze360")
    assert "backwards" in note["text"] and note["test"]["back_share"] > 0.3 and note["outside_share"] > 0.3
    assert label_space_note(yawpitch_to_vector(wide), yawpitch_to_vector(front), "gaze360", "rtgene")["text"] == ""


def test_suite_dataset_entry_takes_test(tmp_path):
    from gazebench.plan import planning, suites

    path = tmp_path / "benchmarks.yaml"
    path.write_text(
        "benchmarks:\n  x:\n    datasets:\n      - {name: synthgaze, test: [rtgene]}\n"
        "    models:\n      - {name: static}\n"
    )
    suite = suites.get_suite("x", path)
    assert suite.datasets[0].test == ["rtgene"]
    specs = planning.expand(suite, roots=suites.parse_roots(["rtgene=/data/rt"], ["synthgaze"], ["rtgene"]))
    unit = planning.plan_unit(specs[0], tmp_path / "results", tmp_path / "runs")
    assert unit.spec.cross == (("rtgene", "/data/rt"),)
    assert unit.cross_paths["rtgene"].name.endswith(".cross-rtgene.json") and unit.status() == "missing"


def test_a_suite_tests_on_its_own_datasets_from_their_roots(monkeypatch):
    """The shipped cross-dataset suite: each dataset trains and tests on the others, each test
    dataset read from its own entry's root unless --root NAME=DIR says otherwise."""
    from gazebench.plan import planning
    from gazebench.plan.suites import get_suite

    for name, value in (("GAZE360_ROOT", "/g"), ("RTGENE_ROOT", "/r"), ("MPIIFACEGAZE_ROOT", "/m")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GAZEBENCH_BENCHMARKS", raising=False)
    specs = planning.expand(get_suite("cross-dataset", None))
    gaze360 = next(s for s in specs if s.dataset == "gaze360")
    assert gaze360.cross == (("rtgene", "/r"), ("mpiifacegaze", "/m"))
    specs = planning.expand(get_suite("cross-dataset", None), roots={"rtgene": "/elsewhere"})
    assert next(s for s in specs if s.dataset == "gaze360").cross[0] == ("rtgene", "/elsewhere")


def test_a_data_option_of_the_test_dataset_reaches_it(tmp_path):
    from types import SimpleNamespace

    from gazebench.plan.planning import expand, single_run_suite
    from gazebench.train.cross import open_test

    suite = single_run_suite("synthgaze", ["static"], [0], test=["gaze360"])
    (spec,) = [s for s in expand(suite, {"expect_samples": "any"}) if s.fold == "default"]
    assert spec.cross_options == {"gaze360": {"expect_samples": "any"}} and "expect_samples" not in spec.data_options
    assert (
        run_cli(
            [
                "run",
                "--dataset",
                "synthgaze",
                "--test",
                "gaze360",
                "--set",
                "expect_samples=any",
                "--dry-run",
                "--results",
                tmp_path,
                *FLAGS,
            ]
        )
        == 0
    )

    root = tmp_path / "g360"
    assert cli("synth", "--preset", "tiny", "--layout", "gaze360", "--out", root) == 0
    model = SimpleNamespace(view=SimpleNamespace(needs_sequences=False))
    given = spec.cross_options["gaze360"]
    assert open_test("gaze360", str(root), model, given).dataset.options["expect_samples"] == "any"
    assert open_test("gaze360", str(root), model).dataset.options["expect_samples"] == "published"
