"""Regenerate the numbers and figures of docs/findings.md from a finished ``synthgaze-paper`` suite.

    python tools/findings_doc.py --results results [--doc docs/findings.md] [--images docs/images]
                                 [--no-figures]

Runs, through the ``gazebench`` CLI (each command is printed before it runs; each analysis is
written to ``<results>/analysis/doc-<kind>``, where ``gazebench report`` shows it too):

    gazebench analyze findings --benchmark synthgaze-paper
    gazebench analyze bins --run <static seed 0> --run <staticsc seed 0>
    gazebench analyze magnification --benchmark synthgaze-paper --model staticsclstmsym,staticsc-175 --set single=false
    gazebench analyze uncertainty --benchmark synthgaze-paper --model staticsclstmsym

then copies the four figures the page shows into ``--images`` (``findings-claims.png``,
``findings-bins-yaw.png``, ``findings-magnification.png``, ``findings-sigma-reliability.png``) and
rewrites the generated blocks of ``--doc``, each between ``<!-- generated:NAME -->`` and
``<!-- /generated:NAME -->``: ``leaderboard`` (all, front 180°, back: mean ± std over seeds),
``claims`` (the findings table), ``runs`` (the suite's units and their time) and ``bins-units`` (the
unit ids the bins figure was made from).  The prose around the blocks quotes some of their numbers
and must be reread by hand afterwards; ``--no-figures`` skips the three re-evaluating analyses
(magnification re-predicts from every ``best.pt``: minutes on two CPU cores).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

import pandas as pd

from gazebench.analysis.kinds.findings import CLAIMS
from gazebench.cli import main as gazebench
from gazebench.leaderboard import aggregate, dedupe
from gazebench.results.store import load_results

BENCHMARK = "synthgaze-paper"
SUBSETS = (("all", "all"), ("front180", "front 180°"), ("back", "back (g_z > 0)"))


def run(*argv: str) -> None:
    """One ``gazebench`` command, printed first; a failure stops the script with its exit code."""
    print("$ gazebench " + " ".join(argv), file=sys.stderr)
    code = gazebench(list(argv))
    if code:
        raise SystemExit(code)


def leaderboard_block(df: pd.DataFrame) -> str:
    """The leaderboard of the suite on every subset: mean ± std over seeds, best of a column bold."""
    cells = {}
    for subset, _ in SUBSETS:
        table = aggregate(df, f"{subset}.mean")
        cells[subset] = {r["row"]: (r["mean"], r["std"]) for _, r in table.iterrows()}
    rows = sorted(cells["all"], key=lambda row: cells["all"][row][0])
    lines = ["| model | " + " | ".join(name for _, name in SUBSETS) + " |", "|---" * (len(SUBSETS) + 1) + "|"]
    for row in rows:
        shown = []
        for subset, _ in SUBSETS:
            mean, std = cells[subset].get(row, (float("nan"), float("nan")))
            text = f"{mean:.2f} ± {0.0 if pd.isna(std) else std:.2f}"
            best = min(m for m, _ in cells[subset].values())
            shown.append(f"**{text}**" if mean == best else text)
        lines.append(f"| {row} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def minus(text: str) -> str:
    """Typographic minus signs, as the page writes them."""
    return re.sub(r"(?<![\w/])-(?=\d)", "−", text)


def cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def claims_block(table: pd.DataFrame) -> str:
    """The findings table as the page shows it, with a footnote for intervals over few subjects."""
    lines = [
        "| claim | where the notes make it | test | A vs B (mean ± std over seeds) | A − B per seed | "
        "A − B [95 % CI] | seeds on the claimed side | verdict | configurations paired |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    few = False
    for claim in CLAIMS:
        r = table.loc[claim.id]
        if r["verdict"] == "not measured":
            lines.append(
                f"| {claim.text} | {claim.source} | {r['test']} | — | — | — | — | not measured: {cell(r['why'])} | — |"
            )
            continue
        mark = " †" if str(r["few_subjects"]) == "True" else ""
        few |= bool(mark)
        if claim.test == "sigma":
            values = f"ρ = {r['a']}"
            interval = f"ρ = {r['diff']:.2f} [{r['ci95_low']:.2f}, {r['ci95_high']:.2f}]{mark}"
            paired = f"{r['a_identity']}; {r['paired']}"
        else:
            values = f"{r['a']} vs {r['b']}"
            interval = f"{r['diff']:+.2f} [{r['ci95_low']:+.2f}, {r['ci95_high']:+.2f}]{mark}, {p_text(float(r['p']))}"
            paired = f"{r['a_identity']} vs {r['b_identity']}; {r['paired']}"
        lines.append(
            minus(
                f"| {claim.text} | {claim.source} | {r['test']} | {values} | {r['seed_values']} | "
                f"{interval} | {r['claimed_side']} | **{r['verdict']}** | {paired} |"
            )
        )
    if few:
        lines += ["", "† the interval rests on fewer than 10 test subjects."]
    return "\n".join(lines)


def runs_block(df: pd.DataFrame) -> str:
    """The suite's units: how many, the sum of their own times, per label."""
    seconds = df.groupby("label")["timings.total_seconds"].agg(["count", "mean"]).sort_values("mean")
    parts = [f"`{label}` {row['mean'] / 60:.1f} min ({int(row['count'])} units)" for label, row in seconds.iterrows()]
    total = df["timings.total_seconds"].sum() / 60
    return (
        f"{len(df)} units; their own times add up to {total:.1f} min; mean per unit by label: " + ", ".join(parts) + "."
    )


def replace_block(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- generated:{name} -->\n).*?(\n<!-- /generated:{name} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"the doc has no block <!-- generated:{name} --> ... <!-- /generated:{name} -->")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def seed0_unit(df: pd.DataFrame, label: str) -> str:
    unit = df[(df["label"] == label) & (df["seed"].astype(int) == 0)]["unit_id"]
    if len(unit) != 1:
        raise SystemExit(f"expected one seed-0 run of {label}, found {len(unit)}")
    return str(unit.iloc[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=Path("results"))
    ap.add_argument("--doc", type=Path, default=Path("docs/findings.md"))
    ap.add_argument("--images", type=Path, default=Path("docs/images"))
    ap.add_argument("--no-figures", action="store_true", help="only the findings analysis (no re-evaluation)")
    args = ap.parse_args()
    results = ["--results", str(args.results)]
    work = args.results / "analysis"

    df, _ = dedupe(load_results(args.results))
    df = df[df["benchmark"] == BENCHMARK]
    if df.empty:
        raise SystemExit(f"no {BENCHMARK} results under {args.results}")
    run("analyze", "findings", "--benchmark", BENCHMARK, *results, "--out", str(work / "doc-findings"))
    table = pd.read_csv(work / "doc-findings" / "table.csv").set_index("claim")
    figures = {"doc-findings/findings.png": "findings-claims.png"}
    static, staticsc = seed0_unit(df, "static"), seed0_unit(df, "staticsc")
    if not args.no_figures:
        run("analyze", "bins", "--run", static, "--run", staticsc, *results, "--out", str(work / "doc-bins"))
        run(
            "analyze",
            "magnification",
            "--benchmark",
            BENCHMARK,
            "--model",
            "staticsclstmsym,staticsc-175",
            "--set",
            "single=false",
            *results,
            "--out",
            str(work / "doc-magnification"),
        )
        run(
            "analyze",
            "uncertainty",
            "--benchmark",
            BENCHMARK,
            "--model",
            "staticsclstmsym",
            *results,
            "--out",
            str(work / "doc-uncertainty"),
        )
        figures.update(
            {
                "doc-bins/yaw_polar.png": "findings-bins-yaw.png",
                "doc-magnification/magnification.png": "findings-magnification.png",
                "doc-uncertainty/reliability.png": "findings-sigma-reliability.png",
            }
        )
    for source, target in figures.items():
        shutil.copyfile(work / source, args.images / target)
        print(f"copied {work / source} -> {args.images / target}", file=sys.stderr)

    text = args.doc.read_text()
    for name, body in (
        ("leaderboard", leaderboard_block(df)),
        ("claims", claims_block(table)),
        ("runs", runs_block(df)),
        ("bins-units", f"`gazebench analyze bins --run {static} --run {staticsc}`"),
    ):
        text = replace_block(text, name, body)
    args.doc.write_text(text)
    print(f"rewrote the generated blocks of {args.doc}; reread its prose against them", file=sys.stderr)
    print(json.dumps({"findings": str(work / "doc-findings"), "claims": table["verdict"].to_dict()}, indent=1))


if __name__ == "__main__":
    main()
