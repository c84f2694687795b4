"""``gazebench compare`` over the fixture results tree: paired statistics on the same samples."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gazebench.cli import main
from gazebench.compare import bootstrap_ci, verdict
from tests.fixtures.make_results import example, population_part
from tests.golden import check_golden
from tests.helpers import use_cards

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "results"


@pytest.fixture(autouse=True)
def fixture_cards(monkeypatch):
    use_cards(monkeypatch, FIXTURE / "cards")


def compare(capsys, *argv: str, results: Path = FIXTURE) -> tuple[int, str, str]:
    capsys.readouterr()
    with warnings.catch_warnings(record=True):  # the fixture's broken.json is warned about (tested in test_leaderboard)
        warnings.simplefilter("always")
        rc = main(["compare", *argv, "--results", str(results)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_significant_difference_matches_golden(capsys):
    rc, out, _ = compare(capsys, "staticsc", "static", "--dataset", "synthgaze")
    assert rc == 0
    check_golden("compare.synthgaze.txt", out)
    assert out.rstrip().endswith("staticsc is better than static by 1.35° (95% CI 0.58–2.34), significant at 0.05")


def test_json_matches_golden_and_is_consistent_with_the_records(capsys):
    rc, out, _ = compare(capsys, "static", "staticsc", "--dataset", "synthgaze", "--format", "json")
    assert rc == 0
    check_golden("compare.synthgaze.json.txt", out)
    r = json.loads(out)
    assert r["significant"] is True and r["per_unit"]["n"] == 2 and r["per_unit"]["b_better"] == 2
    # with one fold, the per-sample mean over seed-averaged errors equals the mean of the unit means
    assert r["samples"]["mean_diff"] == pytest.approx(r["per_unit"]["mean_diff"], abs=1e-4)
    assert r["samples"]["bootstrap"] == {"resample": "subject", "resamples": 2000, "seed": 0}


def test_folds_pair_and_no_significant_difference_is_said_plainly(capsys):
    rc, out, _ = compare(capsys, "static", "staticsc", "--dataset", "rtgene")
    assert rc == 0
    check_golden("compare.rtgene.txt", out)
    assert "paired units: 3 (folds 0, 1, 2; seeds 0)" in out  # staticsc's seed 1 has no partner
    assert "no significant difference between static and staticsc at 0.05" in out


def test_subset_selects_samples_by_their_gaze(capsys):
    _, full, _ = compare(capsys, "static", "staticsc", "--dataset", "synthgaze", "--format", "json")
    _, front, _ = compare(
        capsys, "static", "staticsc", "--dataset", "synthgaze", "--subset", "front180", "--format", "json"
    )
    full, front = json.loads(full), json.loads(front)
    assert 0 < front["samples"]["n"] < full["samples"]["n"]
    assert front["per_unit"]["metric"] == "front180.mean"


def test_missing_predictions_are_named(capsys):
    rc, _, err = compare(capsys, "seqlstm", "static", "--dataset", "rtgene")
    assert rc == 2
    assert "predictions files missing" in err and "fold-1_seed-0_fx00000022.predictions.csv" in err


def test_no_paired_units_and_unknown_labels_fail_clearly(tmp_path, capsys):
    results = tmp_path / "results"
    shutil.copytree(FIXTURE, results)
    for f in (results / "fixture" / "rtgene" / "static").glob("fold-[12]_*.json"):
        f.unlink()
    for f in (results / "fixture" / "rtgene" / "seqlstm").glob("fold-0_*.json"):
        f.unlink()
    rc, _, err = compare(capsys, "seqlstm", "static", "--dataset", "rtgene", results=results)
    assert rc == 2 and "no paired units" in err and "seqlstm has: rtgene (original) fold 1 seed 0" in err
    rc, _, err = compare(capsys, "statc", "static", "--dataset", "rtgene")
    assert rc == 2 and "Did you mean 'static'" in err


def test_several_columns_need_a_choice(capsys):
    rc, _, err = compare(capsys, "static", "mean", "--dataset", "synthgaze")
    assert rc == 2 and "--column" in err and "synthgaze (default, card v0)" in err
    rc, out, _ = compare(capsys, "static", "mean", "--dataset", "synthgaze", "--column", "synthgaze (default, card v1)")
    assert rc == 0 and "mean is better" not in out and "static is better than mean" in out


def test_subject_bootstrap_is_wider_than_sample_bootstrap_for_clustered_errors():
    rng = np.random.default_rng(1)
    subject_effect = np.repeat(rng.normal(0.5, 2.0, 6), 50)  # 6 subjects, 50 frames each, shared offset
    diff = subject_effect + rng.normal(0, 0.3, 300)
    clusters = np.repeat(np.arange(6), 50)
    lo_s, hi_s = bootstrap_ci(diff, clusters, 2000, 0)
    lo_f, hi_f = bootstrap_ci(diff, None, 2000, 0)
    assert hi_s - lo_s > 3 * (hi_f - lo_f)
    assert (lo_s, hi_s) == bootstrap_ci(diff, clusters, 2000, 0)  # seeded


def test_verdict_wording():
    assert (
        verdict("A", "B", -1.234, -1.6, -0.8, 0.001)
        == "A is better than B by 1.23° (95% CI 0.80–1.60), significant at 0.05"
    )
    assert verdict("A", "B", 0.5, 0.1, 0.9, 0.01).startswith("B is better than A by 0.50°")
    assert verdict("A", "B", 0.2, -0.1, 0.5, 0.01).startswith("no significant difference between A and B")
    assert "Wilcoxon p = 0.200" in verdict("A", "B", 0.3, 0.1, 0.5, 0.2)


def test_samples_only_one_side_has_are_reported(tmp_path, capsys):
    results = tmp_path / "results"
    shutil.copytree(FIXTURE, results)
    pred = next((results / "fixture" / "synthgaze" / "static").glob("fold-default_seed-0_*.predictions.csv"))
    table = pd.read_csv(pred, dtype={"id": str, "subject": str})
    table.iloc[2:].to_csv(pred, index=False)
    rc, out, _ = compare(
        capsys,
        "static",
        "staticsc",
        "--dataset",
        "synthgaze",
        "--column",
        "synthgaze (default, card v1)",
        results=results,
    )
    assert rc == 0 and "0 samples only in static, 2 only in staticsc" in out


def test_runs_on_different_populations_are_refused_unless_allowed(tmp_path, capsys):
    results = tmp_path / "results"
    shutil.copytree(FIXTURE, results)
    folder = results / "fixture" / "synthgaze" / "static"
    pred = next(folder.glob("fold-default_seed-0_*.predictions.csv"))
    table = pd.read_csv(pred, dtype={"id": str, "subject": str})
    table = table[table["subject"] != "s012"]  # a run that found no samples of s012
    table.to_csv(pred, index=False)
    path = pred.with_name(pred.name.replace(".predictions.csv", ".json"))
    rec = json.loads(path.read_text())
    rec["population"] = population_part(
        "synthgaze", "default", table["id"], ("subject s012 named by the protocol has no samples",)
    )
    path.write_text(json.dumps(rec))
    column = ["--column", "synthgaze (default, card v1)"]
    rc, out, err = compare(capsys, "static", "staticsc", "--dataset", "synthgaze", *column, results=results)
    assert rc == 2 and out == ""
    assert (
        "different populations (fold default seed 0: static on synthgaze/test (18 samples), staticsc on synthgaze/test (24 samples))"
        in err
    )
    assert "--allow-population-mismatch" in err
    rc, out, _ = compare(
        capsys, "static", "staticsc", "--dataset", "synthgaze", *column, "--allow-population-mismatch", results=results
    )
    assert rc == 0
    assert "note: test populations differ (--allow-population-mismatch): fold default seed 0" in out
    assert "0 samples only in static, 6 only in staticsc; compared on the 18 both have" in out


def test_rows_of_a_label_with_several_configurations(tmp_path, capsys):
    results = tmp_path / "results"
    example(results)
    rc, _, err = compare(capsys, "static", "mean", "--dataset", "synthgaze", results=results)
    assert rc == 2 and "static holds several configurations on synthgaze (default)" in err
    assert "'static (backbone=resnet18)', 'static (backbone=test_resnet)'" in err
    rc, out, _ = compare(
        capsys, "static (backbone=test_resnet)", "static (backbone=resnet18)", "--dataset", "synthgaze", results=results
    )
    assert rc == 0 and out.startswith(
        "static (backbone=test_resnet) vs static (backbone=resnet18) on synthgaze (default)"
    )
    assert "paired units: 1 (folds default; seeds 0)" in out


def test_a_population_subset_needs_its_column(tmp_path):
    """``--subset face_back``: the samples of the ``in_face`` column's population that look away;
    a predictions file without that column says so instead of comparing something else."""
    import numpy as np
    import pandas as pd

    from gazebench.compare import CompareError, _subset

    table = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "gaze_x": [0, 0, 0, 0],
            "gaze_y": [0, 0, 0, 0],
            "gaze_z": [-1.0, 1.0, 1.0, -1.0],
            "error_deg": [1.0, 2.0, 3.0, 4.0],
            "in_face": [1, 1, 0, 0],
        }
    )
    assert list(_subset(table, "face_back", tmp_path / "p.csv")["id"]) == ["b"]
    assert list(_subset(table, "face", tmp_path / "p.csv")["id"]) == ["a", "b"]
    assert list(_subset(table, "back", tmp_path / "p.csv")["id"]) == ["b", "c"]
    with pytest.raises(
        CompareError, match=r"p.csv: unknown subset 'eyes_back'.*face_back.*needs? the column 'in_eyes'"
    ):
        _subset(table, "eyes_back", tmp_path / "p.csv")
    with pytest.raises(CompareError, match="unknown subset 'bak'.*back"):
        _subset(table.drop(columns="in_face"), "bak", tmp_path / "p.csv")
    assert np.isclose(_subset(table, "all", tmp_path / "p.csv")["error_deg"].mean(), 2.5)
