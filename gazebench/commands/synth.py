"""``gazebench synth``: render SynthGaze in its own layout or a registered dataset's layout."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="render the SynthGaze dataset (no download needed)")
    p.add_argument("--out", required=True, type=Path, help="output folder (must not exist or be empty)")
    p.add_argument(
        "--preset",
        default="default",
        help="tiny, small or default (gazebench/synth/scene.py PRESETS; an unknown one lists them)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--layout",
        default="synthgaze",
        help="synthgaze (own layout) or the on-disk layout of any registered dataset whose adapter "
        "provides a writer (the built-ins do; a plugin's may); an unknown one lists them",
    )
    p.add_argument("--workers", type=int, default=2, help="render processes (output does not depend on it)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from gazebench.synth import layout_options, make_scene, write_layout

    t0 = time.perf_counter()
    scene = make_scene(args.preset, args.seed)
    kwargs = {}
    if "splits" in layout_options(args.layout):  # a layout with per-subject splits keeps SynthGaze's protocol
        from gazebench.datasets.cards import load_card

        kwargs["splits"] = load_card("synthgaze").split_rule(None).named()
    out = write_layout(scene, args.out, layout=args.layout, workers=args.workers, **kwargs)
    print(
        f"SynthGaze {args.preset} (seed {args.seed}, layout {args.layout}): {len(scene.frames)} frames "
        f"-> {out} in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    return 0
