"""Dataset cards: ``card.yaml`` in a dataset's folder (``gazebench/datasets/<name>/card.yaml``, or
beside a plugin's adapter) holds a dataset's protocol as data (splits, folds,
validation subjects), its citation, licence, where to get it and the expected layout.

:class:`Card` answers the protocol's questions without reading any data -- the folds, the
subjects of each split of a fold (:class:`SplitRule`) for a set of dataset options, the validation
rule, the recipe, the published sizes -- so the adapters (``base.py``), the planner, the
leaderboard and ``gazebench ls`` all ask it the same way; none of them reads the YAML mapping.
The keys are described in ``docs/adding-a-dataset.md``."""

from __future__ import annotations

import copy
import inspect
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from gazebench.core.errors import GazebenchError
from gazebench.core.paths import SOURCE_ROOT


class CardError(GazebenchError, ValueError):
    """A missing or malformed dataset card."""


#: a dataset's card: this file in the folder of the file that defines its adapter
CARD_FILE = "card.yaml"


def default_data_root() -> Path:
    """Where datasets live unless ``--root`` says otherwise: $GAZEBENCH_DATA, else the checkout's
    ``datasets/`` folder (an editable install), else ``~/.cache/gazebench/datasets``."""
    if os.environ.get("GAZEBENCH_DATA"):
        return Path(os.environ["GAZEBENCH_DATA"]).expanduser()
    if (SOURCE_ROOT / "pyproject.toml").exists():
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


def _words(value: Any) -> str:
    return " ".join(str(value or "").split())


#: the keys of a fixed split (``protocol: splits:``) or of one fold (``protocol: folds: <fold>:``)
_SUBJECT_LISTS = ("test", "val", "train")


@dataclass(frozen=True)
class Card:
    """A dataset's card, parsed once when it is loaded (:func:`load_card`), answering protocol
    questions without reading any data.

    Every field is checked at load: a malformed key fails there, naming the card's file and the
    key.  Adapters, the planner, the leaderboard and ``ls`` ask through the fields and methods
    below (the keys are described in ``docs/adding-a-dataset.md``); keys only an adapter reads
    (e.g. MPIIFaceGaze's ``samples_per_subject``) through :meth:`extra`."""

    name: str
    path: Path
    version: str = "1"
    title: str = field(compare=False, default="")
    description: str = field(compare=False, default="", repr=False)  # a paragraph: what the dataset is
    citation: str = field(compare=False, default="", repr=False)  # BibTeX of the paper(s) to cite
    licence: str = field(compare=False, default="", repr=False)  # the data's terms, in a sentence
    convention: str = field(compare=False, default="", repr=False)  # the native label and its conversion
    where_to_get: str = field(compare=False, default="", repr=False)  # where and how to download it
    layout_text: str = field(compare=False, default="", repr=False)  # the files expected under the root
    required: tuple[str, ...] = field(
        compare=False, default=()
    )  # paths that must exist under the root (the root check)
    subsets: tuple[str, ...] = field(compare=False, default=())
    protocols: tuple[Protocol, ...] = field(compare=False, default=())  # the card's protocols, in its order
    default_protocol: str = field(
        compare=False, default=DEFAULT_PROTOCOL
    )  # the protocol a run uses unless --protocol names another
    fold_rules: tuple[tuple[str, SplitRule], ...] = field(
        compare=False, default=(), repr=False
    )  # fold -> its rule (k folds)
    fixed_split: SplitRule | None = field(compare=False, default=None, repr=False)  # the rule of a fixed split
    val_variants: tuple[tuple[str, tuple[str, ...]], ...] = field(compare=False, default=(), repr=False)
    validation_text: str = field(compare=False, default="", repr=False)  # the protocol's validation rule in words
    paper_sizes: tuple[tuple[str, Any], ...] = field(compare=False, default=(), repr=False)
    _label_spaces: tuple[tuple[tuple[tuple[str, Any], ...], Any], ...] = field(compare=False, default=(), repr=False)
    _extras: tuple[tuple[str, Any], ...] = field(compare=False, default=(), repr=False)
    _label_space_raw: Any = field(compare=False, default=None, repr=False)  # as written, for several by_option at once

    # -- what the dataset is -------------------------------------------------------------------
    def how_to_get(self) -> str:
        return self.where_to_get

    def layout(self) -> str:
        return self.layout_text

    # -- protocols: how a model is trained and selected on this dataset ------------------------
    def protocol_names(self) -> list[str]:
        """The card's protocols (``protocols:``); a card without any has the one protocol
        ``default``, made of its ``recipe:``."""
        return [p.name for p in self.protocols]

    def protocol(self, name: str | None = None) -> Protocol:
        """Protocol ``name`` (None: the default); an unknown name lists the card's protocols.
        The mappings are the caller's copies."""
        name = self.default_protocol if name is None else str(name)
        for p in self.protocols:
            if p.name == name:
                return replace(
                    p, recipe=copy.deepcopy(p.recipe), model=copy.deepcopy(p.model), data=copy.deepcopy(p.data)
                )
        raise CardError(
            f"dataset {self.name!r} has protocols {', '.join(self.protocol_names())} (default "
            f"{self.default_protocol}); got {name!r}"
        )

    @property
    def recipe(self) -> dict[str, Any]:
        """The default protocol's recipe layer (the layer over the recipe defaults)."""
        return self.protocol().recipe

    @property
    def published_sizes(self) -> dict[str, Any]:
        """Split sizes the dataset's paper reports (``protocol: published_sizes``), or {}."""
        return dict(self.paper_sizes)

    def label_space(self, options: dict[str, Any] | None = None) -> Any:
        """The frame the converted gaze is in, what the images show and whether they are
        normalised, under the adapter's resolved ``options`` (a
        :class:`~gazebench.datasets.labelspace.LabelSpace`), or None when the card declares none."""
        if not self._label_spaces:
            return None
        spaces = dict(self._label_spaces)
        given = options or {}
        chosen = [key for key in spaces if len(key) == 1 and key[0][0] in given and given[key[0][0]] == key[0][1]]
        if len(chosen) > 1:  # several options change it at once: their overrides combined, as the card says
            from gazebench.datasets.labelspace import parse_label_space

            return parse_label_space(self._label_space_raw, str(self.path), given)
        return spaces[chosen[0] if chosen else ()]

    def extra(self, key: str, default: Any = None) -> Any:
        """A key the card's own adapter defines (e.g. MPIIFaceGaze's ``samples_per_subject``);
        protocol questions go through the methods of this class, never through here."""
        return copy.deepcopy(dict(self._extras).get(key, default))

    # -- the protocol --------------------------------------------------------------------------
    @property
    def has_folds(self) -> bool:
        """Whether the protocol is k folds (else a fixed split, ``folds() == ["default"]``)."""
        return bool(self.fold_rules)

    @property
    def splits_from_index(self) -> bool:
        """``splits: from_index``: the release assigns each frame a split (index column ``split``)."""
        return self.fixed_split is not None and self.fixed_split.from_index

    def folds(self) -> list[str]:
        """Fold names of the protocol (``["default"]`` for a fixed split)."""
        return [f for f, _ in self.fold_rules] or ["default"]

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
        fold = self.resolve_fold(fold)
        rule = dict(self.fold_rules)[fold] if self.fold_rules else self.fixed_split
        assert rule is not None  # a card without splits or folds fails at load
        choice = (options or {}).get("validation", "default")
        variants = dict(self.val_variants)
        if self.fold_rules and choice != "default" and choice in variants:
            return replace(rule, val=variants[choice])
        return rule

    def validation_rule(self, options: dict[str, Any] | None = None) -> str:
        """How the validation subjects are chosen, in words (``ls``, docs): the protocol's own
        ``validation`` text when the card gives one, else the subjects named."""
        if self.splits_from_index:
            return "the frames the release assigns to validation (index column split)"
        choice = (options or {}).get("validation", "default")
        if choice == "default" and self.validation_text:
            return self.validation_text
        vals = {fold: self.split_rule(fold, options).val for fold in self.folds()}
        if len(set(vals.values())) == 1:
            return "subjects " + ", ".join(next(iter(vals.values())))
        return "per fold: " + "; ".join(f"{fold}: {', '.join(v)}" for fold, v in vals.items())


# -- reading a card: every key checked once, at load ---------------------------------------------


class _Reader:
    """Reads one card's mapping; every problem is a :class:`CardError` naming the file and the key."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, problem: str) -> CardError:
        return CardError(f"{self.path}: {key} {problem}")

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a mapping, got {type(value).__name__}")
        return value

    def text(self, value: Any, key: str) -> str:
        if value is None:
            return ""
        if isinstance(value, (dict, list)):
            raise self.fail(key, f"must be text, got a {type(value).__name__}")
        return str(value).strip()

    def names(self, value: Any, key: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or any(isinstance(v, (dict, list)) for v in value):
            raise self.fail(key, f"must be a list of names, got {value!r}")
        return _names(value)

    def rule(self, spec: Any, key: str, train: Any, val: Any) -> SplitRule:
        """A fixed split or a fold: test and val lists, train a list or ``rest``."""
        spec = self.mapping(spec, key)
        unknown = sorted(set(spec) - set(_SUBJECT_LISTS))
        if unknown:
            raise self.fail(key, f"has unknown key(s) {', '.join(unknown)}; known: {', '.join(_SUBJECT_LISTS)}")
        train = spec.get("train", train)
        return SplitRule(
            test=self.names(spec.get("test"), f"{key}.test"),
            val=self.names(spec["val"], f"{key}.val") if "val" in spec else val,
            train=None if train == REST else self.names(train, f"{key}.train"),
        )

    def protocol_block(self, data: dict[str, Any]) -> dict[str, Any]:
        proto = self.mapping(data.get("protocol"), "protocol")
        out: dict[str, Any] = {"validation_text": self.text(proto.get("validation"), "protocol.validation")}
        variants = self.mapping(proto.get("val_variants"), "protocol.val_variants")
        out["val_variants"] = tuple((str(k), self.names(v, f"protocol.val_variants.{k}")) for k, v in variants.items())
        sizes = self.mapping(proto.get("published_sizes") or data.get("published_sizes"), "protocol.published_sizes")
        out["paper_sizes"] = tuple((str(k), v) for k, v in sizes.items())
        train = proto.get("train", REST)
        if train != REST:
            self.names(train, "protocol.train")
        val = self.names(proto.get("val"), "protocol.val")
        if proto.get("folds"):
            folds = proto["folds"]
            if isinstance(folds, list):
                folds = dict(enumerate(folds))
            folds = self.mapping(folds, "protocol.folds")
            out["fold_rules"] = tuple(
                (str(f), self.rule(entry, f"protocol.folds.{f}", train, val)) for f, entry in folds.items()
            )
        elif proto.get("splits") == FROM_INDEX:
            out["fixed_split"] = SplitRule(from_index=True)
        elif isinstance(proto.get("splits"), dict):
            out["fixed_split"] = self.rule(proto["splits"], "protocol.splits", REST, ())
        elif "splits" in proto:
            raise self.fail(
                "protocol.splits", f"is {proto['splits']!r}; give a mapping of test, val, train, or {FROM_INDEX}"
            )
        else:
            raise self.fail("protocol", f"needs 'splits' (a mapping of test, val, train, or {FROM_INDEX}) or 'folds'")
        return out

    def protocols(self, data: dict[str, Any]) -> tuple[tuple[Protocol, ...], str]:
        block = self.mapping(data.get("protocols"), "protocols")
        if not block:
            recipe = self.mapping(data.get("recipe"), "recipe")
            return (Protocol(DEFAULT_PROTOCOL, "the card's recipe", "", dict(recipe), {}, {}),), DEFAULT_PROTOCOL
        out = []
        for name, entry in block.items():
            if name == "default":
                continue
            key = f"protocols.{name}"
            entry = self.mapping(entry, key)
            unknown = sorted(set(entry) - set(PROTOCOL_KEYS))
            if unknown:
                raise self.fail(key, f"has unknown key(s) {', '.join(unknown)}; known: {', '.join(PROTOCOL_KEYS)}")
            parts = {k: dict(self.mapping(entry.get(k), f"{key}.{k}")) for k in ("recipe", "model", "data")}
            out.append(Protocol(str(name), _words(entry.get("description")), _words(entry.get("source")), **parts))
        if not out:
            raise self.fail("protocols", "names no protocol")
        default = str(block.get("default") or out[0].name)
        if default not in [p.name for p in out]:
            raise self.fail("protocols.default", f"is {default!r}, not one of {', '.join(p.name for p in out)}")
        return tuple(out), default

    def label_spaces(self, raw: Any) -> tuple[tuple[tuple[tuple[str, Any], ...], Any], ...]:
        """The label space alone and under each ``by_option`` value, checked now."""
        from gazebench.core.errors import UserValueError
        from gazebench.datasets.labelspace import parse_label_space

        if raw is None:
            return ()
        try:
            spaces = [((), parse_label_space(raw, str(self.path), None))]
            for option, by_value in self.mapping(raw.get("by_option"), "label_space.by_option").items():
                for value in self.mapping(by_value, f"label_space.by_option.{option}"):
                    spaces.append((((option, value),), parse_label_space(raw, str(self.path), {option: value})))
        except UserValueError as exc:
            raise CardError(str(exc)) from None
        return tuple(spaces)


#: the keys :class:`Card` reads itself; any other top-level key is the adapter's (:meth:`Card.extra`)
CARD_KEYS = (
    "name",
    "version",
    "title",
    "description",
    "citation",
    "licence",
    "convention",
    "get",
    "layout",
    "required",
    "subsets",
    "protocol",
    "protocols",
    "recipe",
    "published_sizes",
    "label_space",
)


def parse_card(data: Any, path: Path, name: str) -> Card:
    """The card of dataset ``name`` from the mapping ``data`` read from ``path``, every key checked."""
    if not isinstance(data, dict):
        raise CardError(f"{path}: a card must be a mapping of keys, got {type(data).__name__}")
    if data.get("name", name) != name:
        raise CardError(f"{path}: name is {data.get('name')!r}, but the card is read for dataset {name!r}")
    r = _Reader(path)
    protocols, default = r.protocols(data)
    return Card(
        name=name,
        path=path,
        version=str(data.get("version", "1")),
        title=r.text(data.get("title"), "title") or name,
        description=r.text(data.get("description"), "description"),
        citation=r.text(data.get("citation"), "citation"),
        licence=r.text(data.get("licence"), "licence"),
        convention=r.text(data.get("convention"), "convention"),
        where_to_get=r.text(data.get("get"), "get"),
        layout_text=r.text(data.get("layout"), "layout"),
        required=r.names(data.get("required"), "required"),
        subsets=r.names(data.get("subsets"), "subsets"),
        protocols=protocols,
        default_protocol=default,
        _label_spaces=r.label_spaces(data.get("label_space")),
        _extras=tuple((str(k), v) for k, v in data.items() if k not in CARD_KEYS),
        _label_space_raw=copy.deepcopy(data.get("label_space")),
        **r.protocol_block(data),
    )


def source_dir(obj: Any) -> Path | None:
    """The folder of the file that defines ``obj`` (a class or function), or None."""
    try:
        path = inspect.getsourcefile(obj)
    except TypeError:
        return None
    return Path(path).resolve().parent if path else None


def card_path(name: str, adapter: Any = None) -> Path:
    """Where the card of dataset ``name`` is: :data:`CARD_FILE` in the folder of the file that
    defines its adapter (``adapter``, default the registered one) -- a built-in's folder under
    ``gazebench/datasets/``, a plugin's folder or the folder of its file.  The one place cards
    are looked up."""
    if adapter is None:
        from gazebench.core.registry import DATASETS

        if name not in DATASETS:
            DATASETS.load_plugins()  # an installed plugin's adapter, not looked up yet
        if name not in DATASETS:
            raise CardError(f"no card for dataset {name!r}: no adapter is registered under that name")
        adapter = DATASETS.get(name)
    folder = source_dir(adapter)
    if folder is None:
        raise CardError(f"no card for dataset {name!r}: the file that defines {adapter!r} is unknown")
    return folder / CARD_FILE


def load_card(name: str, path: Path | None = None, adapter: Any = None) -> Card:
    """The card of dataset ``name``, parsed and checked: ``path`` if given, else
    :func:`card_path` (the adapter's folder)."""
    path = Path(path) if path is not None else card_path(name, adapter)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise CardError(
            f"no card for dataset {name!r}: {path} does not exist; put the card, {CARD_FILE}, in the "
            "folder of the adapter's file (docs/adding-a-dataset.md)"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CardError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from exc
    return parse_card(data, path, name)
