"""What a result record claims and what the runner does with finished, stale and busy units:
identities that hold only what changes a number, data fingerprints, records checked against
their predictions, the unit lock, and a sweep whose every unit fails."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from gazebench.results.store import load_results
from tests.fixtures.make_results import write_cards, write_run
from tests.helpers import SMALL_RUN, TINY_RECIPE, cli, use_cards

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "results"


@pytest.fixture()
def fixture_cards(monkeypatch):
    use_cards(monkeypatch, FIXTURE / "cards")


def quiet_results(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_results(path)


# --- item: keys a model ignores are not in its identity --------------------------------------------


def run_mean(tiny_synth: Path, tmp_path: Path, *sets: str) -> int:
    return cli(
        "run",
        "--dataset",
        "synthgaze",
        "--root",
        tiny_synth,
        "--model",
        "mean",
        "--results",
        tmp_path / "results",
        "--runs",
        tmp_path / "runs",
        "--no-table",
        "--quiet",
        *TINY_RECIPE,
        *sets,
    )


def test_mean_runs_with_different_batch_sizes_share_one_identity_and_row(tiny_synth, tmp_path, capsys):
    assert run_mean(tiny_synth, tmp_path) == 0
    assert run_mean(tiny_synth, tmp_path, "--set", "batch_size=32", "--set", "lr=0.1", "--set", "augment=flip") == 0
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "results").rglob("*.json"))]
    assert len(records) == 2 and records[0]["unit_id"] != records[1]["unit_id"]  # two units ...
    assert records[0]["recipe"]["batch_size"] != records[1]["recipe"]["batch_size"]
    assert records[0]["identity"]["hash"] == records[1]["identity"]["hash"]  # ... of one configuration
    assert records[0]["identity"]["recipe_keys"] == [] and records[0]["identity"]["config"]["recipe"] == {}
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the two runs dedupe to the newest, with a warning
        assert cli("table", "--results", tmp_path / "results", "--format", "csv") == 0
    out = capsys.readouterr().out
    assert "batch_size" not in out and len(out.strip().splitlines()) == 2  # header + one row: mean


def test_a_trained_model_keeps_every_recipe_key_in_its_identity():
    import gazebench.models  # noqa: F401
    from gazebench.models.base import identity_recipe_keys
    from gazebench.results.identity import identity_config

    assert identity_recipe_keys("static") is None and identity_recipe_keys("mean") == ()
    common = dict(
        dataset="d", card_version="1", protocol="p", data_options={}, model="static", model_options={}, weights="none"
    )
    a = identity_config(**common, recipe={"batch_size": 16, "device": "cpu"})
    b = identity_config(**common, recipe={"batch_size": 32, "device": "cpu"})
    assert a["recipe"] == {"batch_size": 16} and a != b


def test_old_mean_records_are_read_under_todays_declaration_and_compare_works(fixture_cards, tmp_path, capsys):
    # records as the starting code wrote them (identity over the whole recipe, no recipe_keys)
    for i, (label, seed, recipe) in enumerate(
        [
            ("mean", 0, {"batch_size": 16}),
            ("mean", 1, {"batch_size": 32}),
            ("static", 0, {"batch_size": 16}),
            ("static", 1, {"batch_size": 16}),
        ]
    ):
        write_run(tmp_path, i, "synthgaze", label, "default", seed, recipe=recipe)
    write_cards(tmp_path)
    df = quiet_results(tmp_path)
    assert df.loc[df["label"] == "mean", "identity"].nunique() == 1
    capsys.readouterr()
    assert cli("table", "--results", tmp_path) == 0
    out = capsys.readouterr().out
    assert "batch_size" not in out and "| mean (" not in out and "| mean " in out
    assert cli("compare", "mean", "static", "--results", tmp_path, "--dataset", "synthgaze") == 0
    assert "paired" in capsys.readouterr().out.lower()


# --- item: a record edited by hand is checked against its predictions file --------------------------


def edit_record(path: Path, **metrics: float) -> None:
    record = json.loads(path.read_text())
    record["metrics"]["all"].update(metrics)
    path.write_text(json.dumps(record))


def test_a_record_its_predictions_file_contradicts_is_marked_never_bold_never_in_the_mean(
    fixture_cards, tmp_path, capsys
):
    paths = {}
    for i, (dataset, label) in enumerate([(d, lab) for d in ("synthgaze", "rtgene") for lab in ("static", "staticsc")]):
        for fold in ["default"] if dataset == "synthgaze" else ["0", "1", "2"]:
            paths[dataset, label, fold] = write_run(tmp_path, 10 * i + len(paths), dataset, label, fold, 0)
    write_cards(tmp_path)
    edit_record(paths["synthgaze", "static", "default"], mean=5.0)  # the best by far, by hand
    capsys.readouterr()
    assert cli("table", "--results", tmp_path) == 0
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if row.startswith("| static "))
    assert "5.00" in line and "**5.00" not in line and "‡[" in line
    assert line.rstrip().endswith("— |")  # no Mean for the row
    note = next(row for row in out.splitlines() if row.startswith("‡["))
    assert str(paths["synthgaze", "static", "default"]) in note and "predictions" in note and "5" in note
    # the untouched records pass: no other mark, the other row keeps its bold and its Mean
    assert out.count("‡[") == 2 and "**" in next(r for r in out.splitlines() if r.startswith("| staticsc "))
    capsys.readouterr()
    assert cli("table", "--results", tmp_path, "--format", "csv") == 0
    rows = [r for r in capsys.readouterr().out.splitlines() if r.startswith("static,")]
    assert any(r.endswith(",‡") for r in rows)


def test_a_record_whose_sample_count_differs_from_its_predictions_file_is_marked(fixture_cards, tmp_path):
    from gazebench.leaderboard import aggregate
    from gazebench.results.store import check_predictions

    path = write_run(tmp_path, 1, "synthgaze", "static", "default", 0)
    write_cards(tmp_path)
    edit_record(path, n=999)
    df = check_predictions(quiet_results(tmp_path), tmp_path)
    assert "n=999" in df["record_check"].iloc[0]
    cell = aggregate(df).iloc[0]
    assert not cell["record_ok"] and "n=999" in cell["record_note"]


def test_printing_precision_is_no_mismatch_and_a_missing_file_is_not_checked(fixture_cards, tmp_path):
    from gazebench.results.store import PREDICTIONS_RTOL, check_predictions

    path = write_run(tmp_path, 1, "synthgaze", "static", "default", 0)
    write_run(tmp_path, 2, "synthgaze", "staticsc", "default", 0, with_predictions=False)
    write_cards(tmp_path)
    record = json.loads(path.read_text())
    edit_record(path, mean=record["metrics"]["all"]["mean"] * (1 + PREDICTIONS_RTOL / 4))
    assert list(check_predictions(quiet_results(tmp_path), tmp_path)["record_check"]) == ["", ""]


# --- item: one process at a time runs a unit ---------------------------------------------------------


def gazebench_process(*argv) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.Popen(
        [sys.executable, "-m", "gazebench", *map(str, argv)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_running_one_unit_train_it_once(tiny_synth, tmp_path, capsys):
    import gazebench.models  # noqa: F401  (this process is ready before the first one starts)
    import gazebench.train.runner  # noqa: F401

    argv = [
        "run",
        "--dataset",
        "synthgaze",
        "--root",
        tiny_synth,
        "--model",
        "static",
        "--results",
        tmp_path / "results",
        "--runs",
        tmp_path / "runs",
        *SMALL_RUN[2:],
        "--epochs",
        "4",
    ]  # not its --epochs 1
    first = gazebench_process(*argv)
    try:
        next_lock(tmp_path / "runs", first)
        capsys.readouterr()
        assert cli(*argv) == 0  # the second process
        err = capsys.readouterr().err
        assert f"is being run by pid {first.pid} on" in err and "skipping it" in err
        assert "run: ran 0, skipped 0 done, 1 left to the process running them, failed 0" in err  # not "ran 1"
    finally:
        out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert len(list((tmp_path / "results").rglob("*.json"))) == 1
    assert len(list((tmp_path / "runs").rglob("events.out.tfevents*"))) == 1  # one TensorBoard file
    assert not list((tmp_path / "runs").rglob("unit.lock"))  # released


def next_lock(runs: Path, proc: subprocess.Popen) -> Path:
    """The lock file that the process ``proc`` takes under ``runs``, once it is there."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        found = list(runs.rglob("unit.lock"))
        if found:
            return found[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError(f"no unit.lock under {runs}")


def test_the_lock_of_a_killed_process_is_taken_over(tiny_synth, tmp_path, capsys):
    argv = [
        "run",
        "--dataset",
        "synthgaze",
        "--root",
        tiny_synth,
        "--model",
        "mean",
        "--results",
        tmp_path / "r",
        "--runs",
        tmp_path / "runs",
        "--no-table",
        *TINY_RECIPE,
    ]
    assert cli(*argv) == 0
    (result,) = (tmp_path / "r").rglob("*.json")
    run_dir = tmp_path / "runs" / result.relative_to(tmp_path / "r").with_suffix("")
    result.unlink()  # the unit is to be run again
    code = (
        "import sys, time; from pathlib import Path; from gazebench.results.unitlock import acquire; "
        "acquire(Path(sys.argv[1]), 'u'); print('held', flush=True); time.sleep(600)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    holder = subprocess.Popen([sys.executable, "-c", code, str(run_dir)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        capsys.readouterr()
        assert cli(*argv) == 0
        assert f"being run by pid {holder.pid}" in capsys.readouterr().err and not result.exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
    assert cli(*argv) == 0  # the killed holder's lock file is still there: taken over
    err = capsys.readouterr().err
    assert f"was left by pid {holder.pid}" in err and "taking it over" in err
    assert result.exists() and not (run_dir / "unit.lock").exists()


# --- item: a sweep whose every unit fails ------------------------------------------------------------


def test_keep_going_with_every_unit_failing_reports_the_failures(tmp_path, capsys):
    rc = cli(
        "run",
        "--dataset",
        "synthgaze",
        "--root",
        tmp_path / "nowhere",
        "--model",
        "mean,static",
        "--keep-going",
        "--results",
        tmp_path / "results",
        "--runs",
        tmp_path / "runs",
    )
    err = capsys.readouterr().err
    assert rc == 1
    assert "failed 2" in err and "no results under" in err
    assert "FileNotFoundError" not in err


# --- item: a result made on other data is noticed --------------------------------------------------


def test_a_label_fixed_after_a_unit_finished_is_said_when_the_unit_is_found_done(
    tiny_synth, tmp_path, capsys, monkeypatch
):
    import shutil

    root = tmp_path / "synth"
    shutil.copytree(tiny_synth, root)
    argv = [
        "run",
        "--dataset",
        "synthgaze",
        "--root",
        root,
        "--model",
        "mean",
        "--results",
        tmp_path / "r",
        "--runs",
        tmp_path / "runs",
        "--no-table",
        *TINY_RECIPE,
    ]
    assert cli(*argv) == 0
    (result,) = (tmp_path / "r").rglob("*.json")
    record = json.loads(result.read_text())
    fingerprint = record["dataset"]["fingerprint"]
    assert fingerprint["version"] == 1 and len(fingerprint["sha256"]) == 16
    assert sum(fingerprint["samples"].values()) == sum(record["dataset"]["samples"].values())
    capsys.readouterr()
    assert cli(*argv) == 0
    assert "other data" not in capsys.readouterr().err  # same data: nothing to say

    labels = root / "labels.csv"
    lines = labels.read_text().splitlines(True)
    cells = lines[1].split(",")
    cells[5] = str(-float(cells[5]))  # one label fixed: gaze_x of the first frame
    labels.write_text("".join([lines[0], ",".join(cells), *lines[2:]]))
    stamp = result.stat().st_mtime_ns
    assert cli(*argv) == 0
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if "other data" in x)
    assert str(result) in line and fingerprint["sha256"] in line and "--overwrite always" in line
    assert result.stat().st_mtime_ns == stamp  # warned, not re-run

    # a record from older code has no fingerprint: unknown, no warning, no crash, no re-run
    del record["dataset"]["fingerprint"]
    result.write_text(json.dumps(record))
    assert cli(*argv) == 0
    err = capsys.readouterr().err
    assert "done already" in err and "other data" not in err

    # --dry-run reads no data, so it checks nothing
    import gazebench.train.runner

    monkeypatch.setattr(gazebench.train.runner, "build_dataset", lambda *a, **k: pytest.fail("dry run opened the data"))
    assert cli(*argv, "--dry-run") == 0
