"""The dataset adapter contract.

An adapter turns a dataset as released into one table, :attr:`GazeDataset.index`, one row per
frame, plus :meth:`GazeDataset.read_image`.  Everything else -- root checks with a fix-it
message, splits and folds from the card, frame windows, the leakage guard -- is done here once.

Index columns (all adapters):
  ``id``        unique sample id (str)
  ``subject``   subject id (str); splits are subject-disjoint
  ``sequence``  the sequence the frame belongs to (str); windows never cross sequences
  ``order``     sort key inside a sequence (frame number or timestamp, float)
  ``gaze_x, gaze_y, gaze_z``  canonical unit gaze vector (geometry.py)
  ``path``      image path relative to the root (or any locator ``read_image`` understands)
  ``centre``    bool: may be a labelled (centre) frame; False = context only
Optional: ``split`` (train/val/test/unused) when the release defines splits per frame; a card
whose protocol says ``splits: from_index`` takes the subjects of each split from this column.

Lenient reading (``strict=False``, used by ``gazebench check-data``): an adapter records what is
wrong in :attr:`GazeDataset.problems` (via :meth:`GazeDataset.report_problem`) and skips the bad
line or file instead of raising at the first one.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from gazebench.core.errors import GazebenchError
from gazebench.core.lazymodule import LazyModule
from gazebench.core.options import Option, resolve_options
from gazebench.datasets.cards import FROM_INDEX, Card, default_data_root, load_card

pd = LazyModule("pandas")  # imported on first use: listing and planning never need it

SPLITS = ("train", "val", "test")
INDEX_COLUMNS = ("id", "subject", "sequence", "order", "gaze_x", "gaze_y", "gaze_z", "path", "centre")


class DatasetError(GazebenchError, RuntimeError):
    """A dataset problem the user can fix (missing root, bad labels, leakage)."""


class DatasetNotFound(DatasetError, FileNotFoundError):
    """The dataset root is missing or incomplete."""


class LeakageError(DatasetError):
    """A subject appears in more than one of train / val / test."""


class BadSample(DatasetError):
    """An image that is missing, truncated or undecodable."""


@dataclass(frozen=True)
class Problem:
    """Something wrong with a dataset on disk, found while reading it leniently.

    ``kind`` is a short tag (``malformed_line``, ``bad_label``, ``duplicate``, ``missing_image``,
    ``bad_image``, ``leakage``, ...), ``path`` the file (``file:line`` for a line of a label file)."""

    kind: str
    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "path": self.path, "message": self.message}


class GazeDataset:
    """Base class of dataset adapters (see the module docstring for the index contract).

    Subclasses set ``name`` (== registry name == card name), implement :meth:`build_index`,
    and may override :meth:`read_image`, :meth:`required_paths`, :meth:`split_subjects`.
    :meth:`write_fake` writes a small copy of the dataset's layout for the contract test
    (``tests/test_dataset_contract.py``); ``docs/adding-a-dataset.md`` walks through an adapter.
    """

    name: ClassVar[str] = ""
    #: evaluation subsets reported beside the overall error (names from geometry.subset_masks)
    subsets: ClassVar[tuple[str, ...]] = ()
    #: adapter options: ``{"variant": Option("inpainted", one_of(...), "help")}`` (gazebench.core.options);
    #: ``self.options`` holds the resolved values (:func:`resolve_dataset_options`)
    declared_options: ClassVar[dict[str, Option]] = {}
    #: whether frames form sequences, so multi-frame views can be built
    has_sequences: ClassVar[bool] = True
    #: ``"module:function"`` writing a SynthGaze scene in this dataset's on-disk layout
    #: (``gazebench synth --layout <name>``; see :func:`gazebench.synth.write_layout`), or None
    layout_writer: ClassVar[str | None] = None
    #: more SynthGaze layouts of this dataset: ``{"<name>-gazehub": "module:function"}``
    #: (``gazebench synth --layout <name>``)
    layout_writers: ClassVar[dict[str, str]] = {}
    #: populations inside a split, each a boolean index column: ``{"face": "face_detected"}``; every
    #: result reports each of them with its gaze subsets (``face``, ``face_front180``, ...)
    population_columns: ClassVar[dict[str, str]] = {}
    #: what one labelled sample is called in messages (e.g. Gaze360's "centre frames")
    sample_noun: ClassVar[str] = "samples"

    def __init__(
        self, root: str | Path | None = None, card: Card | None = None, *, strict: bool = True, **options: Any
    ) -> None:
        self.card = card or load_card(self.name, adapter=type(self))
        #: False: collect problems in ``self.problems`` and skip bad entries (check-data); True: raise
        self.strict = strict
        self.problems: list[Problem] = []
        #: labelled samples an option left out while indexing, per subject (e.g. RT-GENE's
        #: ``missing_images=skip``): the population of a run records them
        self.left_out: dict[str, int] = {}
        self.root_given = root is not None
        self.root = Path(root).expanduser() if root is not None else default_data_root() / self.name
        self.options = resolve_dataset_options(type(self), options)
        self._index: pd.DataFrame | None = None
        self.ensure_root()

    # -- problems ------------------------------------------------------------------------------
    def report_problem(self, kind: str, path: str | Path, message: str) -> None:
        """A bad line, label or file: raise :class:`DatasetError` (strict) or record it and go on."""
        if self.strict:
            raise DatasetError(f"{path}: {message}")
        self.problems.append(Problem(kind, str(path), message))

    # -- the root ----------------------------------------------------------------------------
    def required_paths(self) -> list[str]:
        """Paths (relative to the root) that must exist; defaults to the card's ``required``."""
        return list(self.card.required)

    def ensure_root(self) -> None:
        """Raise :class:`DatasetNotFound` with a fix-it message unless the root looks complete."""
        missing = [p for p in self.required_paths() if not (self.root / p).exists()]
        if self.root.is_dir() and not missing:
            return
        if self.root.is_file():
            what = f"{self.root} is a file, not a folder (--root names the dataset's folder)"
        elif not self.root.is_dir():
            what = f"{self.root} does not exist"
        else:
            what = f"{self.root} is incomplete: missing {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else "")
        raise DatasetNotFound(self.not_found_message(what))

    def not_found_message(self, what: str) -> str:
        lines = [f"dataset {self.name!r}: {what}."]
        if not self.root_given:
            lines.append("(the default root; pass --root DIR or set $GAZEBENCH_DATA to look elsewhere)")
        if self.card.how_to_get():
            lines.append("Where to get it: " + self.card.how_to_get())
        if self.card.layout():
            lines.append("Expected layout under the root:\n" + self.card.layout())
        return "\n".join(lines)

    # -- the index ---------------------------------------------------------------------------
    def build_index(self) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def index(self) -> pd.DataFrame:
        if self._index is None:
            self._index = validate_index(self.build_index(), self.name)
        return self._index

    def __len__(self) -> int:
        return len(self.index)

    def gaze(self, positions: np.ndarray | None = None) -> np.ndarray:
        g = self.index[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)
        return g if positions is None else g[positions]

    # -- images ------------------------------------------------------------------------------
    def image_path(self, position: int) -> Path:
        return self.root / str(self.index["path"].iat[position])

    def read_image(self, position: int) -> np.ndarray:
        """Frame at row ``position`` as ``uint8 [H, W, 3]`` RGB."""
        path = self.image_path(position)
        try:
            with Image.open(path) as im:
                return np.asarray(im.convert("RGB"))
        except (OSError, SyntaxError, ValueError) as exc:
            raise self.bad_sample(position, path, exc) from exc

    def read_resized(self, position: int, size: int) -> np.ndarray:
        """Frame at row ``position`` resized to ``uint8 [size, size, 3]`` (:func:`resize_frame`)."""
        return resize_frame(self.read_image(position), size)

    def bad_sample(self, position: int, path: Path | str, exc: BaseException) -> BadSample:
        sid = self.index["id"].iat[position]
        return BadSample(
            f"dataset {self.name!r}, sample {sid!r}: cannot read {path}: {exc}. "
            f"Run `gazebench check-data --dataset {self.name} --root {self.root}` to list every bad file."
        )

    # -- protocol ----------------------------------------------------------------------------
    def folds(self) -> list[str]:
        """Fold names of the protocol (``["default"]`` for a fixed split), from the card."""
        return self.card.folds()

    def resolve_fold(self, fold: str | int | None) -> str:
        return self.card.resolve_fold(fold)

    def split_subjects(self, fold: str | int | None = None) -> dict[str, list[str]]:
        """Subjects of train / val / test for ``fold``: the card's :class:`~gazebench.datasets.cards.SplitRule`
        restricted to the subjects present (``rest`` = all others), or, for ``splits: from_index``,
        the index's ``split`` column."""
        rule = self.card.split_rule(fold, self.options)
        if rule.from_index:
            return self._subjects_from_index()
        return rule.subjects(self.index["subject"].unique())

    def named_subjects(self, fold: str | int | None = None) -> dict[str, list[str]]:
        """The subjects the protocol names for ``fold`` (``test``, ``val``; ``train`` only when listed,
        not "rest"), before absent ones are dropped: what a run's population and ``check-data`` hold
        the root to.  The card's lists by default; an adapter whose groups come from the data (EYEDIAP's
        GazeHub ClusterLabel files) names them itself.  {} when the splits come from the index."""
        rule = self.card.split_rule(fold, self.options)
        return {} if rule.from_index else rule.named()

    def _subjects_from_index(self) -> dict[str, list[str]]:
        """``splits: from_index``: the subjects having frames of each split in the index's ``split``
        column (a subject found in two splits is leakage, caught by :func:`check_disjoint`)."""
        idx = self.index
        if "split" not in idx.columns:
            raise DatasetError(
                f"{self.card.path}: protocol says splits: {FROM_INDEX}, but adapter {self.name!r} gives no 'split' column"
            )
        split = idx["split"].astype(str).to_numpy()
        subject = idx["subject"].to_numpy()
        return {s: sorted(pd.unique(subject[split == s]).tolist()) for s in SPLITS}

    def split_positions(self, fold: str | int | None = None, check: bool = True) -> dict[str, np.ndarray]:
        """Row positions of the labelled (centre) frames of each split; checks subject leakage
        (``check=False`` skips the check, for tools that report leakage themselves)."""
        subjects = self.split_subjects(fold)
        if check:
            check_disjoint(subjects, self.name)
        idx = self.index
        centre = idx["centre"].to_numpy(bool)
        out = {}
        for split in SPLITS:
            mask = idx["subject"].isin(subjects[split]).to_numpy() & centre
            if "split" in idx.columns:
                mask &= (idx["split"] == split).to_numpy()
            out[split] = np.flatnonzero(mask)
        return out

    def population_column_names(self) -> dict[str, str]:
        """The populations (``population_columns``) whose boolean column the index has: name -> column."""
        return {name: col for name, col in self.population_columns.items() if col in self.index.columns}

    def population_rows(self, split: str) -> dict[str, np.ndarray]:
        """Row positions of each population in ``split`` as the population's source keeps it:
        every row of the split whose column is true, centre frame or not (Gaze360's ``face`` is
        GazeHub's rule, every frame with a face box, whether or not its frames f-3..f+3 exist).
        The split is the index's ``split`` column; an index without one gives {}."""
        idx = self.index
        if "split" not in idx.columns:
            return {}
        in_split = (idx["split"].astype(str) == split).to_numpy()
        return {
            name: np.flatnonzero(in_split & idx[col].to_numpy(bool))
            for name, col in self.population_column_names().items()
        }

    def sample_weights(self, positions: np.ndarray) -> np.ndarray | None:
        """The training sampler's probability of each of ``positions``; None: uniform (every
        single dataset; a joint run's composite weighs its members, gazebench.datasets.joint)."""
        return None

    # -- windows -----------------------------------------------------------------------------
    def windows(self, offsets: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
        """For every row, the rows of its frame window: ``(table [N, T], complete [N])``.

        Neighbours are the frames at the same rank offset within the row's sequence (sorted by
        ``order``).  Padding rule: a neighbour past the sequence's ends is replaced by the
        nearest frame that exists (the edge frame); such windows are marked incomplete."""
        offsets = np.asarray(list(offsets), dtype=np.int64)
        idx = self.index
        n = len(idx)
        table = np.empty((n, len(offsets)), dtype=np.int64)
        complete = np.ones(n, dtype=bool)
        order = np.lexsort(
            (idx["order"].to_numpy(), idx["sequence"].astype(str).to_numpy(), idx["subject"].astype(str).to_numpy())
        )
        for _, group in pd.Series(order).groupby(
            [idx["subject"].to_numpy()[order], idx["sequence"].to_numpy()[order]], sort=False
        ):
            rows = group.to_numpy()
            ranks = np.arange(len(rows))[:, None] + offsets[None, :]
            complete[rows] = ((ranks >= 0) & (ranks < len(rows))).all(1)
            table[rows] = rows[np.clip(ranks, 0, len(rows) - 1)]
        return table, complete

    # -- published facts ---------------------------------------------------------------------
    def unpublished_reason(self) -> str | None:
        """Why this root and these options are not the population the card's published counts
        describe (e.g. Gaze360's ``centres=all``), or None.  ``expect_samples=any`` is handled by
        :func:`gazebench.datasets.published_sizes.skip_reason` for every adapter."""
        return None

    def population_tag(self) -> str | None:
        """The population every sample of this root belongs to (GazeHub's Gaze360 files hold only
        face-detectable frames: ``face``), or None for the release's full population."""
        return None

    def write_submission(self, rows: np.ndarray, vectors: np.ndarray, path: Path) -> Path | None:
        """The dataset's leaderboard file for predictions ``vectors`` of index rows ``rows`` (a
        test split whose labels are withheld, e.g. ETH-XGaze's), written at or beside ``path``:
        the path of what to upload, or None when the dataset has no such format."""
        return None

    def released_subjects(self) -> list[str] | None:
        """The subjects this root's release has, when the release itself says so (SynthGaze's
        presets render different numbers of subjects); None: every subject the card names.  A
        run's population counts as full when every named subject of the release is present."""
        return None

    def convention_warnings(self, positions: np.ndarray) -> list[str]:
        """Warnings when the labels at index rows ``positions`` look converted with the wrong
        signs (a physical fact about the recording, e.g. MPIIFaceGaze's screen below the camera),
        each naming the fix; ``check-data`` asks on a root that is the published release."""
        return []

    # -- fake data for tests -----------------------------------------------------------------
    @classmethod
    def fake_writer(cls) -> Callable[..., dict[str, Any]] | None:
        """The dataset's fake-data writer: ``write_fake`` of the module ``fake`` in the adapter's
        folder (``gazebench/datasets/<name>/fake.py``, or a plugin folder's ``fake.py``), or None
        when the folder has none (a one-file plugin overrides :meth:`write_fake` instead)."""
        package = sys.modules.get(cls.__module__)
        if package is None or not hasattr(package, "__path__"):
            return None  # the adapter is a module, not a dataset folder
        name = f"{cls.__module__}.fake"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                return None
            raise
        return getattr(module, "write_fake", None)

    @classmethod
    def write_fake(cls, root: Path, seed: int = 0, **options: Any) -> dict[str, Any]:
        """Write a small copy of this dataset's on-disk layout into the empty or new folder
        ``root``, for tests, and return what was written::

            {"options": {...},               # adapter options needed to read it ({} if none)
             "gaze": {id: (x, y, z), ...},   # canonical label of every frame written, by sample id
             "images": {id: uint8 [H, W, 3] RGB, ...}}  # optional: the pixels of a few frames

        Every split of every fold of the card's protocol must get frames.  The writer is
        ``write_fake(root, seed, **options)`` in the dataset folder's ``fake.py``
        (:meth:`fake_writer`).  The contract test (``tests/test_dataset_contract.py``) runs on it
        for every registered adapter: the root check, the index, folds and splits, images, views,
        ``check-data``, and that labels and pixels read back are the ones written (not mirrored,
        not channel-swapped).  Built-ins render SynthGaze in their layout through the same layout
        writer ``gazebench synth --layout <name>`` uses (``gazebench.synth.write_layout``)."""
        writer = cls.fake_writer()
        if writer is None:
            raise NotImplementedError(
                f"dataset {cls.name!r} provides no fake data: write fake.py with write_fake(root, "
                f"seed) in its folder, or implement {cls.__name__}.write_fake"
            )
        return writer(Path(root), seed, **options)

    # -- description -------------------------------------------------------------------------
    @classmethod
    def describe(cls) -> str:
        doc = (cls.__doc__ or "").strip().splitlines()
        return doc[0] if doc else cls.name


def resolve_dataset_options(cls: type[GazeDataset], given: dict[str, Any] | None) -> dict[str, Any]:
    """Every declared option of adapter ``cls``: its default, or the checked given value (``None``
    = the default).  An unknown key or a bad value raises :class:`~gazebench.core.options.ConfigError`."""
    return resolve_options(f"dataset {cls.name!r}", cls.declared_options, given or {})


def resize_frame(image: np.ndarray, size: int) -> np.ndarray:
    """``uint8 [H, W, 3]`` -> ``uint8 [size, size, 3]``: PIL bilinear, aspect not kept, as the
    Gaze360 pipeline does; a frame already that size is returned as is."""
    if image.shape[0] == size and image.shape[1] == size:
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))


def check_disjoint(subjects: dict[str, list[str]], dataset: str) -> None:
    """Raise :class:`LeakageError` naming any subject that is in two of train / val / test."""
    seen: dict[str, str] = {}
    for split in SPLITS:
        for s in subjects.get(split, []):
            if s in seen and seen[s] != split:
                raise LeakageError(
                    f"dataset {dataset!r}: subject {s!r} is in both {seen[s]} and {split}; "
                    "splits must be subject-disjoint (fix the card's protocol or the split files)"
                )
            seen[s] = split


def validate_index(index: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Check the adapter's table against the contract: columns, unique ids, finite unit gaze."""
    missing = [c for c in INDEX_COLUMNS if c not in index.columns]
    if missing:
        raise DatasetError(f"dataset {dataset!r}: index lacks columns {missing}")
    if len(index) == 0:
        raise DatasetError(f"dataset {dataset!r}: no samples found")
    dup = index["id"][index["id"].duplicated()]
    if len(dup):
        raise DatasetError(f"dataset {dataset!r}: duplicate sample ids, e.g. {dup.iloc[0]!r}")
    g = index[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)
    norm = np.linalg.norm(g, axis=1)
    bad = ~np.isfinite(g).all(1) | (np.abs(norm - 1.0) > 1e-3)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DatasetError(
            f"dataset {dataset!r}: sample {index['id'].iat[i]!r} has gaze {g[i].tolist()} which is not a finite unit vector"
        )
    paths = index["path"].astype(str)
    escapes = paths.str.startswith(("/", "\\")) | paths.str.contains(r"(?:^|[/\\])\.\.(?:[/\\]|$)", regex=True)
    if escapes.any():
        i = int(np.flatnonzero(escapes.to_numpy())[0])
        raise DatasetError(
            f"dataset {dataset!r}: sample {index['id'].iat[i]!r} has image path {paths.iat[i]!r}, which escapes the "
            "dataset root; image paths must be relative to the root and must not contain '..'"
        )
    index = index.reset_index(drop=True)
    index["subject"] = index["subject"].astype(str)
    index["sequence"] = index["sequence"].astype(str)
    index["centre"] = index["centre"].astype(bool)
    return index
