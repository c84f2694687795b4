"""Cluster sweeps through submitit: a suite through the local launcher (the code path Slurm runs),
again with nothing left to do, a failing unit in ``gazebench status`` with its log, and a re-run
that finishes it; a job array on a real one-node Slurm cluster (tools/ci/start_slurm.sh), requeued
and cancelled under ``gazebench status``; the suite's ``launcher:`` key and the flags over it."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from gazebench.core.request import RunOptions
from gazebench.plan import launch, planning
from gazebench.plan.suites import BenchmarkError, get_suite
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


# --- Slurm: a real one-node cluster (tools/ci/start_slurm.sh; .ci/run starts it) ----------------------


@functools.lru_cache(maxsize=1)
def slurm_problem() -> str | None:
    """Why the Slurm tests cannot run here (None: sbatch is there and sinfo shows a usable node)."""
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return "no Slurm here (as root: tools/ci/start_slurm.sh starts a one-node cluster)"
    try:
        states = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%t"], check=False, capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"sinfo failed: {exc}"
    if not any(s.strip() in ("idle", "mix", "alloc") for s in states.split()):
        return f"no usable Slurm node (sinfo: {states.strip() or 'nothing'}; tools/ci/start_slurm.sh starts one)"
    return None


EPOCHS = 12  # enough that a unit cannot finish in the second between scancel and SIGKILL (KillWait=1)
SLURM_SUITE = """
benchmarks:
  tiny:
    datasets: [{{name: synthgaze, root: "{root}"}}]
    models: [static]
    model_kwargs: {{backbone: test_resnet, pretrained: false}}
    folds: all
    seeds: [0, 1]
    recipe: {{epochs: {epochs}, image_size: 32, batch_size: 16, num_workers: 0, logger: none}}
    launcher:
      slurm: {{partition: {partition}, cpus_per_unit: 1, max_parallel: 2, sbatch: {{comment: gazebench-test}}}}
"""


def wait_until(what: str, check, timeout: float, *, every: float = 0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"waited {timeout:g} s for {what}")


def scontrol(*args: str) -> str:
    return subprocess.run(["scontrol", *args], capture_output=True, text=True, check=True, timeout=30).stdout


def kill_left_tasks(job_id: str, kill_wait: float = 2.0) -> list[int]:
    """SIGKILL the processes of job ``job_id`` (``SLURM_JOB_ID`` in their environment) still alive
    ``kill_wait`` s after ``scancel``; returns their pids.  Slurm should have killed them after
    KillWait=1, but on this one-node cluster (proctrack/linuxproc, task/none) a task cancelled during
    its set-up has been seen to survive and finish its unit (its step COMPLETED 7 s after the cancel):
    this does what a node with proctrack/cgroup does, so the test checks the launcher, not the node."""
    time.sleep(kill_wait)
    killed = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"SLURM_JOB_ID={job_id}\0".encode() in environ.read_bytes() + b"\0":
                pid = int(environ.parent.name)
                if not (environ.parent / "cmdline").read_bytes().startswith(b"slurmstepd"):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
        except (OSError, ValueError):
            continue
    return killed


def stepd_of(job_id: str) -> list[str]:
    """The slurmstepd processes of a job on this node (their title is ``slurmstepd: [<id>.<step>]``)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text.startswith(f"slurmstepd: [{job_id}."):
            found.append(text)
    return found


@pytest.fixture()
def slurm_jobs():
    """Job ids to cancel at the end, so that a failing test leaves nothing queued or running."""
    jobs: list[str] = []
    yield jobs
    if jobs:
        subprocess.run(["scancel", *jobs], check=False, capture_output=True, timeout=30)


@pytest.mark.slurm
@pytest.mark.skipif(slurm_problem() is not None, reason=str(slurm_problem()))
def test_a_real_slurm_array_requeued_resumes_cancelled_fails_with_its_log(
    tiny_synth, tmp_path, capsys, monkeypatch, slurm_jobs
):
    """Two units as one job array on a real slurmctld/slurmd: ``gazebench status`` follows them
    through sacct (via submitit); ``scontrol requeue`` of one makes it start again and resume from
    its last.pt; ``scancel`` of the other shows it failed, with its log."""
    pytest.importorskip("submitit")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the job inherits the environment (sbatch --export=ALL)
    sinfo = subprocess.run(["sinfo", "-h", "-o", "%R"], check=True, capture_output=True, text=True, timeout=30)
    partition = sinfo.stdout.split()[0]
    config, out = tmp_path / "benchmarks.yaml", tmp_path / "out"
    config.write_text(SLURM_SUITE.format(root=tiny_synth, epochs=EPOCHS, partition=partition))

    assert cli("run", *request(config, out), "--launcher", "slurm", "--timeout-min", "20") == 0
    err = capsys.readouterr().err
    assert "submitted 2 units as Slurm job array" in err, err
    units = by_unit(status_json(config, out, capsys))
    requeued, cancelled = units[("static", 0)], units[("static", 1)]
    array = requeued["job_id"].split("_")[0]
    slurm_jobs.append(array)
    assert (requeued["job_id"], cancelled["job_id"]) == (f"{array}_0", f"{array}_1")
    assert {requeued["state"], cancelled["state"]} == {"running"}  # queued or running: sacct knows the job

    # what submitit gave sbatch: the suite's resources, as Slurm took them
    job = scontrol("show", "job", array)
    for field in (f"Partition={partition}", "TimeLimit=00:20:00", "Comment=gazebench-test", "ArrayTaskThrottle=2"):
        assert field in job, (field, job)

    def state(unit: dict) -> dict:
        return json.loads((Path(unit["run_dir"]) / launch.STATE_FILE).read_text())

    # the cancelled unit: once its task runs (the two run side by side, one CPU each),
    # scancel it
    wait_until("the second task to start", lambda: state(cancelled)["state"] == "running", 90)
    cancelled_raw = re.search(r"\bJobId=(\d+)", scontrol("show", "job", cancelled["job_id"]))[1]
    subprocess.run(["scancel", cancelled["job_id"]], check=True, timeout=30)
    # in the background: the other task's requeue below must not wait for it
    killer = threading.Thread(target=kill_left_tasks, args=(cancelled_raw,), daemon=True)
    killer.start()

    # the requeued unit: once its first epoch's checkpoint is there, suspend it (its processes stop
    # where they are, so the requeue finds it at a known epoch whatever the machine's speed), then
    # requeue it.  Slurm holds a job requeued while suspended (JobHeldAdmin; otherwise it keeps
    # it pending for two minutes): release it
    last = Path(requeued["run_dir"]) / "last.pt"
    wait_until("the first task's last.pt", last.exists, 90, every=0.05)
    scontrol("suspend", requeued["job_id"])
    scontrol("requeue", requeued["job_id"])

    def pending() -> bool:
        return "JobState=PENDING" in scontrol("show", "job", requeued["job_id"])

    wait_until("the requeued job to be pending", pending, 60, every=0.2)
    killer.join()
    status = by_unit(status_json(config, out, capsys))
    assert status[("static", 0)]["state"] == "running"  # requeued: pending again, alive for sacct

    # the requeued unit: once the node has cleaned up its first run (no slurmstepd of the job
    # left, else the relaunch fails and Slurm holds the job again), released, it starts again
    raw_id = re.search(r"\bJobId=(\d+)", scontrol("show", "job", requeued["job_id"]))[1]
    wait_until("the first run's slurmstepd to exit", lambda: not stepd_of(raw_id), 60, every=0.2)
    subprocess.run(["scontrol", "release", requeued["job_id"]], check=False, capture_output=True, timeout=30)
    if pending():
        subprocess.run(
            ["scontrol", "update", f"jobid={requeued['job_id']}", "StartTime=now"],
            check=False,
            capture_output=True,
            timeout=30,
        )

    wait_until("the requeued unit's result", lambda: Path(requeued["result"]).exists(), 120, every=0.5)
    status = status_json(config, out, capsys)
    if status["counts"] != {"done": 1, "running": 0, "failed": 1, "missing": 0}:  # say what Slurm saw
        sacct = subprocess.run(
            ["sacct", "-j", array, "-P", "--format=JobID,State,ExitCode,Start,End"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        logs = {
            u["label"] + str(u["seed"]): Path(u["log"]).read_text() if u.get("log") else None for u in status["units"]
        }
        pytest.fail(f"counts {status['counts']}; sacct:\n{sacct}\nlogs: {logs}\nunits: {status['units']}")
    log = Path(requeued["log"]).read_text()
    assert "DUE TO JOB REQUEUE" in log and log.count(f"gazebench unit {requeued['unit_id']}") == 2, log
    resumed = re.search(r"resuming after epoch (\d+)", log)
    assert resumed and 1 <= int(resumed[1]) < EPOCHS, log  # from its checkpoint, not from scratch
    assert f"epoch {EPOCHS}:" in log.split(resumed[0])[1]
    failed = by_unit(status)[("static", 1)]
    assert failed["state"] == "failed" and "ended without a result" in failed["error"]
    assert failed["log"].endswith(f"{array}_1/{array}_1_0_log.err")
    assert "CANCELLED" in Path(failed["log"]).read_text()
    capsys.readouterr()
    assert cli("status", *request(config, out)) == 0
    assert "1 done, 0 running, 1 failed, 0 missing" in capsys.readouterr().out


def test_the_task_checkpoint_requeues_the_same_unit_resuming(tmp_path):
    pytest.importorskip("submitit")
    unit = planning.plan(
        planning.expand(get_suite("tiny", write_suite(tmp_path, tmp_path, [0]))), tmp_path / "r", tmp_path / "runs"
    )[1]
    options = RunOptions(overwrite="always", resume=False, deterministic=True, progress=False)
    task = launch.UnitTask(unit, cwd=str(tmp_path), plugins=[], token="t", options=options)
    again = task.checkpoint()
    assert again.function.unit == unit and again.function.token == "t"
    assert again.function.options == RunOptions(
        overwrite="only-missing", resume=None, deterministic=True, progress=False
    )  # the rest of the options kept
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
    assert (
        cli(
            "status",
            "--dataset",
            "synthgaze",
            "--model",
            "mean,static",
            "--results",
            tmp_path / "r",
            "--runs",
            tmp_path / "runs",
        )
        == 0
    )
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
