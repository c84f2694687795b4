"""The full bench behind docs/performance.md: ``gazebench bench`` plus the zoom crops, the reference
pipeline and frames from the cache and the image files side by side.

    python tools/perf/bench.py --root data/synth-small --model static --set image_size=64 --source both

For one unit's set-up (:func:`gazebench.train.assemble.build_setup`, as a run) it measures, ``repeat``
times interleaved, each after ``warmup`` untimed batches (:mod:`gazebench.train.speed` does a-c):

  (a) data      samples/s the DataLoader delivers, per frame source (cache, images)
  (b) model     samples/s of the training step alone on ready tensors
  (c) full      samples/s of ``engine.train_one_epoch`` fed by the loader, per frame source
  (v) views     ms per batch of the zoom crops, normalisation and flip (``StepContext.views``)
  (s) seed      samples/s of the reference pipeline (PIL decode and crop-resize per view,
                tools/perf/seedstyle.py): its data path alone, and the full step it feeds

and prints medians of the per-repeat ratios c/b (goal >= 0.95), a/b (goal >= 3), s/c, and the
views' share of a step (goal <= 5 %), with the allocator, threads and load average.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # seedstyle.py beside this file

GOALS = {"full_over_model": 0.95, "data_over_model": 3.0, "views_share": 0.05}


def frame_sources(setup, which: str) -> dict[str, Any]:
    """``{label: FrameSource}`` for ``which`` (``both``, ``cache``, ``images``, ``auto``)."""
    from gazebench.cache import build_cache
    from gazebench.datasets.sources import open_frame_source

    size, out = setup.recipe.image_size, {}
    if which == "auto":
        return {"cache" if setup.source.describe()["state"] == "used" else "images": setup.source}
    if which in ("both", "images"):
        out["images"] = open_frame_source(setup.dataset, size, mode="off")
    if which in ("both", "cache"):
        build_cache(setup.dataset, size, progress=False)  # nothing to do when current
        out["cache"] = open_frame_source(setup.dataset, size, mode="require")
    return out


def time_views(timer, n: int) -> float:
    """(v): ms per batch of the zoom crops, normalisation and flip."""
    from gazebench.train.speed import sync

    ctx, raw = timer.setup.ctx, timer.raw
    for i in range(timer.warmup):
        ctx.views(raw[i % len(raw)]), ctx.target(raw[i % len(raw)])
    sync(timer.setup.device)
    t0 = time.perf_counter()
    for i in range(n):
        v, t = ctx.views(raw[i % len(raw)]), ctx.target(raw[i % len(raw)])
        if timer.augment is not None:
            timer.augment(v, t)
    sync(timer.setup.device)
    return (time.perf_counter() - t0) / n * 1000.0


def time_seed(timer, src, n: int, warm: int) -> float:
    """(s): samples/s of the training step fed by the reference pipeline (float views)."""
    from gazebench.train.speed import sync

    setup = timer.setup
    setup.step_model.train()

    def run(k: int) -> int:
        seen, loss = 0, None
        for b in src.take(k):
            v = b["views"].to(setup.device, non_blocking=True)
            if setup.ctx.channels_last:
                v = v.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, v.shape[:2])
            t = b["gaze"].to(setup.device, non_blocking=True).float()
            if timer.augment is not None:
                v, t = timer.augment(v, t)
            loss = timer.step(v, t)
            seen += t.shape[0]
        float(loss)
        sync(setup.device)
        return seen

    run(warm)
    t0 = time.perf_counter()
    return run(n) / (time.perf_counter() - t0)


def one_repeat(timer, loaders: dict, seed_loader, steps: int) -> dict[str, float]:
    row: dict[str, float] = {}
    for label, src in loaders.items():
        row[f"data[{label}]"] = timer.data(src, steps)
    row["model"] = timer.model(steps)
    for label, src in loaders.items():
        row[f"full[{label}]"], row[f"full_outside_clock[{label}]"] = timer.full(src, steps)
    row["views_ms"] = time_views(timer, steps)
    if seed_loader is not None:
        row["seed_data"] = timer.data(seed_loader, steps)
        row["seed"] = time_seed(timer, seed_loader, steps, timer.drain)
    return row


def summary(rows: list[dict], labels: list[str], batch_size: int) -> dict[str, Any]:
    from gazebench.train.speed import median

    def ratio(num: str, den: str) -> float | None:
        return median([row[num] / row[den] for row in rows if row.get(den)])

    out = {}
    for label in labels:
        full = f"full[{label}]"
        s = {
            "data_samples_per_s": median([row[f"data[{label}]"] for row in rows]),
            "full_samples_per_s": median([row[full] for row in rows]),
            "full_over_model": ratio(full, "model"),
            "data_over_model": ratio(f"data[{label}]", "model"),
            "views_share": median([row["views_ms"] / (1000.0 * batch_size / row[full]) for row in rows]),
            "seed_over_full": ratio("seed", full) if "seed" in rows[0] else None,
        }
        s["goals_met"] = {k: (s[k] or 0) >= GOALS[k] if k != "views_share" else (s[k] or 1) <= GOALS[k] for k in GOALS}
        out[label] = s
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from seedstyle import SeedStyleViews

    from gazebench.commands.bench import bench_setup, plan_bench_unit
    from gazebench.core.runtime import load_average, runtime_report
    from gazebench.datasets.loading import FrameWindows
    from gazebench.datasets.sources import ImageFiles
    from gazebench.train.speed import Endless, StepTimer, median

    setup = bench_setup(plan_bench_unit(args), "auto")
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = load_average()
    timer = StepTimer(setup, args.warmup)
    positions, view = setup.positions["train"], setup.model.view
    loaders = {
        label: Endless(setup, FrameWindows(setup.dataset, positions, view, source))
        for label, source in frame_sources(setup, args.source).items()
    }
    seed_loader = (
        None
        if args.no_seed_style
        else Endless(
            setup, SeedStyleViews(setup.dataset, positions, view, ImageFiles(setup.dataset, setup.recipe.image_size))
        )
    )
    one_repeat(
        timer, loaders, seed_loader, max(1, args.warmup)
    )  # untimed: kernel selection, start-up, allocator growth
    rows = []
    for r in range(args.repeat):
        rows.append(one_repeat(timer, loaders, seed_loader, args.steps))
        print(
            f"bench: repeat {r + 1}/{args.repeat}: " + ", ".join(f"{k} {v:.1f}" for k, v in rows[-1].items()),
            file=sys.stderr,
        )
    return {
        "model": {"name": args.model, "view": view.describe()},
        "recipe": {
            "image_size": setup.recipe.image_size,
            "batch_size": setup.recipe.batch_size,
            "num_workers": setup.num_workers,
        },
        "runtime": {
            **runtime_report(setup.device, setup.num_workers),
            "load_average_before": load_before,
            "load_average_after": load_average(),
        },
        "model_samples_per_s": median([row["model"] for row in rows]),
        "views_ms_per_batch": median([row["views_ms"] for row in rows]),
        "seed_style_samples_per_s": median([row.get("seed") for row in rows]),
        "seed_style_data_samples_per_s": median([row.get("seed_data") for row in rows]),
        "sources": summary(rows, list(loaders), setup.recipe.batch_size),
        "goals": GOALS,
        "repeats": rows,
    }


def render(report: dict[str, Any]) -> str:
    rt, model_rate = report["runtime"], report["model_samples_per_s"]
    lines = [
        f"{report['model']['name']} ({report['model']['view']}), {report['recipe']}; {rt['torch_threads']} torch "
        f"threads, allocator {rt['allocator']}, load {rt['load_average_before']} -> {rt['load_average_after']}",
        f"  {'(b) model step alone':34s} {model_rate:10.1f}",
    ]
    for label, s in report["sources"].items():
        lines += [
            f"  {'(a) data path, ' + label:34s} {s['data_samples_per_s']:10.1f}  a/b {s['data_over_model']:.2f}",
            f"  {'(c) full step, ' + label:34s} {s['full_samples_per_s']:10.1f}  c/b {s['full_over_model']:.3f}",
            f"  {'    views, % of a step':34s} {100 * s['views_share']:10.2f}",
        ]
        if s["seed_over_full"] is not None:
            lines.append(
                f"  {'(s) seed-style full step':34s} {report['seed_style_samples_per_s']:10.1f}  "
                f"s/c {s['seed_over_full']:.2f}  (data path {report['seed_style_data_samples_per_s']:.1f})"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="synthgaze")
    p.add_argument("--root")
    p.add_argument("--model", default="static")
    p.add_argument("--backbone")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--source", choices=("auto", "cache", "images", "both"), default="both")
    p.add_argument("--no-seed-style", action="store_true", help="skip the reference-pipeline comparison")
    p.add_argument("--threads", type=int, help="torch threads of the training process (default: as a run sets them)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    report = run(args)
    print(json.dumps(report, indent=2, default=str) if args.json else render(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
