"""``gazebench analyze``: the framework (runs, registry, writing) and the kinds that read saved
predictions only (bins, uncertainty, smoothing, gallery), on hand-made predictions files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gazebench.analysis import KINDS, RunRef, default_out_dir, get_kind, resolve_runs, write_analysis
from gazebench.core.geometry import angular_error_deg
from gazebench.core.options import ConfigError
from gazebench.results.record_model import ResultRecord, parse_record
from tests.fixtures.make_results import record, rotate_by, unit_vectors
from tests.helpers import cli

SUBJECTS = ["s000", "s004", "s008", "s012"]  # the fixture card's synthgaze test subjects


def table_of(yaw, pitch, error, subject=None, sigma=None, seed=0, sequence=None, order=None) -> pd.DataFrame:
    """Predictions of samples with true gaze (yaw, pitch) in degrees, each predicted ``error``
    degrees off; ids ``i000``..., subjects cycling through SUBJECTS unless given."""
    yaw, pitch, error = (np.asarray(v, dtype=float) for v in (yaw, pitch, error))
    n = len(yaw)
    g = unit_vectors(yaw, pitch)
    pred = rotate_by(g, error, np.random.default_rng(seed))
    table = pd.DataFrame(
        {
            "id": [f"i{k:03d}" for k in range(n)],
            "subject": subject if subject is not None else [SUBJECTS[k % 4] for k in range(n)],
        }
    )
    if sequence is not None:
        table["sequence"], table["order"] = sequence, order if order is not None else range(n)
    for j, axis in enumerate("xyz"):
        table[f"pred_{axis}"] = pred[:, j]
    for j, axis in enumerate("xyz"):
        table[f"gaze_{axis}"] = g[:, j]
    table["error_deg"] = angular_error_deg(pred, g)
    table["sigma"] = np.full(n, np.nan) if sigma is None else sigma
    return table


def write_run(results: Path, i: int, label: str, table: pd.DataFrame, **patch) -> Path:
    """A schema-2 record of ``table`` (tests/fixtures/make_results.record) and its predictions file."""
    folder = results / "fixture" / "synthgaze" / label
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"fold-default_seed-0_fx{i:08d}"
    table.to_csv(folder / f"{stem}.predictions.csv", index=False)
    rec = record(i, "synthgaze", "1", "fixture", label, "default", 0, table, f"{stem}.predictions.csv", model="static")
    for key, value in patch.items():  # "model__sigma_trained": False -> rec["model"]["sigma_trained"] = False
        *parents, last = key.split("__")
        target = rec
        for p in parents:
            target = target[p]
        target[last] = value
    path = folder / f"{stem}.json"
    path.write_text(json.dumps(rec, indent=1))
    return path


def analyse(kind: str, results: Path, options: dict | None = None, **filters):
    return get_kind(kind)(resolve_runs(None, results, **filters), options or {})


# --- the framework --------------------------------------------------------------------------------


def test_runs_resolve_by_file_folder_unit_id_and_filter(tmp_path):
    results = tmp_path / "results"
    a = write_run(results, 1, "static", table_of([0, 10], [0, 0], [5, 6]))
    write_run(results, 2, "other", table_of([0, 10], [0, 0], [5, 6]))
    by_file = resolve_runs([str(a)], results)
    assert [r.path for r in by_file] == [a] and by_file[0].name == "static" and by_file[0].run_dir == a.parent
    assert resolve_runs([str(a.parent)], results)[0].unit_id in ("fx00000001", "fx00000002")
    assert resolve_runs(["fx00000002"], results)[0].label == "other"
    assert [r.label for r in resolve_runs(None, results)] == ["other", "static"]
    assert [r.label for r in resolve_runs(None, results, model="other")] == ["other"]  # a label or a model name
    assert [r.label for r in resolve_runs(None, results, model="static")] == ["other", "static"]
    assert list(by_file[0].predictions["id"]) == ["i000", "i001"]
    with pytest.raises(ConfigError, match="no runs under .* match dataset rtgene; there: synthgaze/other"):
        resolve_runs(None, results, dataset="rtgene")
    with pytest.raises(ConfigError, match="not both"):
        resolve_runs([str(a)], results, dataset="synthgaze")
    with pytest.raises(ConfigError, match="no such result file or run folder"):
        resolve_runs(["nothing-here"], results)


def typed_record(i: int, table: pd.DataFrame, label: str = "static", seed: int = 0) -> ResultRecord:
    """The fixture's schema-2 record of ``table`` as the analyses read it (typed)."""
    rec = record(i, "synthgaze", "1", "fixture", label, "default", seed, table, None, model="static")
    return parse_record({**rec, "unit_id": f"u{i}"})


def test_same_labels_get_unique_names():
    table = table_of([0, 10], [0, 5], [1, 2])
    refs = [RunRef(Path(f"{i}.json"), typed_record(i, table, seed=s), "static", None, "") for i, s in enumerate((0, 1))]
    from gazebench.analysis.runs import unique_names

    assert unique_names(refs) == ["static seed 0", "static seed 1"]
    refs[1].record.seed = 0  # the same fold and seed: another configuration
    assert unique_names(refs) == ["static u0", "static u1"]


def test_kind_options_are_checked_and_the_registry_lists_the_kinds():
    assert {"bins", "uncertainty", "smoothing", "gallery"} <= set(KINDS)
    assert get_kind("smoothing").resolve({"windows": "1,5"}) == {"windows": [1, 5]}
    with pytest.raises(ConfigError, match="windows=.*odd"):
        get_kind("smoothing").resolve({"windows": [2]})
    with pytest.raises(ConfigError, match="has no option 'yaw'"):
        get_kind("bins").resolve({"yaw": 3})
    with pytest.raises(ConfigError, match="no analysis kind 'bin'.*bins"):
        get_kind("bin")


def test_write_analysis_writes_table_figures_and_manifest(tmp_path):
    results = tmp_path / "results"
    write_run(results, 1, "static", table_of([0, 100, -100], [0, 20, -20], [5, 6, 7]))
    runs = resolve_runs(None, results)
    analysis = get_kind("bins")(runs, {"yaw_bin": 90})
    out = default_out_dir(results, "bins", runs, analysis.options)
    assert out == default_out_dir(results, "bins", runs, dict(analysis.options))  # the same inputs, the same folder
    assert out != default_out_dir(results, "bins", runs, {**analysis.options, "yaw_bin": 45})
    manifest = json.loads(write_analysis(analysis, runs, out, ["gazebench", "analyze", "bins"]).read_text())
    assert manifest["kind"] == "bins" and manifest["unit_ids"] == ["fx00000001"]
    assert manifest["runs"] == [str(runs[0].path)] and manifest["options"]["yaw_bin"] == 90
    assert manifest["command"] == ["gazebench", "analyze", "bins"] and manifest["created_at"]
    assert "device" not in manifest["environment"] and manifest["environment"]["gazebench"]
    for name in ["table.csv", "table.json", *manifest["figures"]]:
        assert (out / name).stat().st_size > 0
    assert (out / "yaw_polar.png").read_bytes()[:4] == b"\x89PNG"
    assert pd.read_csv(out / "table.csv")["n"].sum() == 4 * 3  # four axes, three samples each
    assert len(json.loads((out / "table.json").read_text())) == len(analysis.table)
    # an analysis folder under results/ is not a record, and no one is warned about it
    assert len(resolve_runs(None, results)) == 1


# --- bins ----------------------------------------------------------------------------------------


def test_bin_counts_add_up_and_each_sample_is_in_its_bin():
    yaw = [-180 + 1e-6, -179, -20, -0.5, 0, 19.9, 20, 90, 179, 180]
    pitch = [-90, -45, -10, 0, 0, 5, 10, 45, 89, 90]
    runs = [_ref(table_of(yaw, pitch, np.arange(1, 11)))]
    table = get_kind("bins")(runs, {}).table
    for axis in ("yaw", "pitch", "side", "subject"):
        assert table.loc[table["axis"] == axis, "n"].sum() == 10
    yaw_bins = table[table["axis"] == "yaw"].set_index("bin")
    assert len(yaw_bins) == 18 and yaw_bins.loc["[0, 20)", "n"] == 2 and yaw_bins.loc["[160, 180]", "n"] == 2
    assert yaw_bins.loc["[0, 20)", "mean"] == pytest.approx(np.mean([5, 6]), abs=1e-6)  # errors of yaw 0 and 19.9
    assert yaw_bins.loc["[-20, 0)", "n"] == 2 and yaw_bins.loc["[-60, -40)", "n"] == 0
    sides = table[table["axis"] == "side"].set_index("bin")["n"]
    assert sides["back"] == 4 and sides["front"] == 6  # |yaw| > 90


def test_two_runs_get_paired_differences_with_seeded_intervals(tmp_path):
    rng = np.random.default_rng(1)
    yaw, pitch = rng.uniform(-180, 180, 80), rng.uniform(-40, 40, 80)
    err_a = rng.uniform(5, 15, 80)
    results = tmp_path / "results"
    write_run(results, 1, "a", table_of(yaw, pitch, err_a, seed=1))
    write_run(results, 2, "b", table_of(yaw, pitch, err_a - 2, seed=2))
    first = analyse("bins", results, {"resamples": 200})
    diff = first.table[first.table["run"] == "a − b"]
    assert len(diff) == len(first.table[first.table["run"] == "a"])
    assert diff["mean"].dropna().to_numpy() == pytest.approx(2.0, abs=1e-4)  # every sample is 2° worse in a
    assert (diff["ci95_low"].dropna() <= 2.0 + 1e-6).all() and (diff["ci95_high"].dropna() >= 2.0 - 1e-6).all()
    again = analyse("bins", results, {"resamples": 200})
    pd.testing.assert_frame_equal(first.table, again.table)
    assert "difference_yaw.png" in dict(first.figures)


def test_two_runs_on_different_populations_are_refused(tmp_path):
    results = tmp_path / "results"
    write_run(results, 1, "a", table_of([0, 10], [0, 0], [5, 6]))
    write_run(results, 2, "b", table_of([0, 10], [0, 0], [5, 6]), population__sha256="f" * 64)
    with pytest.raises(ConfigError, match="different populations"):
        analyse("bins", results)
    alone = analyse("bins", results, {"difference": False}).table
    assert set(alone["run"]) == {"a", "b"}


# --- uncertainty ---------------------------------------------------------------------------------


def test_a_sigma_monotone_in_the_error_has_spearman_one(tmp_path):
    error = np.random.default_rng(3).uniform(1, 40, 50)
    results = tmp_path / "results"
    write_run(results, 1, "static", table_of(np.zeros(50), np.zeros(50), error, sigma=np.exp(error / 10)))
    analysis = analyse("uncertainty", results, {"bins": 5})
    row = analysis.table.iloc[0]
    assert row["status"] == "ok" and row["spearman"] == pytest.approx(1.0)
    assert 0.8 < row["pearson"] < 1.0  # monotone but not linear
    kept = np.sort(error)  # dropping the most uncertain k % = dropping the largest errors
    assert row["error_drop_0"] == pytest.approx(kept.mean(), abs=1e-4)
    assert row["error_drop_50"] == pytest.approx(kept[:25].mean(), abs=1e-4)
    assert [name for name, _ in analysis.figures] == ["reliability.png", "drop.png"]


def test_runs_without_a_trained_sigma_are_reported_not_plotted(tmp_path):
    results = tmp_path / "results"
    write_run(results, 1, "nosigma", table_of([0, 1, 2], [0, 0, 0], [1, 2, 3]))
    write_run(
        results,
        2,
        "untrained",
        table_of([0, 1, 2], [0, 0, 0], [1, 2, 3], sigma=[0.1, 0.2, 0.3]),
        model__sigma_trained=False,
    )
    analysis = analyse("uncertainty", results)
    status = analysis.table.set_index("run")["status"]
    assert "predicts no σ" in status["nosigma"] and "does not train σ" in status["untrained"]
    assert analysis.figures == [] and any("no run has a trained σ" in n for n in analysis.notes)


# --- smoothing -----------------------------------------------------------------------------------


def test_window_one_changes_nothing():
    from gazebench.analysis.kinds.smoothing import in_sequence_order, smoothed_vectors

    n = 30
    table = table_of(np.linspace(-60, 60, n), np.zeros(n), np.full(n, 8.0), sequence=["q"] * n)
    pred, _ = in_sequence_order(table)
    raw = pred[["pred_x", "pred_y", "pred_z"]].to_numpy()
    assert smoothed_vectors(pred, 1) == pytest.approx(raw / np.linalg.norm(raw, axis=1, keepdims=True), abs=1e-12)
    analysis = get_kind("smoothing")([_ref(table)], {"windows": [1, 3]})
    k1 = analysis.table.set_index("K").loc[1]
    assert k1["mean"] == pytest.approx(table["error_deg"].mean(), abs=1e-9) and k1["change_vs_K1"] == 0


def test_smoothing_averages_noise_within_sequences_and_never_across():
    n = 40  # two sequences of one subject looking two different ways; predictions noisy around the truth
    table = table_of(
        [30] * 20 + [-120] * 20,
        [10] * n,
        np.full(n, 10.0),
        subject=["s000"] * n,
        sequence=["a"] * 20 + ["b"] * 20,
        order=list(range(20)) * 2,
    )
    shuffled = table.sample(frac=1.0, random_state=0)  # the file's row order does not matter, `order` does
    result = get_kind("smoothing")([_ref(shuffled)], {"windows": [1, 9]}).table.set_index("K")
    assert result.loc[9, "mean"] < result.loc[1, "mean"] / 2 and result.loc[9, "sequences"] == 2
    exact = table_of(
        [30] * 20 + [-120] * 20, [10] * n, np.zeros(n), subject=["s000"] * n, sequence=["a"] * 20 + ["b"] * 20
    )
    assert get_kind("smoothing")([_ref(exact)], {"windows": [9]}).table["mean"].iat[0] == pytest.approx(0, abs=1e-5)


def test_a_file_without_sequence_columns_smooths_per_subject_and_says_so():
    analysis = get_kind("smoothing")([_ref(table_of([0] * 8, [0] * 8, [5] * 8))], {"windows": [1, 3]})
    assert analysis.table["sequences"].iat[0] == 4 and "no sequence/order columns" in analysis.notes[0]


# --- gallery -------------------------------------------------------------------------------------


def test_gallery_shows_the_worst_median_and_best_images(tiny_synth, tmp_path):
    from gazebench.datasets import build_dataset

    ids = build_dataset("synthgaze", tiny_synth).index["id"].astype(str).tolist()[:9]
    table = table_of(np.zeros(9), np.zeros(9), np.arange(1, 10) * 3.0)
    table["id"] = ids
    results = tmp_path / "results"
    write_run(results, 1, "static", table, dataset__root=str(tiny_synth))
    analysis = analyse("gallery", results, {"k": 2, "size": 48})
    by_group = {g: rows["error_deg"].round(6).tolist() for g, rows in analysis.table.groupby("group")}
    assert by_group == {"worst": [27.0, 24.0], "median": [12.0, 15.0], "best": [3.0, 6.0]}
    assert [name for name, _ in analysis.figures] == ["gallery_static.png"]
    out = Path(write_analysis(analysis, resolve_runs(None, results), tmp_path / "g", ["x"])).parent
    assert (out / "gallery_static.png").stat().st_size > 1000


# --- the command, end to end -------------------------------------------------------------------------


def test_analyze_bins_on_a_trained_run(tiny_synth, tmp_path, capsys):
    results = tmp_path / "results"
    assert (
        cli(
            "run",
            "--dataset",
            "synthgaze",
            "--root",
            tiny_synth,
            "--model",
            "static",
            "--epochs",
            "1",
            "--backbone",
            "test_resnet",
            "--results",
            results,
            "--runs",
            tmp_path / "runs",
            "--quiet",
            "--no-table",
            "--set",
            "image_size=32",
            "--set",
            "num_workers=0",
            "--set",
            "pretrained=false",
        )
        == 0
    )
    capsys.readouterr()
    assert cli("analyze", "bins", "--results", results, "--set", "yaw_bin=30") == 0
    out = capsys.readouterr().out
    assert "Error by gaze direction (static)" in out and "| run" in out
    (manifest,) = (results / "analysis").glob("bins-*/analysis.json")
    m = json.loads(manifest.read_text())
    record = json.loads(Path(m["runs"][0]).read_text())
    table = pd.read_csv(manifest.parent / m["table"])
    assert table.groupby("axis")["n"].sum().to_dict() == {
        a: record["population"]["count"] for a in ("pitch", "side", "subject", "yaw")
    }
    assert m["command"][:3] == ["gazebench", "analyze", "bins"] and "yaw_polar.png" in m["figures"]
    predictions = pd.read_csv(record["artifacts"]["predictions"])
    assert {"sequence", "order"} <= set(predictions.columns)
    # the same analysis again: the same folder; a run folder names the run too
    assert (
        cli(
            "analyze",
            "smoothing",
            "--run",
            Path(record["artifacts"]["predictions"]).parent,
            "--results",
            results,
            "--set",
            "windows=1,3",
        )
        == 0
    )
    assert "Temporal smoothing" in capsys.readouterr().out


def test_help_lists_the_kinds_and_user_errors_are_one_line(capsys):
    with pytest.raises(SystemExit):
        cli("analyze", "--help")
    out = capsys.readouterr().out
    for name in ("bins", "uncertainty", "smoothing", "gallery", "yaw_bin="):
        assert name in out
    assert cli("analyze", "nonsense", "--results", "nowhere") == 2
    assert "no analysis kind 'nonsense'" in capsys.readouterr().err


def test_gazebench_help_imports_no_kind_module():
    import subprocess

    code = (
        "import sys, gazebench.cli as c; c.build_parser(); "
        "assert not [m for m in sys.modules if m.startswith('gazebench.analysis') or m in ('pandas', 'torch')]"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def _ref(table: pd.DataFrame, name: str = "run") -> RunRef:
    """A run held in memory (no files): its predictions table and a minimal record."""
    ref = RunRef(Path(f"{name}.json"), typed_record(0, table, name), name, None, name)
    ref._predictions = table
    return ref
