"""A result's configuration identity: one hash of everything that changes its number.

The identity is the SHA-256 (first 16 hex digits) of a canonical JSON object (sorted keys) of:
the dataset and its card version, the protocol, the resolved dataset options, the model name and
its resolved options, the backbone weights tag, and the recipe without the fields that only
change speed or bookkeeping (:data:`NOT_IN_IDENTITY`).  Fold, seed and test population are not in
it: a leaderboard cell averages the folds and seeds of one identity, and checks the population
of each run on its own (:mod:`gazebench.population`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: recipe fields that change how fast or where a run goes, how its problems are reported or where
#: its curves are logged -- not what it computes (``on_bad_sample``'s effect shows in the population
#: instead)
NOT_IN_IDENTITY = ("num_workers", "eval_batch_size", "device", "channels_last", "compile", "on_bad_sample",
                   "logger")


def identity_config(*, dataset: str, card_version: str, protocol: str, data_options: dict[str, Any], model: str,
                    model_options: dict[str, Any], weights: str, recipe: dict[str, Any]) -> dict[str, Any]:
    """The object the identity hashes (JSON-ready)."""
    return json.loads(json.dumps({
        "dataset": dataset, "card_version": str(card_version), "protocol": protocol, "data_options": data_options,
        "model": model, "model_options": model_options, "weights": weights,
        "recipe": {k: v for k, v in recipe.items() if k not in NOT_IN_IDENTITY},
    }, sort_keys=True, default=_plain))


def identity_hash(config: dict[str, Any]) -> str:
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=_plain)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plain(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return str(obj)
