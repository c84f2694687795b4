"""``gazebench bench``: is the model fed?  Data path, model step and full training step of one
unit's set-up (the same :func:`gazebench.train.assemble.build_setup` a run uses), measured in one process
(:mod:`gazebench.train.speed`)."""

from __future__ import annotations

import argparse
import json
import sys

from gazebench.commands.common import dataset_flags, dataset_names

EXAMPLES = """\
examples:
  gazebench bench --dataset synthgaze --model static
  gazebench bench --model staticsclstmsym --set image_size=224 --set batch_size=8 --steps 6 --source cache
  gazebench bench --model static --set precision=bf16 --set channels_last=auto --json
  gazebench bench --dataset gaze360 --root /data/gaze360 --model seqlstm --set num_workers=2
  gazebench bench --train gaze360,ethxgaze --train-root gaze360=/data/g360 --train-root ethxgaze=/data/xg
                  a joint unit, and its data path against each training dataset's alone (docs/multidataset.md)

Ratios: c/b = full step / model step alone (goal >= 0.95), a/b = data path / model step (goal >= 3).
Warm-up batches are excluded; the allocator, threads and load average are reported.  For a steady
CPU allocator preload tcmalloc (docs/performance.md).  More measurements (zoom crops, the reference
pipeline, cache vs images, memory, vs a bare timm loop) live in tools/perf/ of the repository.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="measure data path, model step and full training step (is the model fed?)",
        epilog=EXAMPLES,
        parents=[dataset_flags()],
    )
    p.add_argument("--model", default="static", help="registered model (default: static)")
    p.add_argument("--backbone", help="timm backbone, shortcut for --set backbone=NAME")
    p.add_argument("--steps", type=int, default=20, help="timed batches per measurement (default 20)")
    p.add_argument("--warmup", type=int, default=5, help="untimed batches before each measurement (default 5)")
    p.add_argument("--repeat", type=int, default=3, help="interleaved repeats; medians are reported (default 3)")
    p.add_argument(
        "--source",
        choices=("auto", "cache", "images"),
        default="auto",
        help="frames from the HDF5 cache (prepared if missing), the image files, or whatever a run "
        "would use (default auto)",
    )
    p.add_argument("--threads", type=int, help="torch threads of the training process (default: as a run sets them)")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.add_argument(
        "--train",
        help="several datasets, comma separated: bench the joint unit that trains on all of "
        "them (gazebench run --train A,B) and compare its data path with each one's alone",
    )
    p.add_argument(
        "--train-root",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="a training dataset's root for --train (repeatable)",
    )
    p.set_defaults(func=main, trains=True)


def plan_bench_unit(args: argparse.Namespace):
    """The unit a ``gazebench run`` with these flags would train first (seed 0, the first fold)."""
    import tempfile

    from gazebench import declared
    from gazebench.core.config import parse_sets
    from gazebench.plan import planning
    from gazebench.plan.suites import parse_roots

    settings = parse_sets(args.sets)
    if args.backbone:
        settings["backbone"] = args.backbone
    members = sorted(set(dataset_names(args.train).split(","))) if getattr(args, "train", None) else None
    suite = planning.single_run_suite(
        args.dataset,
        [args.model],
        [0],
        root=args.root,
        protocol=args.protocol,
        members=members if members and len(members) > 1 else None,
    )
    roots = parse_roots(getattr(args, "train_root", None), members) if members else {}
    first_fold = "default" if members and len(members) > 1 else declared.dataset_card(args.dataset).resolve_fold(None)
    (spec,) = planning.select(planning.expand(suite, settings, roots), folds=[first_fold])
    scratch = tempfile.gettempdir()
    return planning.plan_unit(spec, f"{scratch}/gazebench-bench", f"{scratch}/gazebench-bench")


def bench_setup(unit, source: str):
    """The run's set-up of ``unit``, frames from ``source`` (``cache``: prepared first if missing)."""
    from gazebench.train.assemble import build_setup

    if source == "cache":
        from gazebench.cache import build_cache
        from gazebench.train.assemble import open_dataset

        dataset = open_dataset(unit)
        for one in getattr(dataset, "members", {dataset.name: dataset}).values():  # a joint unit: each member's
            build_cache(one, unit.recipe.image_size, progress=False)  # nothing to do when current
    return build_setup(unit, cache_mode={"auto": None, "cache": "require", "images": "off"}[source])


def main(args: argparse.Namespace) -> int:
    import torch

    from gazebench.train.speed import compare_data_paths, measure, render, render_comparison

    args.dataset = dataset_names(args.dataset)  # an alias (rt-gene) names the dataset's own name
    threads = torch.get_num_threads()
    try:
        setup = bench_setup(plan_bench_unit(args), args.source)
        if args.threads:
            torch.set_num_threads(args.threads)
        report = measure(setup, args.steps, args.warmup, args.repeat, log=lambda msg: print(msg, file=sys.stderr))
        if setup.unit.spec.members:  # a joint unit: its data path against each training dataset's alone
            report["joint"] = compare_data_paths(
                setup, member_setups(args, setup.unit), args.steps, args.warmup, args.repeat
            )
    finally:
        torch.set_num_threads(threads)  # a test calling main() keeps its own setting
    text = render(report) + (render_comparison(report["joint"]) if "joint" in report else "")
    print(json.dumps(report, indent=2, default=str) if args.json else text)
    return 0


def member_setups(args: argparse.Namespace, unit) -> dict:
    """Each training dataset of a joint unit alone: its own unit (the joint's model, recipe and the
    member's data options and root) set up as a run would."""
    import dataclasses

    from gazebench.plan import planning

    out = {}
    for name in unit.spec.members:
        m = unit.data_options["members"][name]
        spec = dataclasses.replace(
            unit.spec,
            dataset=name,
            members=(),
            member_roots={},
            member_options={},
            member_protocols={},
            root=unit.spec.member_roots.get(name),
            fold=m["fold"],
            protocol=m["protocol"],
            data_options=m["options"],
            cross=(),
        )
        one = planning.plan_unit(spec, unit.result_path.parent, unit.run_dir.parent)
        # the same recipe as the joint unit (the member's protocol recipe must not change the measurement)
        out[name] = bench_setup(dataclasses.replace(one, recipe=unit.recipe), args.source)
    return out
