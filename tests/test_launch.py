"""Cluster sweeps through submitit: a suite through the local launcher (the code path Slurm runs),
again with nothing left to do, a failing unit in ``gazebench status`` with its log, and a re-run
that finishes it; the Slurm array's sbatch script and state files against stand-ins for sbatch,
srun and sacct; the suite's ``launcher:`` key and the flags over it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from gazebench import launch, planning
from gazebench.suites import BenchmarkError, get_suite
from tests.helpers import cli

SUITE = """
benchmarks:
  tiny:
    datasets: [{{name: synthgaze, root: "{root}"}}]
    models: [mean, static]
    model_kwargs: {{backbone: test_resnet, pretrained: false}}
    folds: all
    seeds: {seeds}
    recipe: {{epochs: 1, image_size: 32, batch_size: 16, num_workers: 0, logger: none}}
    launcher:
      max_parallel: 1
      timeout_min: 30
      local: {{max_parallel: 2}}
      slurm: {{partition: gpu, gpus_per_unit: 1, mem_gb: 16, sbatch: {{account: gaze}}}}
"""


def write_suite(tmp_path: Path, root: Path, seeds: list[int]) -> Path:
    path = tmp_path / "benchmarks.yaml"
    path.write_text(SUITE.format(root=root, seeds=seeds))
    return path


def request(config: Path, out: Path) -> list[str]:
    return ["--benchmark", "tiny", "--config", config, "--results", out / "results", "--runs", out / "runs"]


def status_json(config: Path, out: Path, capsys) -> dict:
    capsys.readouterr()
    assert cli("status", *request(config, out), "--json") == 0
    return json.loads(capsys.readouterr().out)


def by_unit(status: dict) -> dict:
    return {(u["label"], u["seed"]): u for u in status["units"]}


@pytest.mark.slow
def test_local_launcher_runs_skips_reports_failure_and_finishes_on_rerun(tiny_synth, tmp_path, capsys):
    pytest.importorskip("submitit")
    root = tmp_path / "synth"
    shutil.copytree(tiny_synth, root)
    config, out = write_suite(tmp_path, root, [0]), tmp_path / "out"
    launcher_dir = out / "runs" / "tiny" / launch.LAUNCHER_DIR

    # every unit runs in a submitit subprocess; the command waits for them
    assert cli("run", *request(config, out), "--launcher", "local", "--no-table") == 0
    assert len(list((out / "results" / "tiny").rglob("*.json"))) == 2
    jobs = sorted(p.name for p in launcher_dir.iterdir())
    assert len(jobs) == 2 and all((launcher_dir / j / f"{j}_0_log.err").is_file() for j in jobs)
    state = json.loads(next((out / "runs").rglob(launch.STATE_FILE)).read_text())
    assert state["state"] == "done" and state["launcher"] == "local" and state["job_id"] in jobs
    assert status_json(config, out, capsys)["counts"] == {"done": 2, "running": 0, "failed": 0, "missing": 0}

    # again: nothing left to do, nothing submitted
    capsys.readouterr()
    assert cli("run", *request(config, out), "--launcher", "local", "--no-table") == 0
    assert "nothing to do" in capsys.readouterr().err
    assert sorted(p.name for p in launcher_dir.iterdir()) == jobs

    # a second seed on a damaged tree: both new units fail, each with its log
    labels = pd.read_csv(root / "labels.csv")
    frame = root / labels[labels.subject == "s000"].iloc[3].path  # a test frame: read by every model
    good = frame.read_bytes()
    frame.write_bytes(good[:200])
    config = write_suite(tmp_path, root, [0, 1])
    assert cli("run", *request(config, out), "--launcher", "local", "--no-table") == 1
    status = status_json(config, out, capsys)
    assert status["counts"] == {"done": 2, "running": 0, "failed": 2, "missing": 0}
    for label in ("mean", "static"):
        failed = by_unit(status)[(label, 1)]
        assert failed["state"] == "failed" and "BadSample" in failed["error"]
        log = Path(failed["log"])
        assert log.is_file() and log.parent.parent == launcher_dir.absolute()
        assert "BadSample" in log.read_text()  # the task's traceback is in its log
    capsys.readouterr()
    assert cli("status", *request(config, out)) == 0
    text = capsys.readouterr().out
    assert text.count("failed   log ") == 2 and "2 done, 0 running, 2 failed, 0 missing" in text

    # fixed: the re-run submits the two failed units only and finishes them
    frame.write_bytes(good)
    assert cli("run", *request(config, out), "--launcher", "local", "--no-table") == 0
    assert len(list(launcher_dir.iterdir())) == 6
    status = status_json(config, out, capsys)
    assert status["counts"] == {"done": 4, "running": 0, "failed": 0, "missing": 0}


# --- Slurm, against stand-ins for its commands ----------------------------------------------------


def fake_slurm(bin_dir: Path, sacct_states: Path) -> None:
    """``srun`` (present: submitit detects Slurm), ``sbatch`` (keeps the script, answers job 4242)
    and ``sacct`` (answers the states written in ``sacct_states``)."""
    bin_dir.mkdir()
    scripts = {
        "srun": "#!/bin/sh\nexit 0\n",
        "sbatch": f"#!/bin/sh\ncp \"$1\" {bin_dir / 'submitted.sh'}\necho 'Submitted batch job 4242'\n",
        "sacct": f"#!/bin/sh\necho 'JobID|State|NodeList'\ncat {sacct_states}\n",
    }
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)


def test_slurm_array_script_state_files_and_status(tmp_path, monkeypatch, capsys):
    pytest.importorskip("submitit")
    bin_dir, sacct_states = tmp_path / "bin", tmp_path / "sacct.txt"
    fake_slurm(bin_dir, sacct_states)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    config, out = write_suite(tmp_path, tmp_path / "no-data-needed", [0]), tmp_path / "out"

    assert cli("run", *request(config, out), "--launcher", "slurm", "--max-parallel", "1", "--timeout-min", "90") == 0
    assert "job array 4242" in capsys.readouterr().err
    script = (bin_dir / "submitted.sh").read_text()
    for line in ("--array=0-1%1", "--partition=gpu", "--gpus-per-node=1", "--mem=16GB", "--time=90",
                 "--account=gaze", "--ntasks-per-node=1", "--signal=USR2@"):
        assert line in script, line
    assert str(out.absolute() / "runs" / "tiny" / launch.LAUNCHER_DIR / "%A_%a") in script

    sacct_states.write_text("4242_0|RUNNING|n1\n4242_1|FAILED|n1\n")
    status = by_unit(status_json(config, out, capsys))
    assert status[("mean", 0)]["state"] == "running" and status[("mean", 0)]["job_id"] == "4242_0"
    failed = status[("static", 0)]
    assert failed["state"] == "failed" and failed["job_id"] == "4242_1"
    assert failed["log"].endswith("4242_1/4242_1_0_log.err") and "ended without a result" in failed["error"]

    # sacct knows nothing of them (or is not there): the state file says what it last knew
    sacct_states.write_text("")
    assert {u["state"] for u in status_json(config, out, capsys)["units"]} == {"running"}


def test_the_task_checkpoint_requeues_the_same_unit_resuming(tmp_path):
    pytest.importorskip("submitit")
    unit = planning.plan(planning.expand(get_suite("tiny", write_suite(tmp_path, tmp_path, [0]))),
                         tmp_path / "r", tmp_path / "runs")[1]
    task = launch.UnitTask(unit, cwd=str(tmp_path), plugins=[], token="t", overwrite="always", resume=False)
    again = task.checkpoint()
    assert again.function.unit == unit and again.function.token == "t"
    assert again.function.resume is None and again.function.overwrite == "only-missing"
    assert launch.read_state(unit)["state"] == "requeued"


# --- options and errors -------------------------------------------------------------------------


def test_launcher_options_layers_and_checks(tmp_path):
    suite = get_suite("tiny", write_suite(tmp_path, tmp_path, [0]))
    local = launch.launch_options("local", {}, suite.launcher)
    assert (local.max_parallel, local.timeout_min, local.partition) == (2, 30, None)
    slurm = launch.launch_options("slurm", {"max_parallel": 5, "partition": None}, suite.launcher)
    assert (slurm.max_parallel, slurm.partition, slurm.gpus_per_unit, slurm.mem_gb) == (5, "gpu", 1, 16.0)
    assert dict(slurm.sbatch) == {"account": "gaze"}
    default = launch.launch_options("slurm", {})
    assert (default.max_parallel, default.timeout_min) == (256, 24 * 60)
    with pytest.raises(launch.LauncherError, match="max_parallel must be positive"):
        launch.launch_options("local", {"max_parallel": 0})
    bad = tmp_path / "bad.yaml"
    bad.write_text(SUITE.format(root=tmp_path, seeds=[0]).replace("timeout_min: 30", "time_min: 30"))
    with pytest.raises(BenchmarkError, match=r"launcher: unknown key 'time_min'.*timeout_min"):
        get_suite("tiny", bad)


def test_without_submitit_the_launcher_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit -> ImportError
    config = write_suite(tmp_path, tmp_path, [0])
    assert cli("run", *request(config, tmp_path), "--launcher", "local") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'pip install "gazebench[cluster]"' in err
    assert not (tmp_path / "runs").exists()  # nothing queued


def test_status_without_a_launch_is_missing_and_a_single_run_works(tmp_path, capsys):
    assert cli("status", "--dataset", "synthgaze", "--model", "mean,static", "--results", tmp_path / "r",
               "--runs", tmp_path / "runs") == 0
    out = capsys.readouterr().out
    assert "run: 2 units: 0 done, 0 running, 0 failed, 2 missing" in out


@pytest.mark.slow
def test_a_preempted_task_is_requeued_and_resumes_from_last_checkpoint(tiny_synth, tmp_path):
    """Slurm's preemption signal (USR2), sent the way submitit's local executor sends it: the task's
    checkpoint requeues the same unit, which resumes from its last.pt and finishes."""
    submitit = pytest.importorskip("submitit")
    config = write_suite(tmp_path, tiny_synth, [0])
    suite = get_suite("tiny", config)
    specs = planning.select(planning.expand(suite, {"epochs": 8}), models=["static"])
    (unit,) = planning.plan(specs, tmp_path / "results", tmp_path / "runs")
    executor = submitit.LocalExecutor(folder=tmp_path / "launcher" / "%j")
    executor.update_parameters(timeout_min=60, gpus_per_node=0)
    job = executor.submit(launch.UnitTask(unit, cwd=str(tmp_path), plugins=[], token="t"))
    last = unit.run_dir / "last.pt"
    deadline = time.time() + 60
    while not last.exists() and time.time() < deadline and not job.done():
        time.sleep(0.1)
    assert last.exists(), job.stderr()
    state = launch.read_state(unit)
    assert state["state"] == "running" and state["job_id"] == job.job_id
    os.kill(state["pid"], signal.SIGUSR2)  # to the task, as Slurm before preemption or the time limit
    assert job.result() == str(unit.result_path)  # the requeued task's answer
    log = job.paths.stderr.read_text()
    assert "this job is preempted" in log and "resuming after epoch" in log, log
    assert log.count(f"gazebench unit {unit.unit_id}") == 2  # the same unit, started twice
    assert unit.done and launch.read_state(unit)["state"] == "done"
