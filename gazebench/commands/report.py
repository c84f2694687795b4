"""``gazebench report``: one self-contained HTML page of a results folder (leaderboard, analyses,
provenance), to open offline or send to someone."""

from __future__ import annotations

import argparse
from pathlib import Path

from gazebench.commands.common import check_benchmark, results_flag

EXAMPLES = """\
examples:
  gazebench report --out report.html                              everything under results/
  gazebench report --results /tmp/qs/results --out qs.html --title "Quickstart, seed 0"
  gazebench report --benchmark paper --out paper.html             one suite's runs

The page holds the leaderboard (all.mean and each evaluation subset the records carry: front180,
back, ...) with its † marks and footnotes and the runs behind every cell; every analysis under
<results>/analysis/ (written by gazebench analyze: notes, table, figures); and the provenance of
each run: unit id, configuration identity, protocol, test population (size, SHA-256, complete or
what it lacks), weights, environment (versions, git, device) and time. Figures are inlined as
data: URIs and the style sheet is inline: the file needs no network and no other file.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="one self-contained HTML page: leaderboard, analyses, provenance",
        epilog=EXAMPLES,
        parents=[results_flag()],
    )
    p.add_argument("--out", type=Path, default=Path("report.html"), help="the HTML file (default report.html)")
    p.add_argument("--title", help="the page title (default: gazebench report: RESULTS)")
    p.add_argument("--benchmark", help="only the results of this benchmark suite")
    p.add_argument(
        "--no-references",
        dest="references",
        action="store_false",
        help="leave out the published reference rows beside cross-dataset columns",
    )
    p.set_defaults(func=main)


def command_line(args: argparse.Namespace) -> list[str]:
    """The command as the page shows it (the flags as parsed)."""
    argv = ["gazebench", "report", "--results", str(args.results), "--out", str(args.out)]
    argv += ["--title", args.title] if args.title else []
    argv += ["--benchmark", args.benchmark] if args.benchmark else []
    return argv + ([] if args.references else ["--no-references"])


def main(args: argparse.Namespace) -> int:
    from gazebench.report import write_report

    check_benchmark(args.benchmark, args.results)
    path, data = write_report(args.results, args.out, args.title, args.benchmark, command_line(args), args.references)
    for note in data.notes:
        print(f"note: {note}")
    n = len(data.analyses)
    print(
        f"wrote {path} ({path.stat().st_size / 1024:,.0f} KiB): {len(data.runs)} runs, "
        f"{n} analys{'is' if n == 1 else 'es'}"
    )
    return 0
