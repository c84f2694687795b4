"""``gazebench status``: where each unit of a suite (or a single run) stands.

The units are planned exactly as ``gazebench run`` plans them (same flags, same ``--set``: a
changed setting is another unit), then each is shown as

- ``done``: its result file is there and is this unit's;
- ``running``: launched (``gazebench run --launcher``) and its job still alive per submitit (Slurm:
  ``sacct``; local: the task's process), or per the unit's state file when the job cannot be
  queried from here;
- ``failed``: its task raised, or its job ended without a result (killed, out of time or memory);
  the path of the task's log is shown;
- ``missing``: neither (never launched, or launched and its result since removed).

The state comes from the result files and from ``<run_dir>/launcher.json`` (gazebench.plan.launch);
the exit code is 0 whatever the states.
"""

from __future__ import annotations

import argparse
import json
import shlex
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gazebench.core.request import Request

STATES = ("done", "running", "failed", "missing")

EXAMPLES = """\
examples:
  gazebench status --benchmark quickstart                 one line per unit, counts at the end
  gazebench status --benchmark paper --dataset rtgene      part of a suite
  gazebench status --benchmark paper --json                for scripts
  gazebench status --dataset synthgaze --model static      a single run's units

Give the same flags (--set, --root, --results, --runs, ...) as the `gazebench run` that made them:
a changed setting is another unit.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    from gazebench.core.request import request_flags

    p = sub.add_parser(
        "status",
        help="done / running / failed / missing units of a suite, with failed units' logs",
        description="Takes every flag of `gazebench run` (the units are planned from them; the "
        "ones about how to train are accepted and have no effect here).",
        epilog=EXAMPLES,
        parents=[request_flags()],
    )
    p.add_argument("--json", action="store_true", help="the units and counts as JSON")
    p.set_defaults(func=main)


def status_command(request: Request) -> str:
    """The ``gazebench status`` line for the units of a ``gazebench run`` request."""
    return shlex.join(["gazebench", "status", *request.to_argv()])


def main(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from gazebench.core.request import Request
    from gazebench.plan.launch import query_slurm, read_state, unit_state
    from gazebench.plan.planning import plan_request

    planned = plan_request(Request.from_args(args))
    suite, units, results_dir = planned.suite, planned.units, planned.results_dir
    query_slurm([read_state(u) for u in units])
    rows = []
    for u in units:
        s = unit_state(u)
        rows.append(
            {
                "dataset": u.spec.dataset,
                "fold": u.fold,
                "label": u.label,
                "seed": u.spec.seed,
                "unit_id": u.unit_id,
                **s,
                "result": str(u.result_path),
                "run_dir": str(u.run_dir),
            }
        )
    counts = {state: sum(r["state"] == state for r in rows) for state in STATES}
    name = f"benchmark {suite.name}" if suite.name else "run"
    if args.json:
        print(
            json.dumps(
                {"benchmark": suite.name or None, "results": str(results_dir), "units": rows, "counts": counts},
                indent=1,
            )
        )
        return 0

    def detail(r: dict) -> str:
        if r["state"] == "failed":
            error = (r.get("error") or "").strip().splitlines()
            why = error[0] if error else ""
            why = why if len(why) <= 100 else why[:99] + "…"
            return f"log {r['log']}" + (f" ({why})" if why else "") if r["log"] else why
        if r["state"] == "running":
            if not r["job_id"]:
                return f"{r['note']}: not yet submitted"
            return f"job {r['job_id']} {r['note'] or ''}; log {r['log']}"
        return r["note"] or ""

    table = [[r["dataset"], r["fold"], r["label"], r["seed"], r["state"], detail(r)] for r in rows]
    print(
        tabulate(
            table, headers=["dataset", "fold", "label", "seed", "state", ""], tablefmt="simple", disable_numparse=True
        )
    )
    print(
        f"{name}: {len(rows)} units: "
        + ", ".join(f"{counts[s]} {s}" for s in STATES)
        + f" (results under {results_dir})"
    )
    return 0
