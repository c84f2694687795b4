"""Every result names, counts and hashes its test population and says when it is not the protocol's."""

from __future__ import annotations

import json
from pathlib import Path

from gazebench.datasets.rtgene.fake import write_tree
from gazebench.population import ids_sha256, population_name
from tests.helpers import cli
from tests.test_bad_samples import _args, damaged  # noqa: F401  (fixture)


def _record(results: Path) -> dict:
    (path,) = list(results.rglob("*.json"))
    return json.loads(path.read_text())


def test_the_hash_is_of_the_set_of_ids():
    assert ids_sha256(["b", "a", "c"]) == ids_sha256(["c", "b", "a"])
    assert ids_sha256(["a", "b"]) != ids_sha256(["a", "b", "c"])
    assert (
        population_name("rtgene", "0") == "rtgene/fold-0/test"
        and population_name("gaze360", "default") == "gaze360/test"
    )


def _run_mean(root: Path, out: Path) -> int:
    return cli(
        "run",
        "--dataset",
        "rtgene",
        "--root",
        root,
        "--fold",
        "0",
        "--model",
        "mean",
        "--results",
        out / "results",
        "--runs",
        out / "runs",
        "--quiet",
        "--no-table",
        "--set",
        "num_workers=0",
    )


def test_a_full_population_is_complete_and_named(tmp_path):
    write_tree(tmp_path / "rt", frames=3, size=16, variants=("original_large",))
    assert _run_mean(tmp_path / "rt", tmp_path) == 0
    pop = _record(tmp_path / "results")["population"]
    assert pop["name"] == "rtgene/fold-0/test" and pop["complete"] and pop["shortfall"] == []
    # fold 0 tests s001, s002, s008, s010: three frames each, ids <subject>/<idx>
    assert pop["count"] == 12
    assert pop["sha256"] == ids_sha256(f"{s}/{i:06d}" for s in ("s001", "s002", "s008", "s010") for i in (1, 2, 3))


def test_an_empty_label_file_of_a_test_subject_shrinks_the_population_and_says_so(tmp_path, capsys):
    root = tmp_path / "rt"
    write_tree(root, frames=3, size=16, variants=("original_large",))
    (root / "s002_glasses" / "label_combined.txt").write_text("")
    assert _run_mean(root, tmp_path) == 0
    err = capsys.readouterr().err
    assert "warning: the test population rtgene/fold-0/test (9 samples) is not protocol original's" in err
    pop = _record(tmp_path / "results")["population"]
    assert not pop["complete"] and pop["count"] == 9
    assert pop["shortfall"] == ["test subject s002 named by the protocol has no samples under the root"]
    assert cli("table", "--results", tmp_path / "results") == 0
    table = capsys.readouterr().out
    cell = next(line for line in table.splitlines() if line.startswith("| mean"))
    assert "†" in cell and "**" not in cell and "s002" in table  # marked, never bold, the shortfall named


def test_skipped_test_samples_are_a_shortfall(damaged, tmp_path):  # noqa: F811
    root, bad_ids = damaged
    assert cli(*_args(root, tmp_path, "--on-bad-sample", "skip")) == 0
    pop = _record(tmp_path / "results")["population"]
    assert not pop["complete"] and "1 unreadable test samples skipped (on_bad_sample=skip)" in pop["shortfall"]
