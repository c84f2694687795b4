"""Gaze360 adapter (Kellnhofer et al., ICCV 2019): 360-degree gaze, head crops, in-the-wild video.

The root is the release folder: ``imgs/<recording>/head/<person %06d>/<frame %06d>.jpg`` plus the
annotation, either the official ``metadata.mat`` or the original code's split files ``train.txt``,
``validation.txt``, ``test.txt`` (option ``annotation: auto|metadata|splitfiles``; ``auto`` prefers
``metadata.mat`` when it is present).

Sample identity: subject = sequence = ``<recording>/p<person %06d>`` (the frames of one person in
one recording form a sequence), order = frame number, id = ``<recording>/head/<person>/<frame>``
(the image path relative to ``imgs/`` without ``.jpg``, as the split files name frames).

Centre (labelled) frames:
  * ``metadata.mat``: the frames of split 0/1/2 (train/val/test) whose frames f-3 ... f+3 of the
    same person all exist in the metadata (any split, ``unused`` included), as the original code's
    split files were made; option ``centres: all`` takes every train/val/test frame instead.
    Frames of split 3 (``unused``) and train/val/test frames without a full window stay in the
    index as context frames (``centre=False``) with their own labels and split.
  * split files: exactly the listed lines.  The other frames on disk of a listed person are added
    as context frames with ``split="unused"`` and ``labelled=False``: their label is unknown, so
    their gaze columns hold the label of the nearest listed frame of the same person (by frame
    number).  Context labels are never targets or statistics; they only keep the index valid.

Labels: ``gaze_dir`` / the split-file vector is already in the canonical eye frame; it is
normalised by :func:`gazebench.core.geometry.from_gaze360`.

Windows: frames f+o of the same person by frame *number*; a missing number is replaced by the
nearest frame number that exists (ties go to the frame nearer the centre), and the window is
marked incomplete.

Subsets: ``front180`` (g_z <= 0), ``front20`` (|yaw| <= 20 deg), ``front20axis`` (within 20 deg of
the camera axis) and ``back`` (g_z > 0): the two 20-degree cuts are the two readings of the papers'
"front facing" (:data:`gazebench.core.geometry.SUBSETS`).

Populations: the release marks every frame where dlib found a face (``person_face_bbox`` other than
``[-1, -1, -1, -1]``; erkil1452/gaze360 @ cbeb8e4, dataset/README.md lines 27 and 109); read from
``metadata.mat``, the index column ``face_detected`` holds it and every result reports the
face-detectable population beside the full test set (``population_columns``: subsets ``face``,
``face_front180``, ... beside ``all``, ``front180``, ...; :mod:`gazebench.population`).  The
population is GazeHub's rule, every frame of a split with a face box, window or not
(data_processing_gaze360.py, Deep-In-Sight/L2CS-Net @ 4a36054, lines 46, 56-57 and 84): the
evaluated frames are the centre frames, so under ``centres=full_window`` a face frame without
frames f-3..f+3 is counted (:meth:`population_rows`) but not evaluated, and the record says so
(:func:`gazebench.population.population_coverage`).  The split files carry no face boxes: no face
population.

GazeHub's layout (option ``layout: gazehub``): ``Image/<split>/Face/<n>.jpg`` face crops and
``Label/{train,val,test}.label`` as GazeHub's script writes them, the face-detectable frames only
(:mod:`gazebench.datasets.gaze360.gazehub`); the same ids and subjects as the release, and every
test sample is in the face population, so the population is named ``gaze360/test[face]``.

Published sizes: ``check-data`` compares the centre frames of test (and its front180 / front20 /
front20axis subsets) and val with the card's ``published_sizes`` (:mod:`gazebench.datasets.published_sizes`), read
from either annotation.  Option ``expect_samples``: ``published`` (default) or ``any`` (a root that
is not the release, e.g. a SynthGaze tree); with ``centres=all`` or ``layout=gazehub`` nothing is
compared (the card publishes the full release's sizes only).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from gazebench.core import geometry
from gazebench.core.lazymodule import LazyModule
from gazebench.core.options import Option, one_of
from gazebench.core.registry import DATASETS
from gazebench.datasets.base import DatasetError, DatasetNotFound, GazeDataset
from gazebench.datasets.gaze360.gazehub import GAZEHUB_IMAGES, GAZEHUB_LABELS, gazehub_index
from gazebench.datasets.gaze360.parsing import (
    Gaze360Lines,
    frame_stem,
    load_gaze360_metadata,
    parse_gaze360_split_file,
    subject_name,
)

pd = LazyModule("pandas")  # imported on first use: listing and planning never need it

#: metadata ``split`` codes
SPLIT_CODES = {0: "train", 1: "val", 2: "test", 3: "unused"}
#: the original code's split files, by split
SPLIT_FILES = {"train": "train.txt", "val": "validation.txt", "test": "test.txt"}
#: a metadata frame is a centre frame when frames f-3 ... f+3 of its person exist
CENTRE_HALF_WINDOW = 3


def nearest_rows(numbers: np.ndarray, targets: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """For sorted ``numbers`` (one sequence), the position of the number nearest to each target;
    on a tie, the one nearer to ``centre`` (the window's own frame number)."""
    pos = np.searchsorted(numbers, targets)
    lo = np.clip(pos - 1, 0, len(numbers) - 1)
    hi = np.clip(pos, 0, len(numbers) - 1)
    d_lo = np.abs(targets - numbers[lo])
    d_hi = np.abs(numbers[hi] - targets)
    tie_to_lo = np.abs(numbers[lo] - centre) <= np.abs(numbers[hi] - centre)
    return np.where((d_lo < d_hi) | ((d_lo == d_hi) & tie_to_lo), lo, hi)


@DATASETS.register("gaze360")
class Gaze360(GazeDataset):
    """Gaze360 (Kellnhofer et al., ICCV 2019): 360-degree gaze in the wild, head crops, video."""

    name = "gaze360"
    #: ``front20`` (|yaw| <= 20 deg) and ``front20axis`` (within 20 deg of the camera axis): the two
    #: readings of "front facing" (gazebench.core.geometry.SUBSETS)
    subsets = ("front180", "front20", "front20axis", "back")
    #: populations inside the test set (name -> boolean index column), each reported with its own
    #: gaze subsets beside the full set's: ``face``, ``face_front180``, ... (gazebench.population)
    population_columns = {"face": "face_detected"}
    declared_options = {
        "layout": Option(
            "original",
            one_of("original", "gazehub"),
            "the release (imgs/ + metadata.mat or split files) or GazeHub's preprocessing "
            "(Image/ face crops + Label/*.label, the face-detectable frames only)",
        ),
        "annotation": Option(
            "auto",
            one_of("auto", "metadata", "splitfiles"),
            "read metadata.mat or the split files; auto: metadata.mat when present",
        ),
        "centres": Option(
            "full_window",
            one_of("full_window", "all"),
            "metadata.mat centre frames: those with a full +-3 window, or every train/val/test frame",
        ),
        "expect_samples": Option(
            "published",
            one_of("published", "any"),
            "check-data compares the split sizes with the card's published_sizes "
            "(published), or not (any: e.g. a SynthGaze tree)",
        ),
    }
    layout_writer = "gazebench.datasets.gaze360.layout:write_layout"
    #: further SynthGaze layouts of this adapter (``gazebench synth --layout gaze360-gazehub``)
    layout_writers = {"gaze360-gazehub": "gazebench.datasets.gaze360.gazehub_layout:write_layout"}
    sample_noun = "centre frames"

    # -- root -------------------------------------------------------------------------------
    @property
    def annotation(self) -> str:
        """``metadata``, ``splitfiles`` or ``gazehub`` (layout gazehub): what this root is read from."""
        if self.options["layout"] == "gazehub":
            return "gazehub"
        mode = self.options["annotation"]
        if mode == "auto":
            return "metadata" if (self.root / "metadata.mat").is_file() else "splitfiles"
        return mode

    def required_paths(self) -> list[str]:
        if self.annotation == "gazehub":
            return [GAZEHUB_IMAGES, *GAZEHUB_LABELS.values()]
        paths = list(self.card.required)
        if self.annotation == "metadata":
            return paths + ["metadata.mat"]
        return paths + list(SPLIT_FILES.values())

    def ensure_root(self) -> None:
        if not self.root.is_dir() or self.annotation == "gazehub":
            super().ensure_root()
            return
        missing = [p for p in self.card.required if not (self.root / p).exists()]
        have_split_files = all((self.root / f).is_file() for f in SPLIT_FILES.values())
        mode = self.options["annotation"]
        if mode == "metadata" and not (self.root / "metadata.mat").is_file():
            missing.append("metadata.mat (asked for with annotation=metadata)")
        elif mode == "splitfiles" and not have_split_files:
            missing += [f for f in SPLIT_FILES.values() if not (self.root / f).is_file()]
        elif mode == "auto" and not (self.root / "metadata.mat").is_file() and not have_split_files:
            absent = [f for f in SPLIT_FILES.values() if not (self.root / f).is_file()]
            missing.append(f"metadata.mat (or the split files: {', '.join(absent)} absent)")
        if missing:
            raise DatasetNotFound(self.not_found_message(f"{self.root} is incomplete: missing {', '.join(missing)}"))

    def unpublished_reason(self) -> str | None:
        """The published sizes count the release's centre frames with a full window: GazeHub's
        face-detectable frames and ``centres=all`` are other populations."""
        if self.annotation == "gazehub":
            return (
                "layout=gazehub (GazeHub's face-detectable frames; the card's published sizes are the full "
                "release's, and GazeHub states none for its files)"
            )
        if self.annotation == "metadata" and self.options["centres"] == "all":
            return "centres=all (every train/val/test frame; the published sizes count those with a full window)"
        return None

    # -- index ------------------------------------------------------------------------------
    def population_tag(self) -> str | None:
        """The population every test sample of this root belongs to: ``face`` for GazeHub's files
        (the population's name says so: ``gaze360/test[face]``), None for the release."""
        return "face" if self.annotation == "gazehub" else None

    def build_index(self) -> pd.DataFrame:
        if self.annotation == "gazehub":
            return gazehub_index(self.root, None if self.strict else self.problems, self.report_problem)
        if self.annotation == "metadata":
            return self._index_from_metadata()
        return self._index_from_split_files()

    def _index_from_metadata(self) -> pd.DataFrame:
        meta = load_gaze360_metadata(self.root / "metadata.mat")
        where = str(meta.path)
        keep = np.ones(len(meta), dtype=bool)

        finite = np.isfinite(meta.gaze).all(1)
        norm = np.linalg.norm(np.where(finite[:, None], meta.gaze, 0.0), axis=1)
        for i in np.flatnonzero(~finite | (norm < 1e-9)):
            self.report_problem(
                "bad_label",
                f"{where}[{i}]",
                f"entry {i} ({self._describe(meta, i)}): gaze_dir {meta.gaze[i].tolist()} "
                "is not a finite non-zero vector",
            )
            keep[i] = False
        for i in np.flatnonzero(~np.isin(meta.split, list(SPLIT_CODES))):
            self.report_problem(
                "bad_label",
                f"{where}[{i}]",
                f"entry {i} ({self._describe(meta, i)}): split {int(meta.split[i])} is not one of "
                "0 train, 1 val, 2 test, 3 unused",
            )
            keep[i] = False

        recordings = np.asarray(meta.recordings, dtype=object)[meta.recording]
        subjects = np.array([subject_name(r, p) for r, p in zip(recordings, meta.person)], dtype=object)
        key = pd.DataFrame({"s": subjects, "f": meta.frame})
        dup = key.duplicated(keep="first").to_numpy() & keep
        for i in np.flatnonzero(dup):
            self.report_problem(
                "duplicate", f"{where}[{i}]", f"entry {i} repeats {self._describe(meta, i)} (recording, person, frame)"
            )
            keep[i] = False

        rows = np.flatnonzero(keep)
        rec, person, frame = recordings[rows], meta.person[rows], meta.frame[rows]
        split_code = meta.split[rows]
        stems = [frame_stem(r, p, f) for r, p, f in zip(rec, person, frame)]
        index = pd.DataFrame(
            {
                "id": stems,
                "subject": subjects[rows],
                "sequence": subjects[rows],
                "order": frame.astype(np.float64),
                "path": ["imgs/" + s + ".jpg" for s in stems],
                "split": [SPLIT_CODES[int(c)] for c in split_code],
                "frame": frame,
                "labelled": True,
                "metadata_entry": rows,
            }
        )
        if meta.face_detected is not None:  # the face-detectable population (gazebench.population)
            index["face_detected"] = meta.face_detected[rows]
        self._set_gaze(index, meta.gaze[rows])
        in_split = split_code <= 2
        if self.options["centres"] == "all":
            index["centre"] = in_split
        else:
            index["centre"] = in_split & self._full_window(index["subject"].to_numpy(), frame, CENTRE_HALF_WINDOW)
        return index

    @staticmethod
    def _describe(meta, i: int) -> str:
        try:
            rec = meta.recordings[int(meta.recording[i])]
        except IndexError:
            rec = f"recording #{int(meta.recording[i])}"
        return f"{rec}, person {int(meta.person[i])}, frame {int(meta.frame[i])}"

    @staticmethod
    def _full_window(subjects: np.ndarray, frames: np.ndarray, half: int) -> np.ndarray:
        """Whether frames f-half ... f+half of the same subject all exist."""
        if len(frames) == 0:
            return np.zeros(0, dtype=bool)
        codes, _ = pd.factorize(subjects)
        lo = int(frames.min())
        band = int(frames.max()) - lo + 2 * half + 2
        keys = codes.astype(np.int64) * band + (frames - lo + half)
        present = np.sort(keys)
        full = np.ones(len(frames), dtype=bool)
        for o in range(-half, half + 1):
            if o:
                full &= np.isin(keys + o, present, assume_unique=False)
        return full

    def _index_from_split_files(self) -> pd.DataFrame:
        problems = None if self.strict else self.problems
        parts: list[tuple[str, Gaze360Lines]] = []
        for split, filename in SPLIT_FILES.items():
            parts.append((split, parse_gaze360_split_file(self.root / filename, problems)))

        rows: dict[str, dict] = {}
        first_seen: dict[str, str] = {}
        for split, lines in parts:
            for j, image in enumerate(lines.image):
                loc = f"{lines.path}:{int(lines.line[j])}"
                if image in first_seen:
                    self.report_problem("duplicate", loc, f"{image} is also listed at {first_seen[image]}")
                    continue
                first_seen[image] = loc
                rec, person, frame = lines.recording[j], int(lines.person[j]), int(lines.frame[j])
                rows[image] = {
                    "id": frame_stem(rec, person, frame),
                    "subject": subject_name(rec, person),
                    "recording": rec,
                    "person": person,
                    "frame": frame,
                    "path": "imgs/" + image,
                    "split": split,
                    "centre": True,
                    "labelled": True,
                    "gx": lines.gaze[j, 0],
                    "gy": lines.gaze[j, 1],
                    "gz": lines.gaze[j, 2],
                }
        if not rows:
            raise DatasetError(f"dataset 'gaze360': the split files under {self.root} list no usable frames")
        listed = pd.DataFrame(list(rows.values()))
        context = self._context_frames(listed)
        index = pd.concat([listed, context], ignore_index=True) if len(context) else listed
        index["sequence"] = index["subject"]
        index["order"] = index["frame"].astype(np.float64)
        self._set_gaze(index, index[["gx", "gy", "gz"]].to_numpy(np.float64))
        return index.drop(columns=["gx", "gy", "gz", "recording", "person"])

    def _context_frames(self, listed: pd.DataFrame) -> pd.DataFrame:
        """Frames on disk of the listed persons that no split file lists (labels unknown): context
        rows whose gaze is a stand-in copied from the nearest listed frame of the same person."""
        out = []
        for (subject, rec, person), group in listed.groupby(["subject", "recording", "person"], sort=False):
            folder = self.root / "imgs" / rec / "head" / f"{int(person):06d}"
            on_disk = _frame_numbers(folder)
            known = set(group["frame"].tolist())
            extra = np.array(sorted(f for f in on_disk if f not in known), dtype=np.int64)
            if len(extra) == 0:
                continue
            g = group.sort_values("frame")
            numbers = g["frame"].to_numpy(np.int64)
            nearest = nearest_rows(numbers, extra, extra)
            src = g.iloc[nearest]
            out.append(
                pd.DataFrame(
                    {
                        "id": [frame_stem(rec, person, f) for f in extra],
                        "subject": subject,
                        "recording": rec,
                        "person": int(person),
                        "frame": extra,
                        "path": [f"imgs/{rec}/head/{int(person):06d}/{f:06d}.jpg" for f in extra],
                        "split": "unused",
                        "centre": False,
                        "labelled": False,
                        "gx": src["gx"].to_numpy(),
                        "gy": src["gy"].to_numpy(),
                        "gz": src["gz"].to_numpy(),
                    }
                )
            )
        return pd.concat(out, ignore_index=True) if out else pd.DataFrame()

    @staticmethod
    def _set_gaze(index: pd.DataFrame, raw: np.ndarray) -> None:
        g = geometry.from_gaze360(np.asarray(raw, dtype=np.float64).reshape(-1, 3))
        index["gaze_x"], index["gaze_y"], index["gaze_z"] = g[:, 0], g[:, 1], g[:, 2]

    # -- windows ----------------------------------------------------------------------------
    def windows(self, offsets: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
        """Frames f+o of the same person by frame number; a missing number -> the nearest frame
        number present (ties: nearer the centre), and the window is marked incomplete."""
        offsets = np.asarray(list(offsets), dtype=np.int64)
        idx = self.index
        n = len(idx)
        table = np.empty((n, len(offsets)), dtype=np.int64)
        complete = np.ones(n, dtype=bool)
        frames = idx["order"].to_numpy(np.float64)
        for _, rows in idx.groupby("sequence", sort=False).indices.items():
            rows = rows[np.argsort(frames[rows], kind="stable")]
            numbers = frames[rows]
            targets = numbers[:, None] + offsets[None, :]
            centre = np.broadcast_to(numbers[:, None], targets.shape)
            pick = nearest_rows(numbers, targets.ravel(), centre.ravel()).reshape(targets.shape)
            table[rows] = rows[pick]
            complete[rows] = (numbers[pick] == targets).all(1)
        return table, complete


def _frame_numbers(folder: Path) -> list[int]:
    """Frame numbers of the ``NNNNNN.jpg`` files in a person folder (none when it is missing)."""
    try:
        with os.scandir(folder) as it:
            names = [e.name for e in it]
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for name in names:
        stem, dot, ext = name.rpartition(".")
        if dot and ext.lower() == "jpg" and stem.isdigit():
            out.append(int(stem))
    return out
