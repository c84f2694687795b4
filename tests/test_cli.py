"""End-to-end: the commands a researcher types, on tiny generated data."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.helpers import TINY_RECIPE, cli


def test_run_writes_a_complete_result_and_table_lists_it(tiny_synth, tmp_path, capsys):
    results = tmp_path / "results"
    rc = cli(
        "run",
        "--dataset",
        "synthgaze",
        "--root",
        tiny_synth,
        "--model",
        "static,mean",
        "--epochs",
        "1",
        "--backbone",
        "test_resnet",
        "--results",
        results,
        "--runs",
        tmp_path / "runs",
        "--quiet",
        *TINY_RECIPE,
    )
    assert rc == 0
    files = sorted(results.rglob("*.json"))
    assert [f.parent.name for f in files] == ["mean", "static"]
    record = json.loads(files[1].read_text())
    m = record["metrics"]
    for stat in ("mean", "median", "std", "p90", "n"):
        assert stat in m["all"]
    assert m["all"]["n"] == record["dataset"]["samples"]["test"] > 0
    assert {"front180", "front20", "back"} <= set(m)
    assert record["recipe"]["epochs"] == 1 and record["recipe"]["image_size"] == 32
    assert record["model"]["kwargs"]["backbone"] == "test_resnet"
    assert record["seed"] == 0 and record["selection"]["chosen_epoch"] == 1
    for key in ("train_samples_per_s", "eval_samples_per_s", "train_seconds", "total_seconds"):
        assert record["timings"][key] > 0
    for key in ("gazebench", "torch", "timm", "device", "git_sha"):
        assert key in record["environment"]
    assert record["created_at"]
    subjects = record["dataset"]["subjects"]
    assert not set(subjects["train"]) & set(subjects["test"])
    # per-sample predictions sit beside the checkpoint, outside results/
    assert Path(record["artifacts"]["predictions"]).exists()

    capsys.readouterr()
    assert cli("table", "--results", results, "--format", "csv") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["label"] for r in rows} == {"static", "mean"}
    static = next(r for r in rows if r["label"] == "static")
    assert float(static["mean"]) == pytest.approx(m["all"]["mean"], abs=1e-3)
    assert static["n"] == "1"


def test_second_run_skips_finished_work(tiny_synth, tmp_path, capsys):
    args = [
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
    assert cli(*args) == 0
    first = sorted((tmp_path / "r").rglob("*.json"))
    stamp = first[0].stat().st_mtime_ns
    capsys.readouterr()
    assert cli(*args) == 0
    assert "done already" in capsys.readouterr().err
    assert first[0].stat().st_mtime_ns == stamp


def test_missing_root_says_where_it_looked_and_how_to_get_data(tmp_path, capsys):
    rc = cli("run", "--dataset", "synthgaze", "--root", tmp_path / "nowhere", "--model", "mean", "--no-table")
    assert rc == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "nowhere") in err
    assert "gazebench synth" in err  # where to get it
    assert "labels.csv" in err  # the expected layout
    assert "--resume" not in err  # the hint for a run stopped by a full disk is no help here


def test_unknown_model_and_setting_suggest_close_names(tiny_synth, capsys):
    assert cli("run", "--root", tiny_synth, "--model", "statc", "--no-table") == 2
    assert "Did you mean 'static'" in capsys.readouterr().err
    assert cli("run", "--root", tiny_synth, "--model", "static", "--set", "epoch=2", "--no-table") == 2
    assert "Did you mean 'epochs'" in capsys.readouterr().err


def test_ls_lists_models_and_datasets_with_descriptions(capsys):
    assert cli("ls", "models") == 0
    out = capsys.readouterr().out
    for name in ("static", "mean", "seqsclstmsym"):
        assert name in out
    assert "training set's mean gaze" in out
    assert cli("ls", "datasets") == 0
    assert "synthgaze" in capsys.readouterr().out
    assert cli("ls", "analyses") == 0
    out = capsys.readouterr().out
    from gazebench.analysis import KINDS

    for name, kind in KINDS.items():  # every kind, with its description and options
        assert name in out and kind.description[:40] in out
    assert "deltas=" in out and "resamples=2000" in out


# --- errors: a user's mistake is one line and exit 2; a bug keeps its traceback ---------------------------


def test_a_user_error_is_one_line_with_exit_2_and_a_bug_shows_its_traceback(monkeypatch, capsys):
    import gazebench.commands.ls as ls
    from gazebench.core.errors import UserValueError

    def user_mistake(args):
        raise UserValueError("--thing 3: must be 1 or 2")

    monkeypatch.setattr(ls, "main", user_mistake)
    assert cli("ls", "models") == 2
    err = capsys.readouterr().err
    assert err == "gazebench ls: --thing 3: must be 1 or 2\n"
    with pytest.raises(UserValueError):  # --traceback shows where it came from
        cli("ls", "models", "--traceback")

    def internal_bug(args):
        return len(None)  # TypeError: a bug, not the user's doing

    monkeypatch.setattr(ls, "main", internal_bug)
    capsys.readouterr()
    rc = cli("ls", "models")
    err = capsys.readouterr().err
    assert rc not in (0, 2)
    assert "Traceback (most recent call last)" in err and "internal_bug" in err and "TypeError" in err
    assert "this is a bug in gazebench" in err.splitlines()[-1] and "report it" in err.splitlines()[-1]


def test_user_errors_of_the_package_are_gazebench_errors_keeping_their_builtin_base():
    from gazebench.core.errors import GazebenchError
    from gazebench.datasets.views import parse_floats
    from gazebench.leaderboard_table import render
    from gazebench.synth.scene import resolve_preset

    for call, builtin in (
        (lambda: parse_floats("abc"), ValueError),
        (lambda: parse_floats("0,2000"), ValueError),
        (lambda: render(None, "docx"), ValueError),
        (lambda: resolve_preset("huge"), KeyError),
    ):
        with pytest.raises(builtin) as caught:
            call()
        assert isinstance(caught.value, GazebenchError)


def test_seeds_that_are_not_integers_are_one_line(tiny_synth, capsys):
    assert cli("run", "--root", tiny_synth, "--seed", "a,b", "--dry-run") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--seed a,b: 'a' is not an integer" in err


def test_a_shortcut_flag_and_a_set_of_the_same_key_must_agree(tiny_synth, capsys):
    assert cli("run", "--root", tiny_synth, "--epochs", "1", "--set", "epochs=3", "--dry-run") == 2
    assert "--epochs 1 and --set epochs=3 disagree" in capsys.readouterr().err
    assert (
        cli("run", "--root", tiny_synth, "--backbone", "resnet18", "--set", "model.backbone=resnet50", "--dry-run") == 2
    )
    assert "disagree" in capsys.readouterr().err
    assert cli("run", "--root", tiny_synth, "--epochs", "3", "--set", "epochs=3", "--dry-run") == 0


def test_a_dataset_alias_plans_the_datasets_own_units(tmp_path, capsys):
    common = ["run", "--model", "mean", "--dry-run", "--results", tmp_path]
    assert cli(*common, "--dataset", "rt-gene") == 0
    by_alias = capsys.readouterr().out
    assert cli(*common, "--dataset", "rtgene") == 0
    assert by_alias == capsys.readouterr().out  # same units, same result files (rtgene/...)
    assert (
        cli("run", "--dataset", "synthgaze", "--test", "rt-gene", "--model", "mean", "--dry-run", "--results", tmp_path)
        == 0
    )


def test_status_takes_every_flag_run_takes(tiny_synth, tmp_path, capsys):
    flags = [
        "--root",
        tiny_synth,
        "--model",
        "mean",
        "--results",
        tmp_path / "r",
        "--runs",
        tmp_path / "runs",
        "--logger",
        "none",
        "--keep-going",
        "--deterministic",
        "--quiet",
        "--no-table",
        "--restart",
        "--overwrite",
        "only-missing",
        "--on-bad-sample",
        "skip",
        "--test",
        "rtgene",
    ]
    assert cli("run", *flags, "--dry-run") == 0
    capsys.readouterr()
    assert cli("status", *flags, "--json") == 0
    (unit,) = json.loads(capsys.readouterr().out)["units"]
    assert unit["state"] == "missing" and unit["label"] == "mean"


def test_warnings_are_one_gazebench_line_without_python_source(tmp_path):
    import os
    import subprocess
    import sys

    results = tmp_path / "results"
    results.mkdir()
    (results / "broken.json").write_text("{")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    r = subprocess.run(
        [sys.executable, "-m", "gazebench", "table", "--results", str(results)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in r.stderr.splitlines() if "broken.json" in line]
    assert lines and all(line.startswith("gazebench: warning: skipping unreadable result") for line in lines), r.stderr
    assert ".py:" not in r.stderr and "warnings.warn" not in r.stderr


def test_a_cuda_device_without_a_gpu_is_one_line(tiny_synth, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    rc = cli(
        "run",
        "--root",
        tiny_synth,
        "--model",
        "static",
        "--set",
        "device=cuda",
        "--results",
        tmp_path / "r",
        "--runs",
        tmp_path / "runs",
        "--quiet",
        "--no-table",
        *TINY_RECIPE,
    )
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "device=cuda: no CUDA device is visible" in err and "device=cpu" in err


def test_a_root_that_is_a_file_says_so(tiny_synth, capsys):
    assert cli("run", "--root", tiny_synth / "labels.csv", "--model", "mean", "--no-table") == 2
    err = capsys.readouterr().err
    assert "labels.csv is a file, not a folder" in err and "does not exist" not in err


def test_precision_fp16_runs_on_the_cpu_as_ls_recipe_says(capsys):
    import torch

    from gazebench.train.engine import StepContext

    assert cli("ls", "recipe") == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("precision")]
    assert "CUDA only" not in line and "fp16 autocast on CPU or CUDA" in line and "GradScaler" in line
    ctx = StepContext(None, 32, torch.device("cpu"), "fp16")
    with ctx.autocast():
        out = torch.nn.Linear(4, 2)(torch.randn(3, 4))
    assert out.dtype == torch.float16  # fp16 autocast on the CPU, not silently fp32
    assert torch.amp.GradScaler("cpu").is_enabled()  # make_scaler's scaler works on the CPU too


def test_planning_listing_and_status_import_no_torch(tiny_synth, tmp_path, capsys):
    """ls models, a dry run, status and table read the models' declarations: they start without torch or timm;
    all but table (which builds its table with pandas) start without pandas too."""
    import os
    import subprocess
    import sys

    results = tmp_path / "results"
    assert (
        cli(
            "run",
            "--root",
            tiny_synth,
            "--model",
            "mean",
            "--results",
            results,
            "--runs",
            tmp_path / "runs",
            "--quiet",
            "--no-table",
            *TINY_RECIPE,
        )
        == 0
    )
    capsys.readouterr()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    no_pandas = ("torch", "timm", "pandas")
    for argv, forbidden in (
        (["ls", "models"], no_pandas),
        (["ls", "datasets"], no_pandas),
        (
            ["run", "--dataset", "synthgaze", "--model", "static,seqsclstmsym", "--dry-run", "--results", results],
            no_pandas,
        ),
        (["status", "--root", str(tiny_synth), "--model", "mean,msa", "--results", str(results)], no_pandas),
        (["table", "--results", str(results)], ("torch", "timm")),
    ):
        code = (
            "import sys; from gazebench.cli import main; rc = main(sys.argv[2:]); "
            "heavy = [m for m in sys.argv[1].split(',') if m in sys.modules]; "
            "print('imported', heavy, file=sys.stderr) if heavy else None; sys.exit(rc or bool(heavy))"
        )
        r = subprocess.run(
            [sys.executable, "-c", code, ",".join(forbidden), *map(str, argv)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, (argv, r.stderr)
        assert "mean" in r.stdout or "static" in r.stdout or "synthgaze" in r.stdout, (argv, r.stdout)
