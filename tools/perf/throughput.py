"""Check a run's recorded training throughput against an outside clock.

    python tools/perf/throughput.py --root data/synth-small --model static --epochs 2 --set image_size=64

Sets up and fits one unit in this process the way ``gazebench run`` does
(:func:`gazebench.train.assemble.build_setup`, :func:`gazebench.train.fit.fit`), with a callback that reads the
wall clock when each training epoch starts and ends and counts the samples its loader hands out
(from the sampler, not from the training loop).  It prints, side by side, what the record's
``timings.train_samples_per_s`` is computed from (the fit's history) and the outside clock's
samples per second, and the share of the run's wall time spent training.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from typing import Any


def outside_clock():
    import torch

    from gazebench.train.fit import Callback

    class OutsideClock(Callback):
        def __init__(self) -> None:
            self.seconds, self.samples, self.epochs, self.t0 = 0.0, 0, 0, 0.0

        def on_train_epoch_start(self, setup, epoch: int) -> None:
            loader = setup.loader("train", generator=torch.Generator())
            n = len(loader.sampler)
            self.samples += (n // loader.batch_size) * loader.batch_size if loader.drop_last else n
            self.t0 = time.perf_counter()

        def on_train_epoch_end(self, setup, epoch: int, stats: dict) -> None:
            self.seconds += time.perf_counter() - self.t0
            self.epochs += 1

    return OutsideClock()


def check(unit) -> dict[str, Any]:
    """Fit and evaluate ``unit`` with the outside clock around every training epoch."""
    from gazebench.core.runtime import loaded_allocator
    from gazebench.train.assemble import build_setup
    from gazebench.train.fit import evaluate, fit

    t0 = time.perf_counter()
    setup = build_setup(unit)
    clock = outside_clock()
    outcome = fit(setup, [clock], progress=False)
    evaluate(setup, progress=False)
    wall = time.perf_counter() - t0
    recorded = outcome.train_samples / outcome.train_seconds
    seen = clock.samples / clock.seconds
    return {
        "recorded_train_samples_per_s": recorded,
        "outside_train_samples_per_s": seen,
        "relative_difference": recorded / seen - 1.0,
        "recorded_train_samples": outcome.train_samples,
        "outside_train_samples": clock.samples,
        "recorded_train_seconds": outcome.train_seconds,
        "outside_train_seconds": clock.seconds,
        "run_wall_seconds": wall,
        "train_share_of_wall": clock.seconds / wall,
        "allocator": loaded_allocator(),
        "torch_threads": __import__("torch").get_num_threads(),
        "loader_workers": setup.num_workers,
    }


def main(argv: list[str] | None = None) -> int:
    from gazebench.core.config import parse_sets
    from gazebench.plan import planning

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="synthgaze")
    p.add_argument("--root")
    p.add_argument("--model", default="static")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--backbone")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    settings = {
        **parse_sets(args.sets),
        "epochs": args.epochs,
        **({"backbone": args.backbone} if args.backbone else {}),
    }
    suite = planning.single_run_suite(args.dataset, [args.model], [0], root=args.root)
    spec = planning.expand(suite, settings)[0]
    with tempfile.TemporaryDirectory(prefix="gazebench-throughput-") as tmp:
        out = check(planning.plan_unit(spec, f"{tmp}/results", f"{tmp}/runs"))
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(
            f"recorded {out['recorded_train_samples_per_s']:.2f} samples/s, outside clock "
            f"{out['outside_train_samples_per_s']:.2f} samples/s ({100 * out['relative_difference']:+.2f} %); "
            f"training is {100 * out['train_share_of_wall']:.0f} % of the run's {out['run_wall_seconds']:.1f} s",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
