"""``gazebench synth``: render SynthGaze in its own layout or a real dataset's layout."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    from gazebench.synth import LAYOUTS, PRESETS

    p = sub.add_parser("synth", help="render the SynthGaze dataset (no download needed)")
    p.add_argument("--out", required=True, type=Path, help="output folder (must not exist or be empty)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--layout", choices=LAYOUTS, default="synthgaze",
                   help="synthgaze (own layout) or the on-disk layout of a real dataset")
    p.add_argument("--workers", type=int, default=2, help="render processes (output does not depend on it)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from gazebench.synth import make_scene, write_layout

    t0 = time.perf_counter()
    scene = make_scene(args.preset, args.seed)
    kwargs = {}
    if args.layout == "gaze360":
        from gazebench.datasets.cards import load_card

        splits = load_card("synthgaze").protocol["splits"]
        kwargs["splits"] = {k: list(v) for k, v in splits.items() if isinstance(v, list)}
    out = write_layout(scene, args.out, layout=args.layout, workers=args.workers, **kwargs)
    print(f"SynthGaze {args.preset} (seed {args.seed}, layout {args.layout}): {len(scene.frames)} frames "
          f"-> {out} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0
