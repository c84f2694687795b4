"""EYEDIAP (Funes Mora, Monay and Odobez, ETRA 2014): screen-target sessions of 14 participants.

Two forms of the data (option ``layout``):

* ``gazehub``: GazeHub's preprocessed faces, ``Image/pN/face/<k>.jpg`` and ``ClusterLabel/*.label``
  (:mod:`gazebench.datasets.eyediap.gazehub`): 224 px faces normalised by GazeHub's script, one
  video frame in 15 of the screen-target sessions, GazeHub's four participant groups;
* ``release``: Idiap's release, ``Data/<session>/`` with ``rgb_vga.mov`` and the text files
  (:mod:`gazebench.datasets.eyediap.release`), the same sessions and frames, faces normalised by
  :mod:`gazebench.core.normalization` when they are read.

Identity: subject ``pN`` (GazeHub's person names, N = 1-11 and 14-16, no zero padding); every frame
belongs to the sequence of its session (``1_A_CS_S``), ordered by frame number, so frame windows
step through a session one sampled frame (15 video frames) at a time.

Protocol (data in ``gazebench/datasets/eyediap/card.yaml``): four folds.  In GazeHub's layout fold k tests the
participants of the k-th ClusterLabel file (name order), as GazeHub's trainers do; on the release,
the card's groups.  Validation: the lowest-numbered participant of the next group (``validation=
none``: none, protocol ``gazehub``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gazebench.core.lazymodule import LazyModule
from gazebench.core.options import ConfigError, Option, integer, one_of
from gazebench.core.registry import DATASETS
from gazebench.datasets.base import DatasetError, DatasetNotFound, GazeDataset
from gazebench.datasets.eyediap import release
from gazebench.datasets.eyediap.gazehub import CLUSTER_DIR, CLUSTERS, cluster_files, gazehub_index, participant_number
from gazebench.datasets.eyediap.sessions import FRAME_STEP, SCREEN_TARGETS, SESSION, subject_id
from gazebench.datasets.eyediap.video import SessionVideos, VideoFrameError

pd = LazyModule("pandas")  # imported on first use: listing and planning never need it

DATA_DIR = "Data"
#: the normalised face of the release: focal length and distance of the virtual camera (GazeHub's
#: EyeDiap and MPIIFaceGaze scripts, 224 px; UniGaze's normalize_eyediap.py: 960, 600, 224)
FOCAL, DISTANCE = 960.0, 600.0


@DATASETS.register("eyediap")
class EYEDIAP(GazeDataset):
    """EYEDIAP (Funes Mora et al., ETRA 2014): 14 people looking at screen targets, RGB-D camera."""

    name = "eyediap"
    subsets = ()
    has_sequences = True
    declared_options = {
        "layout": Option(
            "release",
            one_of("release", "gazehub"),
            "Idiap's release (Data/<session>/ videos and text files, normalised when read) or "
            "GazeHub's preprocessing (Image/ + ClusterLabel/)",
        ),
        "face_size": Option(
            224,
            integer(16),
            "release: side of the normalised face in pixels (focal 960, 600 mm; GazeHub's and UniGaze's 224)",
        ),
        "frame_step": Option(
            FRAME_STEP, integer(1), "release: keep the frames whose number is a multiple of this (GazeHub: one in 15)"
        ),
        "validation": Option(
            "default",
            one_of("default", "none"),
            "validation person: the first of the next group (default), or none "
            "(protocol gazehub: train on the other three groups)",
        ),
    }
    layout_writer = "gazebench.datasets.eyediap.layout:write_layout"
    #: further SynthGaze layouts of this adapter (``gazebench synth --layout eyediap-gazehub``)
    layout_writers = {"eyediap-gazehub": "gazebench.datasets.eyediap.gazehub_layout:write_layout"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: the session videos, opened lazily per process and thread (release)
        self._videos = SessionVideos()
        self._samples: list[release.Sample] = []
        self._cameras: dict[str, release.Calibration] = {}

    @property
    def gazehub(self) -> bool:
        """Whether this root is read in GazeHub's layout (``layout=gazehub``)."""
        return self.options["layout"] == "gazehub"

    # -- root -------------------------------------------------------------------------------
    def ensure_root(self) -> None:
        if self.gazehub:
            changed = [k for k in ("face_size", "frame_step") if self.options[k] != self.declared_options[k].default]
            if changed:
                raise ConfigError(
                    f"dataset 'eyediap': {', '.join(changed)} applies to the release (layout=release); "
                    "GazeHub's files hold faces it already normalised and sampled"
                )
        super().ensure_root()
        if self.gazehub and not cluster_files(self.root):
            raise DatasetNotFound(
                self.not_found_message(
                    f"{self.root} is incomplete: no {CLUSTER_DIR}/*.label files found (layout=gazehub)"
                )
            )
        if not self.gazehub and not self.sessions():
            raise DatasetNotFound(
                self.not_found_message(
                    f"{self.root} is incomplete: no screen-target session folders ({DATA_DIR}/<participant>_A_<CS|DS>_<S|M>/)"
                )
            )

    def sessions(self) -> list[str]:
        """The screen-target session folders under ``Data/`` (GazeHub's selection: no ``FT``), in
        participant order."""
        try:
            names = [p.name for p in (self.root / DATA_DIR).iterdir() if p.is_dir()]
        except OSError:
            return []
        kept = [n for n in names if (m := SESSION.match(n)) and m.group(3) in SCREEN_TARGETS]
        return sorted(kept, key=lambda n: (int(n.split("_")[0]), n))

    # -- index ------------------------------------------------------------------------------
    def build_index(self) -> pd.DataFrame:
        if not self.gazehub:
            return self._release_index()
        parts = gazehub_index(self.root, None if self.strict else self.problems)
        if not parts:
            raise DatasetError(f"dataset 'eyediap': no usable label file under {self.root / CLUSTER_DIR}")
        index = pd.concat(parts, ignore_index=True)
        self._check_groups(index)
        return index

    def _release_index(self) -> pd.DataFrame:
        """One row per sampled frame with tracking, session by session (:mod:`.release`)."""
        from gazebench.core import geometry
        from gazebench.core.normalization import normalize_face

        problems = None if self.strict else self.problems
        rows, samples = [], []
        blank = np.zeros((1, 1, 3), dtype=np.uint8)
        for session in self.sessions():
            folder = self.root / DATA_DIR / session
            missing = [name for name in release.SESSION_FILES if not (folder / name).is_file()]
            if missing:
                self.report_problem("missing_file", folder, f"session {session} lacks {', '.join(missing)}")
                continue
            camera = release.read_calibration(folder / release.CALIBRATION, problems)
            heads = release.read_frames(folder / release.HEAD_FILE, release.HEAD_VALUES, problems)
            eyes = release.read_frames(folder / release.EYE_FILE, release.EYE_VALUES, problems)
            screen = release.read_frames(folder / release.SCREEN_FILE, release.SCREEN_VALUES, problems)
            if camera is None:
                continue
            self._cameras[session] = camera
            subject = subject_id(int(session.split("_")[0]))
            step = self.options["frame_step"]
            for frame in sorted(set(heads) & set(eyes) & set(screen)):
                if frame % step:
                    continue
                sample = release.make_sample(frame, camera, heads[frame], eyes[frame], screen[frame])
                if sample is None:  # no tracking in this frame: GazeHub's output would be meaningless
                    self.left_out[subject] = self.left_out.get(subject, 0) + 1
                    continue
                # the label needs the normalising rotation only: a 1x1 patch computes it cheaply
                norm = normalize_face(
                    blank,
                    camera.intrinsics,
                    sample.head_rvec,
                    sample.head_tvec,
                    sample.face_model,
                    gaze_target=sample.target,
                    focal=FOCAL,
                    distance=DISTANCE,
                    size=1,
                )
                g = geometry.from_camera_frame(norm.gaze)
                yaw, pitch = geometry.vector_to_yawpitch(g)
                rows.append(
                    (
                        f"{subject}/{session}/{frame}",
                        subject,
                        session,
                        float(frame),
                        *g,
                        f"{DATA_DIR}/{session}/{release.VIDEO}#{frame}",
                        session,
                        frame,
                        yaw,
                        pitch,
                    )
                )
                samples.append(sample)
        if not rows:
            raise DatasetError(f"dataset 'eyediap': no usable sample under {self.root / DATA_DIR}")
        self._samples = samples
        columns = [
            "id",
            "subject",
            "sequence",
            "order",
            "gaze_x",
            "gaze_y",
            "gaze_z",
            "path",
            "session",
            "frame",
            "gaze_yaw",
            "gaze_pitch",
        ]
        index = pd.DataFrame(rows, columns=columns)
        index["centre"] = True
        return index

    def _check_groups(self, index: pd.DataFrame) -> None:
        """Four ClusterLabel files, each person in one of them."""
        files = cluster_files(self.root)
        if len(files) != CLUSTERS:
            self.report_problem(
                "bad_file",
                self.root / CLUSTER_DIR,
                f"{len(files)} label files ({', '.join(p.name for p in files)}); GazeHub's EyeDiap "
                f"has {CLUSTERS}, one per fold (the card's folds 0-{CLUSTERS - 1})",
            )
        seen = index.groupby("subject")["file"].unique()
        for subject, names in seen.items():
            if len(names) > 1:
                self.report_problem(
                    "leakage",
                    self.root / CLUSTER_DIR,
                    f"{subject} has lines in {', '.join(sorted(names))}; each person belongs to one group",
                )

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
            raise DatasetError(
                f"dataset 'eyediap': {self.root / CLUSTER_DIR} has {len(cluster_files(self.root))} "
                f"label files; the protocol's {len(self.folds())} folds need one each"
            )
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

    # -- images -----------------------------------------------------------------------------
    def image_path(self, position: int) -> Path:
        if self.gazehub:
            return super().image_path(position)
        return self.root / DATA_DIR / str(self.index["session"].iat[position]) / release.VIDEO

    def read_image(self, position: int) -> np.ndarray:
        """GazeHub's JPEG face; on the release, the frame decoded from ``rgb_vga.mov`` and normalised
        (``face_size`` px; :func:`gazebench.core.normalization.normalize_face`)."""
        if self.gazehub:
            return super().read_image(position)
        from gazebench.core.normalization import normalize_face

        self.index  # noqa: B018 - builds the index (and the samples) on first use
        sample = self._samples[position]
        session = str(self.index["session"].iat[position])
        path = self.image_path(position)
        try:
            frame = self._videos.read(path, sample.frame)
        except VideoFrameError as exc:
            raise self.bad_sample(position, path, exc) from exc
        camera = self._cameras[session]
        return normalize_face(
            frame,
            camera.intrinsics,
            sample.head_rvec,
            sample.head_tvec,
            sample.face_model,
            focal=FOCAL,
            distance=DISTANCE,
            size=self.options["face_size"],
        ).image

    def close(self) -> None:
        """Close this process's open videos (they reopen on the next read)."""
        self._videos.close()
