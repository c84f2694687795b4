"""Dataset cards: ``datasets/<name>.yaml`` holds a dataset's protocol as data (splits, folds,
validation subjects), its citation, licence, where to get it and the expected layout.

:class:`Card` answers the protocol's questions without reading any data -- the folds, the
subjects of each split of a fold (:class:`SplitRule`) for a set of dataset options, the validation
rule, the recipe, the published sizes -- so the adapters (``base.py``), the planner, the
leaderboard and ``gazebench ls`` all ask it the same way; none of them reads the YAML mapping.
The keys are described in ``docs/adding-a-dataset.md``."""

from __future__ import annotations

import inspect
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from gazebench.errors import GazebenchError
from gazebench.paths import SOURCE_ROOT


class CardError(GazebenchError, ValueError):
    """A missing or malformed dataset card."""


def card_dirs(near: Path | None = None) -> list[Path]:
    """Where cards are looked up, first match wins: $GAZEBENCH_CARDS (folders separated by
    ``os.pathsep``), ``near`` (the folder of the adapter's source file, so a plugin's card can sit
    beside it), the checkout's ``datasets/``, then the installed copy under
    ``<prefix>/share/gazebench/datasets``."""
    dirs = []
    if os.environ.get("GAZEBENCH_CARDS"):
        dirs += [Path(p).expanduser() for p in os.environ["GAZEBENCH_CARDS"].split(os.pathsep) if p]
    if near is not None:
        dirs.append(Path(near))
    dirs.append(SOURCE_ROOT / "datasets")
    dirs.append(Path(sys.prefix) / "share" / "gazebench" / "datasets")
    return dirs


def default_data_root() -> Path:
    """Where datasets live unless ``--root`` says otherwise: $GAZEBENCH_DATA, else the checkout's
    ``datasets/`` folder (beside the cards), else ``~/.cache/gazebench/datasets``."""
    if os.environ.get("GAZEBENCH_DATA"):
        return Path(os.environ["GAZEBENCH_DATA"]).expanduser()
    if (SOURCE_ROOT / "pyproject.toml").exists() and (SOURCE_ROOT / "datasets").is_dir():
        return SOURCE_ROOT / "datasets"
    return Path.home() / ".cache" / "gazebench" / "datasets"


#: a card's ``protocol: {splits: from_index}``: the release assigns each frame a split (index column ``split``)
FROM_INDEX = "from_index"
#: a fold's ``train: rest``: every subject present that no other split names
REST = "rest"
#: the protocol of a card that names none (its ``recipe:``)
DEFAULT_PROTOCOL = "default"
#: what a card's ``protocols: <name>:`` entry may hold
PROTOCOL_KEYS = ("description", "source", "recipe", "model", "data")


@dataclass(frozen=True)
class Protocol:
    """A named way to train, select and evaluate on a dataset, as its card states it.

    ``recipe`` is a layer over the recipe defaults; ``model`` gives model option defaults (each
    applied only to models that take that option, e.g. ``pretrained``, ``decode``); ``data`` gives
    dataset option defaults (e.g. ``validation``).  ``source`` says where each value comes from."""

    name: str
    description: str
    source: str
    recipe: dict[str, Any]
    model: dict[str, Any]
    data: dict[str, Any]



@dataclass(frozen=True)
class SplitRule:
    """The subjects of train / val / test for one fold, as the card names them.

    ``train`` None means "rest": every subject present that is not in test or val.  ``from_index``
    (a ``splits: from_index`` card): the subjects come from the index's ``split`` column, and the
    three lists are empty."""

    test: tuple[str, ...] = ()
    val: tuple[str, ...] = ()
    train: tuple[str, ...] | None = None
    from_index: bool = False

    def named(self) -> dict[str, list[str]]:
        """The lists the card names (``train`` only when it is a list, not "rest")."""
        named = {"test": list(self.test), "val": list(self.val)}
        if self.train is not None:
            named["train"] = list(self.train)
        return named

    def subjects(self, present: Iterable[str]) -> dict[str, list[str]]:
        """train / val / test restricted to the subjects ``present`` (sorted), "rest" filled in."""
        present = sorted(present)
        out = {"test": list(self.test), "val": list(self.val)}
        if self.train is None:
            taken = set(self.test) | set(self.val)
            out["train"] = [s for s in present if s not in taken]
        else:
            out["train"] = list(self.train)
        keep = set(present)
        return {k: [s for s in out[k] if s in keep] for k in ("train", "val", "test")}


def _names(values: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in (values or []))


@dataclass(frozen=True)
class Card:
    """A dataset's card, answering protocol questions without reading any data.

    The YAML mapping is private to this class: adapters, the planner, the leaderboard and ``ls``
    ask through the properties and methods below (the keys are described in
    ``docs/adding-a-dataset.md``)."""

    name: str
    path: Path
    _data: dict[str, Any] = field(repr=False, compare=False)  # a card is its name and file

    # -- what the dataset is -------------------------------------------------------------------
    def _text(self, key: str, default: str = "") -> str:
        value = self._data.get(key)
        return default if value is None else str(value).strip()

    @property
    def version(self) -> str:
        return str(self._data.get("version", "1"))

    @property
    def title(self) -> str:
        return self._text("title", self.name)

    description = property(lambda self: self._text("description"), doc="a paragraph: what the dataset is")
    citation = property(lambda self: self._text("citation"), doc="BibTeX of the paper(s) to cite")
    licence = property(lambda self: self._text("licence"), doc="the data's terms, in a sentence")
    convention = property(lambda self: self._text("convention"), doc="the native label and its conversion")

    def how_to_get(self) -> str:
        return self._text("get")

    def layout(self) -> str:
        return self._text("layout")

    @property
    def required(self) -> list[str]:
        """Paths that must exist under the root (the root check)."""
        return [str(p) for p in self._data.get("required") or []]

    @property
    def subsets(self) -> list[str]:
        return [str(s) for s in self._data.get("subsets") or []]

    # -- protocols: how a model is trained and selected on this dataset ------------------------
    def protocol_names(self) -> list[str]:
        """The card's protocols (``protocols:``); a card without any has the one protocol
        ``default``, made of its ``recipe:``."""
        block = self._data.get("protocols")
        if not block:
            return [DEFAULT_PROTOCOL]
        return [str(k) for k in block if k != "default"]

    @property
    def default_protocol(self) -> str:
        """The protocol a run uses unless ``--protocol`` names another."""
        block = self._data.get("protocols") or {}
        return str(block.get("default") or self.protocol_names()[0])

    def protocol(self, name: str | None = None) -> Protocol:
        """Protocol ``name`` (None: the default); an unknown name lists the card's protocols."""
        name = self.default_protocol if name is None else str(name)
        names = self.protocol_names()
        if name not in names:
            raise CardError(f"dataset {self.name!r} has protocols {', '.join(names)} (default "
                            f"{self.default_protocol}); got {name!r}")
        block = self._data.get("protocols")
        if not block:
            return Protocol(name, "the card's recipe", "", dict(self._data.get("recipe") or {}), {}, {})
        entry = block[name] or {}
        if not isinstance(entry, dict):
            raise CardError(f"{self.path}: protocols.{name} must be a mapping (description, source, recipe, model, data)")
        unknown = sorted(set(entry) - set(PROTOCOL_KEYS))
        if unknown:
            raise CardError(f"{self.path}: protocols.{name} has unknown key(s) {', '.join(unknown)}; "
                            f"known: {', '.join(PROTOCOL_KEYS)}")
        parts = {k: dict(entry.get(k) or {}) for k in ("recipe", "model", "data")}
        return Protocol(name, " ".join(str(entry.get("description", "")).split()),
                        " ".join(str(entry.get("source", "")).split()), **parts)

    @property
    def recipe(self) -> dict[str, Any]:
        """The default protocol's recipe layer (the layer over the recipe defaults)."""
        return self.protocol().recipe

    @property
    def published_sizes(self) -> dict[str, Any]:
        """Split sizes the dataset's paper reports (``protocol: published_sizes``), or {}."""
        return dict(self._protocol.get("published_sizes") or self._data.get("published_sizes") or {})

    def label_space(self, options: dict[str, Any] | None = None) -> Any:
        """The frame the converted gaze is in, what the images show and whether they are
        normalised, under the adapter's resolved ``options`` (a
        :class:`~gazebench.datasets.labelspace.LabelSpace`), or None when the card declares none."""
        from gazebench.datasets.labelspace import parse_label_space
        from gazebench.errors import UserValueError

        raw = self._data.get("label_space")
        if raw is None:
            return None
        try:
            return parse_label_space(raw, str(self.path), options)
        except UserValueError as exc:
            raise CardError(str(exc)) from None

    def extra(self, key: str, default: Any = None) -> Any:
        """A key the card's own adapter defines (e.g. MPIIFaceGaze's ``samples_per_subject``);
        protocol questions go through the methods of this class, never through here."""
        return self._data.get(key, default)

    # -- the protocol --------------------------------------------------------------------------
    @property
    def _protocol(self) -> dict[str, Any]:
        return self._data.get("protocol") or {}

    @property
    def has_folds(self) -> bool:
        """Whether the protocol is k folds (else a fixed split, ``folds() == ["default"]``)."""
        return bool(self._protocol.get("folds"))

    @property
    def splits_from_index(self) -> bool:
        """``splits: from_index``: the release assigns each frame a split (index column ``split``)."""
        return "folds" not in self._protocol and self._protocol.get("splits") == FROM_INDEX

    def folds(self) -> list[str]:
        """Fold names of the protocol (``["default"]`` for a fixed split)."""
        folds = self._protocol.get("folds")
        return [str(f) for f in folds] if folds else ["default"]

    def resolve_fold(self, fold: str | int | None) -> str:
        """``fold`` as one of :meth:`folds` (None: the first); an unknown fold names the folds."""
        folds = self.folds()
        if fold is None:
            return folds[0]
        if str(fold) not in folds:
            raise CardError(f"dataset {self.name!r} has folds {', '.join(folds)}; got {str(fold)!r}")
        return str(fold)

    def split_rule(self, fold: str | int | None, options: dict[str, Any] | None = None) -> SplitRule:
        """The subjects the card names for ``fold``.  ``options`` are the adapter's resolved options:
        ``validation=<variant>`` picks the protocol's ``val_variants`` list."""
        proto = self._protocol
        fold = self.resolve_fold(fold)
        if "folds" in proto:
            entry = self._fold_entry(fold)
            train = proto.get("train", REST)
            return SplitRule(test=_names(entry.get("test")), val=self._val_subjects(options, entry),
                             train=None if train == REST else _names(train))
        if proto.get("splits") == FROM_INDEX:
            return SplitRule(from_index=True)
        if isinstance(proto.get("splits"), dict):
            spec = proto["splits"]
            train = spec.get("train", REST)
            return SplitRule(test=_names(spec.get("test")), val=_names(spec.get("val")),
                             train=None if train == REST else _names(train))
        raise CardError(f"{self.path}: protocol needs 'splits' or 'folds'")

    def _fold_entry(self, fold: str) -> dict[str, Any]:
        folds = self._protocol["folds"]
        return (folds[fold] if isinstance(folds, dict) else folds[int(fold)]) or {}

    def _val_subjects(self, options: dict[str, Any] | None, entry: dict[str, Any] | None) -> tuple[str, ...]:
        """A ``validation`` option's variant, else the fold's own ``val`` (a card may give each fold
        its validation subjects), else the protocol's ``val``."""
        proto = self._protocol
        choice = (options or {}).get("validation", "default")
        if choice != "default" and choice in (proto.get("val_variants") or {}):
            return _names(proto["val_variants"][choice])
        if entry is not None and "val" in entry:
            return _names(entry["val"])
        return _names(proto.get("val"))

    def validation_rule(self, options: dict[str, Any] | None = None) -> str:
        """How the validation subjects are chosen, in words (``ls``, docs): the protocol's own
        ``validation`` text when the card gives one, else the subjects named."""
        if self.splits_from_index:
            return "the frames the release assigns to validation (index column split)"
        choice = (options or {}).get("validation", "default")
        if choice == "default" and self._protocol.get("validation"):
            return str(self._protocol["validation"]).strip()
        vals = {fold: self.split_rule(fold, options).val for fold in self.folds()}
        if len(set(vals.values())) == 1:
            return "subjects " + ", ".join(next(iter(vals.values())))
        return "per fold: " + "; ".join(f"{fold}: {', '.join(v)}" for fold, v in vals.items())


def source_dir(obj: Any) -> Path | None:
    """The folder of the file that defines ``obj`` (a class or function), or None."""
    try:
        path = inspect.getsourcefile(obj)
    except TypeError:
        return None
    return Path(path).resolve().parent if path else None


def _registered_adapter_dir(name: str) -> Path | None:
    from gazebench.registry import DATASETS

    if name not in DATASETS:
        DATASETS.load_plugins()  # an installed plugin's adapter, not looked up yet
    return source_dir(DATASETS.get(name)) if name in DATASETS else None


def load_card(name: str, path: Path | None = None, near: Path | None = None) -> Card:
    """The card of dataset ``name``: ``path`` if given, else ``<name>.yaml`` in the first of
    :func:`card_dirs` that has one.  ``near`` defaults to the folder of the registered adapter's
    source file, so a plugin adapter finds the card placed beside it."""
    if path is None:
        dirs = card_dirs(near if near is not None else _registered_adapter_dir(name))
        for d in dirs:
            if (d / f"{name}.yaml").is_file():
                path = d / f"{name}.yaml"
                break
        else:
            looked = ", ".join(str(d) for d in dict.fromkeys(dirs))
            raise CardError(
                f"no card for dataset {name!r}: looked for {name}.yaml in {looked}. Put the card beside the "
                "adapter's file, or name its folder in $GAZEBENCH_CARDS"
            )
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise CardError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise CardError(f"{path}: a card must be a mapping of keys, got {type(data).__name__}")
    if data.get("name", name) != name:
        raise CardError(f"{path}: card says name {data.get('name')!r} but is loaded as {name!r}")
    return Card(name=name, path=path, _data=data)
