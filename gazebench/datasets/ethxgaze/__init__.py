"""ETH-XGaze (Zhang et al., ECCV 2020), the 224 px normalised face release.

The root holds ``train_test_split.json`` and one HDF5 file per participant under ``train/`` (the
80 labelled participants of the json's ``train`` list) and ``test/`` (its 15 ``test``
participants): ``face_patch`` (N, 224, 224, 3) uint8 BGR, ``face_gaze`` (N, 2) gaze (pitch, yaw)
radians, ``face_head_pose`` (N, 2), ``frame_index`` and ``cam_index`` (N, 1).  The release withholds
the test labels: its ``test`` files have no ``face_gaze``.

Labels: ``face_gaze`` -> canonical unit vector by :func:`gazebench.datasets.ethxgaze.labels.to_canonical`
(``geometry.from_pitch_yaw``; the derivation and citations are in ``labels.py`` and the card's
``convention``).  The native values stay in the index (``gaze_pitch``, ``gaze_yaw``, ``head_pitch``,
``head_yaw``, ``frame_index``, ``cam_index``).

Unlabelled samples (a test file without ``face_gaze``): the index column ``labelled`` is False,
the index holds the placeholder ``(0, 0, -1)`` (the index contract wants unit vectors) and
:meth:`ETHXGaze.gaze` returns NaN for them, so nothing can score against a label that does not
exist.  A run whose test split has unlabelled samples is predict-only (gazebench/train/runner.py): it
writes :meth:`ETHXGaze.write_submission`, the leaderboard's file and the zip to upload, instead
of metrics.

Splits (``protocol: splits: from_index``): the json's ``test`` list is the test split; its
``train`` list is split by the ``validation`` option into validation (the card's
``validation_sets``) and training.  Identity: subject ``subjectXXXX``; id ``subjectXXXX/<row %06d>``;
order = the row.  Not video: ``has_sequences`` is False.  The index lists the test subjects in
the json's order and each file's rows in order, which is the submission's order.

Images: ``read_image`` returns row i of ``face_patch`` as RGB.  Files are opened lazily, once per
process (:class:`gazebench.datasets.h5.LazyH5`), never while the index is built (that reads the
label arrays only, and closes each file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gazebench.core.atomic import atomic_write
from gazebench.core.lazymodule import LazyModule
from gazebench.core.options import Option, one_of
from gazebench.core.registry import DATASETS
from gazebench.datasets.base import DatasetError, DatasetNotFound, GazeDataset
from gazebench.datasets.ethxgaze.labels import (
    SPLIT_FILE,
    read_split_file,
    subject_of,
    submission_text,
    submission_zip,
    to_canonical,
    to_pitch_yaw,
)
from gazebench.datasets.h5 import LazyH5Files

pd = LazyModule("pandas")  # imported on first use: listing and planning never need it

#: the card's ``validation_sets``
VALIDATION_CHOICES = ("seed", "kfold-0", "kfold-1", "kfold-2", "kfold-3", "kfold-4", "none")
#: where an unlabelled sample's vector points in the index (gaze() gives NaN for it)
PLACEHOLDER = (0.0, 0.0, -1.0)


@DATASETS.register("ethxgaze")
class ETHXGaze(GazeDataset):
    """ETH-XGaze (Zhang et al., ECCV 2020): 80 labelled + 15 test participants, 18 cameras, normalised faces."""

    name = "ethxgaze"
    subsets = ()
    has_sequences = False
    declared_options = {
        "validation": Option(
            "seed",
            one_of(*VALIDATION_CHOICES),
            "validation participants among the 80 labelled ones: seed (the seed's 15), kfold-0 .. "
            "kfold-4 (a fold of the seed's 5-fold split), none (train on all 80)",
        ),
    }
    layout_writer = "gazebench.datasets.ethxgaze.layout:write_layout"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        #: "train/subject0000.h5" -> its lazily opened handle (once per process)
        self._files = LazyH5Files()
        super().__init__(*args, **kwargs)
        self._files.root = self.root

    # -- root and split file ------------------------------------------------------------------
    def split_file(self) -> dict[str, list[str]]:
        """The json's ``train`` and ``test`` file lists, in file order."""
        path = self.root / SPLIT_FILE
        try:
            return read_split_file(path)
        except ValueError as exc:
            raise DatasetError(f"{path}: {exc}; it should be the release's {SPLIT_FILE}") from exc

    def ensure_root(self) -> None:
        super().ensure_root()
        if not any((self.root / folder).is_dir() for folder in ("train", "test")):
            raise DatasetNotFound(self.not_found_message(f"{self.root} is incomplete: no train/ or test/ folder"))

    def validation_subjects(self) -> set[str]:
        """The participants the ``validation`` option validates on (the card's ``validation_sets``)."""
        sets = self.card.extra("validation_sets") or {}
        return {str(s) for s in sets.get(self.options["validation"]) or []}

    # -- index --------------------------------------------------------------------------------
    def build_index(self) -> pd.DataFrame:
        split, val = self.split_file(), self.validation_subjects()
        parts = []
        for folder in ("train", "test"):
            for filename in split[folder]:
                role = "test" if folder == "test" else "val" if subject_of(filename) in val else "train"
                part = self._subject_rows(folder, filename, role)
                if part is not None:
                    parts.append(part)
        if not parts:
            raise DatasetError(
                f"dataset 'ethxgaze': no usable participant file under {self.root} "
                f"(those {SPLIT_FILE} lists, in train/ and test/)"
            )
        index = pd.concat(parts, ignore_index=True)
        self._file_of = index["file"].to_numpy()
        self._sample_of = index["sample"].to_numpy(np.int64)
        self._labelled = index["labelled"].to_numpy(bool)
        return index

    def _subject_rows(self, folder: str, filename: str, role: str) -> pd.DataFrame | None:
        """The index rows of one participant file, or None (a problem reported)."""
        import h5py

        path = self.root / folder / filename
        if not path.is_file():
            self.report_problem(
                "missing_file",
                path,
                f"{SPLIT_FILE} lists {filename} under {folder!r}, but the "
                "file is absent: a partial download? (the card's 'get')",
            )
            return None
        try:
            with h5py.File(path, "r") as fh:
                arrays = self._read_arrays(fh, path, labels_required=folder == "train")
        except OSError as exc:
            self.report_problem("unreadable_file", path, f"cannot read as HDF5: {exc}")
            return None
        if arrays is None:
            return None
        return self._rows(f"{folder}/{filename}", subject_of(filename), role, arrays)

    def _read_arrays(self, fh: Any, path: Path, labels_required: bool) -> dict[str, np.ndarray] | None:
        """The label arrays of one file after checking their shapes (``face_gaze`` None when a test
        file withholds it); None, a problem reported, when the file is not the release's."""
        patch = fh.get("face_patch")
        if patch is None or patch.ndim != 4 or patch.shape[-1] != 3 or patch.dtype != np.uint8:
            what = "no dataset 'face_patch'" if patch is None else f"face_patch is {patch.dtype} {patch.shape}"
            self.report_problem("bad_file", path, f"{what}; expected uint8 (N, 224, 224, 3) BGR")
            return None
        n = patch.shape[0]
        out = {"n": np.asarray(n)}
        for key, width in (("face_gaze", 2), ("face_head_pose", 2), ("frame_index", 1), ("cam_index", 1)):
            if key not in fh:
                if key == "face_gaze" and labels_required:
                    self.report_problem("bad_file", path, "no dataset 'face_gaze': a train/ file must carry labels")
                    return None
                continue
            values = np.asarray(fh[key][()], dtype=np.float64).reshape(n, -1) if fh[key].size == n * width else None
            if values is None:
                self.report_problem("bad_file", path, f"{key} has shape {fh[key].shape}; expected ({n}, {width})")
                return None
            out[key] = values
        return out

    def _rows(self, file: str, subject: str, role: str, arrays: dict[str, np.ndarray]) -> pd.DataFrame:
        n = int(arrays["n"])
        rows = np.arange(n)
        gaze = arrays.get("face_gaze")
        labelled = gaze is not None
        if labelled:
            finite = np.isfinite(gaze).all(1)
            for i in np.flatnonzero(~finite):
                self.report_problem(
                    "bad_label", f"{self.root / file}[{i}]", f"sample {i}: face_gaze {gaze[i].tolist()} is not finite"
                )
            rows = np.flatnonzero(finite)
            pitch_yaw, vectors = gaze[rows], to_canonical(gaze[rows])
        else:
            pitch_yaw, vectors = np.full((n, 2), np.nan), np.tile(PLACEHOLDER, (n, 1))
        ids = [f"{subject}/{i:06d}" for i in rows]
        part = pd.DataFrame({
            "id": ids, "subject": subject, "sequence": ids, "order": rows.astype(np.float64),
            "gaze_x": vectors[:, 0], "gaze_y": vectors[:, 1], "gaze_z": vectors[:, 2],
            "path": [f"{file}#{i}" for i in rows], "centre": True, "split": role, "labelled": labelled,
            "file": file, "sample": rows, "gaze_pitch": pitch_yaw[:, 0], "gaze_yaw": pitch_yaw[:, 1],
        })  # fmt: skip
        if "face_head_pose" in arrays:
            part["head_pitch"], part["head_yaw"] = arrays["face_head_pose"][rows, 0], arrays["face_head_pose"][rows, 1]
        for key in ("frame_index", "cam_index"):
            if key in arrays:
                part[key] = arrays[key][rows, 0].astype(np.int64)
        return part

    # -- labels -------------------------------------------------------------------------------
    def gaze(self, positions: np.ndarray | None = None) -> np.ndarray:
        """Canonical gaze of the rows ``positions``; NaN rows for samples without a label."""
        g = super().gaze(positions)
        labelled = self.index["labelled"].to_numpy(bool)
        labelled = labelled if positions is None else labelled[positions]
        if not labelled.all():
            g = g.copy()
            g[~labelled] = np.nan
        return g

    # -- the leaderboard's submission ---------------------------------------------------------
    def submission_rows(self) -> np.ndarray:
        """Index rows of the test split in the leaderboard's order: the json's ``test`` list, each
        file's rows in order (the order the index was built in)."""
        return np.flatnonzero(self.index["split"].to_numpy() == "test")

    def write_submission(self, rows: np.ndarray, vectors: np.ndarray, path: Path) -> Path:
        """Write the predictions ``vectors`` (canonical, one per index row of ``rows``) as the
        leaderboard's file, one ``pitch,yaw`` line per test sample in split-file order
        (``labels.py``), to ``path``, and as the archive the leaderboard takes,
        ``within_eva_results.txt`` in a folder, to ``path`` with suffix ``.zip``; returns the
        archive's path.  Every test sample needs a prediction, else nothing is written."""
        order = self.submission_rows()
        at = {int(r): k for k, r in enumerate(np.asarray(rows, dtype=np.int64))}
        missing = [int(r) for r in order if int(r) not in at]
        if missing or len(at) != len(order):
            ids = self.index["id"].to_numpy()
            example = f" (e.g. {ids[missing[0]]})" if missing else ""
            raise DatasetError(
                f"{path}: not written: the leaderboard needs one prediction per test sample in "
                f"split-file order, and {len(missing)} of the {len(order)} have none{example}; "
                "rerun without --on-bad-sample skip once the files read"
            )
        pitch_yaw = to_pitch_yaw(np.asarray(vectors, dtype=np.float64)[[at[int(r)] for r in order]])
        text = submission_text(pitch_yaw)
        atomic_write(path, text)
        return atomic_write(Path(path).with_suffix(".zip"), submission_zip(text))

    # -- images -------------------------------------------------------------------------------
    def image_path(self, position: int) -> Path:
        self.index  # noqa: B018 - builds the index (and the lookup arrays) on first use
        return self.root / str(self._file_of[position])

    def read_image(self, position: int) -> np.ndarray:
        """Row ``position``: ``face_patch[i]`` (H, W, 3) BGR -> ``uint8 [H, W, 3]`` RGB."""
        self.index  # noqa: B018
        file, sample = str(self._file_of[position]), int(self._sample_of[position])
        try:
            bgr = self._files[file]["face_patch"][sample]
        except (OSError, KeyError, ValueError, IndexError) as exc:
            raise self.bad_sample(position, self.root / file, exc) from exc
        return np.ascontiguousarray(bgr[..., ::-1])

    def close(self) -> None:
        """Close this process's open files (they reopen on the next read)."""
        self._files.close()
