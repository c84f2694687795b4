"""The figures and counts docs/datasets.md shows for SynthGaze (no pixels are rendered).

    python tools/synthgaze_figures.py [--preset default] [--seed 0] [--out docs/images]

writes ``synthgaze-head-size.png`` (histogram of the head's width as a fraction of the crop, per
split) and ``synthgaze-yaw.png`` (histogram of the gaze yaw, per split), and prints the counts the
docs quote: the share of back views and of small heads, per split.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gazebench.core.geometry import vector_to_yawpitch  # noqa: E402
from gazebench.datasets.cards import load_card  # noqa: E402
from gazebench.synth import head_size, make_scene  # noqa: E402


def split_of(subjects: np.ndarray, preset_subjects: list[str]) -> np.ndarray:
    """Each frame's split under the card's subject lists."""
    lists = load_card("synthgaze").split_rule(None).subjects(preset_subjects)
    named = {s: name for name, members in lists.items() for s in members}
    return np.array([named[s] for s in subjects])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="default")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("docs/images"))
    args = ap.parse_args()
    scene = make_scene(args.preset, args.seed)
    f = scene.frames
    size = head_size(f, scene.subjects)
    yaw = np.degrees(vector_to_yawpitch(f[["gaze_x", "gaze_y", "gaze_z"]].to_numpy())[:, 0])
    split = split_of(f["subject"].to_numpy(), [s.id for s in scene.subjects])
    back = f["gaze_z"].to_numpy() > 0
    print(f"SynthGaze {args.preset} (seed {args.seed}): {len(f)} frames")
    print(f"{'split':6s} {'frames':>7s} {'back':>12s} {'head<40%':>10s} {'head>60%':>10s} {'head size p5-p95':>18s}")
    for name in ("train", "val", "test", "all"):
        m = np.ones(len(f), bool) if name == "all" else split == name
        p5, p95 = np.percentile(size[m], [5, 95])
        print(
            f"{name:6s} {m.sum():7d} {back[m].sum():6d} ({back[m].mean():4.0%}) {(size[m] < 0.4).mean():9.0%} "
            f"{(size[m] > 0.6).mean():9.0%} {p5:8.0%} - {p95:4.0%}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    for name, values, bins, xlabel in (
        ("head-size", 100 * size, np.linspace(15, 105, 31), "head width (% of the crop width)"),
        ("yaw", yaw, np.linspace(-180, 180, 37), "gaze yaw (degrees; |yaw| > 90 is a back view)"),
    ):
        fig, ax = plt.subplots(figsize=(6.4, 3.2), dpi=110)
        for sp in ("train", "val", "test"):
            ax.hist(
                values[split == sp],
                bins=bins,
                histtype="step",
                linewidth=1.6,
                density=True,
                label=f"{sp} ({(split == sp).sum()} frames)",
            )
        ax.set_xlabel(xlabel)
        ax.set_ylabel("share of frames (density)")
        ax.set_title(f"SynthGaze {args.preset} preset, seed {args.seed}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = args.out / f"synthgaze-{name}.png"
        fig.savefig(path)
        plt.close(fig)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
