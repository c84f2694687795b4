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
from gazebench.results import load_results
from tests.golden import check_golden

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "results"


@pytest.fixture(autouse=True)
def fixture_cards(monkeypatch):
    # the fixture's own cards, so a change to datasets/*.yaml does not move the goldens
    monkeypatch.setenv("GAZEBENCH_CARDS", str(FIXTURE / "cards"))


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
    assert "[1] seqlstm, rtgene: missing fold 2 (has 0, 1 of 0, 1, 2)" in out
    assert "[2] staticsclstmsym, rtgene: seeds differ across folds (fold 0: 0, 1; fold 1: 0; fold 2: 0)" in out
    # seqlstm has the lowest raw mean, but over two folds only: the best complete cell is bold instead
    assert "**" in rows["staticsc"]
    labels = [lab for lab in rows if lab != "model"]
    assert labels.index("seqlstm") > labels.index("mean")  # incomplete rows sort after complete ones


def test_card_versions_are_separate_columns_and_mean_only_over_complete_rows(capsys):
    out, _ = table(capsys, "--format", "csv")
    cells = list(csv.DictReader(io.StringIO(out)))
    columns = {c["column"] for c in cells}
    assert columns == {"rtgene", "synthgaze (card v0)", "synthgaze (card v1)"}
    v0 = {c["label"] for c in cells if c["column"] == "synthgaze (card v0)"}
    assert v0 == {"static", "mean"}
    static_v1 = next(c for c in cells if c["label"] == "static" and c["column"] == "synthgaze (card v1)")
    assert static_v1["n"] == "2" and static_v1["seeds"] == "0 1"  # the v0 run is not pooled in

    text, _ = table(capsys)
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in text.splitlines()
            if line.startswith("| ") and "model" not in line}
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
    assert set(records[0]) >= {"label", "column", "mean", "std", "n", "folds", "seeds", "complete"}
    seq = next(r for r in records if r["label"] == "seqlstm" and r["column"] == "rtgene")
    assert seq["folds"] == ["0", "1"] and seq["complete"] is False and seq["n"] == 2
    one = next(r for r in records if r["label"] == "seqlstm" and r["column"] != "rtgene")
    assert one["std"] is None  # one run has no spread


def test_benchmark_filter_and_unknown_benchmark(capsys):
    out, _ = table(capsys, "--benchmark", "fixture", "--format", "csv")
    assert "card v0" not in out  # the v0 runs carry no benchmark
    out, _ = table(capsys, "--benchmark", "nope")
    assert "no results for benchmark 'nope'" in out


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
    assert main(["table", "--results", str(tmp_path / "nowhere")]) == 1
    assert "no results folder" in capsys.readouterr().err


def _frame(rows):
    base = {"card_version": "1", "dataset_options": "{}", "benchmark": None, "unit_id": "u", "created_at": "t",
            "path": "p"}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_fold_sets_compared_across_rows_when_the_card_is_unknown():
    df = _frame([
        {"dataset": "plugin", "label": "a", "fold": f, "seed": 0, "all.mean": 5.0 + i} for i, f in enumerate("012")
    ] + [{"dataset": "plugin", "label": "b", "fold": "0", "seed": 0, "all.mean": 1.0}])
    agg = aggregate(df, folds_of=lambda d, v: None)
    b = agg[agg["label"] == "b"].iloc[0]
    assert not b["complete"] and "missing folds 1, 2" in b["missing"]
    t = layout(agg)
    assert t.best["plugin"] == pytest.approx(6.0)  # b's lower mean over one fold is not the best
    assert [lab for lab, _ in t.rows] == ["a", "b"]


def test_higher_is_better_metrics_sort_descending():
    df = _frame([{"dataset": "d", "label": lab, "fold": "default", "seed": 0, "all.sigma_error_spearman": v}
                 for lab, v in (("low", 0.1), ("high", 0.6))])
    agg = aggregate(df, "all.sigma_error_spearman", folds_of=lambda d, v: ["default"])
    text = render(agg, "github", "all.sigma_error_spearman")
    assert text.index("high") < text.index("low") and "**0.60 (n=1)**" in text
    assert "higher is better" in text


def test_unknown_metric_lists_known(capsys):
    with warnings.catch_warnings(record=True):
        assert main(["table", "--results", str(FIXTURE), "--metric", "meen"]) == 1
    assert "all.mean" in capsys.readouterr().err
