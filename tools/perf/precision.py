"""What reduced precision does to a trained model's predictions: evaluate one run's checkpoint on
its test split under fp32 and under bf16 autocast (fp16 too on CUDA), and compare.

    python tools/perf/precision.py results/synthgaze/static/fold-default_seed-0_<id>.json

Prints, per precision, the test mean angular error and the angle between each sample's bf16 and
fp32 predictions (mean and max, degrees).  This isolates the inference effect; the training
effect needs two runs (``--set precision=bf16`` vs fp32, several seeds): docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np


def compare(record_path: str | Path, precisions: tuple[str, ...] | None = None) -> dict[str, Any]:
    import gazebench.models  # noqa: F401
    from gazebench.core.config import Recipe
    from gazebench.core.geometry import angular_error_deg
    from gazebench.datasets import build_dataset
    from gazebench.datasets.loading import FrameWindows
    from gazebench.datasets.sources import ImageFiles
    from gazebench.models import build_model
    from gazebench.results.checkpoint import load_weights
    from gazebench.train.assemble import make_loader
    from gazebench.train.engine import StepContext, predict_batches, resolve_device

    record = json.loads(Path(record_path).read_text())
    ckpt = record["artifacts"].get("checkpoint")
    if not ckpt or not Path(ckpt).is_file():
        raise FileNotFoundError(f"{record_path}: no checkpoint at {ckpt!r} (only trained runs keep one)")
    recipe = record["recipe"]
    device = resolve_device(recipe.get("device", "auto"))
    if precisions is None:
        precisions = ("fp32", "bf16", "fp16") if device.type == "cuda" else ("fp32", "bf16")
    ds = build_dataset(record["dataset"]["name"], record["dataset"]["root"], **record["dataset"]["options"])
    kwargs = {k: v for k, v in record["model"]["kwargs"].items() if k != "pretrained"}
    model = build_model(record["model"]["name"], **kwargs)
    load_weights(Path(ckpt), model)
    model.to(device)
    fold = record.get("fold")
    positions = ds.split_positions(None if fold in (None, "default") else fold)["test"]
    frames = FrameWindows(ds, positions, model.view, ImageFiles(ds, recipe["image_size"]))
    loader = make_loader(frames, Recipe.resolve(recipe), 0, train=False)
    out: dict[str, Any] = {"record": str(record_path), "device": str(device), "n": int(len(positions))}
    preds = {}
    for prec in precisions:
        ctx = StepContext(model.view, recipe["image_size"], device, prec, recipe.get("channels_last", False))
        preds[prec] = predict_batches(model, loader, ctx)
    ref = preds["fp32"]
    for prec, p in preds.items():
        drift = angular_error_deg(p["vector"], ref["vector"])
        out[prec] = {
            "test_mean_error_deg": float(np.mean(p["error"])),
            "drift_from_fp32_mean_deg": float(np.mean(drift)),
            "drift_from_fp32_max_deg": float(np.max(drift)),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python tools/perf/precision.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("records", nargs="+", help="result JSON files of trained runs")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    outs = [compare(r) for r in args.records]
    if args.json:
        print(json.dumps(outs, indent=2))
        return 0
    for o in outs:
        print(o["record"], file=sys.stderr)
        for prec in ("fp32", "bf16", "fp16"):
            if prec in o:
                q = o[prec]
                print(
                    f"  {prec}: test mean {q['test_mean_error_deg']:.3f} deg, vs fp32 predictions: mean "
                    f"{q['drift_from_fp32_mean_deg']:.3f} deg, max {q['drift_from_fp32_max_deg']:.3f} deg",
                    file=sys.stderr,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
