"""The leaderboard over a fixture tree of result files (tests/fixtures/results, written by
tests/fixtures/make_results.py): exact outputs per format, and the rules a reader relies on."""

from __future__ import annotations

import csv
import io
import json
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

from gazebench.cli import main
from gazebench.leaderboard import aggregate, dedupe, layout, render
from gazebench.leaderboard_rows import compact, row_names, short_names
from gazebench.results.store import load_results
from tests.fixtures.make_results import example, write_run
from tests.golden import check_golden
from tests.helpers import use_cards

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "results"


@pytest.fixture(autouse=True)
def fixture_cards(monkeypatch):
    # the fixture's own cards, so a change to the real cards does not move the goldens
    use_cards(monkeypatch, FIXTURE / "cards")


def table(capsys, *argv: str, results: Path = FIXTURE, caught: list | None = None) -> tuple[str, str]:
    """stdout and stderr of ``gazebench table``; its warnings go to ``caught`` (the fixture holds
    a truncated broken.json on purpose)."""
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        assert main(["table", "--results", str(results), *argv]) == 0
    if caught is not None:
        caught += [str(w.message) for w in got]
    out = capsys.readouterr()
    return out.out, out.err


@pytest.mark.parametrize("fmt", ["github", "latex", "html", "csv", "json"])
def test_table_matches_golden(fmt, capsys):
    out, _ = table(capsys, "--format", fmt)
    check_golden(f"table.{fmt}.txt", out)


def test_filtered_tables_match_golden(capsys):
    out, _ = table(capsys, "--benchmark", "fixture", "--dataset", "rtgene")
    check_golden("table.fixture-rtgene.github.txt", out)
    out, _ = table(capsys, "--subset", "front180", "--metric", "median", "--dataset", "synthgaze")
    check_golden("table.synthgaze-front180-median.github.txt", out)


def test_unreadable_file_is_named_and_skipped(capsys):
    caught: list[str] = []
    out, _ = table(capsys, caught=caught)
    assert [m for m in caught if m.startswith("skipping unreadable result") and "broken.json" in m]
    assert "static" in out  # the rest is still read


def test_incomplete_cells_are_marked_explained_and_never_bold(capsys):
    out, _ = table(capsys, "--dataset", "rtgene")
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    assert rows["seqlstm"].rstrip(" |").endswith("[1]") and "**" not in rows["seqlstm"]
    assert rows["staticsclstmsym"].rstrip(" |").endswith("[2]") and "**" not in rows["staticsclstmsym"]
    assert "[1] seqlstm, rtgene (original): missing fold 2 (has 0, 1 of 0, 1, 2)" in out
    assert (
        "[2] staticsclstmsym, rtgene (original): seeds differ across folds (fold 0: 0, 1; fold 1: 0; fold 2: 0)" in out
    )
    # seqlstm has the lowest raw mean, but over two folds only: the best complete cell is bold instead
    assert "**" in rows["staticsc"]
    labels = [lab for lab in rows if lab != "model"]
    assert labels.index("seqlstm") > labels.index("mean")  # incomplete rows sort after complete ones


def test_card_versions_are_separate_columns_and_mean_only_over_complete_rows(capsys):
    out, _ = table(capsys, "--format", "csv")
    cells = list(csv.DictReader(io.StringIO(out)))
    columns = {c["column"] for c in cells}
    assert columns == {"rtgene (original)", "synthgaze (default, card v0)", "synthgaze (default, card v1)"}
    v0 = {c["label"] for c in cells if c["column"] == "synthgaze (default, card v0)"}
    assert v0 == {"static", "mean"}
    static_v1 = next(c for c in cells if c["label"] == "static" and c["column"] == "synthgaze (default, card v1)")
    assert static_v1["n"] == "2" and static_v1["seeds"] == "0 1"  # the v0 run is not pooled in

    text, _ = table(capsys)
    rows = {
        line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
        for line in text.splitlines()
        if line.startswith("| ") and "model" not in line
    }
    # Mean: only static and mean have a complete cell in all three columns
    assert rows["static"][-1] != "—" and rows["mean"][-1] != "—"
    assert all(rows[lab][-1] == "—" for lab in ("staticsc", "seqlstm", "staticsclstmsym"))
    static_means = [float(c["mean"]) for c in cells if c["label"] == "static"]
    assert float(rows["static"][-1].strip("*")) == pytest.approx(sum(static_means) / 3, abs=0.006)


def test_long_forms_carry_the_fields():
    with pytest.warns(UserWarning, match="broken.json"):
        df = load_results(FIXTURE)
    agg = aggregate(dedupe(df)[0])
    records = json.loads(render(agg, "json"))
    assert set(records[0]) >= {
        "row",
        "label",
        "column",
        "protocol",
        "identity",
        "mean",
        "std",
        "n",
        "folds",
        "seeds",
        "complete",
        "populations",
        "population_complete",
        "population_note",
        "mark",
    }
    seq = next(r for r in records if r["label"] == "seqlstm" and r["column"] == "rtgene (original)")
    assert seq["folds"] == ["0", "1"] and seq["complete"] is False and seq["n"] == 2
    assert seq["populations"] == ["rtgene/fold-0/test", "rtgene/fold-1/test"] and seq["population_complete"] is True
    assert seq["mark"] == "" and seq["protocol"] == "original" and len(seq["identity"]) == 16
    one = next(r for r in records if r["label"] == "seqlstm" and r["column"] != "rtgene (original)")
    assert one["std"] is None  # one run has no spread


def test_benchmark_filter_and_unknown_benchmark(capsys):
    out, _ = table(capsys, "--benchmark", "fixture", "--format", "csv")
    assert "card v0" not in out  # the v0 runs carry no benchmark
    out, _ = table(capsys, "--benchmark", "quickstart")  # a suite of benchmarks.yaml, not run here
    assert "no results for benchmark 'quickstart'" in out


def test_duplicate_units_count_once_with_a_warning(tmp_path, capsys):
    results = tmp_path / "results"
    shutil.copytree(FIXTURE, results)
    src = next((results / "fixture" / "rtgene" / "static").glob("fold-0_seed-0_*.json"))
    rec = json.loads(src.read_text())
    rec["created_at"] = "2020-01-01T00:00:00+00:00"  # older copy
    rec["metrics"]["all"]["mean"] = 99.0
    (results / "copy").mkdir()
    (results / "copy" / "old.json").write_text(json.dumps(rec))
    caught: list[str] = []
    out, _ = table(capsys, "--format", "csv", "--dataset", "rtgene", results=results, caught=caught)
    assert [m for m in caught if m.startswith("2 results for static on rtgene fold 0 seed 0") and "old.json" in m]
    static = next(r for r in csv.DictReader(io.StringIO(out)) if r["label"] == "static")
    assert static["n"] == "3" and float(static["mean"]) < 20  # the older copy is set aside


def test_missing_results_folder_is_an_error(tmp_path, capsys):
    assert main(["table", "--results", str(tmp_path / "nowhere")]) == 2
    assert "no results folder" in capsys.readouterr().err


def _frame(rows):
    """load_results rows (schema 2): one configuration per (dataset, label), full populations."""
    base = {
        "card_version": "1",
        "dataset_options": "{}",
        "protocol": "default",
        "benchmark": None,
        "unit_id": "u",
        "created_at": "t",
        "path": "p",
        "population_count": 10,
        "population_complete": True,
        "population_shortfall": "",
    }
    out = []
    for r in rows:
        config = {"dataset": r["dataset"], "model": r["label"], "recipe": {"lr": 0.001}}
        out.append(
            {
                **base,
                "identity": f"{r['dataset']}-{r['label']}",
                "identity_config": json.dumps(config),
                "population": f"{r['dataset']}/{r['fold']}",
                "population_sha256": f"sha-{r['fold']}",
                **r,
            }
        )
    return pd.DataFrame(out)


def test_fold_sets_compared_across_rows_when_the_card_is_unknown():
    df = _frame(
        [{"dataset": "plugin", "label": "a", "fold": f, "seed": 0, "all.mean": 5.0 + i} for i, f in enumerate("012")]
        + [{"dataset": "plugin", "label": "b", "fold": "0", "seed": 0, "all.mean": 1.0}]
    )
    agg = aggregate(df, folds_of=lambda d, v: None)
    b = agg[agg["label"] == "b"].iloc[0]
    assert not b["complete"] and "missing folds 1, 2" in b["missing"]
    t = layout(agg)
    assert t.best["plugin (default)"] == pytest.approx(6.0)  # b's lower mean over one fold is not the best
    assert [lab for lab, _ in t.rows] == ["a", "b"]


def test_higher_is_better_metrics_sort_descending():
    df = _frame(
        [
            {"dataset": "d", "label": lab, "fold": "default", "seed": 0, "all.sigma_error_spearman": v}
            for lab, v in (("low", 0.1), ("high", 0.6))
        ]
    )
    agg = aggregate(df, "all.sigma_error_spearman", folds_of=lambda d, v: ["default"])
    text = render(agg, "github", "all.sigma_error_spearman")
    assert text.index("high") < text.index("low") and "**0.60 (n=1)**" in text
    assert "higher is better" in text


def test_unknown_metric_lists_known(capsys):
    with warnings.catch_warnings(record=True):
        assert main(["table", "--results", str(FIXTURE), "--metric", "meen"]) == 2
    assert "all.mean" in capsys.readouterr().err


# --- configurations and populations (tests/fixtures/make_results.py example(): docs/leaderboards.md) ---


@pytest.fixture
def example_tree(tmp_path) -> Path:
    root = tmp_path / "results"
    example(root)
    return root


def csv_cells(capsys, results: Path, *argv: str) -> list[dict[str, str]]:
    out, _ = table(capsys, "--format", "csv", *argv, results=results)
    return list(csv.DictReader(io.StringIO(out)))


def github_rows(text: str) -> dict[str, list[str]]:
    return {
        line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
        for line in text.splitlines()
        if line.startswith("| ") and not line.startswith("| model")
    }


def test_example_table_matches_golden(example_tree, capsys):
    out, _ = table(capsys, results=example_tree)
    check_golden("table.example.github.txt", out)  # the example shown in docs/leaderboards.md


def test_configurations_under_one_label_become_rows_named_by_what_differs(example_tree, capsys):
    cells = csv_cells(capsys, example_tree)
    staticsc = [c for c in cells if c["label"] == "staticsc"]
    # three runs (seeds 0, 1, 2) of three configurations: three rows of one run each, never one cell
    assert len(staticsc) == 3 and {c["n"] for c in staticsc} == {"1"}
    assert len({c["identity"] for c in staticsc}) == 3 and len({c["row"] for c in staticsc}) == 3
    for c in staticsc:
        assert c["row"].startswith("staticsc (crops=") and ", lr=" in c["row"]
    assert "staticsc (crops=175, lr=0.001)" in {c["row"] for c in staticsc}
    # resnet18 and test_resnet under one label: two rows; the resnet18 row spans both datasets
    static = {(c["row"], c["column"]): c for c in cells if c["label"] == "static"}
    assert set(static) == {
        ("static (backbone=resnet18)", "rtgene (original)"),
        ("static (backbone=resnet18)", "synthgaze (default)"),
        ("static (backbone=test_resnet)", "synthgaze (default)"),
    }
    assert static[("static (backbone=resnet18)", "synthgaze (default)")]["seeds"] == "0 1"  # one config, two seeds
    assert {c["row"] for c in cells if c["label"] == "mean"} == {"mean"}  # one configuration: the plain label


def test_strict_refuses_naming_the_differing_keys_and_the_fix(example_tree, capsys):
    with warnings.catch_warnings(record=True):
        assert main(["table", "--results", str(example_tree), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "staticsc holds 3 configurations that differ in crops, lr" in err
    assert "static holds 2 configurations that differ in backbone" in err
    assert "--label" in err and "label:" in err and len(err.strip().splitlines()) == 1
    out, _ = table(capsys, "--strict", "--dataset", "rtgene", results=example_tree)  # one config per label there
    assert "static" in out


def test_shrunk_population_is_marked_explained_never_bold_never_in_the_mean(example_tree, capsys):
    cells = {(c["row"], c["column"]): c for c in csv_cells(capsys, example_tree)}
    seq = cells[("seqlstm", "rtgene (original)")]
    assert seq["mark"] == "†" and seq["population_complete"] == "False" and seq["complete"] == "True"
    assert "subject s002 named by the protocol has no samples" in seq["population_note"]
    others = [float(c["mean"]) for (row, col), c in cells.items() if col == "rtgene (original)" and row != "seqlstm"]
    assert float(seq["mean"]) < min(others)  # the lowest error of its column: bold, were it not marked
    text, _ = table(capsys, results=example_tree)
    rows = github_rows(text)
    rtgene = rows["seqlstm"][0]
    assert "**" not in rtgene and rtgene.endswith("†[1]")
    assert rows["seqlstm"][-1] == "—"  # both of seqlstm's cells are there, but a marked one keeps it from the Mean
    assert "†[1] seqlstm, rtgene (original): fold 0 seed 0 on rtgene/fold-0/test (5 samples) fell short" in text
    assert "†: runs that fell short of the protocol's full population" in text  # the legend says what † means
    bold = [row for row, c in rows.items() if c[0].startswith("**")]
    best_unmarked = min(others)
    assert len(bold) == 1 and float(cells[(bold[0], "rtgene (original)")]["mean"]) == best_unmarked


def test_seeds_of_one_fold_on_different_populations_are_marked(tmp_path, capsys):
    root = tmp_path / "results"
    for i, seed in enumerate((0, 1)):
        write_run(root, i, "synthgaze", "static", "default", seed)
    write_run(root, 2, "synthgaze", "mean", "default", 0)
    path = write_run(root, 3, "synthgaze", "mean", "default", 1)
    rec = json.loads(path.read_text())
    rec["population"]["sha256"] = "f" * 64  # complete by its own account, but not the seed-0 test set
    path.write_text(json.dumps(rec))
    cells = {c["row"]: c for c in csv_cells(capsys, root)}
    assert cells["mean"]["mark"] == "†" and cells["static"]["mark"] == ""
    assert "the seeds were tested on different populations (seed 0: 24 samples" in cells["mean"]["population_note"]


def test_reruns_of_one_configuration_dedupe_but_other_configurations_never_do(tmp_path, capsys):
    root = tmp_path / "results"
    write_run(root, 0, "synthgaze", "static", "default", 0)
    write_run(root, 1, "synthgaze", "static", "default", 0, kwargs={"backbone": "test_resnet"})
    write_run(root, 2, "synthgaze", "static", "default", 0, benchmark="again")  # same configuration, newer
    caught: list[str] = []
    out, _ = table(capsys, "--format", "csv", results=root, caught=caught)
    rows = {c["row"]: c for c in csv.DictReader(io.StringIO(out))}
    assert set(rows) == {"static (backbone=resnet18)", "static (backbone=test_resnet)"}
    assert {c["n"] for c in rows.values()} == {"1"}
    assert [m for m in caught if m.startswith("2 results for static on synthgaze fold default seed 0")]


def test_a_label_differing_only_between_columns_stays_one_row():
    df = _frame([{"dataset": d, "label": "a", "fold": "default", "seed": 0, "all.mean": 1.0} for d in ("d1", "d2")])
    df["identity_config"] = [
        json.dumps({"dataset": "d1", "recipe": {"lr": 0.001}}),
        json.dumps({"dataset": "d2", "recipe": {"lr": 0.0001}}),
    ]
    names, split = row_names(df)
    assert list(names) == ["a", "a"] and split == {}


def test_row_keys_are_shortened_only_when_unambiguous_and_values_compact():
    every = {"model_options.crops", "model_options.loss", "recipe.loss", "recipe.lr"}
    assert short_names(["model_options.crops", "recipe.loss"], every) == {
        "model_options.crops": "crops",
        "recipe.loss": "recipe.loss",
    }
    assert [compact(v) for v in (0.0001, 3.25e-4, 175, True, None, ["flip", "resized_crop"], [], 0.1 + 0.2)] == [
        "0.0001",
        "0.000325",
        "175",
        "true",
        "null",
        "flip+resized_crop",
        "none",
        "0.30000000000000004",
    ]


def test_latex_has_no_raw_unicode_symbols_of_gazebench_names():
    from gazebench.leaderboard_table import render as render_table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agg = aggregate(load_results(FIXTURE))
    agg["column"] = "gaze360 → " + agg["column"]  # a cross-dataset column's name (gazebench.train.cross)
    text = render_table(agg, "latex")
    body = [line for line in text.splitlines() if not line.startswith("%")]  # the legend is a comment
    assert "gaze360 $\\rightarrow$ " in text
    assert not [line for line in body if any(ord(ch) > 127 for ch in line)]


def test_an_unknown_benchmark_is_an_error_naming_the_suites(tmp_path, capsys):
    from tests.helpers import cli

    for command in (["table"], ["report", "--out", tmp_path / "r.html"]):
        assert cli(*command, "--results", FIXTURE, "--benchmark", "quickstrat") == 2
        err = capsys.readouterr().err
        assert "--benchmark 'quickstrat': no suite of that name" in err and "Did you mean 'quickstart'" in err
    assert not (tmp_path / "r.html").exists()
    assert cli("table", "--results", FIXTURE, "--benchmark", "fixture") == 0  # a folder of the results
