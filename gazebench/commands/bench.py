"""``gazebench bench``: is the model fed?  Data path, model step and full training step, measured
in one process (gazebench/perf/bench.py)."""

from __future__ import annotations

import argparse
import json
import os
import sys

EXAMPLES = """\
examples:
  gazebench bench --dataset synthgaze --model static
  gazebench bench --model staticsclstmsym --set image_size=224 --set batch_size=8 --steps 6 --source both
  gazebench bench --model static --set precision=bf16 --set channels_last=auto --json
  gazebench bench --dataset gaze360 --root /data/gaze360 --model seqlstm --set num_workers=2

Ratios: c/b = full step / model step alone (goal >= 0.95), a/b = data path / model step (goal >= 3).
Warm-up batches are excluded; the allocator, threads and load average are reported.  When
libtcmalloc_minimal.so.4 is installed, the command re-runs itself under it (GAZEBENCH_TCMALLOC=off,
or --allocator system, keeps the system allocator).
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="measure data path, model step and full training step (is the model fed?)",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dataset", default="synthgaze", help="registered dataset (default: synthgaze)")
    p.add_argument("--model", default="static", help="registered model (default: static)")
    p.add_argument("--root", help="dataset root (default: the data root's <dataset> folder)")
    p.add_argument("--backbone", help="timm backbone, shortcut for --set backbone=NAME")
    p.add_argument("--set", dest="sets", action="append", metavar="KEY=VALUE", default=[],
                   help="override a recipe key, model option or data option (repeatable)")
    p.add_argument("--steps", type=int, default=20, help="timed batches per measurement (default 20)")
    p.add_argument("--warmup", type=int, default=5, help="untimed batches before each measurement (default 5)")
    p.add_argument("--repeat", type=int, default=3, help="interleaved repeats; medians are reported (default 3)")
    p.add_argument("--source", choices=("auto", "cache", "images", "both"), default="auto",
                   help="frames from the HDF5 cache (prepared if missing), the image files, both, "
                        "or whatever a run would use (default auto)")
    p.add_argument("--cache-dir", help="frame cache folder (default: <root>/.gazebench-cache)")
    p.add_argument("--no-seed-style", action="store_true", help="skip the reference-pipeline comparison")
    p.add_argument("--threads", type=int, help="torch threads of the training process (default: one per core)")
    p.add_argument("--allocator", choices=("auto", "system"), default="auto",
                   help="auto: re-run under tcmalloc when it is installed (default); system: as started")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.add_argument("--traceback", action="store_true", help="show the full traceback on errors")
    p.set_defaults(func=main)


def _invoked_as_cli() -> bool:
    """True when this process is the ``gazebench`` command itself (not a test calling main())."""
    argv0 = os.path.basename(sys.argv[0]) if sys.argv else ""
    return argv0 in ("gazebench", "__main__.py") and "bench" in sys.argv[1:]


def build_spec(args: argparse.Namespace):
    import gazebench.models  # noqa: F401
    from gazebench.config import parse_sets, route_overrides
    from gazebench.models.base import model_kwargs
    from gazebench.perf.bench import BenchSpec
    from gazebench.registry import DATASETS

    overrides = parse_sets(args.sets)
    if args.backbone:
        overrides["backbone"] = args.backbone
    data_keys = list(DATASETS.get(args.dataset).option_choices)
    recipe, model_kw, data = route_overrides(overrides, list(model_kwargs(args.model)), data_keys)
    return BenchSpec(args.dataset, args.model, args.root, data, model_kw, recipe, steps=args.steps,
                     warmup=args.warmup, repeat=args.repeat, source=args.source,
                     seed_style=not args.no_seed_style, threads=args.threads, cache_dir=args.cache_dir)


def main(args: argparse.Namespace) -> int:
    if args.allocator == "auto" and _invoked_as_cli():
        from gazebench.perf.runtime import reexec_with_tcmalloc

        reexec_with_tcmalloc(sys.argv[1:])  # returns only when it does not apply
    from gazebench.perf.bench import render, run_bench

    report = run_bench(build_spec(args))
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(render(report))
    return 0
