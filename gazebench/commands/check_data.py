"""``gazebench check-data``: scan a dataset's labels and images; sizes per split and fold, label
ranges, the sizes compared with the card's published ones, and every problem found (exit status 1
when there is any)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from gazebench.commands.common import data_options, dataset_flags, dataset_names

EXAMPLES = """\
examples:
  gazebench check-data --dataset gaze360 --root /data/gaze360
  gazebench check-data --dataset gaze360 --root /data/gaze360 --set annotation=splitfiles
  gazebench check-data --dataset rtgene --root /data/RT-GENE --set variant=original --json
  gazebench check-data --dataset synthgaze --root data/synth --no-images
  gazebench check-data --dataset gaze360 --root data/synth-gaze360 --set expect_samples=any
  gazebench check-data --dataset gaze360 --root /data/Gaze360-GazeHub --set layout=gazehub
"""

#: columns of the text table, in order (absent ones are left out)
COLUMNS = (
    ("samples", "samples"),
    ("subjects", "subjects"),
    ("front180", "front180"),
    ("front20", "front20"),
    ("front20axis", "front20axis"),
    ("back", "back"),
    ("windows_complete", "win7 complete"),
    ("yaw_mean_deg", "yaw mean"),
    ("yaw_range_deg", "yaw range"),
    ("pitch_mean_deg", "pitch mean"),
    ("pitch_range_deg", "pitch range"),
)
MAX_LISTED = 50


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check-data",
        epilog=EXAMPLES,
        parents=[dataset_flags()],
        help="check a dataset's labels and images; sizes per split and fold, label ranges, problems",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-images", action="store_true", help="skip opening every image (labels and splits only)")
    p.add_argument("--workers", type=int, default=4, help="threads decoding images (default 4)")
    p.set_defaults(func=main)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return "[" + ", ".join(f"{v:.1f}" for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def published_lines(info: dict[str, Any] | None) -> list[str]:
    """What was compared with the card's published counts (``report["published"]``), in words."""
    if not info:
        return []
    if info.get("skipped"):
        return ["", f"published sizes: not compared, {info['skipped']}"]
    out = [""]
    compared = info.get("compared") or {}
    if compared:
        differ = sum(v["counted"] != v["published"] for v in compared.values())
        pairs = ", ".join(f"{k} {v['counted']:,} of {v['published']:,}" for k, v in compared.items())
        verdict = (
            "all match"
            if not differ
            else (
                f"{differ} of {len(compared)} differ (problems below; a tree that is not the published release, "
                "e.g. a SynthGaze render, passes with --set expect_samples=any)"
            )
        )
        out.append(f"published sizes ({info['source']}): {pairs}: {verdict}")
    if info.get("per_subject"):
        out.append(f"per subject: {info['per_subject']:,} expected (checked per file while reading)")
    if info.get("note"):
        out.append("published sizes: " + " ".join(str(info["note"]).split()))
    return out if len(out) > 1 else []


def columns(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The table's columns: :data:`COLUMNS` with the populations' subsets (``face``,
    ``face_front180``, ...: the report's ``subsets`` beyond the gaze ones) after ``back``."""
    known = {k for k, _ in COLUMNS}
    extra = [(k, k) for k in report.get("subsets") or [] if k not in known]
    at = [k for k, _ in COLUMNS].index("back") + 1
    return list(COLUMNS[:at]) + extra + list(COLUMNS[at:])


def render_text(report: dict[str, Any]) -> str:
    from tabulate import tabulate

    lines = [
        f"dataset {report['dataset']} at {report['root']}"
        + (f" ({', '.join(f'{k}={v}' for k, v in report['options'].items())})" if report["options"] else "")
    ]
    shown = columns(report)

    def table(groups: dict[str, dict[str, dict]], with_fold: bool) -> str:
        present = [(k, h) for k, h in shown if any(k in st for g in groups.values() for st in g.values())]
        rows = []
        for fold, splits in groups.items():
            for split, stats in splits.items():
                rows.append(([fold] if with_fold else []) + [split] + [_cell(stats.get(k)) for k, _ in present])
        headers = (["fold"] if with_fold else []) + ["split"] + [h for _, h in present]
        return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)

    if report["splits"]:
        lines += [
            "",
            "splits (each frame once; angles in degrees, canonical convention):",
            table({"": report["splits"]}, with_fold=False),
        ]
    if len(report["folds"]) > 1:  # a fixed split's only fold repeats the table above
        lines += ["", "per fold:", table(report["folds"], with_fold=True)]
    for fold, splits in report["folds"].items():
        test = splits.get("test", {}).get("subject_ids")
        if test is not None and len(report["folds"]) > 1:
            lines.append(f"fold {fold} test subjects: {', '.join(test)}")
    populations = report.get("populations") or {}
    lines += [""] if populations else []
    for name, what in populations.items():
        columns_of = f" (columns {name}, {name}_<subset>)" if name in (report.get("subsets") or []) else ""
        lines.append(f"population {name}{columns_of}: " + " ".join(str(what).split()))
    lines += published_lines(report.get("published"))
    if report.get("warnings"):
        lines += ["", "warnings:"] + [f"  - {w}" for w in report["warnings"]]
    problems = report["problems"]
    lines.append("")
    if problems:
        lines.append(f"{len(problems)} problem(s):")
        for p in problems[:MAX_LISTED]:
            lines.append(f"  [{p['kind']}] {p['path']}: {p['message']}")
        if len(problems) > MAX_LISTED:
            lines.append(f"  ... and {len(problems) - MAX_LISTED} more (--json lists all)")
    else:
        lines.append("no problems found")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from gazebench.datasets.checks import check_dataset

    args.dataset = dataset_names(args.dataset)  # an alias (rt-gene) names the dataset's own name
    options = data_options(args.dataset, args.sets, "check-data", args.protocol)
    report = check_dataset(
        args.dataset, args.root, options, images=not args.no_images, workers=args.workers, progress=not args.json
    )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render_text(report))
    if report["problems"]:
        if not args.json:
            print(f"gazebench check-data: {len(report['problems'])} problem(s) in {args.dataset}", file=sys.stderr)
        return 1
    return 0
