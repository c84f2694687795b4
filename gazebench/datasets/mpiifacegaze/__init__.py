"""MPIIFaceGaze (Zhang et al., CVPRW 2017), the normalised release: 15 people, 3000 faces each.

The root holds ``p00.mat ... p14.mat``, MATLAB v7.3 files (HDF5), read with h5py:
``Data/data`` (N, 3, H, W) uint8 BGR face images (448 x 448 in the release) and ``Data/label``
(N, 16): gaze (pitch, yaw) radians in columns 0-1, head pose (pitch, yaw) in 2-3, six facial
landmarks in 4-15.

Labels: columns 0-1 -> canonical unit vector by :func:`gazebench.core.geometry.from_pitch_yaw`
(the release's yaw and pitch have the Gaze360 signs once the order is fixed: pitch > 0 up; the
evidence is in the card's ``convention``).  Option ``gaze_signs``: ``release`` (default) or
``negated`` (both angles flipped before the conversion, for copies re-normalised with the
opposite convention).  The native angles are kept in the index as written (``gaze_pitch``,
``gaze_yaw``, ``head_pitch``, ``head_yaw``).  Self-check (``check-data``): the screen is below
the camera, so the mean canonical pitch must be negative; otherwise a warning names the fix.

Identity: subject ``pNN``; id ``pNN/<sample %04d>``; order = the sample's row in its file.
The frames are not video: ``has_sequences`` is False and every frame is its own sequence, so
models that need frame windows fail before training, naming model and dataset.

Images: ``read_image`` returns row i of ``Data/data`` as RGB ``[H, W, 3]``.  The files are opened
lazily, once per process (:class:`gazebench.datasets.h5.LazyH5`: a DataLoader worker opens its
own handles; a handle is never shared across a fork), and never while the index is built.

Count check: the card declares ``samples_per_subject: 3000``.  Option ``expect_samples``:
``card`` (default: the card's count), ``any`` (no check, e.g. a SynthGaze tree) or a number.  A
file with another count is an error when a run reads the dataset and a ``sample_count`` problem
in ``gazebench check-data``, worded by :func:`gazebench.datasets.published_sizes.published_shortfall`.

Protocol (data in ``gazebench/datasets/mpiifacegaze/card.yaml``): leave one person out, 15 folds; fold k tests
on ``p{k:02d}``, validates on the next person ``p{(k+1) mod 15:02d}`` and trains on the other 13.

GazeHub's layout (option ``layout``: ``original`` (default) or ``gazehub``): ``Image/pNN/face/<k>.jpg``
224 px normalised faces (half of them mirrored, with mirrored labels) and ``Label/pNN.label``, as
GazeHub's script writes them (:mod:`gazebench.datasets.mpiifacegaze.gazehub`): the same 15 people
and folds, the same count check (3000 lines per file), images read as files.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from gazebench.core import geometry
from gazebench.core.lazymodule import LazyModule
from gazebench.core.options import ConfigError, Option, one_of, word_or_integer
from gazebench.core.registry import DATASETS
from gazebench.datasets.base import DatasetError, DatasetNotFound, GazeDataset
from gazebench.datasets.h5 import LazyH5Files
from gazebench.datasets.mpiifacegaze.gazehub import gazehub_index, label_files
from gazebench.datasets.published_sizes import card_location

pd = LazyModule("pandas")  # imported on first use: listing and planning never need it

PERSON_FILE = re.compile(r"^(p\d{2})\.mat$")
#: columns of ``Data/label`` (the rest are landmarks)
GAZE_COLUMNS = (0, 1)  # pitch, yaw
HEAD_COLUMNS = (2, 3)  # pitch, yaw


@DATASETS.register("mpiifacegaze")
class MPIIFaceGaze(GazeDataset):
    """MPIIFaceGaze (Zhang et al., CVPRW 2017): 15 people at their laptops, normalised faces."""

    name = "mpiifacegaze"
    subsets = ()
    has_sequences = False
    declared_options = {
        "layout": Option(
            "original",
            one_of("original", "gazehub"),
            "MPI's normalised release (pNN.mat) or GazeHub's preprocessing (Image/ + Label/pNN.label)",
        ),
        "expect_samples": Option(
            "card",
            word_or_integer("card", "any", minimum=1),
            "samples each person file must hold: card (samples_per_subject), any, or N",
        ),
        "validation": Option(
            "default",
            one_of("default", "none"),
            "validation person: the next one (default), or none (protocol gazehub: train on the other 14)",
        ),
        "gaze_signs": Option(
            "release",
            one_of("release", "negated"),
            "Data/label gaze signs: as MPI's normalised release (default), or negated (pitch and "
            "yaw both flipped, e.g. a copy re-normalised with the opposite convention)",
        ),
    }
    layout_writer = "gazebench.datasets.mpiifacegaze.layout:write_layout"
    #: further SynthGaze layouts of this adapter (``gazebench synth --layout mpiifacegaze-gazehub``)
    layout_writers = {"mpiifacegaze-gazehub": "gazebench.datasets.mpiifacegaze.gazehub_layout:write_layout"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: file name -> its lazily opened handle (gazebench.datasets.h5: once per process)
        self._files = LazyH5Files(self.root)

    @property
    def gazehub(self) -> bool:
        """Whether this root is read in GazeHub's layout (``layout=gazehub``)."""
        return self.options["layout"] == "gazehub"

    # -- root -------------------------------------------------------------------------------
    def person_files(self) -> dict[str, Path]:
        """``{"p00": root/p00.mat, ...}`` (``Label/p00.label`` in GazeHub's layout) for the person
        files present, sorted."""
        if self.gazehub:
            return label_files(self.root)
        try:
            names = sorted(p.name for p in self.root.iterdir() if p.is_file())
        except OSError:
            return {}
        return {m.group(1): self.root / n for n in names if (m := PERSON_FILE.match(n))}

    def ensure_root(self) -> None:
        if self.gazehub and self.options["gaze_signs"] != "release":
            raise ConfigError(
                "dataset 'mpiifacegaze': gaze_signs applies to the original layout's Data/label; "
                "GazeHub's 2DGaze has one convention (gazebench/datasets/mpiifacegaze/card.yaml, convention)"
            )
        super().ensure_root()
        if not self.person_files():
            what = "no Label/pNN.label files found (layout=gazehub)" if self.gazehub else "no pNN.mat files found"
            raise DatasetNotFound(self.not_found_message(f"{self.root} is incomplete: {what}"))

    def _check_count(self, person: str, path: Path, n: int) -> None:
        """A person file whose count is not the expected one (the card's ``samples_per_subject``
        or ``expect_samples=N``): an error in a run, a ``sample_count`` problem in check-data."""
        from gazebench.datasets.published_sizes import SUBJECT_KEY, published_shortfall

        for message in published_shortfall(self.card, self, {f"{SUBJECT_KEY}{person}": n}):
            self.report_problem(
                "sample_count",
                path,
                f"{message}. A truncated download or conversion? "
                "--set expect_samples=any reads any count (e.g. a SynthGaze tree), "
                "--set expect_samples=N expects N",
            )

    # -- index ------------------------------------------------------------------------------
    def build_index(self) -> pd.DataFrame:
        parts = self._gazehub_parts() if self.gazehub else self._release_parts()
        if not parts:
            raise DatasetError(f"dataset 'mpiifacegaze': no usable person file under {self.root}")
        index = pd.concat(parts, ignore_index=True)
        if not self.gazehub:
            self._file_of = index["file"].to_numpy()
            self._sample_of = index["sample"].to_numpy(np.int64)
        return index

    def _gazehub_parts(self) -> list[pd.DataFrame]:
        """GazeHub's ``Label/pNN.label`` files (:mod:`gazebench.datasets.mpiifacegaze.gazehub`)."""
        return gazehub_index(self.root, None if self.strict else self.problems, self._check_count)

    def _release_parts(self) -> list[pd.DataFrame]:
        """MPI's ``pNN.mat`` files: one table per readable person file."""
        import h5py

        parts = []
        for person, path in self.person_files().items():
            try:
                with h5py.File(path, "r") as fh:
                    label = self._read_labels(fh, path)
            except OSError as exc:
                self.report_problem("unreadable_file", path, f"cannot read as a MATLAB v7.3 (HDF5) file: {exc}")
                continue
            if label is None:
                continue
            self._check_count(person, path, len(label))
            finite = np.isfinite(label[:, list(GAZE_COLUMNS)]).all(1)
            for i in np.flatnonzero(~finite):
                self.report_problem(
                    "bad_label", f"{path}[{i}]", f"sample {i}: gaze {label[i, :2].tolist()} is not finite"
                )
            rows = np.flatnonzero(finite)
            pitch_yaw = label[rows][:, list(GAZE_COLUMNS)]
            g = geometry.from_pitch_yaw(-pitch_yaw if self.options["gaze_signs"] == "negated" else pitch_yaw)
            part = pd.DataFrame(
                {
                    "id": [f"{person}/{i:04d}" for i in rows],
                    "subject": person,
                    "sequence": [f"{person}/{i:04d}" for i in rows],
                    "order": rows.astype(np.float64),
                    "gaze_x": g[:, 0],
                    "gaze_y": g[:, 1],
                    "gaze_z": g[:, 2],
                    "path": [f"{path.name}#{i}" for i in rows],
                    "centre": True,
                    "file": path.name,
                    "sample": rows,
                    "gaze_pitch": pitch_yaw[:, 0],
                    "gaze_yaw": pitch_yaw[:, 1],
                }
            )
            if label.shape[1] > max(HEAD_COLUMNS):
                part["head_pitch"] = label[rows, HEAD_COLUMNS[0]]
                part["head_yaw"] = label[rows, HEAD_COLUMNS[1]]
            parts.append(part)
        return parts

    def _read_labels(self, fh: Any, path: Path) -> np.ndarray | None:
        """``Data/label`` as float64 after checking both arrays' shapes; None (a problem reported)
        when the file does not have the release's structure."""
        for key in ("Data/data", "Data/label"):
            if key not in fh:
                self.report_problem(
                    "bad_file",
                    path,
                    f"no dataset {key!r}; a normalised MPIIFaceGaze file has "
                    "Data/data (N, 3, H, W) uint8 and Data/label (N, 16)",
                )
                return None
        data, label = fh["Data/data"], fh["Data/label"]
        if data.ndim != 4 or data.shape[1] != 3 or data.dtype != np.uint8:
            self.report_problem(
                "bad_file", path, f"Data/data is {data.dtype} {data.shape}; expected uint8 (N, 3, H, W)"
            )
            return None
        if label.ndim != 2 or label.shape[1] < 2 or label.shape[0] != data.shape[0]:
            self.report_problem(
                "bad_file",
                path,
                f"Data/label has shape {label.shape}; expected (N, 16) with "
                f"N = {data.shape[0]} (the images' count), gaze in columns 0-1",
            )
            return None
        return np.asarray(label[()], dtype=np.float64)

    # -- the convention self-check --------------------------------------------------------------
    def convention_warnings(self, positions: np.ndarray) -> list[str]:
        """The screen is below the laptop camera, so the mean gaze points down (canonical pitch
        < 0); a mean pointing up says the labels look mirrored, and names the other ``gaze_signs``."""
        gaze = self.gaze(np.asarray(positions, dtype=np.int64))
        if len(gaze) == 0:
            return []
        pitch = float(np.degrees(geometry.vector_to_yawpitch(gaze)[:, 1]).mean())
        if pitch <= 0:
            return []
        other = "release" if self.options["gaze_signs"] == "negated" else "negated"
        fix = (
            "GazeHub's 2DGaze has pitch = asin(-y) of the camera-frame gaze (y down): these files do not look "
            "like the output of GazeHub's MPIIFaceGaze script"
            if self.gazehub
            else f"If these files are not MPI's normalised release as published, read them with --set gaze_signs={other}"
        )
        return [
            f"the mean gaze pitch of the {len(gaze):,} labelled samples is {pitch:+.1f} deg (up), but "
            "MPIIFaceGaze was recorded with the screen below the camera, so gaze points down on average: "
            f"the labels look mirrored (pitch and yaw negated). {fix} (evidence: {card_location(self.card)}, "
            "convention)"
        ]

    # -- images -----------------------------------------------------------------------------
    def image_path(self, position: int) -> Path:
        if self.gazehub:
            return super().image_path(position)
        self.index  # noqa: B018 - builds the index (and the lookup arrays) on first use
        return self.root / str(self._file_of[position])

    def read_image(self, position: int) -> np.ndarray:
        """Row ``position``: ``Data/data[i]`` (3, H, W) BGR -> ``uint8 [H, W, 3]`` RGB; in GazeHub's
        layout the JPEG ``Image/pNN/face/<k>.jpg`` (the base class's file reading)."""
        if self.gazehub:
            return super().read_image(position)
        self.index  # noqa: B018
        filename, sample = str(self._file_of[position]), int(self._sample_of[position])
        try:
            chw = self._files[filename]["Data/data"][sample]
        except (OSError, KeyError, ValueError, IndexError) as exc:
            raise self.bad_sample(position, self.root / filename, exc) from exc
        return np.ascontiguousarray(chw[::-1].transpose(1, 2, 0))

    def close(self) -> None:
        """Close this process's open files (they reopen on the next read)."""
        self._files.close()
