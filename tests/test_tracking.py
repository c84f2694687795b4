"""Experiment tracking: TensorBoard event files read back by tensorboard's own reader, the
``logger`` option, resume without duplicate steps, and the optional loggers with the real packages:
MLflow on a local SQLite store read back through ``mlflow.search_runs`` / ``MlflowClient``, W&B in
offline mode read back from the run folder ``wandb sync`` would upload (nothing is contacted)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gazebench.cli import main
from gazebench.core.config import ConfigError, Recipe
from gazebench.results.identity import NOT_IN_IDENTITY
from gazebench.train.tracking import (
    MLFLOW_RUN_ID,
    MLFLOW_TAGS,
    SCALARS,
    TENSORBOARD_DIR,
    WANDB_RUN_ID,
    epoch_scalars,
    flat_params,
    mlflow_key,
)
from gazebench.train.unit_record import PREDICTIONS

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

TINY = [
    "--dataset",
    "synthgaze",
    "--model",
    "static",
    "--epochs",
    "2",
    "--backbone",
    "test_resnet",
    "--set",
    "image_size=32",
    "--set",
    "num_workers=0",
    "--set",
    "batch_size=16",
    "--no-table",
]


def _run(root: Path, out: Path, *extra: str) -> int:
    return main(
        ["run", "--root", str(root), *TINY, "--results", str(out / "results"), "--runs", str(out / "runs"), *extra]
    )


def _record(out: Path) -> tuple[Path, dict]:
    (path,) = (out / "results").rglob("*.json")
    return path, json.loads(path.read_text())


def _run_dir(out: Path) -> Path:
    (last,) = (out / "runs").rglob("best.pt")
    return last.parent


def _scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    acc = event_accumulator.EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _expected(history: list[dict]) -> dict[str, list[tuple[int, float]]]:
    return {tag: [(row["epoch"], epoch_scalars(row)[tag]) for row in history] for tag in SCALARS}


def _assert_matches(seen: dict, history: list[dict]) -> None:
    expected = _expected(history)
    assert set(seen) == set(expected)
    for tag, points in expected.items():
        assert [s for s, _ in seen[tag]] == [s for s, _ in points], tag  # one scalar per epoch, no repeats
        assert [v for _, v in seen[tag]] == pytest.approx([v for _, v in points], rel=1e-6), tag  # float32 in events


@pytest.fixture(scope="module")
def default_run(tiny_synth, tmp_path_factory):
    out = tmp_path_factory.mktemp("tracked")
    assert _run(tiny_synth, out, "--quiet") == 0
    return out


def test_a_run_writes_tensorboard_events_that_tensorboard_reads_back(default_run):
    _, record = _record(default_run)
    assert record["recipe"]["logger"] == ["tensorboard"]
    history = record["history"]
    assert [h["epoch"] for h in history] == [1, 2] and all(h["lr"] == pytest.approx(1e-3) for h in history)
    seen = _scalars(_run_dir(default_run) / TENSORBOARD_DIR)
    assert set(seen) == {"train/loss", "val/loss", "val/mean_angular_error_deg", "train/lr", "train/samples_per_s"}
    _assert_matches(seen, history)
    assert seen["train/samples_per_s"][0][1] == pytest.approx(
        history[0]["train_samples"] / history[0]["train_seconds"], rel=1e-6
    )


def test_logger_none_writes_no_events_and_is_the_same_unit_and_identity(default_run, tiny_synth, tmp_path):
    assert _run(tiny_synth, tmp_path, "--quiet", "--logger", "none") == 0
    path, record = _record(tmp_path)
    assert record["recipe"]["logger"] == []
    assert not list(tmp_path.rglob(TENSORBOARD_DIR)) and not list(tmp_path.rglob("events.out.tfevents.*"))
    tracked_path, tracked = _record(default_run)
    assert path.name == tracked_path.name and record["unit_id"] == tracked["unit_id"]  # logger: not in the unit id
    assert record["identity"] == tracked["identity"] and "logger" in NOT_IN_IDENTITY
    # a finished unit is found again whatever the loggers: nothing to do
    assert _run(tiny_synth, tmp_path, "--quiet") == 0 and not list(tmp_path.rglob("events.out.tfevents.*"))


class _Killed(Exception):
    pass


def test_a_resumed_fit_appends_its_epochs_without_duplicate_steps(tracked):
    """Killed after epoch 1 (an error from a callback, after last.pt), then the same unit again: the
    runner's second fit resumes at epoch 2 and its events continue at step 2."""
    stages = tracked["stages"]
    assert {tag: [s for s, _ in pts] for tag, pts in stages["killed"]["tensorboard"].items()} == {
        tag: [1] for tag in SCALARS
    }
    resumed = stages["resumed"]
    assert "resuming after epoch 1" in resumed["stderr"]
    assert resumed["event_files"] == 2  # the resumed fit appended a file
    _assert_matches(resumed["tensorboard"], resumed["record"]["history"])
    # --restart (and --overwrite always) trains from epoch 1 again: the earlier steps are purged, not doubled
    _assert_matches(stages["restarted"]["tensorboard"], stages["restarted"]["record"]["history"])


def _run_dir_of_last(out: Path) -> Path:
    (last,) = (out / "runs").rglob("last.pt")
    return last.parent


def test_an_unknown_logger_is_one_line(tiny_synth, tmp_path, capsys):
    assert _run(tiny_synth, tmp_path, "--set", "logger=tensorbord,wandb", "--dry-run") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown logger 'tensorbord'" in err and "tensorboard, wandb, mlflow" in err


@pytest.mark.parametrize("package", ["wandb", "mlflow"])
def test_a_missing_optional_logger_names_its_extra_before_reading_data(
    package, tiny_synth, tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, package, None)  # `import wandb` raises ImportError
    assert _run(tiny_synth, tmp_path, "--quiet", "--logger", f"tensorboard,{package}") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f'pip install "gazebench[{package}]"' in err
    assert not list(tmp_path.rglob("last.pt"))  # nothing was trained


def test_the_logger_option_accepts_lists_and_none():
    assert Recipe().logger == ("tensorboard",)
    assert Recipe.resolve({"logger": "wandb,tensorboard"}).logger == ("tensorboard", "wandb")
    assert Recipe.resolve({"logger": ["mlflow"]}).logger == ("mlflow",)
    for nothing in ("none", None, "", False):
        assert Recipe.resolve({"logger": nothing}).logger == ()
    with pytest.raises(ConfigError, match="unknown logger 'none'"):
        Recipe.resolve({"logger": "none,wandb"})
    assert Recipe.resolve({"logger": "tensorboard,mlflow"}).as_dict()["logger"] == ["tensorboard", "mlflow"]


def test_epoch_scalars_leave_out_what_is_missing_or_not_a_number():
    row = {
        "epoch": 3,
        "train_loss": 0.5,
        "val_loss": float("nan"),
        "val_mean": float("nan"),
        "train_seconds": 2.0,
        "train_samples": 10,
    }  # no validation split; a last.pt from before `lr` was recorded
    assert epoch_scalars(row) == {"train/loss": 0.5, "train/samples_per_s": 5.0}


# --- W&B and MLflow, the real packages (W&B offline, MLflow on a local SQLite store) ---------------


def _dies_after_epoch_1(monkeypatch) -> None:
    """The unit's process stops after epoch 1 (its last.pt written, its loggers told)."""
    import gazebench.train.runner
    from gazebench.train.fit import EpochLog

    class DiesAfterEpoch1(EpochLog):
        def on_epoch_end(self, setup, row):
            if row["epoch"] == 1:
                raise _Killed("killed after epoch 1")

    monkeypatch.setattr(gazebench.train.runner, "EpochLog", DiesAfterEpoch1)


def _importable(*packages: str) -> bool:
    return all(importlib.util.find_spec(p) is not None for p in packages)


#: the optional trackers this environment has (the test extra installs them all)
TRACKERS = [
    name
    for name, needs in (("wandb", ("wandb",)), ("mlflow", ("mlflow", "sqlalchemy", "alembic")))
    if _importable(*needs)
]


@pytest.fixture(scope="module")
def tracked(tiny_synth, tmp_path_factory):
    """One unit logged to TensorBoard and to every optional tracker installed, three times: killed
    after epoch 1, resumed (epoch 2 and the result), then --restart.  Returns the folders and what
    each logger held after each stage.  MLflow: a SQLite store in the test folder; W&B: offline."""
    out = tmp_path_factory.mktemp("trackers")
    store = f"sqlite:///{out / 'mlflow.db'}"
    stages = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(out)  # MLflow's default artifact root of a SQLite store is ./mlruns
        for var in ("WANDB_DIR", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
            mp.delenv(var, raising=False)
        mp.setenv("MLFLOW_TRACKING_URI", store)
        # W&B: offline (nothing is contacted), quiet, no system-metrics sampler, no error reports;
        # its settings and caches under the test folder, not the home
        for var, value in {
            "WANDB_MODE": "offline",
            "WANDB_SILENT": "true",
            "WANDB_CONSOLE": "off",
            "WANDB__DISABLE_STATS": "true",
            "WANDB_DISABLE_GIT": "true",
            "WANDB_DISABLE_CODE": "true",
            "WANDB_ERROR_REPORTING": "false",
            "WANDB_PROJECT": "gazebench-tests",
            "WANDB_CONFIG_DIR": str(out / "wandb-config"),
            "WANDB_CACHE_DIR": str(out / "wandb-cache"),
            "WANDB_DATA_DIR": str(out / "wandb-data"),
        }.items():
            mp.setenv(var, value)
        logger = ["--logger", ",".join(["tensorboard", *TRACKERS])]
        with pytest.MonkeyPatch.context() as dies:
            _dies_after_epoch_1(dies)
            with pytest.raises(_Killed):
                _run(tiny_synth, out, "--traceback", *logger)
        run_dir = _run_dir_of_last(out)
        for stage, extra in (
            ("killed", None),
            ("resumed", []),
            ("restarted", ["--quiet", "--restart", "--overwrite", "always"]),
        ):
            err = io.StringIO()
            if extra is not None:
                with contextlib.redirect_stderr(err):
                    assert _run(tiny_synth, out, *extra, *logger) == 0
            stages[stage] = {
                "stderr": err.getvalue(),
                "record": _record(out)[1] if list((out / "results").rglob("*.json")) else None,
                "tensorboard": _scalars(run_dir / TENSORBOARD_DIR),
                "event_files": len(list((run_dir / TENSORBOARD_DIR).glob("events.out.tfevents.*"))),
                **(_mlflow_state(store, run_dir) if "mlflow" in TRACKERS else {}),
                **(_wandb_state(run_dir) if "wandb" in TRACKERS else {}),
            }
        yield {"out": out, "run_dir": run_dir, "store": store, "stages": stages}


def _mlflow_state(store: str, run_dir: Path) -> dict:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    run_id = (run_dir / MLFLOW_RUN_ID).read_text().strip()
    run = client.get_run(run_id)
    return {
        "mlflow_run": run,
        "mlflow_steps": {
            key: [(h.step, h.value) for h in client.get_metric_history(run_id, key)] for key in run.data.metrics
        },
    }


def _wandb_state(run_dir: Path) -> dict:
    from tests.wandb_offline import offline_runs

    return {"wandb_id": (run_dir / WANDB_RUN_ID).read_text().strip(), "wandb_runs": offline_runs(run_dir)}


def _needs(tracker: str) -> None:
    if tracker not in TRACKERS:
        pytest.skip(f'{tracker} is not installed (pip install -e ".[test]")')


def _mlflow_runs_of(unit_id: str, store: str):
    import mlflow

    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(store)
    try:
        return mlflow.search_runs(
            experiment_names=["gazebench"],
            order_by=["attributes.start_time ASC"],
            filter_string=f"tags.`gazebench.unit_id` = '{unit_id}'",
        )
    finally:
        mlflow.set_tracking_uri(before)


def test_mlflow_logs_identity_params_epoch_metrics_tags_and_the_result_as_artifacts(tracked):
    _needs("mlflow")
    from mlflow.tracking import MlflowClient

    resumed = tracked["stages"]["resumed"]
    record, run = resumed["record"], resumed["mlflow_run"]
    # killed after epoch 1: the run has epoch 1 and says FAILED; the resumed fit continued it
    killed = tracked["stages"]["killed"]
    assert killed["mlflow_run"].info.status == "FAILED" and killed["record"] is None
    assert killed["mlflow_run"].info.run_id == run.info.run_id
    assert {k: [s for s, _ in v] for k, v in killed["mlflow_steps"].items()} == {mlflow_key(t): [1] for t in SCALARS}
    # every epoch once, step = epoch, the values of the record's history
    expected = {mlflow_key(tag): points for tag, points in _expected(record["history"]).items()}
    epoch_keys = {k: v for k, v in resumed["mlflow_steps"].items() if not k.startswith("test_")}
    assert set(epoch_keys) == set(expected)
    for key, points in expected.items():
        assert [s for s, _ in epoch_keys[key]] == [1, 2], key
        assert [v for _, v in epoch_keys[key]] == pytest.approx([v for _, v in points], rel=1e-12), key
    assert resumed["mlflow_steps"]["test_mean_angular_error_deg"][0][1] == pytest.approx(
        record["metrics"]["all"]["mean"], rel=1e-12
    )
    assert run.info.status == "FINISHED" and run.info.run_name == f"static synthgaze fold-{record['fold']} seed-0"
    # the parameters: the configuration identity's keys, flattened; the tags: the unit
    assert run.data.params == flat_params(record["identity"]["config"])
    assert run.data.params["recipe.lr"] == "0.001" and run.data.params["model"] == "static"
    assert run.data.tags[MLFLOW_TAGS["unit"]] == record["unit_id"]
    assert run.data.tags[MLFLOW_TAGS["identity"]] == record["identity"]["hash"]
    # the result JSON and the predictions, as the run's artifacts, byte for byte
    client = MlflowClient(tracked["store"])
    result_path = _record(tracked["out"])[0]
    assert sorted(a.path for a in client.list_artifacts(run.info.run_id)) == sorted([PREDICTIONS, result_path.name])
    got = Path(client.download_artifacts(run.info.run_id, "", str(tracked["out"] / "downloaded")))
    predictions = Path(record["artifacts"]["predictions"])
    assert (got / PREDICTIONS).read_bytes() == predictions.read_bytes() and predictions.stat().st_size > 0
    logged = json.loads((got / result_path.name).read_text())
    assert logged["unit_id"] == record["unit_id"] and logged["history"] == record["history"]


def test_mlflow_search_runs_finds_one_run_per_fit_and_a_restart_never_logs_a_step_twice(tracked):
    _needs("mlflow")
    restarted = tracked["stages"]["restarted"]
    record = restarted["record"]
    runs = _mlflow_runs_of(record["unit_id"], tracked["store"])
    # the killed and resumed fits: one run; --restart trained from epoch 1 again: a second run
    assert len(runs) == 2 and list(runs["status"]) == ["FINISHED", "FINISHED"]
    assert runs["run_id"].iloc[0] == tracked["stages"]["resumed"]["mlflow_run"].info.run_id
    assert runs["run_id"].iloc[1] == restarted["mlflow_run"].info.run_id
    assert (runs["tags.gazebench.results.identity"] == record["identity"]["hash"]).all()
    assert (runs["params.recipe.lr"] == "0.001").all()
    last = runs.iloc[1]
    assert last["metrics.val_mean_angular_error_deg"] == pytest.approx(record["history"][-1]["val_mean"], rel=1e-12)
    assert {k: [s for s, _ in v] for k, v in restarted["mlflow_steps"].items() if not k.startswith("test_")} == {
        mlflow_key(t): [1, 2] for t in SCALARS
    }


def test_wandb_offline_run_holds_config_history_and_a_resumed_fit_keeps_its_id(tracked):
    _needs("wandb")
    stages = tracked["stages"]
    record = stages["resumed"]["record"]
    (killed,) = stages["killed"]["wandb_runs"]
    first, resumed = stages["resumed"]["wandb_runs"]
    assert killed.folder == first.folder and killed.exit_code == 1
    # the resumed fit: the same run id (kept in wandb_run_id.txt), asked to resume, its epochs only
    assert first.run_id == resumed.run_id == stages["resumed"]["wandb_id"] == stages["killed"]["wandb_id"]
    assert resumed.resume and resumed.exit_code == 0 and first.project == "gazebench-tests"
    assert first.run_id.startswith(record["unit_id"])
    rows = first.history + resumed.history
    assert [(r["epoch"], r["_step"]) for r in rows] == [(1, 1), (2, 2)]  # the step is the epoch, once each
    for tag, points in _expected(record["history"]).items():
        assert [r[tag] for r in rows] == pytest.approx([v for _, v in points], rel=1e-12), tag
    # the config: the unit, its identity and its recipe
    for run in (first, resumed):
        keys = ("unit_id", "identity", "dataset", "model", "label", "seed", "lr", "epochs")
        assert {k: run.config[k] for k in keys} == {
            "unit_id": record["unit_id"],
            "identity": record["identity"]["hash"],
            "dataset": "synthgaze",
            "model": "static",
            "label": "static",
            "seed": 0,
            "lr": record["recipe"]["lr"],
            "epochs": record["recipe"]["epochs"],
        }
    # --restart: a new W&B run (new id) with epochs 1 and 2 once
    third = stages["restarted"]["wandb_runs"][-1]
    assert len(stages["restarted"]["wandb_runs"]) == 3 and third.run_id == stages["restarted"]["wandb_id"]
    assert third.run_id != first.run_id and [r["epoch"] for r in third.history] == [1, 2]


def test_planning_never_imports_the_optional_trackers(tiny_synth, tmp_path):
    """--dry-run and ls with logger=wandb,mlflow: neither package is imported (they are slow to import
    and may be missing)."""
    _needs("wandb")
    _needs("mlflow")
    code = (
        "import sys; from gazebench.cli import main\n"
        f"assert main(['run', '--root', {str(tiny_synth)!r}, *{TINY!r}, '--results', {str(tmp_path)!r}, "
        "'--logger', 'wandb,mlflow', '--dry-run']) == 0\n"
        "assert main(['ls', 'models']) == 0\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('wandb', 'mlflow')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
