"""Dataset cards: ``datasets/<name>.yaml`` holds a dataset's protocol as data (splits, folds,
validation subjects), its citation, licence, where to get it and the expected layout."""

from __future__ import annotations

import inspect
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PACKAGE_DIR = Path(__file__).resolve().parents[1]
SOURCE_ROOT = PACKAGE_DIR.parent  # the checkout, for editable installs


class CardError(ValueError):
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


@dataclass
class Card:
    name: str
    path: Path
    data: dict[str, Any] = field(repr=False)

    @property
    def version(self) -> str:
        return str(self.data.get("version", "1"))

    @property
    def title(self) -> str:
        return str(self.data.get("title", self.name))

    @property
    def protocol(self) -> dict[str, Any]:
        return self.data.get("protocol") or {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def how_to_get(self) -> str:
        return str(self.data.get("get", "")).strip()

    def layout(self) -> str:
        return str(self.data.get("layout", "")).strip()


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
    return Card(name=name, path=path, data=data)
