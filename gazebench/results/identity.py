"""A result's configuration identity: one hash of everything that changes its number.

The identity is the SHA-256 (first 16 hex digits) of a canonical JSON object (sorted keys) of:
the dataset and its card version, the protocol, the resolved dataset options, the model name and
its resolved options, the backbone weights tag, and the recipe keys that can change the model's
number.  Which those are, the model declares (``identity_recipe_keys`` on its registered factory,
:func:`gazebench.models.base.identity_recipe_keys`; e.g. ``mean`` averages the training gaze, so no
recipe key enters its identity); a model that declares nothing: every recipe key but the ones that
only change speed or bookkeeping (:data:`NOT_IN_IDENTITY`).  Fold, seed and test population are not
in it: a leaderboard cell averages the folds and seeds of one identity, and checks the population
of each run on its own (:mod:`gazebench.population`).

A record stores ``identity: {hash, config, recipe_keys}`` (``recipe_keys``: the declaration it
was made with, None for every key).  Records written before models declared their keys have no
``recipe_keys``; :func:`narrowed` re-derives their identity under today's declaration, so they
share a row with new records of the same configuration.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

#: recipe fields that change how fast or where a run goes, how its problems are reported or where
#: its curves are logged -- not what it computes (``on_bad_sample``'s effect shows in the population
#: instead)
NOT_IN_IDENTITY = ("num_workers", "eval_batch_size", "device", "channels_last", "compile", "on_bad_sample", "logger")


def recipe_in_identity(recipe: dict[str, Any], recipe_keys: Iterable[str] | None = None) -> dict[str, Any]:
    """The part of ``recipe`` an identity hashes: without :data:`NOT_IN_IDENTITY`, and, when the
    model declares ``recipe_keys``, only those."""
    keep = None if recipe_keys is None else set(recipe_keys)
    return {k: v for k, v in recipe.items() if k not in NOT_IN_IDENTITY and (keep is None or k in keep)}


def identity_config(
    *,
    dataset: str,
    card_version: str,
    protocol: str,
    data_options: dict[str, Any],
    model: str,
    model_options: dict[str, Any],
    weights: str,
    recipe: dict[str, Any],
    recipe_keys: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The object the identity hashes (JSON-ready); ``recipe_keys``: the model's declaration
    (None: every recipe key but :data:`NOT_IN_IDENTITY`)."""
    return json.loads(
        json.dumps(
            {
                "dataset": dataset,
                "card_version": str(card_version),
                "protocol": protocol,
                "data_options": data_options,
                "model": model,
                "model_options": model_options,
                "weights": weights,
                "recipe": recipe_in_identity(recipe, recipe_keys),
            },
            sort_keys=True,
            default=_plain,
        )
    )


def identity_hash(config: dict[str, Any]) -> str:
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=_plain)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def narrowed(identity: dict[str, Any], recipe_keys: Iterable[str] | None) -> dict[str, Any]:
    """A stored identity (``{hash, config}``) under the declaration ``recipe_keys``: the config's
    recipe cut to those keys and the hash recomputed (unchanged when nothing is cut)."""
    config = identity["config"]
    recipe = config.get("recipe")
    if recipe_keys is None or not isinstance(recipe, dict):
        return {**identity, "recipe_keys": None if recipe_keys is None else sorted(recipe_keys)}
    config = {**config, "recipe": recipe_in_identity(recipe, recipe_keys)}
    return {"hash": identity_hash(config), "config": config, "recipe_keys": sorted(recipe_keys)}


def _plain(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return str(obj)
