"""Gaze models: the GazeModel contract, the parts (backbones, fusion, heads) and the named zoo.

Importing this package registers every named model (``gazebench.registry.MODELS``).
``load_published`` (the authors' released checkpoints, :mod:`gazebench.published`) is re-exported
here and imported on first use (the published layer builds on this one).
"""

from typing import Any

from gazebench.models import base, zoo  # noqa: F401  (importing registers the models)
from gazebench.models.base import GazeModel, build_model, count_parameters, model_kwargs
from gazebench.models.zoo import ComposedModel

__all__ = ["ComposedModel", "GazeModel", "build_model", "count_parameters", "load_published", "model_kwargs"]


def __getattr__(name: str) -> Any:
    if name == "load_published":
        from gazebench.published.loading import load_published

        return load_published
    raise AttributeError(f"module 'gazebench.models' has no attribute {name!r}")
