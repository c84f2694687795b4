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

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterable

import numpy as np
import pandas as pd
from PIL import Image

from gazebench.datasets.cards import Card, default_data_root, load_card, source_dir
from gazebench.registry import closest

SPLITS = ("train", "val", "test")
INDEX_COLUMNS = ("id", "subject", "sequence", "order", "gaze_x", "gaze_y", "gaze_z", "path", "centre")
#: a card's ``protocol: {splits: from_index}``: the release assigns each frame a split (index column ``split``)
FROM_INDEX = "from_index"


class DatasetError(RuntimeError):
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


class NumberRange:
    """An adapter option that takes any number in ``[low, high]`` (an ``option_choices`` value).

    Behaves like a choices tuple for the base class: ``[0]`` is the default, ``in`` tests the
    range, iterating yields one description for error messages."""

    def __init__(self, default: float, low: float, high: float) -> None:
        self.default, self.low, self.high = float(default), float(low), float(high)

    def __getitem__(self, i: int) -> float:
        if i != 0:
            raise IndexError(i)
        return self.default

    def __contains__(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        try:
            return self.low <= float(value) <= self.high
        except (TypeError, ValueError):
            return False

    def __iter__(self):
        return iter((f"a number in [{self.low:g}, {self.high:g}]",))

    def __len__(self) -> int:
        return 1

    def __repr__(self) -> str:
        return f"NumberRange(default={self.default:g}, low={self.low:g}, high={self.high:g})"


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
    #: adapter options and their allowed values (first = default), e.g. {"variant": ("inpainted", ...)}
    option_choices: ClassVar[dict[str, tuple[Any, ...]]] = {}
    #: whether frames form sequences, so multi-frame views can be built
    has_sequences: ClassVar[bool] = True
    #: a prepared frame cache that serves :meth:`read_resized` at its size (set by gazebench.cache.attach_cache)
    frame_cache: Any = None

    def __init__(
        self, root: str | Path | None = None, card: Card | None = None, *, strict: bool = True, **options: Any
    ) -> None:
        self.card = card or load_card(self.name, near=source_dir(type(self)))
        #: False: collect problems in ``self.problems`` and skip bad entries (check-data); True: raise
        self.strict = strict
        self.problems: list[Problem] = []
        self.root_given = root is not None
        self.root = Path(root).expanduser() if root is not None else default_data_root() / self.name
        self.options = self._resolve_options(options)
        self._index: pd.DataFrame | None = None
        self.ensure_root()

    # -- options -------------------------------------------------------------------------------
    def _resolve_options(self, options: dict[str, Any]) -> dict[str, Any]:
        resolved = {k: v[0] for k, v in self.option_choices.items()}
        for key, value in options.items():
            if value is None:
                continue
            if key not in self.option_choices:
                raise DatasetError(
                    f"dataset {self.name!r} has no option {key!r}.{closest(key, list(self.option_choices))} "
                    f"Options: {', '.join(self.option_choices) or 'none'}"
                )
            if value not in self.option_choices[key]:
                raise DatasetError(
                    f"dataset {self.name!r} option {key}={value!r} is not one of {', '.join(map(str, self.option_choices[key]))}"
                )
            if isinstance(self.option_choices[key], NumberRange):
                value = float(value)
            resolved[key] = value
        return resolved

    # -- problems ------------------------------------------------------------------------------
    def report_problem(self, kind: str, path: str | Path, message: str) -> None:
        """A bad line, label or file: raise :class:`DatasetError` (strict) or record it and go on."""
        if self.strict:
            raise DatasetError(f"{path}: {message}")
        self.problems.append(Problem(kind, str(path), message))

    # -- the root ----------------------------------------------------------------------------
    def required_paths(self) -> list[str]:
        """Paths (relative to the root) that must exist; defaults to the card's ``required``."""
        return list(self.card.get("required", []))

    def ensure_root(self) -> None:
        """Raise :class:`DatasetNotFound` with a fix-it message unless the root looks complete."""
        missing = [p for p in self.required_paths() if not (self.root / p).exists()]
        if self.root.is_dir() and not missing:
            return
        what = f"{self.root} does not exist" if not self.root.is_dir() else (
            f"{self.root} is incomplete: missing {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else "")
        )
        raise DatasetNotFound(self.not_found_message(what))

    def not_found_message(self, what: str) -> str:
        lines = [f"dataset {self.name!r}: {what}."]
        if not self.root_given:
            lines.append(f"(the default root; pass --root DIR or set $GAZEBENCH_DATA to look elsewhere)")
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
        """Frame at row ``position`` resized to ``uint8 [size, size, 3]`` (aspect not kept, as the
        Gaze360 pipeline does).  A prepared frame cache of this size serves it instead."""
        cache = self.frame_cache
        if cache is not None and cache.size == size:
            return cache.read(position)
        image = self.read_image(position)
        if image.shape[0] == size and image.shape[1] == size:
            return image
        return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))

    def bad_sample(self, position: int, path: Path | str, exc: BaseException) -> BadSample:
        sid = self.index["id"].iat[position]
        return BadSample(
            f"dataset {self.name!r}, sample {sid!r}: cannot read {path}: {exc}. "
            f"Run `gazebench check-data --dataset {self.name} --root {self.root}` to list every bad file."
        )

    # -- protocol ----------------------------------------------------------------------------
    def folds(self) -> list[str]:
        """Fold names of the protocol (``["default"]`` for a fixed split)."""
        folds = self.card.protocol.get("folds")
        return [str(f) for f in folds] if folds else ["default"]

    def resolve_fold(self, fold: str | int | None) -> str:
        folds = self.folds()
        if fold is None:
            return folds[0]
        fold = str(fold)
        if fold not in folds:
            raise DatasetError(f"dataset {self.name!r} has folds {', '.join(folds)}; got {fold!r}")
        return fold

    def split_subjects(self, fold: str | int | None = None) -> dict[str, list[str]]:
        """Subjects of train / val / test for ``fold`` (from the card; ``rest`` = all others)."""
        fold = self.resolve_fold(fold)
        proto = self.card.protocol
        subjects = sorted(self.index["subject"].unique())
        if "folds" in proto:
            entry = proto["folds"][fold] if isinstance(proto["folds"], dict) else proto["folds"][int(fold)]
            spec = {"test": entry["test"]}
            spec["val"] = self._val_subjects(proto, entry)
            spec["train"] = proto.get("train", "rest")
        elif proto.get("splits") == FROM_INDEX:
            return self._subjects_from_index()
        elif "splits" in proto:
            spec = dict(proto["splits"])
        else:
            raise DatasetError(f"{self.card.path}: protocol needs 'splits' or 'folds'")
        out: dict[str, list[str]] = {}
        for split in ("test", "val"):
            out[split] = [str(s) for s in spec.get(split, [])]
        if spec.get("train", "rest") == "rest":
            taken = set(out["test"]) | set(out["val"])
            out["train"] = [s for s in subjects if s not in taken]
        else:
            out["train"] = [str(s) for s in spec["train"]]
        present = set(subjects)
        return {k: [s for s in out[k] if s in present] for k in SPLITS}

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

    def _val_subjects(self, proto: dict[str, Any], fold_entry: dict[str, Any] | None = None) -> list[str]:
        """Validation subjects: a ``validation`` option's variant, else the fold's own ``val``
        (a card may give each fold its validation subjects), else the protocol's ``val``."""
        choice = self.options.get("validation", "default")
        if choice != "default" and choice in proto.get("val_variants", {}):
            return list(proto["val_variants"][choice])
        if fold_entry is not None and "val" in fold_entry:
            return list(fold_entry["val"])
        return list(proto.get("val", []))

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
        order = np.lexsort((idx["order"].to_numpy(), idx["sequence"].astype(str).to_numpy(), idx["subject"].astype(str).to_numpy()))
        for _, group in pd.Series(order).groupby([idx["subject"].to_numpy()[order], idx["sequence"].to_numpy()[order]], sort=False):
            rows = group.to_numpy()
            ranks = np.arange(len(rows))[:, None] + offsets[None, :]
            complete[rows] = ((ranks >= 0) & (ranks < len(rows))).all(1)
            table[rows] = rows[np.clip(ranks, 0, len(rows) - 1)]
        return table, complete

    # -- fake data for tests -----------------------------------------------------------------
    @classmethod
    def write_fake(cls, root: Path, seed: int = 0) -> dict[str, Any]:
        """Write a small copy of this dataset's on-disk layout into the empty or new folder
        ``root``, for tests, and return what was written::

            {"options": {...},               # adapter options needed to read it ({} if none)
             "gaze": {id: (x, y, z), ...},   # canonical label of every frame written, by sample id
             "images": {id: uint8 [H, W, 3] RGB, ...}}  # optional: the pixels of a few frames

        Every split of every fold of the card's protocol must get frames.  The contract test
        (``tests/test_dataset_contract.py``) runs on it for every registered adapter: the root
        check, the index, folds and splits, images, views, ``check-data``, and that labels and
        pixels read back are the ones written (not mirrored, not channel-swapped).  Built-ins
        render SynthGaze in their layout (``gazebench.synth.write_layout``)."""
        raise NotImplementedError(f"dataset {cls.name!r} provides no fake data: implement {cls.__name__}.write_fake")

    # -- description -------------------------------------------------------------------------
    @classmethod
    def describe(cls) -> str:
        doc = (cls.__doc__ or "").strip().splitlines()
        return doc[0] if doc else cls.name


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
