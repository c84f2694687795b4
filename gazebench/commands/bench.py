"""``gazebench bench``: is the model fed?  Data path, model step and full training step of one
unit's set-up (the same :func:`gazebench.setup.build_setup` a run uses), measured in one process
(:mod:`gazebench.speed`)."""

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

Ratios: c/b = full step / model step alone (goal >= 0.95), a/b = data path / model step (goal >= 3).
Warm-up batches are excluded; the allocator, threads and load average are reported.  For a steady
CPU allocator preload tcmalloc (docs/performance.md).  More measurements (zoom crops, the reference
pipeline, cache vs images, memory, vs a bare timm loop) live in tools/perf/ of the repository.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure data path, model step and full training step (is the model fed?)",
                       epilog=EXAMPLES, parents=[dataset_flags()])
    p.add_argument("--model", default="static", help="registered model (default: static)")
    p.add_argument("--backbone", help="timm backbone, shortcut for --set backbone=NAME")
    p.add_argument("--steps", type=int, default=20, help="timed batches per measurement (default 20)")
    p.add_argument("--warmup", type=int, default=5, help="untimed batches before each measurement (default 5)")
    p.add_argument("--repeat", type=int, default=3, help="interleaved repeats; medians are reported (default 3)")
    p.add_argument("--source", choices=("auto", "cache", "images"), default="auto",
                   help="frames from the HDF5 cache (prepared if missing), the image files, or whatever a run "
                        "would use (default auto)")
    p.add_argument("--threads", type=int, help="torch threads of the training process (default: as a run sets them)")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.set_defaults(func=main, trains=True)


def plan_bench_unit(args: argparse.Namespace):
    """The unit a ``gazebench run`` with these flags would train first (seed 0, the first fold)."""
    import tempfile

    from gazebench import planning
    from gazebench.config import parse_sets

    settings = parse_sets(args.sets)
    if args.backbone:
        settings["backbone"] = args.backbone
    suite = planning.single_run_suite(args.dataset, [args.model], [0], root=args.root, protocol=args.protocol)
    first_fold = planning.dataset_card(args.dataset).resolve_fold(None)
    (spec,) = planning.select(planning.expand(suite, settings), folds=[first_fold])
    scratch = tempfile.gettempdir()
    return planning.plan_unit(spec, f"{scratch}/gazebench-bench", f"{scratch}/gazebench-bench")


def bench_setup(unit, source: str):
    """The run's set-up of ``unit``, frames from ``source`` (``cache``: prepared first if missing)."""
    from gazebench.setup import build_setup

    if source == "cache":
        from gazebench.cache import build_cache
        from gazebench.datasets import build_dataset

        dataset = build_dataset(unit.spec.dataset, unit.spec.root, **unit.data_options)
        build_cache(dataset, unit.recipe.image_size, progress=False)  # nothing to do when current
    return build_setup(unit, cache_mode={"auto": None, "cache": "require", "images": "off"}[source])


def main(args: argparse.Namespace) -> int:
    import torch

    from gazebench.speed import measure, render

    args.dataset = dataset_names(args.dataset)  # an alias (rt-gene) names the dataset's own name
    threads = torch.get_num_threads()
    try:
        setup = bench_setup(plan_bench_unit(args), args.source)
        if args.threads:
            torch.set_num_threads(args.threads)
        report = measure(setup, args.steps, args.warmup, args.repeat, log=lambda msg: print(msg, file=sys.stderr))
    finally:
        torch.set_num_threads(threads)  # a test calling main() keeps its own setting
    print(json.dumps(report, indent=2, default=str) if args.json else render(report))
    return 0
