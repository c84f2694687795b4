"""``gazebench analyze KIND``: one analysis of saved runs (never a retraining) -> a table and plots."""

from __future__ import annotations

import argparse
from pathlib import Path

from gazebench.commands.common import results_flag
from gazebench.core.options import csv_flag

EXAMPLES = """\
examples:
  gazebench analyze bins --dataset synthgaze --model static,staticsclstmsym
  gazebench analyze uncertainty --run results/quickstart/synthgaze/static/fold-default_seed-0_<unit>.json
  gazebench analyze smoothing --run runs/quickstart/synthgaze/static/<unit> --set windows=1,5,9
  gazebench analyze gallery --dataset synthgaze --model static --set k=6

RUN (repeatable) is a result file, a run folder or a unit id; without --run the runs under
--results are taken, narrowed by --dataset, --model (label or model name, comma separated) and
--benchmark. Each analysis writes table.csv, table.json, its PNG plots and analysis.json (what
was read, the options, the command) into --out, by default <results>/analysis/<kind>-<hash of the
runs and options>, and prints the table.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze",
        help="analyse saved runs: error by gaze direction, uncertainty, smoothing, ...",
        epilog=EXAMPLES,
        parents=[results_flag()],
    )
    p.add_argument("kind", metavar="KIND", help="the analysis (listed below)")
    p.add_argument(
        "--run", dest="runs", action="append", metavar="RUN", help="a result file, run folder or unit id (repeatable)"
    )
    p.add_argument("--dataset", help="without --run: only runs on these datasets (comma separated)")
    p.add_argument("--model", help="without --run: only these labels or models (comma separated)")
    p.add_argument("--benchmark", help="without --run: only runs of this benchmark suite")
    p.add_argument("--out", type=Path, help="output folder (default <results>/analysis/<kind>-<hash>)")
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        metavar="KEY=VALUE",
        default=[],
        help="an option of the kind (repeatable; listed below)",
    )
    plain = p.format_help
    p.format_help = lambda: plain() + "\n" + _kinds_help() + "\n"  # the kinds are imported only for --help
    p.set_defaults(func=main)


def _kinds_help() -> str:
    from gazebench.analysis.base import kinds_help

    return kinds_help()


def command_line(args: argparse.Namespace) -> list[str]:
    """The command as argv, rebuilt from the parsed flags (for the manifest)."""
    argv = ["gazebench", "analyze", args.kind]
    for run in args.runs or []:
        argv += ["--run", str(run)]
    argv += ["--results", str(args.results)]
    for flag in ("dataset", "model", "benchmark", "out"):
        if getattr(args, flag):
            argv += [f"--{flag}", str(getattr(args, flag))]
    for item in args.sets:
        argv += ["--set", item]
    return argv


def main(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from gazebench.analysis import default_out_dir, get_kind, resolve_runs, write_analysis
    from gazebench.core.config import parse_sets

    kind = get_kind(args.kind)
    options = kind.resolve(parse_sets(args.sets))  # a bad option fails before anything is read
    runs = resolve_runs(args.runs, args.results, csv_flag(args.dataset), csv_flag(args.model), args.benchmark)
    analysis = kind(runs, options)
    out = args.out or default_out_dir(args.results, kind.name, runs, analysis.options)
    manifest = write_analysis(analysis, runs, out, command_line(args))
    print(analysis.title)
    print(
        tabulate(analysis.table, headers="keys", tablefmt="github", showindex=False, floatfmt=".2f")
        if len(analysis.table)
        else "(empty table)"
    )
    for note in analysis.notes:
        print(f"note: {note}")
    print(f"\nwrote {manifest.parent}: {', '.join([manifest.name, 'table.csv', 'table.json', *_pngs(analysis)])}")
    return 0


def _pngs(analysis) -> list[str]:
    return [name if name.endswith(".png") else f"{name}.png" for name, _ in analysis.figures]
