"""The catalogue of published checkpoints: one YAML card per released file, read into typed cards.

A card (``gazebench/published/<name>.yaml``, installed with the package) says which registered model
and options a released checkpoint maps onto, where the authors host the file, its licence, how the
file is packed (:class:`Container`), the declared key table (:class:`KeyTable`: ordered prefix map,
first match wins, plus ``ignore`` entries each with its reason), the input and output conventions,
what it was trained on (:attr:`PublishedCard.training`), how its authors fine-tune (:class:`FineTune`,
optional), where and how to reproduce it, and each
published number with its population, the gazebench subset it is on (or ``unknown`` with its
candidates, when no source read says which), where that subset is defined, and its source
(:class:`PublishedNumber`; ``value: null`` when no source states it).

Nothing here imports torch: ``gazebench ls published`` reads the cards only.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gazebench.core.geometry import SUBSETS
from gazebench.core.options import ConfigError
from gazebench.core.registry import closest

#: where the cards live (package data)
CARD_DIR = Path(__file__).resolve().parent
#: serialisation of the released file: PyTorch >= 1.6's zip container, the legacy (1.x) stream, or a
#: safetensors table (a flat state dict, no container entries: ``state_dict`` null)
FORMATS = ("zip", "legacy", "safetensors")
REQUIRED = (
    "name",
    "title",
    "model",
    "options",
    "file",
    "url",
    "licence",
    "licence_short",
    "container",
    "keys",
    "input",
    "output",
    "training",
    "reproduce",
    "published",
)


@dataclass(frozen=True)
class Container:
    """How the released file holds its tensors: ``state_dict`` names the dict entry holding them
    (None: the file *is* the state dict), ``prefix`` is carried by every key (``"module."`` when the
    model was saved inside ``nn.DataParallel``), ``format`` is ``zip`` or ``legacy``, and
    ``entries`` lists the file's other top-level entries (``epoch``, ``best_prec1``, ...)."""

    state_dict: str | None
    prefix: str
    format: str
    entries: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class KeyTable:
    """``map``: ordered ``(source prefix, gazebench prefix)`` pairs applied after the container's
    prefix is stripped; the first pair whose source prefix starts the key wins.  ``ignore``:
    ``(prefix, reason)`` pairs of vestigial entries that no forward pass uses; checked first."""

    map: tuple[tuple[str, str], ...]
    ignore: tuple[tuple[str, str], ...] = ()

    def target(self, key: str) -> str | None:
        """The gazebench name of ``key`` (prefix already stripped), or None when no pair matches."""
        for source, target in self.map:
            if key.startswith(source):
                return target + key[len(source) :]
        return None

    def ignored(self, key: str) -> str | None:
        """The reason ``key`` is dropped, or None when it is not ignored."""
        return next((reason for prefix, reason in self.ignore if key.startswith(prefix)), None)


#: ``subset:`` of a published number whose subset no source read states (``candidates:`` lists the
#: gazebench subsets it may be; ``gazebench reproduce`` then gives no difference)
UNKNOWN_SUBSET = "unknown"


@dataclass(frozen=True)
class PublishedNumber:
    """One published result: the population/subset it was measured on, the value in degrees
    (None: not stated by any source read), the gazebench subset it corresponds to (or
    :data:`UNKNOWN_SUBSET`, with the ``candidates`` it may be), where that subset's definition
    comes from (``subset_source``; "not stated" when no source read defines it), and the source
    of the value."""

    population: str
    value: float | None
    subset: str
    source: str
    subset_source: str = ""
    candidates: tuple[str, ...] = ()
    #: the test set in a few words (``EYEDIAP CS``), for the one-line forms; a card whose numbers
    #: are on several test sets must give each one (:func:`read_card` checks)
    label: str = ""
    #: the dataset (a gazebench name, or the test sets in words) the number is on, when it is not the
    #: card's ``reproduce.dataset`` (``gazebench reproduce`` then sets no measured value beside it)
    dataset: str = ""

    @property
    def subset_known(self) -> bool:
        return self.subset != UNKNOWN_SUBSET

    def short(self) -> str:
        value = "not stated" if self.value is None else f"{self.value:g}°"
        name = self.subset if self.subset_known else f"{' or '.join(self.candidates)} (which one: not stated)"
        return f"{self.label + ' ' if self.label else ''}{name} {value}"


#: model options a run from a published checkpoint may set (``fine_tune.model`` and ``--set``): they
#: act in training only and add or change no parameter, so the released weights still load exactly
TRAINING_ONLY_OPTIONS = ("drop_path", "dropout")


@dataclass(frozen=True)
class FineTune:
    """A card's ``fine_tune:`` section: the authors' own recipe for training from (or towards) this
    checkpoint, as gazebench recipe keys (``recipe``), per-dataset changes to it (``per_dataset``:
    dataset -> recipe keys), training-only model options (``model``), where each value comes from
    (``source``) and what gazebench does otherwise (``differences``)."""

    recipe: dict[str, Any]
    model: dict[str, Any]
    per_dataset: dict[str, dict[str, Any]]
    source: str
    differences: str

    def settings(self, tag: str, dataset: str | None = None) -> dict[str, Any]:
        """The ``--set`` values of a run that fine-tunes as the authors do: ``init``, the recipe
        (with ``dataset``'s changes) and the model options; ``weights_file`` is the caller's."""
        return {"init": tag, **self.recipe, **self.per_dataset.get(dataset or "", {}), **self.model}

    def set_flags(self, tag: str, dataset: str | None = None) -> str:
        """:meth:`settings` as ``--set key=value`` flags, quoted for a POSIX shell where a value
        needs it (``'betas=[0.9,0.95]'``), each read back by ``--set`` as the card's value."""
        import shlex

        def text(value: Any) -> str:
            if isinstance(value, (list, tuple)):
                return "[" + ",".join(map(text, value)) + "]"
            return "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)

        return " ".join(f"--set {shlex.quote(f'{k}={text(v)}')}" for k, v in self.settings(tag, dataset).items())


@dataclass(frozen=True)
class PublishedCard:
    """One released checkpoint (see the module doc); ``data`` keeps the whole YAML mapping."""

    name: str
    title: str
    model: str
    options: dict[str, Any]
    file: str
    url: str
    sha256: str | None
    licence: str
    licence_short: str
    container: Container
    keys: KeyTable
    input: dict[str, Any]
    output: dict[str, Any]
    training: dict[str, Any]
    reproduce: dict[str, Any]
    published: tuple[PublishedNumber, ...]
    path: Path
    data: dict[str, Any] = field(repr=False, default_factory=dict)
    #: the authors' fine-tuning recipe (None: the card states none); see :class:`FineTune`
    fine_tune: FineTune | None = None

    @property
    def tag(self) -> str:
        """The weights tag a loaded model records: ``published:<name>``."""
        return f"published:{self.name}"

    @property
    def training_datasets(self) -> tuple[str, ...]:
        """The datasets it was trained on (``training.dataset``: one name, or a list for joint training)."""
        named = self.training.get("dataset")
        return (named,) if isinstance(named, str) else tuple(named or ())

    def training_overlap(self, dataset: str, split: str) -> str | None:
        """Why evaluating on ``split`` of ``dataset`` would reuse this checkpoint's training data
        (training or checkpoint selection), or None when the card knows of no overlap."""
        if dataset not in self.training_datasets:
            return None
        for role, key in (("trained on", "splits"), ("selected its checkpoint on", "selection")):
            used = self.training.get(key) or []
            if split in ([used] if isinstance(used, str) else used):
                return (
                    f"{self.name} was {role} the {split} split of {dataset} "
                    f"({self.training.get('source', 'see its card')})"
                )
        return None

    def published_short(self) -> str:
        """The published numbers in one line (``not stated`` when no source states one)."""
        return "; ".join(n.short() for n in self.published if n.value is not None) or "not stated"


def _pairs(rows: Any, what: str, path: Path) -> tuple[tuple[str, str], ...]:
    if not isinstance(rows, list) or not all(isinstance(r, (list, tuple)) and len(r) == 2 for r in rows):
        raise ConfigError(f"published card {path}: {what} must be a list of [source, target] pairs")
    return tuple((str(a), str(b)) for a, b in rows)


def _keys(data: dict[str, Any], path: Path) -> KeyTable:
    ignore = []
    for row in data.get("ignore") or []:
        if not isinstance(row, dict) or not row.get("prefix") or not row.get("reason"):
            raise ConfigError(f"published card {path}: every keys.ignore entry needs a prefix and a reason")
        ignore.append((str(row["prefix"]), str(row["reason"]).strip()))
    return KeyTable(_pairs(data.get("map"), "keys.map", path), tuple(ignore))


def _container(data: dict[str, Any], path: Path) -> Container:
    if data.get("format") not in FORMATS:
        raise ConfigError(f"published card {path}: container.format must be one of {', '.join(FORMATS)}")
    if data["format"] == "safetensors" and (data.get("state_dict") or data.get("entries")):
        raise ConfigError(
            f"published card {path}: a safetensors file is a flat state dict (state_dict: null, no entries)"
        )
    return Container(
        data.get("state_dict"),
        str(data.get("prefix") or ""),
        data["format"],
        tuple(data.get("entries") or ()),
        str(data.get("source", "")).strip(),
    )


def _subset_name_ok(name: str) -> bool:
    """``all``, a gaze subset (``front20axis``) or a population's gaze subset (``face_front180``)."""
    head, _, tail = name.partition("_")
    return name == "all" or name in SUBSETS or (head.isidentifier() and tail in SUBSETS)


def _numbers(rows: Any, path: Path) -> tuple[PublishedNumber, ...]:
    numbers = []
    for i, row in enumerate(rows or []):
        where = f"published card {path}: published entry {i + 1}"
        if not isinstance(row, dict) or "value" not in row or not row.get("source"):
            raise ConfigError(f"published card {path}: every published entry needs a value (or null) and a source")
        subset, candidates = row.get("subset"), row.get("candidates")
        if not isinstance(subset, str) or not row.get("subset_source"):
            raise ConfigError(
                f"{where} must say which gazebench subset it is on (subset: all, "
                f"{', '.join(SUBSETS)}, or {UNKNOWN_SUBSET} with candidates:) and where that subset "
                'is defined (subset_source:, "not stated" when no source defines it)'
            )
        if subset == UNKNOWN_SUBSET:
            named = isinstance(candidates, list) and len(candidates) >= 2
            if not named or not all(_subset_name_ok(str(c)) for c in candidates):
                raise ConfigError(
                    f"{where}: subset: {UNKNOWN_SUBSET} needs candidates:, the two or more gazebench "
                    f"subsets it may be (e.g. [front20, front20axis])"
                )
        elif candidates is not None or not _subset_name_ok(subset):
            raise ConfigError(
                f"{where}: subset {subset!r} is not all, one of {', '.join(SUBSETS)} or a population's "
                f"(face_front180, ...); candidates: goes only with subset: {UNKNOWN_SUBSET}"
            )
        value = None if row["value"] is None else float(row["value"])
        numbers.append(
            PublishedNumber(
                str(row.get("population", "")).strip(),
                value,
                subset,
                str(row["source"]).strip(),
                " ".join(str(row["subset_source"]).split()),
                tuple(str(c) for c in candidates or ()),
                str(row.get("label") or "").strip(),
                str(row.get("dataset") or ""),
            )
        )
    subsets = [n.subset for n in numbers if n.value is not None]
    if len(set(subsets)) < len(subsets) and not all(n.label for n in numbers if n.value is not None):
        raise ConfigError(
            f"published card {path}: two published numbers are on subset {subsets[0]!r} of different "
            "test sets: give each a label: (the test set in a few words, e.g. EYEDIAP CS), which "
            "gazebench ls published shows"
        )
    return tuple(numbers)


def _fine_tune(data: Any, path: Path) -> FineTune | None:
    """The ``fine_tune:`` section, each recipe key checked as ``--set`` would check it."""
    from gazebench.core.config import Recipe

    if data is None:
        return None
    where = f"published card {path}: fine_tune"
    if not isinstance(data, dict) or not isinstance(data.get("recipe"), dict) or not data.get("source"):
        raise ConfigError(f"{where} needs recipe: (gazebench recipe keys) and source: (where each value comes from)")
    model = dict(data.get("model") or {})
    other = sorted(set(model) - set(TRAINING_ONLY_OPTIONS))
    if other:
        raise ConfigError(
            f"{where}.model may set only {', '.join(TRAINING_ONLY_OPTIONS)} (the card fixes the "
            f"architecture), not {', '.join(other)}"
        )
    per_dataset = {str(k): dict(v or {}) for k, v in (data.get("per_dataset") or {}).items()}
    for layer in [{}, *per_dataset.values()]:
        try:
            Recipe.resolve(data["recipe"], layer)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return FineTune(
        dict(data["recipe"]),
        model,
        per_dataset,
        " ".join(str(data["source"]).split()),
        " ".join(str(data.get("differences") or "").split()),
    )


def read_card(path: Path) -> PublishedCard:
    """Parse and check one card file."""
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"published card {path} is not valid YAML: {exc}") from exc
    missing = [k for k in REQUIRED if not isinstance(data, dict) or k not in data]
    if missing:
        raise ConfigError(f"published card {path} lacks {', '.join(missing)}")
    if data["name"] != path.stem:
        raise ConfigError(f"published card {path} is named {data['name']!r}; the file must be {data['name']}.yaml")
    return PublishedCard(
        name=data["name"],
        title=str(data["title"]).strip(),
        model=data["model"],
        options=dict(data["options"]),
        file=data["file"],
        url=data["url"],
        sha256=data.get("sha256"),
        licence=str(data["licence"]).strip(),
        licence_short=str(data["licence_short"]),
        container=_container(data["container"], path),
        keys=_keys(data["keys"], path),
        input=data["input"],
        output=data["output"],
        training=data["training"],
        reproduce=data["reproduce"],
        published=_numbers(data["published"], path),
        path=path,
        data=data,
        fine_tune=_fine_tune(data.get("fine_tune"), path),
    )


@functools.cache
def _catalogue(directory: Path) -> dict[str, PublishedCard]:
    return {card.name: card for card in map(read_card, sorted(directory.glob("*.yaml"), key=lambda p: p.stem))}


def load_catalogue() -> dict[str, PublishedCard]:
    """Every card of the catalogue, by name (sorted)."""
    return dict(_catalogue(CARD_DIR))


def published_card(name: str) -> PublishedCard:
    """The card of ``name``; an unknown name is a ConfigError listing the catalogue."""
    cards = load_catalogue()
    if name not in cards:
        raise ConfigError(
            f"no published checkpoint {name!r}.{closest(name, list(cards))} "
            f"The catalogue (gazebench ls published): {', '.join(cards)}"
        )
    return cards[name]
