"""RT-GENE adapter (Fischer et al., ECCV 2018): gaze from eye-tracking glasses, faces 224x224.

The root holds ``s000_glasses ... s016_glasses``; each has ``label_combined.txt`` and the face
crops.  (``sNNN_noglasses`` folders, recorded without the eye tracker to train the inpainting,
carry no gaze labels and are ignored.)

Options:
  ``layout``      ``original`` (default: the release as above) or ``gazehub``: GazeHub's
                  ``Label/{train1,train2,train3,valid}.label`` with the release folder as ``Image/``
                  (:mod:`gazebench.datasets.rtgene.gazehub`): the same subjects and ids; no
                  timestamps, so a sequence is a run of consecutive idx (``max_gap`` does not apply).
  ``variant``     ``inpainted`` (``inpainted/face/face_%06d_rgb.png``, glasses removed; default),
                  ``original`` (``original/face/...``), ``original_large``
                  (``original/face_before_inpainting/...``, the larger crop).
  ``validation``  ``default`` (s000, s014, s015, s016) or ``gazehub`` (s014, s015, s016); the
                  lists are data in ``gazebench/datasets/rtgene/card.yaml``.
  ``max_gap``     seconds (default 0.5): consecutive frames further apart than this start a new
                  temporal segment; windows never cross one.
  ``missing_images``  ``error`` (default; a label without its image fails when it is read, and
                  ``check-data`` lists them all) or ``skip`` (drop such labels while indexing, as
                  the original training scripts do; the count is printed).

Labels: ``label_combined.txt`` lines ``idx, [head_yaw, head_pitch], [gaze_yaw, gaze_pitch],
timestamp`` (:func:`gazebench.datasets.rtgene.parsing.parse_rtgene_labels`); gaze (yaw, pitch) ->
canonical vector by :func:`gazebench.core.geometry.from_yaw_pitch`.

Identity: subject ``sNNN``; id ``sNNN/<idx %06d>``; order = timestamp; sequence = the temporal
segment ``sNNN/segKKK``.

Windows: the frames were filtered (extreme poses and low-confidence frames dropped), so neighbours
come from the timestamps: frames are sorted by time and cut into segments wherever two consecutive
frames are more than ``max_gap`` apart.  The neighbour at offset o is the o-th next (previous)
frame in time within the segment; past the segment's end the nearest frame within the gap (the
segment's edge frame) is repeated, and the window is marked incomplete.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from gazebench.core import geometry
from gazebench.core.lazymodule import LazyModule
from gazebench.core.options import Option, number_in, one_of
from gazebench.core.registry import DATASETS
from gazebench.datasets.base import DatasetError, DatasetNotFound, GazeDataset
from gazebench.datasets.rtgene.gazehub import FOLD_FILES, LABEL_DIR, VALID_FILE, gazehub_tables, label_files
from gazebench.datasets.rtgene.parsing import parse_rtgene_labels

pd = LazyModule("pandas")  # imported on first use: listing and planning never need it

LABEL_FILE = "label_combined.txt"
VARIANT_DIRS = {
    "inpainted": "inpainted/face",
    "original": "original/face",
    "original_large": "original/face_before_inpainting",
}
SUBJECT_DIR = re.compile(r"^(s\d{3})_glasses$")
#: seconds between consecutive frames beyond which a temporal segment ends
DEFAULT_MAX_GAP = 0.5


def image_name(idx: int) -> str:
    return f"face_{int(idx):06d}_rgb.png"


def segment_ids(timestamps: np.ndarray, max_gap: float) -> np.ndarray:
    """Segment number of each (time-sorted) frame: a new segment starts after a gap > ``max_gap``."""
    if len(timestamps) == 0:
        return np.zeros(0, dtype=np.int64)
    breaks = np.diff(timestamps) > max_gap
    return np.concatenate([[0], np.cumsum(breaks)]).astype(np.int64)


@DATASETS.register("rtgene", "rt-gene")
class RTGene(GazeDataset):
    """RT-GENE (Fischer et al., ECCV 2018): eye-tracker labels, faces with the glasses inpainted."""

    name = "rtgene"
    subsets = ()
    declared_options = {
        "layout": Option(
            "original",
            one_of("original", "gazehub"),
            "the release (sNNN_glasses/label_combined.txt) or GazeHub's preparation "
            "(Label/*.label, images under Image/ = the release folder)",
        ),
        "variant": Option(
            "inpainted",
            one_of(*VARIANT_DIRS),
            "face images: inpainted (glasses removed), original, original_large (larger crop)",
        ),
        "validation": Option(
            "default",
            one_of("default", "gazehub"),
            "validation subjects: the card's val list, or its val_variants entry (gazehub leaves s000 out)",
        ),
        "max_gap": Option(
            DEFAULT_MAX_GAP,
            number_in(0.0, 3600.0),
            "seconds between frames that end a temporal segment; windows never cross one",
        ),
        "missing_images": Option(
            "error", one_of("error", "skip"), "a label without its image: error when read, or skip it while indexing"
        ),
    }
    layout_writer = "gazebench.datasets.rtgene.layout:write_layout"
    #: further SynthGaze layouts of this adapter (``gazebench synth --layout rtgene-gazehub``)
    layout_writers = {"rtgene-gazehub": "gazebench.datasets.rtgene.gazehub_layout:write_layout"}

    @property
    def gazehub(self) -> bool:
        """Whether this root is read in GazeHub's layout (``layout=gazehub``)."""
        return self.options["layout"] == "gazehub"

    # -- root -------------------------------------------------------------------------------
    def subject_dirs(self) -> dict[str, Path]:
        """``{"s000": root/s000_glasses, ...}`` for the subject folders present, sorted."""
        try:
            entries = sorted(p for p in self.root.iterdir() if p.is_dir())
        except OSError:
            return {}
        out = {}
        for p in entries:
            m = SUBJECT_DIR.match(p.name)
            if m:
                out[m.group(1)] = p
        return out

    def ensure_root(self) -> None:
        super().ensure_root()  # the root exists and has the card's ``required`` paths
        if self.gazehub:
            if not label_files(self.root):
                in_test = (self.root / LABEL_DIR / "test").is_dir()
                hint = " (GazeHub's script writes them to Label/test/: move them up)" if in_test else ""
                raise DatasetNotFound(
                    self.not_found_message(
                        f"{self.root} is incomplete: no {LABEL_DIR}/*.label files found (layout=gazehub){hint}"
                    )
                )
            return
        if not any((d / LABEL_FILE).is_file() for d in self.subject_dirs().values()):
            raise DatasetNotFound(
                self.not_found_message(f"{self.root} is incomplete: no sNNN_glasses/{LABEL_FILE} found")
            )

    # -- index ------------------------------------------------------------------------------
    def build_index(self) -> pd.DataFrame:
        tables = self._gazehub_tables() if self.gazehub else self._release_tables()
        # without timestamps (GazeHub's labels), a sequence is a run of consecutive idx
        gap = 1.0 if self.gazehub else float(self.options["max_gap"])
        parts, skipped = [], 0
        for subject, table in tables.items():
            if self.options["missing_images"] == "skip":
                keep = np.array([(self.root / p).is_file() for p in table["path"]], dtype=bool)
                if not keep.all():
                    self.left_out[subject] = int((~keep).sum())
                    skipped += int((~keep).sum())
                table = table[keep].reset_index(drop=True)
            if len(table) == 0:
                continue  # a subject without frames; check-data warns when the protocol names it
            table.insert(2, "sequence", [f"{subject}/seg{k:03d}" for k in segment_ids(table["order"].to_numpy(), gap)])
            parts.append(table)
        if skipped:
            print(
                f"rtgene: skipped {skipped} labels whose {self.options['variant']} image is missing "
                "(missing_images=skip)",
                file=sys.stderr,
            )
        if not parts:
            raise DatasetError(f"dataset 'rtgene': no usable labels under {self.root}")
        return pd.concat(parts, ignore_index=True)

    def _release_tables(self) -> dict[str, pd.DataFrame]:
        """Per subject, the frames of its ``label_combined.txt`` in time order."""
        problems = None if self.strict else self.problems
        image_dir = VARIANT_DIRS[self.options["variant"]]
        tables = {}
        for subject, folder in self.subject_dirs().items():
            label_path = folder / LABEL_FILE
            if not label_path.is_file():
                self.report_problem("missing_file", label_path, f"subject folder {folder.name} has no {LABEL_FILE}")
                continue
            labels = parse_rtgene_labels(label_path, problems)
            order = np.lexsort((labels.idx, labels.timestamp))
            idx, ts = labels.idx[order], labels.timestamp[order]
            gaze_yp, head_yp = labels.gaze[order], labels.head[order]
            g = geometry.from_yaw_pitch(gaze_yp).reshape(-1, 3)
            tables[subject] = pd.DataFrame(
                {
                    "id": [f"{subject}/{i:06d}" for i in idx],
                    "subject": subject,
                    "order": ts,
                    "gaze_x": g[:, 0],
                    "gaze_y": g[:, 1],
                    "gaze_z": g[:, 2],
                    "path": [f"{folder.name}/{image_dir}/{image_name(i)}" for i in idx],
                    "centre": True,
                    "idx": idx,
                    "timestamp": ts,
                    "gaze_yaw": gaze_yp[:, 0],
                    "gaze_pitch": gaze_yp[:, 1],
                    "head_yaw": head_yp[:, 0],
                    "head_pitch": head_yp[:, 1],
                }
            )
        return tables

    def _gazehub_tables(self) -> dict[str, pd.DataFrame]:
        """Per subject, its lines of GazeHub's ``Label/*.label`` (:mod:`gazebench.datasets.rtgene.gazehub`),
        each file held to the card's list of its subjects."""
        return gazehub_tables(
            self.root,
            VARIANT_DIRS[self.options["variant"]],
            None if self.strict else self.problems,
            self._gazehub_file_subjects,
            self.report_problem,
        )

    def _gazehub_file_subjects(self, filename: str) -> set[str] | None:
        """The subjects the card puts in GazeHub's ``filename``: a fold's test list (``trainK.label``
        is fold K-1) or the ``gazehub`` validation list (``valid.label``); None for another file."""
        if filename in FOLD_FILES:
            return set(self.card.split_rule(FOLD_FILES[filename], self.options).test)
        if filename == VALID_FILE:
            return set(self.card.split_rule(None, {"validation": "gazehub"}).val)
        return None
