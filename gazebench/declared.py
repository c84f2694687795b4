"""What the registries declare about a dataset or model, by name: its options, its card, whether it
trains.  Read by planning, joint training, cross-dataset tests and the CLI; models and adapters are
imported on first use (the model catalog answers for built-in models without torch).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gazebench.datasets.base import GazeDataset
    from gazebench.datasets.cards import Card


@cache
def model_option_keys(name: str) -> tuple[str, ...]:
    """The options of model ``name`` (its factory's keyword arguments, as gazebench.model_catalog declares them)."""
    from gazebench.model_catalog import model_info

    return model_info(name).keys


def model_options_without_effect(name: str, kwargs: dict[str, Any]) -> frozenset[str]:
    """Options of model ``name`` that ``kwargs`` leave without effect (a protocol's defaults skip them)."""
    from gazebench.model_catalog import model_info

    return model_info(name).options_without_effect(kwargs)


def model_is_trained(name: str) -> bool:
    """False for fitted baselines (``mean``), which run with ``epochs=0``."""
    from gazebench.model_catalog import model_info

    return model_info(name).trainable


def resolved_model_kwargs(name: str, given: dict[str, Any]) -> dict[str, Any]:
    """The factory's defaults updated by the given (non-None) values: what a result records."""
    from gazebench.model_catalog import model_info

    out = model_info(name).defaults()
    out.update({k: v for k, v in given.items() if v is not None})
    return out


def dataset_class(name: str) -> type[GazeDataset]:
    import gazebench.datasets  # noqa: F401  (registers the built-in adapters)
    from gazebench.core.registry import DATASETS

    return DATASETS.get(name)


def dataset_option_keys(name: str) -> tuple[str, ...]:
    return tuple(dataset_class(name).declared_options)


def dataset_card(name: str) -> Card:
    from gazebench.datasets.cards import load_card

    dataset_class(name)  # an unknown name fails here, with suggestions
    return load_card(name)
