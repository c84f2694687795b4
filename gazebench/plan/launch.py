"""Cluster sweeps: each missing unit of a request as one task of a submitit job array.

``gazebench run --benchmark B --launcher slurm|local`` plans exactly as an in-process run does
(:func:`gazebench.commands.run.request_units`), then hands every *missing* unit (every unit with
``--overwrite always``) to submitit:

- ``slurm``: one Slurm job array (``sbatch`` is written and called by submitit), one unit per
  array task, at most ``max_parallel`` tasks at a time (``slurm_array_parallelism``); the command
  returns once the array is queued.
- ``local``: the same task objects through submitit's ``LocalExecutor`` (one subprocess per unit,
  ``max_parallel`` at a time, default 1); the command waits for them and reports each failure with
  its log.

A task re-plans nothing: it carries the planned :class:`~gazebench.plan.planning.Unit` and calls
:func:`gazebench.train.runner.run_unit`, which skips a finished unit and resumes an interrupted one from
its ``last.pt``.  That makes preemption and requeue safe: :meth:`UnitTask.checkpoint` (submitit's
checkpoint protocol, called on Slurm's pre-timeout/preemption signal) returns the same unit as a
fresh task whose options say ``resume=None`` and ``overwrite=only-missing``, so the requeued task
continues from the last finished epoch and never redoes a finished unit.

Each unit's state goes to ``<run_dir>/launcher.json`` (written atomically: queued by the launcher,
submitted with the job id and log paths, running/done/failed/requeued by the task itself);
``gazebench status`` reads it next to the result files (:func:`unit_state`).  submitit's own files
(pickled task, ``<job id>_0_log.out`` / ``_log.err``, the sbatch script) go to
``<runs>/<suite>/_launcher/<job id>/``.

submitit is an optional dependency (``pip install "gazebench[cluster]"``): nothing here imports it
at module level, and ``gazebench status`` works without it.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from gazebench.core.config import ConfigError
from gazebench.core.request import LAUNCHERS, RESOURCE_KEYS, RunOptions

STATE_FILE = "launcher.json"
#: the folder (under the runs folder of the request) that holds submitit's files, one per job
LAUNCHER_DIR = "_launcher"
INSTALL_HINT = 'pip install "gazebench[cluster]"'
#: default wall time of one unit's task (minutes): Slurm 24 h (a unit that needs longer is requeued
#: from its last.pt on timeout, up to MAX_TIMEOUTS times), local one week (no limit in practice)
DEFAULT_TIMEOUT_MIN = {"slurm": 24 * 60, "local": 7 * 24 * 60}
DEFAULT_MAX_PARALLEL = {"slurm": 256, "local": 1}
MAX_TIMEOUTS = 3
#: states a task's job can be in while it still holds (or waits for) resources
LIVE_STATES = ("queued", "submitted", "running", "requeued")
#: Slurm job states (sacct, through submitit) that mean the job is queued or running
SLURM_ALIVE = (
    "PENDING",
    "RUNNING",
    "REQUEUED",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "CONFIGURING",
    "COMPLETING",
    "SUSPENDED",
    "RESIZING",
    "SIGNALING",
    "STAGE_OUT",
)


class LauncherError(ConfigError):
    """A launcher that cannot run here (no submitit, no Slurm) or a bad resource value."""


@dataclass(frozen=True)
class LaunchOptions:
    launcher: str
    max_parallel: int
    timeout_min: int
    partition: str | None = None
    gpus_per_unit: int | None = None  # None: slurm 0 unless given; local: 1 where the machine has a GPU
    mem_gb: float | None = None
    cpus_per_unit: int | None = None
    sbatch: tuple[tuple[str, Any], ...] = ()

    def describe(self) -> str:
        parts = [f"at most {self.max_parallel} at a time", f"{self.timeout_min} min each"]
        if self.partition:
            parts.append(f"partition {self.partition}")
        for key, what in (("gpus_per_unit", "GPU"), ("cpus_per_unit", "CPU"), ("mem_gb", "GB")):
            value = getattr(self, key)
            if value is not None:
                parts.append(f"{value:g} {what}" if isinstance(value, float) else f"{value} {what}")
        parts += [f"{k}={v}" for k, v in self.sbatch]
        return ", ".join(parts)


def require_submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise LauncherError(f"--launcher needs submitit, which is not installed: {INSTALL_HINT}") from None
    return submitit


def _typed(key: str, value: Any, where: str) -> Any:
    if value is None:
        return None
    kind = {
        "max_parallel": int,
        "gpus_per_unit": int,
        "cpus_per_unit": int,
        "timeout_min": int,
        "mem_gb": float,
        "partition": str,
    }[key]
    try:
        out = kind(value)
    except (TypeError, ValueError):
        what = {float: "a number", int: "an integer"}.get(kind, "text")
        raise LauncherError(f"{where}: {key} must be {what}, got {value!r}") from None
    if kind is not str and (out < 0 or (out == 0 and key in ("max_parallel", "timeout_min", "cpus_per_unit"))):
        raise LauncherError(f"{where}: {key} must be positive, got {value!r}")
    return out


def launch_options(
    launcher: str, flags: dict[str, Any], suite_launcher: dict[str, Any] | None = None, where: str = "launcher"
) -> LaunchOptions:
    """The resources of ``launcher``: defaults < the suite's flat ``launcher:`` keys < its
    ``launcher: {<launcher>: ...}`` keys < the flags (None: not given)."""
    from gazebench.plan.suites import expand_env

    if launcher not in LAUNCHERS:
        raise LauncherError(f"--launcher {launcher!r}: choose from {', '.join(LAUNCHERS)}")
    given = dict(suite_launcher or {})
    per = given.pop(launcher, {}) or {}
    for other in LAUNCHERS:
        given.pop(other, None)
    merged = {**expand_env(given, where), **expand_env(per, f"{where}.{launcher}")}
    merged.update({k: v for k, v in flags.items() if v is not None})
    values = {k: _typed(k, merged.get(k), where) for k in RESOURCE_KEYS}
    sbatch = merged.get("sbatch") or {}
    if not isinstance(sbatch, dict):
        raise LauncherError(f"{where}.sbatch: expected a mapping of sbatch options, got {sbatch!r}")
    if values["max_parallel"] is None:
        values["max_parallel"] = DEFAULT_MAX_PARALLEL[launcher]
    if values["timeout_min"] is None:
        values["timeout_min"] = DEFAULT_TIMEOUT_MIN[launcher]
    return LaunchOptions(launcher=launcher, sbatch=tuple(sorted((str(k), v) for k, v in sbatch.items())), **values)


# --- the state file -------------------------------------------------------------------------------


def state_path(unit: Any) -> Path:
    return Path(unit.run_dir) / STATE_FILE


def read_state(unit: Any) -> dict[str, Any] | None:
    """``<run_dir>/launcher.json`` of the unit, or None (never launched; unreadable counts as none)."""
    try:
        state = json.loads(state_path(unit).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def write_state(unit: Any, state: str, **facts: Any) -> dict[str, Any]:
    """Replace the unit's state file atomically; earlier facts (job id, logs) are kept unless given."""
    from gazebench.core.atomic import atomic_write

    previous = read_state(unit) or {}
    keep = {k: v for k, v in previous.items() if k not in ("error", "pid")}
    out = {**keep, **facts, "state": state, "unit_id": unit.unit_id, "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    path = state_path(unit)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(out, indent=1, default=str) + "\n")
    return out


# --- the task that runs one unit --------------------------------------------------------------------


class UnitTask:
    """One unit as a submitit task: ``__call__`` runs it (in the job's process), ``checkpoint`` is
    submitit's preemption/timeout hook.  Picklable: the planned unit, the run's options and plain values."""

    def __init__(
        self, unit: Any, *, cwd: str, plugins: list[str], token: str, options: RunOptions | None = None
    ) -> None:
        self.unit, self.cwd, self.plugins, self.token = unit, cwd, list(plugins), token
        self.options = options or RunOptions()

    def job_facts(self) -> dict[str, Any]:
        """Who runs this task: the job id and log files (per submitit's job environment), host, pid."""
        facts: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid(), "token": self.token}
        try:
            import submitit

            env = submitit.JobEnvironment()
            facts.update(job_id=env.job_id, stdout=str(env.paths.stdout), stderr=str(env.paths.stderr))
        except Exception:  # noqa: BLE001  (called outside a submitit job: the facts we have)
            pass
        return facts

    def __call__(self) -> str:
        os.chdir(self.cwd)  # the unit's paths are those of the submitting command
        from gazebench.core.runtime import choose_openmp_wait

        choose_openmp_wait()
        if self.plugins:
            from gazebench.plugins import load_plugin_files

            load_plugin_files(self.plugins)
        write_state(self.unit, "running", **self.job_facts(), started=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        print(
            f"gazebench unit {self.unit.unit_id}: {self.unit.describe()} -> {self.unit.result_path}",
            file=sys.stderr,
            flush=True,
        )
        try:
            from gazebench.train.runner import run_unit

            run_unit(self.unit, self.options)
        except Exception as exc:  # noqa: BLE001  (recorded, then re-raised for submitit's own record)
            write_state(self.unit, "failed", error=f"{type(exc).__name__}: {exc}".strip()[:2000])
            raise
        write_state(self.unit, "done", result=str(self.unit.result_path))
        return str(self.unit.result_path)

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Preempted or out of time: requeue the same unit.  The requeued task resumes from the
        unit's last.pt (``resume=None``) and skips it if it finished meanwhile (only-missing), even
        when the first attempt was ``--restart`` or ``--overwrite always``."""
        import submitit

        write_state(self.unit, "requeued")
        again = UnitTask(
            self.unit,
            cwd=self.cwd,
            plugins=self.plugins,
            token=self.token,
            options=replace(self.options, overwrite="only-missing", resume=None),
        )
        return submitit.helpers.DelayedSubmission(again)


# --- submitting -----------------------------------------------------------------------------------


def local_gpus() -> int:
    """GPUs this machine shows torch (0 without CUDA)."""
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # noqa: BLE001
        return 0


def make_executor(opts: LaunchOptions, folder: Path) -> Any:
    """submitit's executor for ``opts`` writing under ``folder/<job id>/``."""
    submitit = require_submitit()
    folder = Path(folder).absolute() / "%j"
    common = dict(timeout_min=opts.timeout_min, tasks_per_node=1, nodes=1)
    if opts.cpus_per_unit is not None:
        common["cpus_per_task"] = opts.cpus_per_unit
    if opts.mem_gb is not None:
        common["mem_gb"] = opts.mem_gb
    if opts.launcher == "slurm":
        try:
            executor = submitit.AutoExecutor(folder=folder, cluster="slurm", slurm_max_num_timeout=MAX_TIMEOUTS)
        except RuntimeError as exc:
            raise LauncherError(
                f"--launcher slurm: no Slurm on this machine ({exc}); submit from a login node "
                "of the cluster, or use --launcher local"
            ) from None
        params: dict[str, Any] = dict(
            common, name="gazebench", gpus_per_node=opts.gpus_per_unit or 0, slurm_array_parallelism=opts.max_parallel
        )
        if opts.partition:
            params["slurm_partition"] = opts.partition
        if opts.sbatch:
            params["slurm_additional_parameters"] = dict(opts.sbatch)
        executor.update_parameters(**params)
        return executor
    executor = submitit.LocalExecutor(folder=folder, max_num_timeout=MAX_TIMEOUTS)
    gpus = opts.gpus_per_unit if opts.gpus_per_unit is not None else min(1, local_gpus())
    local = {k: v for k, v in common.items() if k not in ("cpus_per_task", "mem_gb")}  # not limits locally
    executor.update_parameters(**local, gpus_per_node=gpus)
    return executor


def submit(units: list, options: RunOptions, opts: LaunchOptions, folder: Path, *, name: str, status_hint: str) -> int:
    """Submit the units to be run (already filtered to the missing ones), each task running its unit
    with ``options``; returns the exit code."""
    executor = make_executor(opts, folder)
    from gazebench.plugins import loaded_plugin_files

    plugins = [str(p) for p in loaded_plugin_files()]
    tasks = [UnitTask(u, cwd=os.getcwd(), plugins=plugins, token=uuid.uuid4().hex, options=options) for u in units]
    queued = dict(
        launcher=opts.launcher,
        folder=str(Path(folder).absolute()),
        host=socket.gethostname(),
        pid=os.getpid(),
        submitted=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        options=asdict(opts),
    )
    for t in tasks:
        write_state(t.unit, "queued", token=t.token, job_id=None, stdout=None, stderr=None, **queued)
    if opts.launcher == "slurm":
        jobs = executor.submit_array(tasks)
        for t, job in zip(tasks, jobs):
            _submitted(t, job, opts.launcher)
        array = jobs[0].job_id.split("_")[0] if jobs else "?"
        print(
            f"{name}: submitted {len(tasks)} units as Slurm job array {array} ({opts.describe()}); "
            f"logs under {Path(folder) / (array + '_<task>')}/; follow with `{status_hint}`",
            file=sys.stderr,
        )
        return 0
    return _run_local(executor, tasks, opts, name, status_hint)


def _submitted(task: UnitTask, job: Any, launcher: str) -> None:
    """Record the job of a task -- unless the task already started and wrote its own state."""
    current = read_state(task.unit) or {}
    if current.get("token") == task.token and current.get("state") != "queued":
        return
    # local: the job id is the pid of submitit's controller process, alive while the task runs
    pid = int(job.job_id) if launcher == "local" and str(job.job_id).isdigit() else None
    write_state(
        task.unit,
        "submitted",
        token=task.token,
        job_id=str(job.job_id),
        stdout=str(job.paths.stdout),
        stderr=str(job.paths.stderr),
        launcher=launcher,
        pid=pid,
    )


def _run_local(executor: Any, tasks: list[UnitTask], opts: LaunchOptions, name: str, status_hint: str) -> int:
    """Run the tasks through submitit's local executor, ``max_parallel`` at a time, and wait."""
    pending, running, failed, ok = list(tasks), [], [], 0
    print(f"{name}: running {len(tasks)} units through submitit's local executor ({opts.describe()})", file=sys.stderr)
    try:
        while pending or running:
            while pending and len(running) < opts.max_parallel:
                task = pending.pop(0)
                job = executor.submit(task)
                _submitted(task, job, "local")
                print(f"  started {task.unit.describe()}: job {job.job_id}, log {job.paths.stderr}", file=sys.stderr)
                running.append((task, job))
            time.sleep(0.2)
            for task, job in list(running):
                if not job.done():
                    continue
                running.remove((task, job))
                state = read_state(task.unit) or {}
                if task.unit.done:
                    ok += 1
                    print(f"  done {task.unit.describe()} -> {task.unit.result_path}", file=sys.stderr)
                    continue
                why = state.get("error") if state.get("state") == "failed" else None
                if why is None:
                    why = "the job ended without a result"
                    write_state(task.unit, "failed", error=why)
                failed.append((task, job, why))
                print(f"  FAILED {task.unit.describe()}: {why}; log {job.paths.stderr}", file=sys.stderr)
    except KeyboardInterrupt:
        for _, job in running:
            job.cancel(check=False)
        raise
    try:  # submitit's local controller makes the unformatted "%j" folder too; it stays empty
        (Path(executor.folder).parent / "%j").rmdir()
    except OSError:
        pass
    hint = f"; `{status_hint}` lists them with their logs" if failed else ""
    print(f"{name}: ran {ok}, failed {len(failed)}{hint}", file=sys.stderr)
    return 1 if failed else 0


# --- what status reads ----------------------------------------------------------------------------


def query_slurm(states: list[dict[str, Any] | None]) -> None:
    """Register every Slurm job of ``states`` with submitit's watcher first, so that the states of
    all of them come from one ``sacct`` call (instead of one per unit)."""
    jobs = [
        s for s in states if s and s.get("launcher") == "slurm" and s.get("job_id") and s.get("state") in LIVE_STATES
    ]
    if not jobs:
        return
    try:
        import submitit

        submitit.SlurmJob.watcher.clear()  # fresh states, not those cached by an earlier query of this process
        for s in jobs:
            submitit.SlurmJob(folder=s.get("folder") or ".", job_id=str(s["job_id"]))
    except Exception:  # noqa: BLE001
        pass


def job_alive(state: dict[str, Any]) -> bool | None:
    """Whether the job of a live-looking state file still runs: True / False, or None when it
    cannot be told from here (another host; Slurm not reachable)."""
    if state.get("launcher") == "slurm" and state.get("job_id"):
        try:
            import submitit

            slurm_state = submitit.SlurmJob(folder=state.get("folder") or ".", job_id=str(state["job_id"])).state
        except Exception:  # noqa: BLE001  (no submitit, no sacct: trust the state file)
            return None
        slurm_state = str(slurm_state or "").split()[0].upper() if slurm_state else ""
        if not slurm_state or slurm_state == "UNKNOWN":
            return None
        return slurm_state in SLURM_ALIVE
    if state.get("host") != socket.gethostname() or not state.get("pid"):
        return None
    try:
        os.kill(int(state["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, ValueError):
        return None
    return True


def unit_state(unit: Any) -> dict[str, Any]:
    """A unit as ``gazebench status`` shows it: ``state`` done / running / failed / missing, with
    ``log`` (the task's stderr, when launched), ``job_id``, ``error`` and ``note``."""
    result = unit.status()
    state = read_state(unit)
    out: dict[str, Any] = {"state": "missing", "log": None, "job_id": None, "error": None, "note": None}
    if state and state.get("unit_id") == unit.unit_id:
        out.update(log=state.get("stderr"), job_id=state.get("job_id"))
    else:
        state = None
    if result == "done":
        out["state"] = "done"
        return out
    if result == "bad":
        out["note"] = "a bad result file (set aside when the unit runs)"
    if state is None or state.get("state") == "done":
        return out
    if state.get("state") == "failed":
        out.update(state="failed", error=state.get("error"))
        return out
    if state.get("state") in LIVE_STATES:
        alive = job_alive(state)
        if alive is False:
            out.update(
                state="failed",
                error=state.get("error")
                or f"the job ended without a result (was {state['state']}: killed, out of time or memory?)",
            )
        else:
            out["state"] = "running"
            out["note"] = state["state"] + ("" if alive else " (per the state file; the job cannot be queried here)")
    return out
