"""Check a run's recorded training throughput against an outside clock.

    python -m gazebench.perf.throughput --root data/synth-small --model static --epochs 2 --set image_size=64

Runs one unit in this process with ``gazebench.runner.train_one_epoch`` wrapped: the wrapper reads
the wall clock before the call and after it returns, and counts the samples of every batch the
loader hands out.  It prints, side by side, the record's ``timings.train_samples_per_s`` and
the outside clock's samples per second (and the share of the run's wall time spent training).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from typing import Any


def check(spec, **run_kwargs: Any) -> dict[str, Any]:
    """Run ``spec`` (a RunSpec) with the outside clock around every training epoch."""
    import gazebench.runner as runner

    real = runner.train_one_epoch
    outside = {"seconds": 0.0, "samples": 0, "epochs": 0}

    def counted(loader):
        for batch in loader:
            outside["samples"] += int(batch["gaze"].shape[0])
            yield batch

    def timed(model, loader, *args, **kwargs):
        t0 = time.perf_counter()
        stats = real(model, counted(loader), *args, **kwargs)
        outside["seconds"] += time.perf_counter() - t0
        outside["epochs"] += 1
        return stats

    runner.train_one_epoch = timed
    try:
        t0 = time.perf_counter()
        record = runner.run_unit(spec, **run_kwargs)
        wall = time.perf_counter() - t0
    finally:
        runner.train_one_epoch = real
    recorded = record["timings"]["train_samples_per_s"]
    seen = outside["samples"] / outside["seconds"]
    return {
        "recorded_train_samples_per_s": recorded,
        "outside_train_samples_per_s": seen,
        "relative_difference": recorded / seen - 1.0,
        "recorded_train_samples": record["timings"]["train_samples"],
        "outside_train_samples": outside["samples"],
        "recorded_train_seconds": record["timings"]["train_seconds"],
        "outside_train_seconds": outside["seconds"],
        "run_wall_seconds": wall,
        "train_share_of_wall": outside["seconds"] / wall,
        "allocator": record["environment"].get("allocator"),
        "torch_threads": record["environment"].get("torch_threads"),
    }


def main(argv: list[str] | None = None) -> int:
    import gazebench.datasets  # noqa: F401
    import gazebench.models  # noqa: F401
    from gazebench.config import parse_sets, route_overrides
    from gazebench.models.base import model_kwargs
    from gazebench.registry import DATASETS
    from gazebench.runner import RunSpec

    p = argparse.ArgumentParser(prog="python -m gazebench.perf.throughput", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="synthgaze")
    p.add_argument("--root")
    p.add_argument("--model", default="static")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--backbone")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    overrides = parse_sets(args.sets)
    overrides["epochs"] = args.epochs
    if args.backbone:
        overrides["backbone"] = args.backbone
    recipe, model_kw, data = route_overrides(overrides, list(model_kwargs(args.model)),
                                             list(DATASETS.get(args.dataset).option_choices))
    spec = RunSpec(args.dataset, args.model, None, 0, args.root, data, model_kw, recipe)
    with tempfile.TemporaryDirectory(prefix="gazebench-throughput-") as tmp:
        out = check(spec, results_dir=f"{tmp}/results", runs_dir=f"{tmp}/runs", overwrite="always", progress=False)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"recorded {out['recorded_train_samples_per_s']:.2f} samples/s, outside clock "
              f"{out['outside_train_samples_per_s']:.2f} samples/s ({100 * out['relative_difference']:+.2f} %); "
              f"training is {100 * out['train_share_of_wall']:.0f} % of the run's {out['run_wall_seconds']:.1f} s",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
