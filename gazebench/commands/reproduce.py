"""``gazebench reproduce NAME``: a published checkpoint under its paper's protocol and population,
each published number beside the one measured here (gazebench.plan.reproduce)."""

from __future__ import annotations

import argparse
from pathlib import Path

from gazebench.commands.common import results_flag, sets_flag
from gazebench.core.errors import UserValueError

#: the checkpoint path a dry run without ``--weights`` plans with (its unit is shown, not run)
NO_WEIGHTS = Path("<--weights>")

EXAMPLES = """\
examples:
  gazebench ls published                                         the catalogue
  gazebench reproduce gaze360-lstm --root /data/gaze360 --weights gaze360_model.pth.tar
  gazebench reproduce multizoom-msa --root /data/gaze360 --weights model_best_...pth.tar --dry-run
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce",
        help="evaluate a published checkpoint under its paper's protocol",
        epilog=EXAMPLES,
        parents=[results_flag()],
    )
    p.add_argument("name", help="a published checkpoint (gazebench ls published)")
    p.add_argument(
        "--weights",
        type=Path,
        help="the checkpoint file, as the authors host it (not needed with "
        "--dry-run, which then shows the protocol without the result file)",
    )
    p.add_argument("--root", help="dataset root (default: the data root's <dataset> folder)")
    p.add_argument("--runs", default=Path("runs"), type=Path, help="predictions (default runs/)")
    sets_flag(p)
    p.add_argument(
        "--allow-training-data",
        action="store_true",
        help="evaluate even on a split the checkpoint was trained or selected on (the row says so)",
    )
    p.add_argument(
        "--overwrite",
        choices=("only-missing", "always"),
        default="always",
        help="re-evaluate (default) or keep an existing result",
    )
    p.add_argument("--dry-run", action="store_true", help="show the unit and its protocol; read no data")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=main)


def plan_units(args: argparse.Namespace, card) -> list:
    from gazebench.core.config import parse_sets
    from gazebench.plan import planning, reproduce

    rep = card.reproduce
    seen = card.training_overlap(rep["dataset"], rep.get("split", "test")) is not None
    suite = planning.single_run_suite(
        rep["dataset"],
        [card.model],
        [0],
        root=args.root,
        label=reproduce.row_label(card, seen),
        protocol=rep.get("protocol"),
    )
    weights = args.weights if args.weights is not None else NO_WEIGHTS
    settings = {**reproduce.reproduce_settings(card, weights), **parse_sets(args.sets)}
    specs = planning.expand(suite, settings)
    if rep.get("fold") is not None:
        specs = planning.select(specs, folds=[str(rep["fold"])])
    return planning.plan(specs, args.results, args.runs)


def main(args: argparse.Namespace) -> int:
    import sys

    from gazebench.commands.run import describe_protocols, dry_run_table
    from gazebench.plan import reproduce
    from gazebench.published import published_card

    card = published_card(args.name)
    reproduce.check_reproducible(card, args.allow_training_data)
    if args.weights is None and not args.dry_run:
        raise UserValueError(
            f"--weights FILE: give the checkpoint of {card.name} as the authors host it ({card.url}); "
            "--dry-run shows the protocol without it"
        )
    units = plan_units(args, card)
    if args.dry_run:
        print(describe_protocols(units))
        if args.weights is None:  # the unit id covers the checkpoint file: no result path to show yet
            for u in units:
                print(f"unit: {u.describe()}; its result file is named once --weights is given")
        else:
            print(dry_run_table(units, [u.status() for u in units]))
        return 0
    if not args.weights.expanduser().is_file():
        raise FileNotFoundError(f"--weights {args.weights}: no such file (download it from {card.url})")
    from gazebench.core.request import RunOptions
    from gazebench.results.record_model import new_record
    from gazebench.results.store import load_record
    from gazebench.train.runner import run_unit

    for unit in units:
        made = run_unit(unit, RunOptions(overwrite=args.overwrite, progress=not args.quiet))  # None: done already
        record = new_record(made) if made is not None else load_record(unit.result_path)
        print(reproduce.comparison_table(card, record))
        print(f"result: {unit.result_path}", file=sys.stderr)
    return 0
