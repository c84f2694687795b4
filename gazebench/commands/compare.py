"""``gazebench compare``: is leaderboard row A really better than row B?  Paired statistics on the
same test samples (bootstrap CI, Wilcoxon) and across folds and seeds."""

from __future__ import annotations

import argparse
import json

from gazebench.commands.common import results_flag
from gazebench.core.errors import UserValueError

EXAMPLES = """\
examples:
  gazebench compare staticsclstmsym static --dataset synthgaze
  gazebench compare seqsclstmsym seqlstm --dataset rtgene --benchmark paper
  gazebench compare msa static --dataset gaze360 --subset front180 --format json

  gazebench compare "staticsc (crops=175)" staticsc-175 --dataset synthgaze

A and B are leaderboard rows: labels, or a row as the table names it when a label holds several
configurations. Units are paired by fold and seed; their per-sample prediction files are joined
by sample id (each sample's error is averaged over the paired seeds). Runs tested on different
populations are not paired unless --allow-population-mismatch (then the samples only one side
has are dropped and counted). The 95% interval of the mean difference A - B resamples whole
subjects (--bootstrap sample resamples frames, which understates the uncertainty when frames of
one person are correlated).
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="paired comparison of two leaderboard rows (bootstrap CI, Wilcoxon)",
        epilog=EXAMPLES,
        parents=[results_flag()],
    )
    p.add_argument("a", metavar="A", help="a leaderboard row (its label, or its name in the table)")
    p.add_argument("b", metavar="B", help="another leaderboard row")
    p.add_argument("--dataset", required=True, help="the dataset to compare on")
    p.add_argument("--benchmark", help="only the results of this benchmark suite")
    p.add_argument(
        "--column", help="the leaderboard column, when the dataset has several (protocols, card versions, data options)"
    )
    p.add_argument(
        "--metric", default="mean", help="unit metric for the across-units part (default mean), or SUBSET.STAT"
    )
    p.add_argument(
        "--subset",
        default="all",
        help="all, front180 / front20 / back (from the gaze labels), or a "
        "population the dataset defines and its subsets (Gaze360: face, face_front180, face_back, ...)",
    )
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument(
        "--bootstrap",
        choices=("subject", "sample"),
        default="subject",
        help="resample whole subjects (default) or single samples",
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument(
        "--allow-population-mismatch",
        action="store_true",
        help="pair runs tested on different populations, on the samples both have",
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from gazebench.commands.table import metric_name
    from gazebench.compare import compare, render_text, rounded
    from gazebench.results.store import load_results

    if args.resamples < 100:
        raise UserValueError(f"--resamples {args.resamples} is too few for a 95% interval; use at least 100")
    df = load_results(args.results)  # unreadable files are reported as warnings
    if not df.empty and args.benchmark:
        df = df[df["benchmark"] == args.benchmark]
    result = compare(
        df,
        args.a,
        args.b,
        args.dataset,
        args.results,
        metric_name(args.metric, args.subset),
        args.subset,
        args.column,
        args.resamples,
        args.seed,
        args.bootstrap,
        args.allow_population_mismatch,
    )
    if args.format == "json":
        print(json.dumps(rounded(result), indent=2, ensure_ascii=False))
    else:
        print(render_text(result))
    return 0
