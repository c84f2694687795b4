"""``gazebench table``: the leaderboard of a results folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from gazebench.commands.common import check_benchmark, results_flag
from gazebench.core.options import csv_flag

EXAMPLES = """\
examples:
  gazebench table                                     every result under results/
  gazebench table --benchmark quickstart              one suite's results
  gazebench table --dataset rtgene --metric median    median error, one dataset
  gazebench table --subset front180 --format latex    Gaze360's front-facing subset, for a paper
  gazebench table --format csv > leaderboard.csv      long form: row, label, column, identity, mean, std, n, ...
  gazebench table --strict                            refuse labels that hold several configurations
  gazebench table --no-references                     without the published reference rows

A column is a dataset under one protocol (card version, data options); a cell is mean ± std over
the runs (folds × seeds) of one configuration, with n runs. A label run with several
configurations becomes one row per configuration, named by what differs: staticsc (crops=175).
A cell whose folds differ from the protocol's (the dataset card), or whose folds have unequal
seeds, is marked [k]; one tested on less than the protocol's full test population (or whose seeds
of a fold were tested on different ones) is marked †[k]; one with a record whose all.mean its
predictions file does not give (edited by hand) is marked ‡[k]. Footnote k explains; a marked
cell is never bold and never enters the Mean column.

A cross-dataset column (ethxgaze → mpiifacegaze) shows below its measured rows the numbers papers
publish for the same training and test datasets (PureGaze, PnP-GA, UniGaze: gazebench/published/
tables/), as rows "ref: METHOD (PAPER) [Rk]"; note Rk cites the paper, table and populations.
They are not measured here: never bold, never in the Mean. Only for the mean error (all.mean).
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "table",
        help="print the leaderboard (mean ± std over folds and seeds)",
        epilog=EXAMPLES,
        parents=[results_flag()],
    )
    p.add_argument("--benchmark", help="only the results of this benchmark suite")
    p.add_argument("--format", default="github", help="github (default), latex, csv, html or json")
    p.add_argument(
        "--metric",
        default="mean",
        help="mean | median | std | p90 | sigma_error_spearman ..., or SUBSET.STAT (default mean)",
    )
    p.add_argument("--subset", default="all", help="all, or a dataset subset such as front180, front20, back")
    p.add_argument("--dataset", action="append", help="only these datasets (comma separated or repeated)")
    p.add_argument(
        "--strict",
        action="store_true",
        help="refuse a label that holds several configurations (instead of one row per configuration)",
    )
    p.add_argument(
        "--no-references",
        dest="references",
        action="store_false",
        help="leave out the published reference rows beside cross-dataset columns",
    )
    p.set_defaults(func=main)


def metric_name(metric: str, subset: str = "all") -> str:
    """``mean`` + subset ``front180`` -> ``front180.mean``; a dotted metric is taken as it is."""
    return metric if "." in metric else f"{subset}.{metric}"


def table_text(
    results: Path,
    benchmark: str | None = None,
    datasets: list[str] | None = None,
    fmt: str = "github",
    metric: str = "all.mean",
    strict: bool = False,
    references: bool = True,
) -> str:
    from gazebench.leaderboard import leaderboard
    from gazebench.results.store import load_results

    df = load_results(results)  # unreadable files and duplicate units are reported as warnings
    text = leaderboard(
        df,
        metric,
        fmt,
        benchmark=benchmark,
        datasets=datasets,
        strict=strict,
        results_dir=results,
        references=references,
    )
    if text == "(no results)":
        what = [
            f"benchmark {benchmark!r}" if benchmark else None,
            f"datasets {', '.join(datasets)}" if datasets else None,
        ]
        scope = " for " + " and ".join(w for w in what if w) if any(what) else ""
        text = f"(no results{scope} under {results})"
    return text


def print_table(
    results: Path,
    datasets: list[str] | None = None,
    fmt: str = "github",
    metric: str = "all.mean",
    benchmark: str | None = None,
    strict: bool = False,
    references: bool = True,
) -> None:
    print(table_text(results, benchmark, datasets, fmt, metric, strict, references))


def main(args: argparse.Namespace) -> int:
    check_benchmark(args.benchmark, args.results)
    print_table(
        args.results,
        csv_flag(args.dataset),
        args.format,
        metric_name(args.metric, args.subset),
        args.benchmark,
        args.strict,
        args.references,
    )
    return 0
