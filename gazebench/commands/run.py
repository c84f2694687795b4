"""``gazebench run``: train, select on validation and test models; one result file per unit."""

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
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="train and evaluate models", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dataset", default="synthgaze", help="registered dataset (default: synthgaze)")
    p.add_argument("--model", default="static", help="registered model(s), comma separated")
    p.add_argument("--root", help="dataset root (default: the data root's <dataset> folder)")
    p.add_argument("--fold", default=None, help="fold name, or 'all' for one result per fold")
    p.add_argument("--seed", default="0", help="seed(s), comma separated (default 0)")
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
    p.add_argument("--deterministic", action="store_true", help="deterministic algorithms (CPU: identical metrics)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--no-table", action="store_true", help="do not print the leaderboard at the end")
    p.add_argument("--traceback", action="store_true", help="show the full traceback on errors")
    p.set_defaults(func=main)


def build_specs(args: argparse.Namespace) -> list:
    import gazebench.models  # noqa: F401
    from gazebench.config import parse_sets, route_overrides
    from gazebench.datasets import build_dataset
    from gazebench.models.base import model_kwargs
    from gazebench.registry import DATASETS
    from gazebench.runner import RunSpec

    overrides = parse_sets(args.sets)
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.backbone:
        overrides["backbone"] = args.backbone
    dataset_cls = DATASETS.get(args.dataset)
    data_keys = list(dataset_cls.option_choices)
    models = [m.strip() for m in args.model.split(",") if m.strip()]
    seeds = [int(s) for s in str(args.seed).split(",") if s.strip()]
    specs = []
    for model in models:
        keys = list(model_kwargs(model))
        # a shared override (e.g. backbone) is dropped for models that do not take it (the mean baseline)
        shared = {k: v for k, v in overrides.items() if k != "backbone" or "backbone" in keys}
        recipe, model_kw, data = route_overrides(shared, keys, data_keys)
        folds: list = [args.fold]
        if args.fold == "all":
            folds = build_dataset(args.dataset, args.root, **data).folds()
        for fold in folds:
            for seed in seeds:
                specs.append(RunSpec(args.dataset, model, fold, seed, args.root, data, model_kw, recipe,
                                     label=args.label))
    return specs


def main(args: argparse.Namespace) -> int:
    from gazebench.runner import run_unit

    specs = build_specs(args)
    for i, spec in enumerate(specs, 1):
        if not args.quiet:
            print(f"[{i}/{len(specs)}] {spec.row_label} on {spec.dataset} fold {spec.fold or 'default'} seed {spec.seed}",
                  file=sys.stderr)
        run_unit(spec, args.results, args.runs, overwrite=args.overwrite, resume=args.resume,
                 progress=not args.quiet, deterministic=args.deterministic)
    if not args.no_table:
        from gazebench.commands.table import print_table

        print_table(args.results, datasets=sorted({s.dataset for s in specs}))
    return 0
