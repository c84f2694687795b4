"""The typed request (gazebench.core.request): every field of Request and RunOptions is a flag of both
``gazebench run`` and ``gazebench status``, read from the parsed flags and written back as them, so a
new run flag is one field; the Namespace is only read."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import shlex
from pathlib import Path

import pytest

from gazebench.cli import build_parser
from gazebench.core.errors import UserValueError
from gazebench.core.request import Request, RunOptions, flags

#: a value other than the default for every field, as the flags that give it
GIVEN = {
    "benchmark": (["--benchmark", "paper"], "paper"),
    "config": (["--config", "b.yaml"], Path("b.yaml")),
    "datasets": (["--dataset", "rtgene, gaze360"], ("rtgene", "gaze360")),
    "train": (["--train", "gaze360,ethxgaze"], ("gaze360", "ethxgaze")),
    "test": (["--test", "mpiifacegaze"], ("mpiifacegaze",)),
    "models": (["--model", "static,mean"], ("static", "mean")),
    "folds": (["--fold", "0,2"], ("0", "2")),
    "seeds": (["--seed", "0,1,2"], (0, 1, 2)),
    "roots": (["--root", "rtgene=/data/rt", "--root", "/data/g"], ("rtgene=/data/rt", "/data/g")),
    "protocol": (["--protocol", "multizoom"], "multizoom"),
    "label": (["--label", "mine"], "mine"),
    "sets": (["--set", "lr=1e-4", "--set", "crops=175"], ("lr=1e-4", "crops=175")),
    "epochs": (["--epochs", "3"], 3),
    "backbone": (["--backbone", "resnet18"], "resnet18"),
    "logger": (["--logger", "none"], "none"),
    "on_bad_sample": (["--on-bad-sample", "skip"], "skip"),
    "results": (["--results", "out/r"], Path("out/r")),
    "runs": (["--runs", "out/runs"], Path("out/runs")),
    "predict_only": (["--predict-only"], True),
    "overwrite": (["--overwrite", "always"], "always"),
    "resume": (["--restart"], False),
    "deterministic": (["--deterministic"], True),
    "dry_run": (["--dry-run"], True),
    "keep_going": (["--keep-going"], True),
    "progress": (["--quiet"], False),
    "table": (["--no-table"], False),
    "launcher": (["--launcher", "slurm"], "slurm"),
    "max_parallel": (["--max-parallel", "20"], 20),
    "partition": (["--partition", "gpu"], "gpu"),
    "gpus_per_unit": (["--gpus-per-unit", "1"], 1),
    "timeout_min": (["--timeout-min", "90"], 90),
    "mem_gb": (["--mem-gb", "15.5"], 15.5),
    "cpus_per_unit": (["--cpus-per-unit", "8"], 8),
}
FIELDS = [f.name for cls in (Request, RunOptions) for f in dataclasses.fields(cls)]


def options_of(command: str) -> set[str]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {s for action in sub.choices[command]._actions for s in action.option_strings}


def test_every_field_is_a_flag_of_run_and_of_status():
    assert sorted(GIVEN) == sorted(FIELDS), "a field without an example here (or an example of no field)"
    run, status = options_of("run"), options_of("status")
    for cls in (Request, RunOptions):
        for f, flag in flags(cls):
            assert set(flag.names) <= run and set(flag.names) <= status, f.name
    # and every flag of run that is not a field is status's own or global
    declared = {n for cls in (Request, RunOptions) for _, flag in flags(cls) for n in flag.names}
    assert run - declared == {"-h", "--help", "--plugin", "--traceback"}
    assert status - declared == {"-h", "--help", "--plugin", "--traceback", "--json"}
    # the launcher's resources: the flags and the keys of a suite's launcher: are the same names
    from gazebench.core.request import RESOURCE_KEYS

    assert sorted(RunOptions().resources()) == sorted(RESOURCE_KEYS)


@pytest.mark.parametrize("command", ["run", "status"])
def test_the_flags_give_every_field_and_the_namespace_is_only_read(command):
    argv = [a for flags_, _ in GIVEN.values() for a in flags_]
    args = build_parser().parse_args([command, *argv])
    before = copy.deepcopy(vars(args))
    request, options = Request.from_args(args), RunOptions.from_args(args)
    assert vars(args) == before  # nothing written back into the Namespace
    for name in FIELDS:
        value = getattr(request if hasattr(request, name) else options, name)
        assert value == GIVEN[name][1], name
    # written back as flags, parsed again: the same request and options (the `gazebench status` line)
    again = build_parser().parse_args([command, *request.to_argv(), *options.to_argv()])
    assert (Request.from_args(again), RunOptions.from_args(again)) == (request, options)


def test_defaults_write_no_flags_and_match_a_bare_command():
    args = build_parser().parse_args(["run"])
    assert Request.from_args(args) == Request() and RunOptions.from_args(args) == RunOptions()
    assert Request().to_argv() == [] and RunOptions().to_argv() == []
    assert RunOptions(resume=True).to_argv() == ["--resume"]


def test_the_status_line_of_a_launch_names_the_units_flags_only():
    from gazebench.commands.status import status_command

    request = Request(
        benchmark="paper", datasets=("rtgene",), roots=("rtgene=/data/RT GENE",), sets=("lr=1e-4",), results=Path("out")
    )
    line = status_command(request)
    assert (
        line == "gazebench status --benchmark paper --dataset rtgene --root 'rtgene=/data/RT GENE' --set lr=1e-4 "
        "--results out"
    )
    assert Request.from_args(build_parser().parse_args(shlex.split(line)[1:])) == request


def test_bad_values_are_one_clear_error_also_from_python():
    args = build_parser().parse_args(["run", "--seed", "0,x"])
    with pytest.raises(UserValueError, match=r"--seed 0,x: 'x' is not an integer"):
        Request.from_args(args)
    with pytest.raises(UserValueError, match=r"--overwrite sometimes: choose from only-missing, always"):
        RunOptions(overwrite="sometimes")
    with pytest.raises(dataclasses.FrozenInstanceError):
        RunOptions().overwrite = "always"
    with pytest.raises(UserValueError, match=r"Request\(models='static'\): give a tuple"):
        Request(models="static")
    assert Request(models=["static"], results="out") == Request(models=("static",), results=Path("out"))


def test_a_request_from_python_plans_as_the_command_does(tmp_path, capsys):
    from gazebench.plan.planning import plan_request
    from tests.helpers import cli

    planned = plan_request(
        Request(datasets=("rt-gene",), models=("static", "mean"), folds=("0", "2"), results=tmp_path)
    )
    assert [(u.spec.dataset, u.fold, u.label) for u in planned.units] == [
        ("rtgene", "0", "static"),
        ("rtgene", "0", "mean"),
        ("rtgene", "2", "static"),
        ("rtgene", "2", "mean"),
    ]
    assert (
        cli("run", "--dataset", "rtgene", "--model", "static,mean", "--fold", "0,2", "--results", tmp_path, "--dry-run")
        == 0
    )
    out = capsys.readouterr().out
    assert all(str(u.result_path) in out for u in planned.units)
    with pytest.raises(UserValueError, match="--config needs --benchmark NAME"):
        plan_request(Request(config=Path("b.yaml")))
