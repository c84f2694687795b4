"""Experiment tracking: TensorBoard event files read back by tensorboard's own reader, the
``logger`` option, resume without duplicate steps, and the optional loggers (W&B, MLflow) behind
their extras, exercised through stand-in modules (nothing is contacted)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from gazebench.cli import main
from gazebench.config import ConfigError, Recipe
from gazebench.identity import NOT_IN_IDENTITY
from gazebench.tracking import SCALARS, TENSORBOARD_DIR, epoch_scalars, make_loggers

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

TINY = ["--dataset", "synthgaze", "--model", "static", "--epochs", "2", "--backbone", "test_resnet",
        "--set", "image_size=32", "--set", "num_workers=0", "--set", "batch_size=16", "--no-table"]


def _run(root: Path, out: Path, *extra: str) -> int:
    return main(["run", "--root", str(root), *TINY, "--results", str(out / "results"), "--runs", str(out / "runs"),
                 *extra])


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
    assert seen["train/samples_per_s"][0][1] == pytest.approx(history[0]["train_samples"] / history[0]["train_seconds"],
                                                              rel=1e-6)


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


def test_a_resumed_fit_appends_its_epochs_without_duplicate_steps(tiny_synth, tmp_path, monkeypatch, capsys):
    """Killed after epoch 1 (an error from a callback, after last.pt), then the same unit again: the
    runner's second fit resumes at epoch 2 and its events continue at step 2."""
    import gazebench.runner
    from gazebench.fit import EpochLog

    class DiesAfterEpoch1(EpochLog):
        def on_epoch_end(self, setup, row):
            if row["epoch"] == 1:
                raise _Killed("killed after epoch 1")

    monkeypatch.setattr(gazebench.runner, "EpochLog", DiesAfterEpoch1)
    with pytest.raises(_Killed):
        _run(tiny_synth, tmp_path, "--traceback")
    log_dir = _run_dir_of_last(tmp_path) / TENSORBOARD_DIR
    assert {tag: [s for s, _ in pts] for tag, pts in _scalars(log_dir).items()} == {tag: [1] for tag in SCALARS}
    monkeypatch.undo()

    capsys.readouterr()
    assert _run(tiny_synth, tmp_path) == 0
    assert "resuming after epoch 1" in capsys.readouterr().err
    _, record = _record(tmp_path)
    assert len(list(log_dir.glob("events.out.tfevents.*"))) == 2  # the resumed fit appended a file
    _assert_matches(_scalars(log_dir), record["history"])

    # --restart (and --overwrite always) trains from epoch 1 again: the earlier steps are purged, not doubled
    assert _run(tiny_synth, tmp_path, "--quiet", "--restart", "--overwrite", "always") == 0
    _, record = _record(tmp_path)
    _assert_matches(_scalars(log_dir), record["history"])


def _run_dir_of_last(out: Path) -> Path:
    (last,) = (out / "runs").rglob("last.pt")
    return last.parent


def test_an_unknown_logger_is_one_line(tiny_synth, tmp_path, capsys):
    assert _run(tiny_synth, tmp_path, "--set", "logger=tensorbord,wandb", "--dry-run") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown logger 'tensorbord'" in err and "tensorboard, wandb, mlflow" in err


@pytest.mark.parametrize("package", ["wandb", "mlflow"])
def test_a_missing_optional_logger_names_its_extra_before_reading_data(package, tiny_synth, tmp_path, monkeypatch,
                                                                       capsys):
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
    row = {"epoch": 3, "train_loss": 0.5, "val_loss": float("nan"), "val_mean": float("nan"), "train_seconds": 2.0,
           "train_samples": 10}  # no validation split; a last.pt from before `lr` was recorded
    assert epoch_scalars(row) == {"train/loss": 0.5, "train/samples_per_s": 5.0}


# --- the optional loggers, through stand-in modules ------------------------------------------------

ROW = {"epoch": 2, "train_loss": 0.5, "val_loss": 0.25, "val_mean": 12.5, "train_seconds": 2.0, "train_samples": 10,
       "lr": 1e-3}


def _fake_setup(tmp_path: Path):
    spec = types.SimpleNamespace(dataset="synthgaze", seed=0, model="static")
    unit = types.SimpleNamespace(unit_id="abc123", label="static", fold="0", spec=spec, recipe=Recipe(),
                                 run_dir=tmp_path)
    return types.SimpleNamespace(unit=unit)


def test_wandb_logs_each_epoch_against_an_epoch_axis(tmp_path, monkeypatch):
    calls = []

    class Run:
        def define_metric(self, *a, **k):
            calls.append(("define_metric", a, k))

        def log(self, data):
            calls.append(("log", data))

        def finish(self, exit_code=0):
            calls.append(("finish", exit_code))

    fake = types.ModuleType("wandb")
    fake.init = lambda **kwargs: calls.append(("init", kwargs)) or Run()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    (log,) = make_loggers(("wandb",), tmp_path)
    setup = _fake_setup(tmp_path)
    log.on_train_epoch_start(setup, 2)
    log.on_epoch_end(setup, ROW)
    log.on_fit_end(setup, None)
    init = calls[0][1]
    assert init["id"] == "abc123" and init["resume"] == "allow" and init["config"]["lr"] == 1e-3
    assert ("log", {"epoch": 2, **epoch_scalars(ROW)}) in calls and calls[-1] == ("finish", 0)


def test_mlflow_logs_each_epoch_and_a_resumed_fit_continues_its_run(tmp_path, monkeypatch):
    calls = []
    fake = types.ModuleType("mlflow")

    def start_run(run_id=None, run_name=None):
        calls.append(("start_run", run_id, run_name))
        return types.SimpleNamespace(info=types.SimpleNamespace(run_id=run_id or "run-1"))

    fake.start_run = start_run
    fake.log_params = lambda params: calls.append(("log_params", params))
    fake.log_metrics = lambda metrics, step: calls.append(("log_metrics", metrics, step))
    fake.end_run = lambda status: calls.append(("end_run", status))
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    setup = _fake_setup(tmp_path)
    for status in ("FAILED", "FINISHED"):
        (log,) = make_loggers(["mlflow"], tmp_path)
        log.on_train_epoch_start(setup, 2)
        log.on_epoch_end(setup, ROW)
        log.on_fit_end(setup, None if status == "FINISHED" else RuntimeError("killed"))
    starts = [c for c in calls if c[0] == "start_run"]
    assert starts[0][1] is None and starts[1][1] == "run-1"  # the second fit continued the first's run
    assert len([c for c in calls if c[0] == "log_params"]) == 1
    assert ("log_metrics", {"train_loss": 0.5, "val_loss": 0.25, "val_mean_angular_error_deg": 12.5,
                            "train_lr": 1e-3, "train_samples_per_s": 5.0}, 2) in calls
    assert [c[1] for c in calls if c[0] == "end_run"] == ["FAILED", "FINISHED"]
