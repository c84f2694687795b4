"""``gazebench run``: train, select on validation and test models; one result file per unit.

One path for every request: a named suite (``--benchmark NAME`` from benchmarks.yaml) or the
anonymous suite of ``--dataset/--model`` is expanded into run specs, filtered, planned from the
dataset cards (no data read) and executed unit by unit (:mod:`gazebench.planning`).  Units whose
result file exists are skipped, so running the same command again resumes an interrupted sweep.
With ``--launcher slurm|local`` the missing units go to submitit instead, one task each
(:mod:`gazebench.launch`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gazebench.commands.common import csv_flag, dataset_names, results_flag, sets_flag
from gazebench.errors import UserValueError
from gazebench.paths import inside

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
    p = sub.add_parser("run", help="train and evaluate models", epilog=EXAMPLES, parents=[run_flags()])
    p.set_defaults(func=main, trains=True, os_error_hint="once it is fixed, the same command "
                   "(--resume, the default) continues from the last finished epoch")


def run_flags() -> argparse.ArgumentParser:
    """Every flag of ``gazebench run``, as a parent parser: ``gazebench status`` takes the same
    line (a unit is planned from all of them), so ``run`` can be swapped for ``status``."""
    p = argparse.ArgumentParser(add_help=False, parents=[results_flag()])
    what = p.add_argument_group("what to run (with --benchmark: filters on the suite)")
    what.add_argument("--benchmark", help="a suite of benchmarks.yaml (see `gazebench run --benchmark X --dry-run`)")
    what.add_argument("--config", type=Path, help="benchmark file (default: $GAZEBENCH_BENCHMARKS, else benchmarks.yaml)")
    what.add_argument("--dataset", help="registered dataset (default: synthgaze); with --benchmark: only these, comma separated")
    what.add_argument("--train", help="the dataset to train on (the same as --dataset; with --test); several, comma "
                                      "separated: one model trained on all of them at once (joint training, "
                                      "docs/multidataset.md; --set sampling=balanced, --set sampling_weights=A:2)")
    what.add_argument("--test", help="cross-dataset evaluation: also test the trained model on these datasets' test "
                                     "protocols (all their folds' test subjects), comma separated; each test is its "
                                     "own result and leaderboard column 'D1 → D2' (docs/leaderboards.md); give "
                                     "their roots as --root NAME=DIR; a --set data option reaches every dataset "
                                     "that takes it (--set expect_samples=any)")
    what.add_argument("--model", help="registered model(s), comma separated (default: static); "
                                      "with --benchmark: only these labels or models")
    what.add_argument("--fold", help="fold name(s), comma separated, or 'all' (default: the first fold; "
                                     "with --benchmark: all the suite's folds)")
    what.add_argument("--seed", help="seed(s), comma separated (default 0; with --benchmark: the suite's)")
    what.add_argument("--root", action="append", metavar="DIR | NAME=DIR",
                      help="dataset root (default: the data root's <dataset> folder); NAME=DIR for one dataset of a suite")
    what.add_argument("--protocol", help="the dataset's protocol (recipe, augmentation, selection; `gazebench ls "
                                          "datasets` names them; default: the card's default protocol); with "
                                          "--benchmark: for every dataset of the suite")
    what.add_argument("--label", help="leaderboard row name of a single run's configuration (default: the model name)")
    how = p.add_argument_group("how")
    sets_flag(how)
    how.add_argument("--epochs", type=int, help="shortcut for --set epochs=N")
    how.add_argument("--backbone", help="timm backbone, shortcut for --set backbone=NAME")
    how.add_argument("--logger", help="per-epoch curves: tensorboard (default; <run dir>/tensorboard/), wandb, mlflow, "
                                       "a comma list, or none; shortcut for --set logger=... (docs/tracking.md)")
    how.add_argument("--on-bad-sample", choices=("error", "skip"),
                     help="an unreadable image stops the run (error, default) or is left out and recorded (skip)")
    how.add_argument("--predict-only", action="store_true",
                     help="do not score the test split: train and select as usual, write the test predictions and "
                          "the dataset's leaderboard submission (<run dir>/submission.txt); automatic when the test "
                          "labels are withheld (ETH-XGaze)")
    how.add_argument("--runs", default=Path("runs"), type=Path, help="checkpoints and predictions (default runs/)")
    how.add_argument("--overwrite", choices=("only-missing", "always"), default="only-missing",
                     help="skip units whose result exists (default) or redo them")
    resume = how.add_mutually_exclusive_group()
    resume.add_argument("--resume", action="store_const", const=True, default=None,
                        help="continue an interrupted unit from its last checkpoint (the default when one exists; "
                             "says so when there is none)")
    resume.add_argument("--restart", dest="resume", action="store_const", const=False,
                        help="train an interrupted unit from epoch 1, ignoring its last checkpoint")
    how.add_argument("--deterministic", action="store_true", help="deterministic algorithms (CPU: identical metrics)")
    how.add_argument("--dry-run", action="store_true", help="list the units and which are done; train nothing, read no data")
    how.add_argument("--keep-going", action="store_true", help="a failing unit does not stop the others")
    how.add_argument("--quiet", action="store_true", help="no progress output")
    how.add_argument("--no-table", action="store_true", help="do not print the leaderboard at the end")
    launcher_flags(p)
    return p


def launcher_flags(p: argparse.ArgumentParser) -> None:
    """``--launcher`` and the resources of its tasks (gazebench.launch; docs/cluster.md)."""
    g = p.add_argument_group("cluster (submitit; pip install \"gazebench[cluster]\"; a suite's launcher: gives "
                             "defaults, the flags win; docs/cluster.md)")
    g.add_argument("--launcher", choices=("local", "slurm"),
                   help="submit each missing unit as one task of a submitit job array: slurm (returns once "
                        "queued; follow with `gazebench status`) or local (subprocesses here; waits); default: "
                        "run the units in this process")
    g.add_argument("--max-parallel", type=int, help="tasks running at once (slurm default 256, local 1)")
    g.add_argument("--partition", help="Slurm partition")
    g.add_argument("--gpus-per-unit", type=int, help="GPUs per task (slurm default 0; local: 1 where there is one)")
    g.add_argument("--timeout-min", type=int, help="wall time per task in minutes (slurm default 1440; a unit "
                                                   "that runs out of time is requeued and resumes from last.pt)")
    g.add_argument("--mem-gb", type=float, help="memory per task in GB (slurm; default: the partition's)")
    g.add_argument("--cpus-per-unit", type=int, help="CPU cores per task (slurm; default: the partition's)")


def launch_options(args: argparse.Namespace, suite):
    """The launcher's resources: the suite's ``launcher:`` mapping, the flags over it."""
    from gazebench.launch import RESOURCE_KEYS, launch_options as options

    return options(args.launcher, {k: getattr(args, k) for k in RESOURCE_KEYS}, suite.launcher,
                   f"benchmark {suite.name!r} launcher" if suite.name else "launcher")


def runs_root(args: argparse.Namespace, suite) -> Path:
    """The runs folder of the request: ``runs/<suite>/`` for a suite, ``runs/`` for a single run."""
    return inside(args.runs, suite.name, what="runs") if suite.name else args.runs


def settings(args: argparse.Namespace) -> dict:
    """``--set`` and its shortcut flags, typed.  A shortcut and a ``--set`` of the same key with
    different values (``--epochs 1 --set epochs=3``) is refused: neither silently wins."""
    from gazebench.config import parse_sets

    out = parse_sets(args.sets)
    shortcuts = {"epochs": args.epochs, "backbone": args.backbone, "on_bad_sample": args.on_bad_sample,
                 "logger": args.logger}
    for key, value in shortcuts.items():
        if value is None:
            continue
        given = {k: v for k, v in out.items() if k.rpartition(".")[2] == key}
        for k, v in given.items():
            if str(v).lower() != str(value).lower():
                flag = "--" + key.replace("_", "-")
                raise UserValueError(f"{flag} {value} and --set {k}={v} disagree; give one of them")
            del out[k]
        out[key] = value
    return out


def parse_seeds(value: str | None) -> list[int] | None:
    """``--seed 0,1,2`` -> ``[0, 1, 2]``; anything but integers is a user error naming the flag."""
    if not value:
        return None
    seeds = []
    for item in csv_flag(value):
        try:
            seeds.append(int(item))
        except ValueError:
            raise UserValueError(f"--seed {value}: {item!r} is not an integer; give seeds like --seed 0,1,2") from None
    return seeds


def request_units(args: argparse.Namespace) -> tuple:
    """``(suite, units, results_dir)``: the request expanded, filtered and planned."""
    from gazebench import planning, suites

    seeds = parse_seeds(args.seed)
    args.dataset, args.train = dataset_names(args.dataset), dataset_names(args.train)
    args.test = dataset_names(args.test)
    folds = None if args.fold in (None, "all") else csv_flag(args.fold)
    members = csv_flag(args.train) if args.train and "," in args.train else None  # joint training
    if members and (args.dataset or args.benchmark):
        raise UserValueError(f"--train {args.train}: joint training is a single run (no --dataset"
                             + (", no --benchmark: in a suite give a dataset entry 'train: [A, B]')" if args.benchmark else ")"))
    if args.train and args.dataset and args.train != args.dataset:
        raise UserValueError(f"--train {args.train} and --dataset {args.dataset} name different datasets; give one")
    args.dataset = args.dataset or (None if members else args.train)
    if args.benchmark:
        if args.test:
            raise UserValueError("--test is for a single run; in a suite give a dataset entry 'test: [D2, ...]' "
                                 "(benchmarks.yaml)")
        if args.label:
            raise UserValueError("--label names a single run's row; a suite's labels come from benchmarks.yaml")
        suite = suites.get_suite(args.benchmark, args.config)
        # a joint entry is named by its training datasets joined with '+', in any order
        wanted = [("+".join(sorted(d.split("+"))) if "+" in d else d) for d in csv_flag(args.dataset) or []]
        filters = dict(datasets=wanted or None, models=csv_flag(args.model), folds=folds, seeds=seeds)
        results_dir, runs_dir = inside(args.results, suite.name, what="results"), runs_root(args, suite)
    else:
        if args.config:
            raise UserValueError("--config needs --benchmark NAME")
        dataset = args.dataset or "synthgaze"
        suite = planning.single_run_suite(dataset, csv_flag(args.model) or ["static"], seeds or [0], label=args.label,
                                          protocol=args.protocol, test=csv_flag(args.test), members=members)
        if args.fold is None:
            folds = ["default"] if members else [planning.dataset_card(dataset).resolve_fold(None)]
        filters = dict(folds=folds)
        results_dir, runs_dir = args.results, args.runs
    values = settings(args)
    roots = suites.parse_roots(args.root, [n for d in suite.datasets for n in d.trained_on],
                               [t for d in suite.datasets for t in d.test])
    specs = planning.select(planning.expand(suite, values, roots, protocol=args.protocol), **filters)
    planning.note_dropped(suite, values)
    return suite, planning.plan(specs, results_dir, runs_dir), results_dir


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
    rows = [[u.spec.dataset, u.fold, u.label, u.spec.seed, status]
            + ([", ".join(f"{u.spec.dataset} → {t}" for t, _ in u.spec.cross) or "-"] if tested else [])
            + [str(u.result_path)] for u, status in zip(units, statuses)]
    headers = ["dataset", "fold", "label", "seed", "status"] + (["tested on (train → test)"] if tested else []) + ["result"]
    return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)


def execute(units: list, args: argparse.Namespace) -> tuple[list[str], int]:
    """Run every missing unit (every unit with ``--overwrite always``); returns the failures and
    how many units were left to another process that holds them (gazebench.unitlock)."""
    from gazebench import distributed
    from gazebench.runner import check_done_data, run_unit

    failed, opened, busy = [], {}, 0
    for i, unit in enumerate(units, 1):
        if unit.done and args.overwrite == "only-missing":
            if not args.quiet:
                print(f"[{i}/{len(units)}] done already: {unit.describe()} ({unit.result_path})", file=sys.stderr)
            check_done_data(unit, opened)  # a result made on other data than the root holds now is said
            continue
        if not args.quiet:
            print(f"[{i}/{len(units)}] {unit.describe()}", file=sys.stderr)
        try:
            record = run_unit(unit, overwrite=args.overwrite, resume=args.resume, progress=not args.quiet,
                              deterministic=args.deterministic, predict_only=args.predict_only)
        except Exception as exc:  # noqa: BLE001  (reported; the sweep goes on only with --keep-going)
            if not args.keep_going:
                raise
            failed.append(f"{unit.describe()}: {type(exc).__name__}: {exc}")
            print(f"[{i}/{len(units)}] FAILED {unit.describe()}: {exc}", file=sys.stderr)
            continue
        if record is None and distributed.is_main() and unit.status() != "done":
            busy += 1  # another process holds the unit: run_unit said so and skipped it
    return failed, busy


def launch_units(args: argparse.Namespace, suite, units: list, statuses: list[str], header: str,
                 results_dir: Path) -> int:
    """``--launcher``: the units to run, each as a submitit task (gazebench.launch; docs/cluster.md)."""
    from gazebench.commands.status import status_command
    from gazebench.launch import LAUNCHER_DIR, require_submitit, submit

    require_submitit()
    opts = launch_options(args, suite)
    todo = units if args.overwrite == "always" else [u for u, s in zip(units, statuses) if s != "done"]
    if not todo:
        print(header + f": nothing to do (results under {results_dir})", file=sys.stderr)
        return 0
    print(header + f" (results under {results_dir})", file=sys.stderr)
    name = f"benchmark {suite.name}" if suite.name else "run"
    code = submit(todo, args, opts, runs_root(args, suite) / LAUNCHER_DIR, name=name, status_hint=status_command(args))
    if args.launcher == "local" and not args.no_table:
        print_results_table(args, suite, units)
    return code


def main(args: argparse.Namespace) -> int:
    suite, units, results_dir = request_units(args)
    statuses = [u.status() for u in units]
    done = statuses.count("done")
    name = f"benchmark {suite.name}" if suite.name else "run"
    bad = f" ({statuses.count('bad')} of them with a bad result file, set aside when run)" if "bad" in statuses else ""
    header = f"{name}: {len(units)} units, {done} done, {len(units) - done} missing{bad}"
    if args.dry_run:
        if suite.description:
            print(suite.description)
        print(describe_protocols(units))
        print(dry_run_table(units, statuses))
        print(header + (" (--overwrite always would redo all)" if args.overwrite == "always" else ""))
        if args.launcher:
            opts = launch_options(args, suite)
            todo = len(units) if args.overwrite == "always" else len(units) - done
            print(f"--launcher {args.launcher} would submit {todo} units ({opts.describe()})")
        return 0
    if args.launcher:
        return launch_units(args, suite, units, statuses, header, results_dir)
    if not args.quiet:
        print(header + f" (results under {results_dir})", file=sys.stderr)
    failed, busy = execute(units, args)
    skipped_done = done if args.overwrite == "only-missing" else 0
    ran = len(units) - len(failed) - skipped_done - busy
    if suite.name or failed or busy:
        held = f", {busy} left to the process running them" if busy else ""
        print(f"{name}: ran {ran}, skipped {skipped_done} done{held}, failed {len(failed)}", file=sys.stderr)
    for line in failed:
        print(f"  failed: {line}", file=sys.stderr)
    if not args.no_table:
        print_results_table(args, suite, units)
    return 1 if failed else 0


def print_results_table(args: argparse.Namespace, suite, units: list) -> None:
    """The leaderboard of the request's datasets at the end of a run; when no unit has written a
    result yet (every one failed), one line saying so instead."""
    from gazebench.commands.table import print_table

    if not args.results.is_dir():
        print(f"(no results under {args.results} yet: no unit has finished)", file=sys.stderr)
        return
    print_table(args.results, datasets=sorted({u.spec.dataset for u in units} | {t for u in units for t, _ in u.spec.cross}),
                benchmark=suite.name or None)
