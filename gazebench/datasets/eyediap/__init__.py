"""EYEDIAP (Funes Mora, Monay and Odobez, ETRA 2014): screen-target sessions of 14 participants.

Two forms of the data (option ``layout``):

* ``gazehub``: GazeHub's preprocessed faces, ``Image/pN/face/<k>.jpg`` and ``ClusterLabel/*.label``
  (:mod:`gazebench.datasets.eyediap.gazehub`): 224 px faces normalised by GazeHub's script, one
  video frame in 15 of the screen-target sessions, GazeHub's four participant groups;
* ``release``: Idiap's release, ``Data/<session>/`` with ``rgb_vga.mov`` and the text files
  (:mod:`gazebench.datasets.eyediap.release`), the same sessions and frames, faces normalised by
  :mod:`gazebench.normalization` when they are read.

Identity: subject ``pN`` (GazeHub's person names, N = 1-11 and 14-16, no zero padding); every frame
belongs to the sequence of its session (``1_A_CS_S``), ordered by frame number, so frame windows
step through a session one sampled frame (15 video frames) at a time.

Protocol (data in ``datasets/eyediap.yaml``): four folds.  In GazeHub's layout fold k tests the
participants of the k-th ClusterLabel file (name order), as GazeHub's trainers do; on the release,
the card's groups.  Validation: the lowest-numbered participant of the next group (``validation=
none``: none, protocol ``gazehub``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gazebench.datasets.base import DatasetError, DatasetNotFound, GazeDataset
from gazebench.datasets.eyediap.gazehub import CLUSTER_DIR, CLUSTERS, cluster_files, gazehub_index, participant_number
from gazebench.options import Option, one_of
from gazebench.registry import DATASETS


@DATASETS.register("eyediap")
class EYEDIAP(GazeDataset):
    """EYEDIAP (Funes Mora et al., ETRA 2014): 14 people looking at screen targets, RGB-D camera."""

    name = "eyediap"
    subsets = ()
    has_sequences = True
    declared_options = {
        "layout": Option("gazehub", one_of("gazehub"),
                         "GazeHub's preprocessing (Image/ + ClusterLabel/)"),
        "validation": Option("default", one_of("default", "none"),
                             "validation person: the first of the next group (default), or none "
                             "(protocol gazehub: train on the other three groups)"),
    }
    layout_writer = "gazebench.datasets.eyediap.gazehub_layout:write_layout"
    #: further SynthGaze layouts of this adapter (``gazebench synth --layout eyediap-gazehub``)
    layout_writers = {"eyediap-gazehub": "gazebench.datasets.eyediap.gazehub_layout:write_layout"}

    @property
    def gazehub(self) -> bool:
        """Whether this root is read in GazeHub's layout (``layout=gazehub``)."""
        return self.options["layout"] == "gazehub"

    # -- root -------------------------------------------------------------------------------
    def ensure_root(self) -> None:
        super().ensure_root()
        if self.gazehub and not cluster_files(self.root):
            raise DatasetNotFound(self.not_found_message(
                f"{self.root} is incomplete: no {CLUSTER_DIR}/*.label files found (layout=gazehub)"))

    # -- index ------------------------------------------------------------------------------
    def build_index(self) -> pd.DataFrame:
        parts = gazehub_index(self.root, None if self.strict else self.problems)
        if not parts:
            raise DatasetError(f"dataset 'eyediap': no usable label file under {self.root / CLUSTER_DIR}")
        index = pd.concat(parts, ignore_index=True)
        self._check_groups(index)
        return index

    def _check_groups(self, index: pd.DataFrame) -> None:
        """Four ClusterLabel files, each person in one of them."""
        files = cluster_files(self.root)
        if len(files) != CLUSTERS:
            self.report_problem("bad_file", self.root / CLUSTER_DIR,
                                f"{len(files)} label files ({', '.join(p.name for p in files)}); GazeHub's EyeDiap "
                                f"has {CLUSTERS}, one per fold (the card's folds 0-{CLUSTERS - 1})")
        seen = index.groupby("subject")["file"].unique()
        for subject, names in seen.items():
            if len(names) > 1:
                self.report_problem("leakage", self.root / CLUSTER_DIR,
                                    f"{subject} has lines in {', '.join(sorted(names))}; each person belongs to one group")

    # -- protocol ---------------------------------------------------------------------------
    def groups(self) -> list[list[str]]:
        """The participants of each fold's test group: GazeHub's ClusterLabel files in its layout
        (name order), else the card's groups; each sorted by participant number."""
        if not self.gazehub:
            return [list(self.card.split_rule(fold).test) for fold in self.folds()]
        idx = self.index
        by_cluster = idx.groupby("cluster")["subject"].unique()
        return [sorted(by_cluster.get(k, []), key=participant_number) for k in range(CLUSTERS)]

    def split_subjects(self, fold: str | int | None = None) -> dict[str, list[str]]:
        """The card's folds on the release; in GazeHub's layout the ClusterLabel files: test = the
        fold's file, validation = the lowest-numbered person of the next file (or none)."""
        if not self.gazehub:
            return super().split_subjects(fold)
        k = self.folds().index(self.resolve_fold(fold))
        groups = self.groups()
        if len(groups) != len(self.folds()):
            raise DatasetError(f"dataset 'eyediap': {self.root / CLUSTER_DIR} has {len(cluster_files(self.root))} "
                               f"label files; the protocol's {len(self.folds())} folds need one each")
        test = groups[k]
        following = groups[(k + 1) % len(groups)]
        val = following[:1] if self.options["validation"] == "default" else []
        present = sorted(self.index["subject"].unique())
        train = [s for s in present if s not in test and s not in val]
        return {"train": train, "val": val, "test": sorted(test)}

    def named_subjects(self, fold: str | int | None = None) -> dict[str, list[str]]:
        """In GazeHub's layout the groups are the ClusterLabel files present, so the protocol names
        the fold's test and validation people of those files; on the release, the card's lists."""
        if not self.gazehub:
            return super().named_subjects(fold)
        subjects = self.split_subjects(fold)
        return {"test": subjects["test"], "val": subjects["val"]}

    # -- fake data for tests ------------------------------------------------------------------
    @classmethod
    def write_fake(cls, root: Path, seed: int = 0, frames: int = 3, size: int = 32) -> dict[str, Any]:
        """Eight participants (two per group), two sessions of ``frames`` sampled frames each, in
        GazeHub's layout (see :meth:`GazeDataset.write_fake`)."""
        from gazebench.datasets.eyediap.gazehub_layout import sample_ids
        from gazebench.synth import Preset, make_scene, render_frames, write_layout

        preset = Preset(name="eyediap-fake", n_subjects=8, n_sequences=2, n_frames=frames, image_size=size)
        scene = make_scene(preset, seed)
        write_layout(scene, root, layout="eyediap-gazehub", workers=1, progress=False)
        ids = sample_ids(scene)
        gaze = dict(zip(ids, scene.frames[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)))
        images = {ids[r]: render_frames(scene, [r], glasses=True)[0] for r in (1, len(ids) - 2)}
        return {"options": {"layout": "gazehub"}, "gaze": gaze, "images": images}
