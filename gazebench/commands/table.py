"""``gazebench table``: the leaderboard of a results folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from gazebench.leaderboard import FORMATS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("table", help="print the leaderboard (mean ± std over folds and seeds)")
    p.add_argument("--results", default="results", type=Path, help="results folder (default results/)")
    p.add_argument("--format", choices=FORMATS, default="github")
    p.add_argument("--metric", default="mean", help="mean | median | std | p90 (default mean)")
    p.add_argument("--subset", default="all", help="all, or a dataset subset such as front180, front20, back")
    p.add_argument("--dataset", action="append", help="only these datasets (repeatable)")
    p.set_defaults(func=main)


def print_table(results: Path, datasets: list[str] | None = None, fmt: str = "github", metric: str = "all.mean") -> None:
    from gazebench.leaderboard import aggregate, render
    from gazebench.results import load_results

    df = load_results(results)
    if datasets and not df.empty:
        df = df[df["dataset"].isin(datasets)]
    print(render(aggregate(df, metric), fmt, metric))


def main(args: argparse.Namespace) -> int:
    print_table(args.results, args.dataset, args.format, f"{args.subset}.{args.metric}")
    return 0
