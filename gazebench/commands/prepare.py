"""``gazebench prepare``: decode and resize every frame of a dataset once, into an HDF5 frame cache
that runs then use automatically (see gazebench/cache.py)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from gazebench.commands.common import data_options, dataset_flags, dataset_names

EXAMPLES = """\
examples:
  gazebench prepare --dataset synthgaze --root data/synth --size 64
  gazebench prepare --dataset gaze360 --root /data/gaze360 --size 224 --workers 2
  gazebench prepare --dataset rtgene --root /data/RT-GENE --size 224 --set variant=original
  gazebench prepare --dataset gaze360 --root /data/gaze360 --size 224 --check   is it there and current?

The cache goes to <root>/.gazebench-cache/ (or --cache-dir / $GAZEBENCH_CACHE_DIR); a run whose
image_size equals --size uses it.  $GAZEBENCH_CACHE=off ignores caches, =require fails without one.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prepare",
        epilog=EXAMPLES,
        parents=[dataset_flags()],
        help="decode and resize every frame once into an HDF5 cache that runs use automatically",
    )
    p.add_argument(
        "--size",
        type=int,
        default=None,
        help="frame size in pixels; runs with this image_size use the cache (default: the recipe's image_size)",
    )
    p.add_argument(
        "--cache-dir", type=Path, help="cache folder (default: <root>/.gazebench-cache or $GAZEBENCH_CACHE_DIR)"
    )
    p.add_argument("--workers", type=int, default=2, help="decoding threads (default 2)")
    p.add_argument("--force", action="store_true", help="rebuild even when the cache is current")
    p.add_argument("--check", action="store_true", help="only report whether a current cache exists (exit 1 if not)")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from gazebench.cache import build_cache, cache_path, describe_cache, fingerprint, fingerprint_diff, read_fingerprint
    from gazebench.core.config import Recipe
    from gazebench.datasets import build_dataset

    args.dataset = dataset_names(args.dataset)  # an alias (rt-gene) names the dataset's own name
    dataset = build_dataset(args.dataset, args.root, **data_options(args.dataset, args.sets, "prepare", args.protocol))
    size = args.size
    if size is None:
        size = Recipe.resolve(dataset.card.recipe).image_size
    if args.check:
        path = cache_path(dataset, size, args.cache_dir)
        if not path.is_file():
            state, changed = "missing", []
        else:
            changed = fingerprint_diff(read_fingerprint(path), fingerprint(dataset, size))
            state = "stale" if changed else "current"
        out = {"state": state, "path": str(path), "changed": changed}
        if args.json:
            print(json.dumps(out, indent=2))
        else:
            extra = f" ({', '.join(changed)} changed)" if changed else ""
            print(f"{state}: {path}{extra}")
        return 0 if state == "current" else 1

    t0 = time.perf_counter()
    path, what = build_cache(
        dataset, size, args.cache_dir, workers=args.workers, force=args.force, progress=not args.quiet
    )
    seconds = time.perf_counter() - t0
    info = describe_cache(path)
    info.update({"outcome": what, "seconds": round(seconds, 2)})
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        rate = f", {info['frames'] / seconds:.0f} frames/s" if what != "current" and seconds > 0 else ""
        verb = {
            "current": "up to date (use --force to rebuild)",
            "built": "built",
            "rebuilt": "rebuilt (the old one was stale)",
        }[what]
        print(
            f"{dataset.name} frame cache {verb}: {path}\n  {info['frames']} frames at {info['size']} px, "
            f"{info['bytes'] / 2**20:.1f} MiB, fingerprint {info['fingerprint_id']}{rate}",
            file=sys.stderr,
        )
    return 0
