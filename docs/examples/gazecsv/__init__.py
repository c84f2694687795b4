"""gazecsv: any dataset given as a folder of images plus one CSV of gaze angles.

A gazebench dataset plugin in one folder: this adapter, its card (``card.yaml``), the writer of
its layout and fake data (``fake.py``) and its tests (``tests/``).  Use it as is to run gazebench on
data you can describe in a CSV, or copy the folder as the start of your own dataset::

    gazebench check-data --plugin docs/examples/gazecsv --dataset gazecsv --root /data/mine
    gazebench run --plugin docs/examples/gazecsv --dataset gazecsv --root /data/mine --model static
    gazebench synth --plugin docs/examples/gazecsv --layout gazecsv --out /data/synth-csv --preset tiny

The root holds ``labels.csv``, one row per image:

  ``path``      image file relative to the root (any format PIL reads)          required
  ``subject``   subject id; train / val / test are subject-disjoint             required
  ``yaw``, ``pitch``  gaze angles with gazebench's signs (below)                 required
  ``split``     ``train``, ``val``, ``test`` (or ``unused``)                     required by the card's
                protocol ``splits: from_index``; edit the card to list subjects or folds instead
  ``sequence``, ``frame``  the video a frame belongs to and its number in it     optional: with them,
                models that need 7-frame windows can run; without, every image stands alone
  ``id``        sample id (default: ``path`` without its extension)             optional

Angles: ``yaw = atan2(x, -z)`` and ``pitch = asin(y)`` of the canonical gaze vector (SPEC §1,
``gazebench/core/geometry.py``): (0, 0) looks into the camera, pitch > 0 looks up, and yaw has the sign
of Gaze360, RT-GENE and MPIIFaceGaze.  Options: ``units`` = ``rad`` (default) or ``deg``;
``yaw_sign`` / ``pitch_sign`` = ``1`` or ``-1`` for data whose angles turn the other way (check with
a flipped image: mirroring an image must negate yaw).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from gazebench.core import geometry
from gazebench.core.options import Option, one_of
from gazebench.core.registry import DATASETS
from gazebench.datasets.base import SPLITS, DatasetError, GazeDataset

LABEL_FILE = "labels.csv"
REQUIRED_COLUMNS = ("path", "subject", "yaw", "pitch")
SPLIT_VALUES = (*SPLITS, "unused")


@DATASETS.register("gazecsv")
class GazeCSV(GazeDataset):
    """A folder of images with a labels.csv of yaw/pitch per image (a generic adapter)."""

    name = "gazecsv"
    subsets = ("front180", "front20", "back")
    declared_options = {
        "units": Option("rad", one_of("rad", "deg"), "unit of the yaw and pitch columns"),
        "yaw_sign": Option(1, one_of(1, -1), "-1 for data whose yaw turns the other way"),
        "pitch_sign": Option(1, one_of(1, -1), "-1 for data whose pitch turns the other way"),
    }
    #: ``gazebench synth --layout gazecsv --plugin this_folder`` writes SynthGaze in this layout
    layout_writer = f"{__name__}.fake:write_layout"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)  # checks the root: the card's ``required`` files exist
        # windows need sequences; a CSV without them says so, and sequence models fail before training
        self.has_sequences = {"sequence", "frame"} <= set(self._read_csv(nrows=0).columns)

    def _read_csv(self, nrows: int | None = None) -> pd.DataFrame:
        path = self.root / LABEL_FILE
        try:
            return pd.read_csv(
                path, nrows=nrows, dtype={"subject": str, "sequence": str, "split": str, "id": str, "path": str}
            )
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{path}: cannot parse: {exc}") from exc

    def build_index(self) -> pd.DataFrame:
        path = self.root / LABEL_FILE
        table = self._read_csv()
        missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
        if missing:
            raise DatasetError(
                f"{path}: missing column(s) {', '.join(missing)}; columns are {', '.join(table.columns)}"
            )
        if "id" not in table.columns:
            table["id"] = [str(Path(p).with_suffix("")) for p in table["path"]]
        # every bad row is reported (check-data lists them all; a run stops at the first)
        angles = table[["yaw", "pitch"]].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
        keep = np.ones(len(table), dtype=bool)
        for i in range(len(table)):
            where = f"{path}:{i + 2}"  # line numbers count the header
            if not np.isfinite(angles[i]).all():
                self.report_problem(
                    "bad_label",
                    where,
                    f"yaw {table['yaw'].iat[i]!r}, pitch {table['pitch'].iat[i]!r}: not finite numbers",
                )
            elif not all(isinstance(table[c].iat[i], str) and table[c].iat[i] for c in ("path", "subject")):
                self.report_problem("malformed_line", where, "path and subject must not be empty")
            elif "split" in table.columns and table["split"].iat[i] not in SPLIT_VALUES:
                self.report_problem(
                    "bad_label", where, f"split {table['split'].iat[i]!r} is not one of {', '.join(SPLIT_VALUES)}"
                )
            else:
                continue
            keep[i] = False
        table["yaw"], table["pitch"] = angles[:, 0], angles[:, 1]
        duplicated = table["id"].duplicated().to_numpy() & keep
        for i in np.flatnonzero(duplicated):
            self.report_problem("duplicate", f"{path}:{i + 2}", f"sample id {table['id'].iat[i]!r} is listed twice")
            keep[i] = False
        table = table[keep].reset_index(drop=True)

        # the one conversion to the canonical label
        scale = math.pi / 180.0 if self.options["units"] == "deg" else 1.0
        yaw = table["yaw"].to_numpy(np.float64) * scale * self.options["yaw_sign"]
        pitch = table["pitch"].to_numpy(np.float64) * scale * self.options["pitch_sign"]
        gaze = geometry.from_yaw_pitch_pairs(yaw, pitch)
        table["gaze_x"], table["gaze_y"], table["gaze_z"] = gaze[:, 0], gaze[:, 1], gaze[:, 2]

        if self.has_sequences:
            table["sequence"] = table["subject"] + "/" + table["sequence"].astype(str)
            table["order"] = table["frame"].astype(np.float64)
        else:
            table["sequence"], table["order"] = table["id"], 0.0
        table["centre"] = table["split"] != "unused" if "split" in table.columns else True
        return table
