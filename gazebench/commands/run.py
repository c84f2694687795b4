"""``gazebench run``: train, select on validation and test models; one result file per unit.

One path for every request: the flags become a :class:`~gazebench.core.request.Request` (which units)
and :class:`~gazebench.core.request.RunOptions` (how), once; the request's suite (``--benchmark NAME``
from benchmarks.yaml, or the anonymous suite of ``--dataset/--model``) is expanded into run specs,
filtered, planned from the dataset cards (no data read; :func:`gazebench.plan.planning.plan_request`)
and executed unit by unit.  Units whose
result file exists are skipped, so running the same command again resumes an interrupted sweep.
With ``--launcher slurm|local`` the missing units go to submitit instead, one task each
(:mod:`gazebench.plan.launch`).
"""

from __future__ import annotations

import argparse
import json
import sys

from gazebench.core.request import Request, RunOptions, request_flags

EXAMPLES = """\
examples:
  gazebench run --dataset synthgaze --model static,mean
  gazebench run --dataset synthgaze --model staticsclstmsym --backbone resnet18 --epochs 20 --seed 0,1,2
  gazebench run --dataset rtgene --root /data/RT-GENE --model seqsclstmsym --fold all --set variant=original
  gazebench run --dataset rtgene --model static --fold 0,2 --dry-run     which units, without the data
  gazebench run --dataset gaze360 --protocol multizoom --model msa --dry-run   the protocol's recipe
  gazebench run --dataset synthgaze --model staticsc --set crops=175 --set lr=3e-4
  gazebench run --train gaze360 --test rtgene,mpiifacegaze --root rtgene=/data/RT-GENE --model static
                                                           cross-dataset: one more result per test dataset
  gazebench run --train gaze360,ethxgaze --test mpiifacegaze --root gaze360=/data/g360 --root ethxgaze=/data/xg \
                --set sampling=balanced --model static     joint training: one model on both training sets

  gazebench run --benchmark quickstart                     a whole suite; re-run to resume
  gazebench run --benchmark paper --dry-run                which units exist, which are missing
  gazebench run --benchmark paper --dataset rtgene --model static,mean   part of a suite
  gazebench run --benchmark smoke --root /tmp/synth --set epochs=1       override for every unit
  gazebench run --benchmark paper --root gaze360=/data/gaze360 --root rtgene=/data/RT-GENE
  gazebench run --benchmark paper --launcher slurm --partition gpu --gpus-per-unit 1 --max-parallel 20
                                                           one Slurm array task per missing unit (docs/cluster.md)
  gazebench status --benchmark paper                       done / running / failed / missing, failed units' logs
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="train and evaluate models", epilog=EXAMPLES, parents=[request_flags()])
    p.set_defaults(
        func=main,
        trains=True,
        os_error_hint="once it is fixed, the same command "
        "(--resume, the default) continues from the last finished epoch",
    )


def describe_protocols(units: list) -> str:
    """Each (dataset, protocol, recipe) of the units once: where it comes from, the recipe, the
    augmentation, the checkpoint rule and the model option defaults."""
    blocks, seen = [], set()
    for u in units:
        recipe = u.recipe.as_dict()
        key = (u.spec.dataset, u.protocol.name, json.dumps(recipe, sort_keys=True, default=str))
        if key in seen:
            continue
        seen.add(key)
        p = u.protocol
        lines = [f"protocol {p.name} of {u.spec.dataset}" + (f": {p.description}" if p.description else "")]
        if p.source:
            lines.append(f"  source: {p.source}")
        lines.append("  recipe: " + " ".join(f"{k}={_text(v)}" for k, v in recipe.items()))
        lines.append(f"  augmentation: {u.recipe.augmentation()}")
        lines.append(f"  selection: {u.recipe.selection()}")
        if p.model or p.data:
            given = {**p.model, **p.data}
            lines.append("  option defaults: " + " ".join(f"{k}={_text(v)}" for k, v in given.items()))
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def _text(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "none"
    return "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def dry_run_table(units: list, statuses: list[str]) -> str:
    from tabulate import tabulate

    tested = any(u.spec.cross for u in units)
    rows = [
        [u.spec.dataset, u.fold, u.label, u.spec.seed, status]
        + ([", ".join(f"{u.spec.dataset} → {t}" for t, _ in u.spec.cross) or "-"] if tested else [])
        + [str(u.result_path)]
        for u, status in zip(units, statuses)
    ]
    headers = (
        ["dataset", "fold", "label", "seed", "status"] + (["tested on (train → test)"] if tested else []) + ["result"]
    )
    return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)


def execute(units: list, options: RunOptions) -> tuple[list[str], int]:
    """Run every missing unit (every unit with ``--overwrite always``); returns the failures and
    how many units were left to another process that holds them (gazebench.results.unitlock)."""
    from gazebench.train.parallel import is_main_process
    from gazebench.train.runner import check_done_data, run_unit

    failed, opened, busy = [], {}, 0
    for i, unit in enumerate(units, 1):
        if unit.done and options.overwrite == "only-missing":
            if options.progress:
                print(f"[{i}/{len(units)}] done already: {unit.describe()} ({unit.result_path})", file=sys.stderr)
            check_done_data(unit, opened)  # a result made on other data than the root holds now is said
            continue
        if options.progress:
            print(f"[{i}/{len(units)}] {unit.describe()}", file=sys.stderr)
        try:
            record = run_unit(unit, options)
        except Exception as exc:  # noqa: BLE001  (reported; the sweep goes on only with --keep-going)
            if not options.keep_going:
                raise
            failed.append(f"{unit.describe()}: {type(exc).__name__}: {exc}")
            print(f"[{i}/{len(units)}] FAILED {unit.describe()}: {exc}", file=sys.stderr)
            continue
        if record is None and is_main_process() and unit.status() != "done":
            busy += 1  # another process holds the unit: run_unit said so and skipped it
    return failed, busy


def launch_options(options: RunOptions, suite):
    """The launcher's resources: the suite's ``launcher:`` mapping, the flags over it."""
    from gazebench.plan.launch import launch_options as resolve

    return resolve(
        options.launcher,
        options.resources(),
        suite.launcher,
        f"benchmark {suite.name!r} launcher" if suite.name else "launcher",
    )


def launch_units(request: Request, options: RunOptions, planned, statuses: list[str], header: str) -> int:
    """``--launcher``: the units to run, each as a submitit task (gazebench.plan.launch; docs/cluster.md)."""
    from gazebench.commands.status import status_command
    from gazebench.plan.launch import LAUNCHER_DIR, require_submitit, submit

    require_submitit()
    suite, units = planned.suite, planned.units
    opts = launch_options(options, suite)
    todo = units if options.overwrite == "always" else [u for u, s in zip(units, statuses) if s != "done"]
    if not todo:
        print(header + f": nothing to do (results under {planned.results_dir})", file=sys.stderr)
        return 0
    print(header + f" (results under {planned.results_dir})", file=sys.stderr)
    name = f"benchmark {suite.name}" if suite.name else "run"
    code = submit(todo, options, opts, planned.runs_dir / LAUNCHER_DIR, name=name, status_hint=status_command(request))
    if options.launcher == "local" and options.table:
        print_results_table(request, suite, units)
    return code


def main(args: argparse.Namespace) -> int:
    from gazebench.plan.planning import plan_request

    request, options = Request.from_args(args), RunOptions.from_args(args)
    planned = plan_request(request)
    suite, units, results_dir = planned.suite, planned.units, planned.results_dir
    statuses = [u.status() for u in units]
    done = statuses.count("done")
    name = f"benchmark {suite.name}" if suite.name else "run"
    bad = f" ({statuses.count('bad')} of them with a bad result file, set aside when run)" if "bad" in statuses else ""
    header = f"{name}: {len(units)} units, {done} done, {len(units) - done} missing{bad}"
    if options.dry_run:
        if suite.description:
            print(suite.description)
        print(describe_protocols(units))
        print(dry_run_table(units, statuses))
        print(header + (" (--overwrite always would redo all)" if options.overwrite == "always" else ""))
        if options.launcher:
            opts = launch_options(options, suite)
            todo = len(units) if options.overwrite == "always" else len(units) - done
            print(f"--launcher {options.launcher} would submit {todo} units ({opts.describe()})")
        return 0
    if options.launcher:
        return launch_units(request, options, planned, statuses, header)
    if options.progress:
        print(header + f" (results under {results_dir})", file=sys.stderr)
    failed, busy = execute(units, options)
    skipped_done = done if options.overwrite == "only-missing" else 0
    ran = len(units) - len(failed) - skipped_done - busy
    if suite.name or failed or busy:
        held = f", {busy} left to the process running them" if busy else ""
        print(f"{name}: ran {ran}, skipped {skipped_done} done{held}, failed {len(failed)}", file=sys.stderr)
    for line in failed:
        print(f"  failed: {line}", file=sys.stderr)
    if options.table:
        print_results_table(request, suite, units)
    return 1 if failed else 0


def print_results_table(request: Request, suite, units: list) -> None:
    """The leaderboard of the request's datasets at the end of a run; when no unit has written a
    result yet (every one failed), one line saying so instead."""
    from gazebench.commands.table import print_table

    if not request.results.is_dir():
        print(f"(no results under {request.results} yet: no unit has finished)", file=sys.stderr)
        return
    print_table(
        request.results,
        datasets=sorted({u.spec.dataset for u in units} | {t for u in units for t, _ in u.spec.cross}),
        benchmark=suite.name or None,
    )
