"""``gazebench run``: train, select on validation and test models; one result file per unit.

Either one configuration (``--dataset/--model/--fold/--seed``) or a named benchmark suite
(``--benchmark NAME`` from benchmarks.yaml).  Units whose result file exists are skipped, so
running the same command again resumes an interrupted sweep.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLES = """\
examples:
  gazebench run --dataset synthgaze --model static,mean
  gazebench run --dataset synthgaze --model staticsclstmsym --backbone resnet18 --epochs 20 --seed 0,1,2
  gazebench run --dataset rtgene --root /data/RT-GENE --model seqsclstmsym --fold all --set variant=original
  gazebench run --dataset synthgaze --model staticsc --set crops=175 --set lr=3e-4

  gazebench run --benchmark quickstart                     a whole suite; re-run to resume
  gazebench run --benchmark paper --dry-run                which units exist, which are missing
  gazebench run --benchmark paper --dataset rtgene --model static,mean   part of a suite
  gazebench run --benchmark smoke --root /tmp/synth --set epochs=1       override for every unit
  gazebench run --benchmark paper --root gaze360=/data/gaze360 --root rtgene=/data/RT-GENE
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="train and evaluate models", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--benchmark", help="run a suite of benchmarks.yaml (see `gazebench run --benchmark X --dry-run`)")
    p.add_argument("--config", type=Path, help="benchmark file (default: $GAZEBENCH_BENCHMARKS, else benchmarks.yaml)")
    p.add_argument("--dry-run", action="store_true", help="with --benchmark: list the units and which are done; train nothing")
    p.add_argument("--keep-going", action="store_true", help="with --benchmark: a failing unit does not stop the others")
    p.add_argument("--dataset", help="registered dataset (default: synthgaze); with --benchmark: only these datasets")
    p.add_argument("--model", help="registered model(s), comma separated (default: static); with --benchmark: "
                                   "only these labels or models")
    p.add_argument("--root", action="append", metavar="DIR | NAME=DIR",
                   help="dataset root (default: the data root's <dataset> folder); NAME=DIR for one dataset of a suite")
    p.add_argument("--fold", default=None, help="fold name, or 'all' for one result per fold; with --benchmark: only these folds")
    p.add_argument("--seed", default=None, help="seed(s), comma separated (default 0); with --benchmark: only these seeds")
    p.add_argument("--epochs", type=int, help="shortcut for --set epochs=N")
    p.add_argument("--backbone", help="timm backbone, shortcut for --set backbone=NAME")
    p.add_argument("--set", dest="sets", action="append", metavar="KEY=VALUE", default=[],
                   help="override a recipe key, model option or data option (repeatable)")
    p.add_argument("--label", help="leaderboard row name for this configuration (default: the model name)")
    p.add_argument("--results", default="results", type=Path, help="results folder (default results/)")
    p.add_argument("--runs", default="runs", type=Path, help="checkpoints and predictions (default runs/)")
    p.add_argument("--overwrite", choices=("only-missing", "always"), default="only-missing",
                   help="skip units whose result exists (default) or redo them")
    p.add_argument("--resume", action="store_true", help="continue an interrupted unit from its last checkpoint")
    p.add_argument("--on-bad-sample", choices=("error", "skip"),
                   help="an unreadable image stops the run (error, default) or is left out and recorded (skip)")
    p.add_argument("--deterministic", action="store_true", help="deterministic algorithms (CPU: identical metrics)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--no-table", action="store_true", help="do not print the leaderboard at the end")
    p.add_argument("--traceback", action="store_true", help="show the full traceback on errors")
    p.set_defaults(func=main)


def _overrides(args: argparse.Namespace) -> dict:
    from gazebench.config import parse_sets

    overrides = parse_sets(args.sets)
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if getattr(args, "on_bad_sample", None):
        overrides["on_bad_sample"] = args.on_bad_sample
    if args.backbone:
        overrides["backbone"] = args.backbone
    return overrides


def _single_root(args: argparse.Namespace) -> str | None:
    if not args.root:
        return None
    if len(args.root) > 1:
        raise ValueError("--root takes one folder for a single run (NAME=DIR pairs are for --benchmark suites)")
    return args.root[0]


def build_specs(args: argparse.Namespace) -> list:
    import gazebench.models  # noqa: F401
    from gazebench.config import route_overrides
    from gazebench.datasets import build_dataset
    from gazebench.models.base import model_kwargs
    from gazebench.registry import DATASETS
    from gazebench.runner import RunSpec

    overrides = _overrides(args)
    dataset = args.dataset or "synthgaze"
    root = _single_root(args)
    dataset_cls = DATASETS.get(dataset)
    data_keys = list(dataset_cls.option_choices)
    models = [m.strip() for m in (args.model or "static").split(",") if m.strip()]
    seeds = [int(s) for s in str(args.seed or "0").split(",") if s.strip()]
    specs = []
    for model in models:
        keys = list(model_kwargs(model))
        # a shared override (e.g. backbone) is dropped for models that do not take it (the mean baseline)
        shared = {k: v for k, v in overrides.items() if k != "backbone" or "backbone" in keys}
        recipe, model_kw, data = route_overrides(shared, keys, data_keys)
        folds: list = [args.fold]
        if args.fold == "all":
            folds = build_dataset(dataset, root, **data).folds()
        for fold in folds:
            for seed in seeds:
                specs.append(RunSpec(dataset, model, fold, seed, root, data, model_kw, recipe, label=args.label))
    return specs


def main(args: argparse.Namespace) -> int:
    if args.benchmark:
        return run_benchmark(args)
    for flag in ("dry_run", "keep_going", "config"):
        if getattr(args, flag):
            raise ValueError(f"--{flag.replace('_', '-')} needs --benchmark NAME")
    from gazebench import runner

    specs = build_specs(args)
    for i, spec in enumerate(specs, 1):
        if not args.quiet:
            print(f"[{i}/{len(specs)}] {spec.row_label} on {spec.dataset} fold {spec.fold or 'default'} seed {spec.seed}",
                  file=sys.stderr)
        runner.run_unit(spec, args.results, args.runs, overwrite=args.overwrite, resume=args.resume,
                        progress=not args.quiet, deterministic=args.deterministic)
    if not args.no_table:
        from gazebench.commands.table import print_table

        print_table(args.results, datasets=sorted({s.dataset for s in specs}))
    return 0


# --- benchmark suites ---------------------------------------------------------------------------


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def suite_units(args: argparse.Namespace) -> tuple:
    """The suite, its planned units (after the --dataset/--model/--fold/--seed filters), and the
    results and runs folders of the suite (``<results>/<NAME>``, ``<runs>/<NAME>``)."""
    from gazebench import benchmarks

    if args.label:
        raise ValueError("--label names a single run's row; a suite's labels come from benchmarks.yaml")
    suite = benchmarks.get_suite(args.benchmark, args.config)
    overrides = _overrides(args)
    roots = benchmarks.parse_roots(args.root, [d.name for d in suite.datasets])
    specs = benchmarks.expand(suite, overrides, roots)
    seeds = [int(s) for s in _csv(args.seed)] if args.seed else None
    folds = None if args.fold in (None, "all") else _csv(args.fold)
    specs = benchmarks.select(specs, _csv(args.dataset), _csv(args.model), folds, seeds)
    for key, labels in benchmarks.dropped_overrides(suite, overrides).items():
        print(f"note: --set {key} does not apply to {', '.join(sorted(set(labels)))} (not an option of that model)",
              file=sys.stderr)
    results_dir, runs_dir = args.results / suite.name, args.runs / suite.name
    return suite, benchmarks.plan(specs, results_dir, runs_dir), results_dir, runs_dir


def dry_run_table(planned: list) -> str:
    from tabulate import tabulate

    rows = [[p.spec.dataset, p.unit.fold, p.spec.row_label, p.spec.seed, "done" if p.done else "missing",
             str(p.unit.result_path)] for p in planned]
    return tabulate(rows, headers=["dataset", "fold", "label", "seed", "status", "result"], tablefmt="simple",
                    disable_numparse=True)


def run_benchmark(args: argparse.Namespace) -> int:
    from gazebench import runner

    suite, planned, results_dir, runs_dir = suite_units(args)
    done = sum(p.done for p in planned)
    header = f"benchmark {suite.name}: {len(planned)} units, {done} done, {len(planned) - done} missing"
    if args.dry_run:
        if suite.description:
            print(suite.description)
        print(dry_run_table(planned))
        print(header + (" (--overwrite always would redo all)" if args.overwrite == "always" else ""))
        return 0
    print(header + f" (results under {results_dir})", file=sys.stderr)
    ran, failed = 0, []
    for i, p in enumerate(planned, 1):
        what = f"{p.spec.row_label} on {p.spec.dataset} fold {p.unit.fold} seed {p.spec.seed}"
        if p.done and args.overwrite == "only-missing":
            if not args.quiet:
                print(f"[{i}/{len(planned)}] done already: {what}", file=sys.stderr)
            continue
        if not args.quiet:
            print(f"[{i}/{len(planned)}] {what}", file=sys.stderr)
        try:
            runner.run_unit(p.spec, results_dir, runs_dir, overwrite=args.overwrite, resume=args.resume,
                            progress=not args.quiet, deterministic=args.deterministic)
            ran += 1
        except Exception as exc:  # noqa: BLE001  (reported, and the sweep goes on only with --keep-going)
            if not args.keep_going:
                raise
            failed.append(f"{what}: {type(exc).__name__}: {exc}")
            print(f"[{i}/{len(planned)}] FAILED {what}: {exc}", file=sys.stderr)
    print(f"benchmark {suite.name}: ran {ran}, skipped {len(planned) - ran - len(failed)} done, failed {len(failed)}",
          file=sys.stderr)
    for line in failed:
        print(f"  failed: {line}", file=sys.stderr)
    if not args.no_table:
        from gazebench.commands.table import print_table

        print_table(args.results, datasets=sorted({p.spec.dataset for p in planned}), benchmark=suite.name)
    return 1 if failed else 0
