"""Gaze models: the GazeModel contract, the parts (backbones, fusion, heads) and the named zoo.

Importing this package registers every named model (``gazebench.core.registry.MODELS``).
The authors' released checkpoints load through :func:`gazebench.published.load_published` (the
published layer builds on this one).
"""

from gazebench.models import base, zoo  # noqa: F401  (importing registers the models)
from gazebench.models.base import GazeModel, build_model, count_parameters, model_kwargs
from gazebench.models.zoo import ComposedModel

__all__ = ["ComposedModel", "GazeModel", "build_model", "count_parameters", "model_kwargs"]
