"""The model contract every registered model follows.

A model is built by a registered factory (``@MODELS.register("name")``) and is a
:class:`GazeModel`: it declares the :class:`~gazebench.datasets.views.ViewSpec` it needs and its
default loss, and maps views ``[B, V, C, H, W]`` to a dict of outputs:

``vector``  ``[B, 3]`` unit canonical gaze (geometry.py convention) -- required
``sigma``   ``[B]`` angular uncertainty in radians (> 0) -- when the head predicts one
plus head-specific raw outputs the losses use (``yaw_pitch`` ``[B, 2]``, ``sincos`` ``[B, 3]``).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch
from torch import nn

from gazebench.core.registry import MODELS
from gazebench.datasets.views import ViewSpec
from gazebench.model_catalog import reject_unknown_options


class GazeModel(nn.Module):
    """Base class: subclasses set ``self.view`` and ``self.default_loss`` and implement forward."""

    view: ViewSpec = ViewSpec()
    default_loss: str = "angular"
    #: False for baselines that are fitted, not trained by gradient descent
    trainable: bool = True

    def fit_prior(self, train_gaze: np.ndarray) -> None:
        """Called once with the training set's gaze vectors ``[N, 3]`` before training."""

    def forward(self, views: torch.Tensor) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError


def model_kwargs(name: str) -> dict[str, inspect.Parameter]:
    """The keyword arguments a registered model factory accepts."""
    sig = inspect.signature(MODELS.get(name))
    return {k: p for k, p in sig.parameters.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def check_model_options(name: str, given: Any) -> None:
    """Every key of ``given`` must be an option of model ``name``: the one check, used when a model
    is built and when a suite is planned (before any data or weights are touched)."""
    parameters = inspect.signature(MODELS.get(name)).parameters.values()
    if any(p.kind == p.VAR_KEYWORD for p in parameters):
        return  # a factory taking **kwargs checks its own
    reject_unknown_options(name, given, list(model_kwargs(name)))


def identity_recipe_keys(name: str) -> tuple[str, ...] | None:
    """The recipe keys that can change the number of registered model ``name``: its factory's
    ``identity_recipe_keys`` (a tuple of :class:`gazebench.core.config.Recipe` fields), or None when it
    declares none (then every key counts but the speed-only ones, gazebench.results.identity).  Only these
    enter the configuration identity, so runs that differ in a key the model ignores share one
    leaderboard row."""
    keys = getattr(MODELS.get(name), "identity_recipe_keys", None)
    return None if keys is None else tuple(keys)


def options_without_effect(name: str, kwargs: dict[str, Any]) -> frozenset[str]:
    """The options of registered model ``name`` that have no effect given ``kwargs`` (its factory's
    ``options_without_effect(kwargs)``, if it declares one): e.g. ``decode`` of an MSA model with
    ``head=angle``, whose angle head has no sin-cos outputs to decode.  A protocol's model
    defaults (``protocols: P: model:`` in a card) skip these, so a protocol that decodes its sin-cos
    models one way still builds the angle-head variant; a value the user gives is still checked."""
    declared = getattr(MODELS.get(name), "options_without_effect", None)
    return frozenset(declared(kwargs)) if declared is not None else frozenset()


def build_model(name: str, **kwargs: Any) -> GazeModel:
    """Build a registered model; ``None`` kwargs are dropped (the factory default applies), and an
    unknown kwarg is an error that lists what the model accepts."""
    factory = MODELS.get(name)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    check_model_options(name, kwargs)
    model = factory(**kwargs)
    if not isinstance(model, GazeModel):
        raise TypeError(f"model factory {name!r} returned {type(model).__name__}, not a GazeModel")
    return model


def count_parameters(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


class MeanGaze(GazeModel):
    """Predicts the training set's mean gaze direction for every sample: the leaderboard's floor."""

    trainable = False
    default_loss = "angular"

    def __init__(self) -> None:
        super().__init__()
        self.view = ViewSpec()
        self.register_buffer("mean_vector", torch.tensor([0.0, 0.0, -1.0]))

    def fit_prior(self, train_gaze: np.ndarray) -> None:
        m = np.asarray(train_gaze, dtype=np.float64).mean(0)
        norm = np.linalg.norm(m)
        m = m / norm if norm > 1e-9 else np.array([0.0, 0.0, -1.0])
        self.mean_vector.copy_(torch.as_tensor(m, dtype=self.mean_vector.dtype))

    def forward(self, views: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"vector": self.mean_vector.to(views.device).expand(views.shape[0], 3)}


@MODELS.register("mean")
def mean() -> GazeModel:
    """Baseline: the training set's mean gaze direction for every sample (the floor)."""
    return MeanGaze()


mean.trainable = False  # type: ignore[attr-defined]  (a fitted baseline: the planner allows epochs=0)
# its number depends on the training data only: fit_prior averages every training gaze vector
# (gazebench.train.assemble.build_fitted_model: no batches, epochs, optimiser, augmentation or sampling --
# max_train_samples caps the training loader, which mean never uses) and forward ignores the images
mean.identity_recipe_keys = ()  # type: ignore[attr-defined]
