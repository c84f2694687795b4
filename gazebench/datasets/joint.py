"""Several datasets as one: the composite dataset a joint run trains on.

``gazebench run --train gaze360,ethxgaze --test mpiifacegaze`` trains one model on the union of
the members' training subjects.  Each member is read by its own adapter (its card, its protocol's
data options, its root); :class:`JointDataset` presents their rows as one index, so
:func:`gazebench.train.assemble.build_setup`, the fit and the evaluation stay the single-dataset path:

* ids, subjects and sequences are qualified by the member (``gaze360/12``), a ``dataset`` column
  names it, and a ``split`` column holds each row's split in the member's fold (``splits:
  from_index``): train, val and test are the unions of the members' (a member's withheld test
  labels, ETH-XGaze's, are left out of the joint test split);
* frames come from :class:`JointFrames`, which hands each read to the member's own frame source
  (its prepared cache when current, else its image files), at the unit's image size;
* :meth:`JointDataset.sample_weights` is the training sampler's law (``sampling``,
  ``sampling_weights``: :data:`JOINT_OPTIONS`); validation is the union of the members'
  validation subjects, each member's error also recorded (:meth:`JointDataset.summary`).

The composite's options (what the identity holds as its ``data_options``) are the sampling and,
under ``members``, each member's protocol, card version, fold and resolved data options, so the
order in which the members were named changes nothing.  :class:`JointCard` answers the card's
questions for the composite (one fold, ``default``; protocol ``joint``).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gazebench.core.errors import UserValueError
from gazebench.core.lazymodule import LazyModule
from gazebench.core.options import Option, OptionValueError, _described, one_of, resolve_options
from gazebench.datasets.base import SPLITS, GazeDataset, validate_index
from gazebench.datasets.cards import Card, CardError, Protocol, SplitRule
from gazebench.datasets.labelspace import join_problem

pd = LazyModule("pandas")  # imported on first use: listing and planning never need it

#: the protocol name of every joint unit: the recipe is the recipe defaults under the suite's and
#: --set's (no member's protocol recipe wins over the others'); each member keeps its protocol's data options
JOINT_PROTOCOL = "joint"
SAMPLING = ("proportional", "balanced")


def joint_name(members: list[str] | tuple[str, ...]) -> str:
    """``["gaze360", "ethxgaze"]`` -> ``"ethxgaze+gaze360"``: the composite's name, order-free."""
    return "+".join(sorted(members))


def _weights_check(value: Any) -> dict[str, float]:
    """``"gaze360:2,ethxgaze:1"`` or ``{gaze360: 2}`` -> ``{"ethxgaze": 1.0, "gaze360": 2.0}``."""
    if isinstance(value, str):
        pairs = [p.strip() for p in value.split(",") if p.strip()]
        if any(p.count(":") != 1 for p in pairs):
            raise OptionValueError("must be NAME:WEIGHT pairs separated by commas, e.g. gaze360:2,ethxgaze:1")
        value = dict(p.split(":") for p in pairs)
    if not isinstance(value, dict):
        raise OptionValueError("must be NAME:WEIGHT pairs, e.g. gaze360:2,ethxgaze:1")
    out = {}
    for name, weight in value.items():
        try:
            w = float(weight)
        except (TypeError, ValueError):
            raise OptionValueError(f"weight of {name} must be a number, got {weight!r}") from None
        if not (w > 0 and np.isfinite(w)):
            raise OptionValueError(f"weight of {name} must be a positive number, got {weight!r}")
        out[str(name).strip()] = w
    return dict(sorted(out.items()))


JOINT_OPTIONS = {
    "sampling": Option(
        "proportional",
        one_of(*SAMPLING),
        "joint training: draw training samples uniformly over the union (proportional: each dataset "
        "by its size) or each dataset equally often (balanced)",
    ),
    "sampling_weights": Option(
        {},
        _described(_weights_check, "NAME:WEIGHT pairs, e.g. gaze360:2,ethxgaze:1"),
        "joint training: multiply each dataset's share of the training draws by its weight (default 1 each)",
    ),
}


@dataclass(frozen=True)
class Member:
    """A member dataset as planned from its card (no data read)."""

    name: str
    root: str | None
    protocol: str
    card_version: str
    fold: str
    options: dict[str, Any]

    def identity(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "card_version": self.card_version,
            "fold": self.fold,
            "options": self.options,
        }


def joint_options(members: list[Member], given: dict[str, Any]) -> dict[str, Any]:
    """The composite's resolved options (its identity's ``data_options``); weights must name members."""
    name = joint_name([m.name for m in members])
    options = resolve_options(f"joint dataset {name!r}", JOINT_OPTIONS, given)
    unknown = sorted(set(options["sampling_weights"]) - {m.name for m in members})
    if unknown:
        raise UserValueError(
            f"sampling_weights names {', '.join(unknown)}, which is not a training dataset of "
            f"{name} ({', '.join(sorted(m.name for m in members))})"
        )
    return {**options, "members": {m.name: m.identity() for m in sorted(members, key=lambda m: m.name)}}


def check_joinable(cards: dict[str, Card], options: dict[str, dict[str, Any]]) -> None:
    """Refuse, in one line naming them and why, datasets whose label spaces cannot be joined."""
    problem = join_problem({n: cards[n].label_space(options.get(n)) for n in cards})
    if problem:
        raise UserValueError(problem)


@dataclass(frozen=True)
class JointCard:
    """The card questions of a composite dataset: one fold (``default``), the ``joint`` protocol,
    splits from its index (each member's own), no published sizes."""

    cards: tuple[Card, ...]

    @property
    def name(self) -> str:
        return joint_name([c.name for c in self.cards])

    @property
    def version(self) -> str:
        return "+".join(f"{c.name}:{c.version}" for c in sorted(self.cards, key=lambda c: c.name))

    path = property(lambda self: Path(f"<joint {self.name}>"))
    title = property(lambda self: "joint training on " + ", ".join(c.title for c in self.cards))
    required = ()  # not annotated: class facts, not dataclass fields
    subsets = ()
    published_sizes = property(lambda self: {})
    splits_from_index = True
    has_folds = False
    default_protocol = JOINT_PROTOCOL

    def how_to_get(self) -> str:
        return ""

    def layout(self) -> str:
        return ""

    def extra(self, key: str, default: Any = None) -> Any:
        return default

    def label_space(self, options: dict[str, Any] | None = None) -> None:
        return None

    def protocol_names(self) -> list[str]:
        return [JOINT_PROTOCOL]

    def protocol(self, name: str | None = None) -> Protocol:
        if name not in (None, JOINT_PROTOCOL):
            raise CardError(
                f"a joint dataset ({self.name}) has the one protocol {JOINT_PROTOCOL!r}; each member "
                f"keeps its own protocol's data options; got {name!r}"
            )
        return Protocol(
            JOINT_PROTOCOL,
            "one model on the union of the members' training subjects (docs/multidataset.md)",
            "gazebench (docs/multidataset.md): recipe defaults under the suite's recipe and --set; each "
            "member read under its own protocol's data options",
            {},
            {},
            {},
        )

    def folds(self) -> list[str]:
        return ["default"]

    def resolve_fold(self, fold: str | int | None) -> str:
        if fold not in (None, "default"):
            raise CardError(f"a joint dataset ({self.name}) has the one fold 'default'; got {str(fold)!r}")
        return "default"

    def split_rule(self, fold: str | int | None, options: dict[str, Any] | None = None) -> SplitRule:
        return SplitRule(from_index=True)

    def validation_rule(self, options: dict[str, Any] | None = None) -> str:
        return "the union of the members' validation subjects"


class JointDataset(GazeDataset):
    """The members' rows as one dataset (module docstring); ``members``: name -> opened adapter,
    ``folds``: name -> the member's fold whose splits it contributes."""

    declared_options = JOINT_OPTIONS

    def __init__(self, members: dict[str, GazeDataset], folds: dict[str, str], options: dict[str, Any]) -> None:
        self.members = dict(sorted(members.items()))
        self.member_folds = dict(folds)
        self.name = joint_name(list(self.members))  # type: ignore[misc]
        self.card = JointCard(tuple(ds.card for ds in self.members.values()))  # type: ignore[assignment]
        self.strict, self.problems, self.root_given = True, [], True
        self.root = Path(self.name)
        self.options = options
        self.left_out = {f"{n}/{s}": c for n, ds in self.members.items() for s, c in ds.left_out.items()}
        self._index: pd.DataFrame | None = None
        self._list = list(self.members.values())
        self._starts = np.concatenate([[0], np.cumsum([len(ds) for ds in self._list])]).astype(np.int64)
        self._bounds = self._starts.tolist()

    @property  # type: ignore[override]
    def has_sequences(self) -> bool:
        return all(ds.has_sequences for ds in self.members.values())

    def without_sequences(self) -> list[str]:
        """The members that have no sequences (a multi-frame model cannot train on them)."""
        return [n for n, ds in self.members.items() if not ds.has_sequences]

    def ensure_root(self) -> None:  # each member checked its own root when opened
        return None

    # -- the index ---------------------------------------------------------------------------
    def build_index(self) -> pd.DataFrame:
        parts = []
        for name, ds in self.members.items():
            idx = ds.index
            split = np.full(len(idx), "unused", dtype=object)
            for s, rows in ds.split_positions(self.member_folds[name]).items():
                split[rows] = s
            if "labelled" in idx.columns:  # withheld labels (ETH-XGaze's test) cannot be scored
                split[~idx["labelled"].to_numpy(bool)] = "unused"
            parts.append(
                pd.DataFrame(
                    {
                        "id": name + "/" + idx["id"].astype(str),
                        "subject": name + "/" + idx["subject"].astype(str),
                        "sequence": name + "/" + idx["sequence"].astype(str),
                        "order": idx["order"].to_numpy(np.float64),
                        "gaze_x": idx["gaze_x"].to_numpy(),
                        "gaze_y": idx["gaze_y"].to_numpy(),
                        "gaze_z": idx["gaze_z"].to_numpy(),
                        "path": idx["path"].astype(str),
                        "centre": idx["centre"].to_numpy(bool),
                        "split": split,
                        "dataset": name,
                    }
                )
            )
        return validate_index(pd.concat(parts, ignore_index=True), self.name)

    def member_at(self, position: int) -> tuple[GazeDataset, int]:
        """The member holding joint row ``position`` and the row in the member's own index."""
        k = bisect_right(self._bounds, position) - 1  # a Python list: the scalar lookup costs well under 1 µs
        return self._list[k], int(position) - self._bounds[k]

    def member_masks(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """For index rows ``rows``: name -> boolean mask of the rows that are that member's."""
        which = np.searchsorted(self._starts, np.asarray(rows, dtype=np.int64), side="right") - 1
        return {name: which == k for k, name in enumerate(self.members)}

    # -- images ------------------------------------------------------------------------------
    def image_path(self, position: int) -> Path:
        ds, row = self.member_at(position)
        return ds.image_path(row)

    def read_image(self, position: int) -> np.ndarray:
        ds, row = self.member_at(position)
        return ds.read_image(row)

    def read_resized(self, position: int, size: int) -> np.ndarray:
        ds, row = self.member_at(position)
        return ds.read_resized(row, size)

    def open_frames(self, size: int, mode: str | None = None, cache_dir: Any = None) -> JointFrames:
        """Each member's own frame source (its cache when current), behind one (gazebench.datasets.sources)."""
        from gazebench.datasets.sources import open_frame_source

        return JointFrames(
            {n: open_frame_source(ds, size, mode, cache_dir) for n, ds in self.members.items()}, self._starts, size
        )

    # -- sampling and reporting -------------------------------------------------------------
    def sample_weights(self, positions: np.ndarray) -> np.ndarray | None:
        """The training sampler's probability of each of ``positions`` (None: uniform, the
        single-dataset sampler): ``proportional`` gives member d's samples weight w_d, ``balanced``
        w_d / n_d (every member drawn equally often when the weights are equal)."""
        weights = self.options.get("sampling_weights") or {}
        balanced = self.options.get("sampling") == "balanced"
        if not balanced and len(set(weights.get(n, 1.0) for n in self.members)) < 2:
            return None
        out = np.zeros(len(positions), dtype=np.float64)
        for name, mask in self.member_masks(positions).items():
            n = int(mask.sum())
            if n:
                out[mask] = weights.get(name, 1.0) / (n if balanced else 1.0)
        return out / out.sum()

    def summary(self, val: dict[str, Any] | None, positions: dict[str, np.ndarray]) -> dict[str, Any]:
        """The record's ``joint`` block: the training datasets, each member's root, protocol, fold,
        options, label space and split sizes, which were normalised, the sampling, and each
        member's validation error at the chosen epoch (``val``: the predictions on validation)."""
        from gazebench.core.geometry import error_summary

        spaces = {n: ds.card.label_space(ds.options) for n, ds in self.members.items()}
        members = {}
        for name, ds in self.members.items():
            masks = {s: self.member_masks(positions[s])[name] for s in SPLITS}
            members[name] = {
                **self.options["members"][name],
                "root": str(ds.root),
                "label_space": spaces[name].as_dict() if spaces[name] else None,
                "samples": {s: int(m.sum()) for s, m in masks.items()},
            }
        val_metrics = {}
        if val is not None and len(val["error"]):
            for name, mask in self.member_masks(val["index"]).items():
                if mask.any():
                    val_metrics[name] = error_summary(np.asarray(val["error"])[mask])
        return {
            "datasets": list(self.members),
            "members": members,
            "normalised": [n for n, s in spaces.items() if s and s.normalised],
            "not_normalised": [n for n, s in spaces.items() if s and not s.normalised],
            "sampling": self.options["sampling"],
            "sampling_weights": self.options["sampling_weights"],
            "val_metrics": val_metrics,
        }


class JointFrames:
    """One frame source over the members' own (each at the unit's size): a read goes to the member
    holding the row."""

    def __init__(self, sources: dict[str, Any], starts: np.ndarray, size: int) -> None:
        self.sources = sources
        self._list = list(sources.values())
        self._bounds = [int(b) for b in starts]
        self.size = int(size)

    def read(self, position: int) -> np.ndarray:
        k = bisect_right(self._bounds, position) - 1
        return self._list[k].read(int(position) - self._bounds[k])

    def describe(self) -> dict[str, Any]:
        states = {n: s.describe() for n, s in self.sources.items()}
        shared = {d["state"] for d in states.values()}
        return {"state": shared.pop() if len(shared) == 1 else "mixed", "path": None, "members": states}


def build_joint(options: dict[str, Any], roots: dict[str, str | None]) -> JointDataset:
    """The composite of a joint unit from its resolved options (``members``: each member's
    protocol, fold and data options) and the members' roots; label spaces checked again on the
    options the adapters resolved."""
    from gazebench.datasets import build_dataset

    members = {n: build_dataset(n, roots.get(n), **m["options"]) for n, m in options["members"].items()}
    check_joinable({n: ds.card for n, ds in members.items()}, {n: ds.options for n, ds in members.items()})
    return JointDataset(members, {n: m["fold"] for n, m in options["members"].items()}, options)
