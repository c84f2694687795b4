"""Published checkpoints: the authors' released weights, loaded into gazebench's own models.

The catalogue (``gazebench ls published``, ``docs/published.md``) is one YAML card per released
file in this folder (:mod:`gazebench.published.cards`); :func:`load_published` reads a file the
user downloaded from the authors (gazebench never redistributes weights) into the registered model
the card names (:mod:`gazebench.published.loading`).

API::

    load_catalogue() -> dict[str, PublishedCard]
    published_card(name) -> PublishedCard            # unknown name: ConfigError listing the names
    load_published(name, weights_file, device="cpu") -> GazeModel   # eval mode, model.weights set
    published_state_dict(name, weights_file, model, device="cpu") -> (state dict, sha256)

The card module imports no torch (``gazebench ls published``); the loaders are imported on first use.

Besides the cards, ``tables/*.yaml`` holds numbers papers publish for cross-dataset tasks (cited),
read by :mod:`gazebench.published.references` for the leaderboard's reference rows.
"""

from __future__ import annotations

from typing import Any

from gazebench.published.cards import (
    Container,
    KeyTable,
    PublishedCard,
    PublishedNumber,
    load_catalogue,
    published_card,
)

_LOADERS = ("load_published", "published_state_dict", "read_checkpoint", "build_published")

__all__ = ["Container", "KeyTable", "PublishedCard", "PublishedNumber", "load_catalogue", "published_card", *_LOADERS]


def __getattr__(name: str) -> Any:
    if name in _LOADERS:
        from gazebench.published import loading

        return getattr(loading, name)
    raise AttributeError(f"module 'gazebench.published' has no attribute {name!r}")
