"""A unit of work as planned: :class:`RunSpec` (one unit as asked for) and :class:`Unit` (resolved
against its dataset's card: recipe, fold, id and paths fixed).

The shared type of planning (which makes units) and the runner and set-up (which execute them): it
sits below both, so neither imports the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gazebench.core.config import Recipe

if TYPE_CHECKING:
    from gazebench.datasets.cards import Card, Protocol


def cross_result_path(result_path: Path, name: str) -> Path:
    """``.../fold-0_seed-0_<id>.json`` -> ``.../fold-0_seed-0_<id>.cross-<name>.json``."""
    return result_path.with_name(f"{result_path.stem}.cross-{name}.json")


@dataclass(frozen=True)
class RunSpec:
    """One unit as asked for: a model config trained and tested on one fold of one dataset, one seed.
    ``recipe``, ``data_options`` and ``model_kwargs`` are what the suite and ``--set`` give (not
    yet merged with the card's recipe or the defaults)."""

    dataset: str
    model: str
    fold: str | None = None
    seed: int = 0
    root: str | None = None
    data_options: dict[str, Any] = field(default_factory=dict)
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)
    label: str | None = None  # leaderboard row name; defaults to the model name
    benchmark: str | None = None
    protocol: str | None = None  # a protocol of the dataset's card; None: the card's default
    #: cross-dataset tests (gazebench.train.cross): ``(dataset, root or None)`` pairs; not in the unit id
    cross: tuple[tuple[str, str | None], ...] = ()
    #: the ``--set`` data options each cross-dataset test takes ({dataset: options}); not in the unit id
    cross_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the protocol each cross-dataset test is read under, when not its card's default ({dataset: protocol})
    cross_protocols: dict[str, str] = field(default_factory=dict)
    #: the tests evaluated on every labelled sample (``split: all``), not their folds' test subjects
    cross_all: tuple[str, ...] = ()
    #: joint training (gazebench.plan.joint): the training datasets, sorted (``dataset`` is then their
    #: composite's name ``A+B``, ``data_options`` its own options: sampling); each member's root,
    #: protocol (None: its card's default) and data options
    members: tuple[str, ...] = ()
    member_roots: dict[str, str | None] = field(default_factory=dict)
    member_protocols: dict[str, str | None] = field(default_factory=dict)
    member_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def row_label(self) -> str:
        return self.label or self.model


@dataclass(frozen=True)
class Unit:
    """A RunSpec resolved against its dataset's card: the protocol chosen, the recipe filled in,
    the fold named, the data and model options complete, the id and paths fixed."""

    spec: RunSpec
    fold: str
    recipe: Recipe
    data_options: dict[str, Any]
    model_kwargs: dict[str, Any]
    card: Card
    unit_id: str
    result_path: Path
    run_dir: Path
    protocol: Protocol | None = None

    @property
    def label(self) -> str:
        return self.spec.row_label

    @property
    def card_version(self) -> str:
        return self.card.version

    def status(self) -> str:
        """``done`` (its record is there and is this unit's), ``missing``, or ``bad`` (a file that
        does not parse, or another unit's record: not done, and set aside when the unit runs)."""
        from gazebench.results.store import result_problem

        if not self.result_path.exists():
            return "missing"
        if result_problem(self.result_path, self.unit_id):
            return "bad"
        # a unit with cross-dataset tests is done when their records are there too (else it re-runs,
        # resuming its fit, and writes them)
        return "done" if all(p.exists() for p in self.cross_paths.values()) else "missing"

    @property
    def cross_paths(self) -> dict[str, Path]:
        """The record of each cross-dataset test, beside the unit's (gazebench.train.cross)."""
        return {name: cross_result_path(self.result_path, name) for name, _ in self.spec.cross}

    @property
    def done(self) -> bool:
        return self.status() == "done"

    def describe(self) -> str:
        return f"{self.label} on {self.spec.dataset} ({self.protocol.name}) fold {self.fold} seed {self.spec.seed}"
