"""SynthGaze adapter: the embedded default, read from its own layout (labels.csv + JPEGs).

The layout and its writer belong to the generator (:func:`gazebench.synth.layouts.write_synthgaze`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from gazebench.datasets.base import DatasetError, GazeDataset
from gazebench.options import Option, one_of
from gazebench.registry import DATASETS

DEFAULT_PRESET = "default"
DEFAULT_SEED = 0
#: the render's description, written beside labels.csv (gazebench.synth.layouts)
MANIFEST = "synthgaze.json"


@DATASETS.register("synthgaze")
class SynthGaze(GazeDataset):
    """Procedurally rendered heads with exact labels; no download (the default dataset)."""

    name = "synthgaze"
    subsets = ("front180", "front20", "back")
    declared_options = {
        "variant": Option("original", one_of("original", "inpainted"),
                          "images/ (wearers wear their glasses) or inpainted/ (nobody does)"),
    }
    layout_writer = "gazebench.synth.layouts:write_synthgaze"

    def ensure_root(self) -> None:
        if not self.root_given and not (self.root / "labels.csv").exists():
            from gazebench.synth import make_scene, write_layout

            print(
                f"SynthGaze: no data at the default root {self.root}; rendering the {DEFAULT_PRESET!r} "
                f"preset (seed {DEFAULT_SEED}) there first.",
                file=sys.stderr,
            )
            write_layout(make_scene(DEFAULT_PRESET, DEFAULT_SEED), self.root, layout="synthgaze")
        super().ensure_root()

    def released_subjects(self) -> list[str] | None:
        """The subjects of the rendered preset (``synthgaze.json``): the card's split lists name
        up to the largest preset's."""
        try:
            manifest = json.loads((self.root / MANIFEST).read_text())
            return [str(s["id"]) for s in manifest["subjects"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def build_index(self) -> pd.DataFrame:
        path = self.root / "labels.csv"
        try:
            labels = pd.read_csv(path, dtype={"subject": str, "sequence": str, "id": str})
        except (OSError, pd.errors.ParserError) as exc:
            raise DatasetError(f"{path}: cannot parse: {exc}") from exc
        index = labels.rename(columns={"frame": "order"})
        if self.options["variant"] == "inpainted":
            index["path"] = index["path"].str.replace(r"^images/", "inpainted/", regex=True)
        index["centre"] = True
        return index

    @classmethod
    def write_fake(cls, root: Path, seed: int = 0) -> dict:
        """The ``tiny`` preset in SynthGaze's own layout (see :meth:`GazeDataset.write_fake`)."""
        from gazebench.synth import make_scene, render_frames, write_layout

        scene = make_scene("tiny", seed)
        write_layout(scene, root, layout="synthgaze", workers=1, progress=False)
        f = scene.frames
        gaze = dict(zip(f["id"], f[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)))
        rows = [0, len(f) // 2 + 1]
        images = dict(zip(f["id"].iloc[rows], render_frames(scene, rows, glasses=True)))  # variant=original
        return {"options": {}, "gaze": gaze, "images": images}
