"""The built-in models declared as data: what planning needs to know, without importing torch.

Planning (``gazebench run --dry-run``), ``gazebench ls models`` and ``gazebench status`` read
each model's options (names and defaults, in its factory's order), whether it trains, which of its
options a given setting leaves without effect, which recipe keys enter its identity, its
description and the input it takes from :data:`BUILT_IN` here; only building a model imports its
factory (``factory``: ``module:function``, registered in ``gazebench.core.registry.MODELS`` as
before).  A value's type is its default's (the factory reads a string given on a command line as
that type, ``gazebench.models.zoo``), so the defaults are the types.

A model that is not built in (a plugin's, registered through the registry) is read from its
factory's signature and attributes (:func:`from_factory`), which imports its module.
``tests/test_model_catalog.py`` compares every entry with its factory, so the two cannot drift.

This module imports nothing heavy: the standard library, ``gazebench.core.errors`` and
``gazebench.core.registry``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gazebench.core.errors import UserTypeError
from gazebench.core.registry import MODELS, closest

#: the common options of every zoo model, after its own (``gazebench.models.zoo.Common``)
_COMMON = (
    ("backbone", "resnet18"),
    ("pretrained", False),
    ("weights_file", None),
    ("feature_dim", 256),
    ("proj", "linear"),
    ("loss", None),
)

#: the seed's crop lists in pixels of 224 (``gazebench.models.zoo``: MONOTONE_PX, SYMMETRIC_PX, MSA_PX)
_MONOTONE = (224, 212, 199, 187, 174, 162, 150)
_SYMMETRIC = (224, 200, 175, 150, 175, 200, 224)
_MSA = (224, 200, 175, 150)


@dataclass(frozen=True)
class ModelInfo:
    """One model as planning sees it."""

    name: str
    description: str
    #: ``(option, default)`` in the factory's keyword order (default ``inspect.Parameter.empty``: none)
    options: tuple[tuple[str, Any], ...]
    #: the input it takes at its defaults (``ViewSpec.describe``); None: known only by building it
    input: str | None = None
    #: ``module:function`` of the registered factory
    factory: str = ""
    #: False for fitted baselines (``mean``), which run with ``epochs=0``
    trainable: bool = True
    #: the recipe keys that can change its number (``gazebench.results.identity``); None: every key
    identity_recipe_keys: tuple[str, ...] | None = None
    #: ``kwargs -> options without effect`` (``gazebench.models.base.options_without_effect``)
    without_effect: Callable[[Mapping[str, Any]], set[str]] | None = None
    #: the factory takes ``**kwargs`` and checks its own options
    takes_any: bool = False

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.options)

    def defaults(self) -> dict[str, Any]:
        """The options that have a default, with it."""
        return {k: v for k, v in self.options if v is not inspect.Parameter.empty}

    def options_without_effect(self, kwargs: Mapping[str, Any]) -> frozenset[str]:
        return frozenset(self.without_effect(kwargs)) if self.without_effect is not None else frozenset()


def angle_head_decodes_nothing(kwargs: Mapping[str, Any]) -> set[str]:
    """``decode`` reads a sin-cos head: with ``head=angle`` (MSA+raw) it has no effect."""
    return {"decode"} if kwargs.get("head") == "angle" else set()


def _zoo(
    name: str, description: str, input: str, *own: tuple[str, Any], common: Mapping[str, Any] = {}, **kw: Any
) -> ModelInfo:
    options = tuple(own) + tuple((k, common.get(k, d)) for k, d in _COMMON)
    return ModelInfo(name, description, options, input, f"gazebench.models.zoo:{name}", **kw)


_G360, _G360_RELU = {"proj": "gaze360"}, {"proj": "gaze360-relu"}
_RESNET50 = {"backbone": "resnet50", "proj": "none"}
_LSTM = (("lstm_hidden", 256), ("lstm_layers", 2))

BUILT_IN: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        ModelInfo(
            "mean",
            "Baseline: the training set's mean gaze direction for every sample (the floor).",
            (),
            "1 frame",
            "gazebench.models.base:mean",
            trainable=False,
            identity_recipe_keys=(),
        ),
        _zoo(
            "static",
            "Gaze360 static: one frame, angle head with sigma, pinball loss.",
            "1 frame",
            ("crops", None),
            common=_G360_RELU,
        ),
        _zoo(
            "staticsc",
            "One frame (optional single zoom crop; seed: crops=175), sin-cos head, regularised sin-cos loss.",
            "1 frame",
            ("crops", None),
            ("decode", "atan2"),
            common=_G360_RELU,
        ),
        _zoo(
            "staticsclstm",
            "7 zoom crops of one frame (224 -> 150), LSTM read at the last crop, sin-cos head.",
            "1 frame, zoom crops [1,0.946,0.888,0.835,0.777,0.723,0.67]",
            ("crops", _MONOTONE),
            *_LSTM,
            ("bidirectional", False),
            ("take", "last"),
            ("decode", "atan2"),
            common=_G360,
        ),
        _zoo(
            "staticsclstmsym",
            "7 zoom crops of one frame (224,200,175,150,175,200,224), BiLSTM read at the middle, sin-cos head.",
            "1 frame, zoom crops [1,0.893,0.781,0.67,0.781,0.893,1]",
            ("crops", _SYMMETRIC),
            *_LSTM,
            ("bidirectional", True),
            ("take", "middle"),
            ("decode", "atan2"),
            common=_G360,
        ),
        _zoo(
            "seqlstm",
            "Gaze360 LSTM: 7 frames, bidirectional 2-layer LSTM read at the labelled frame, pinball.",
            "7 frames -3..+3",
            ("frames", 7),
            ("crops", None),
            *_LSTM,
            ("bidirectional", True),
            ("take", "middle"),
            common=_G360,
        ),
        _zoo(
            "seqsclstm",
            "7 frames, frame i zoomed by the monotone list's i-th size, LSTM read at the last step, sin-cos.",
            "7 frames -3..+3, zoom crops [1,0.946,0.888,0.835,0.777,0.723,0.67]",
            ("frames", 7),
            ("crops", _MONOTONE),
            *_LSTM,
            ("bidirectional", False),
            ("take", "last"),
            ("decode", "atan2"),
            common=_G360,
        ),
        _zoo(
            "seqsclstmsym",
            "7 frames, frame i zoomed by the symmetric list's i-th size, BiLSTM read at the middle, sin-cos.",
            "7 frames -3..+3, zoom crops [1,0.893,0.781,0.67,0.781,0.893,1]",
            ("frames", 7),
            ("crops", _SYMMETRIC),
            *_LSTM,
            ("bidirectional", True),
            ("take", "middle"),
            ("decode", "atan2"),
            common=_G360,
        ),
        _zoo(
            "msa",
            "MSA: zoom crops 224,200,175,150 of one frame, max of their feature maps; sin-cos, plain",
            "1 frame, zoom crops [1,0.893,0.781,0.67]",
            ("crops", _MSA),
            ("decode", "atan2"),
            ("head", "sincos"),
            common=_G360,
            without_effect=angle_head_decodes_nothing,
        ),
        _zoo(
            "msaseq",
            "MSA over 7 frames zoomed by the symmetric list: max of the frames' feature maps, sin-cos (or head=angle).",
            "7 frames -3..+3, zoom crops [1,0.893,0.781,0.67,0.781,0.893,1]",
            ("frames", 7),
            ("crops", _SYMMETRIC),
            ("decode", "atan2"),
            ("head", "sincos"),
            common=_G360,
            without_effect=angle_head_decodes_nothing,
        ),
        _zoo(
            "l2cs",
            "L2CS-Net: pooled ResNet-50 features, two binned heads (yaw, pitch), cross-entropy + MSE.",
            "1 frame",
            ("crops", None),
            ("bins", 90),
            ("bin_width", 4.0),
            ("angle_min", -180.0),
            common=_RESNET50,
        ),
        _zoo(
            "xgaze",
            "ETH-XGaze baseline: pooled ResNet-50 features, Linear -> (pitch, yaw) radians, L1 loss.",
            "1 frame",
            ("crops", None),
            common=_RESNET50,
        ),
        _zoo(
            "unigaze",
            "UniGaze: a ViT's normalised class token, Linear -> (pitch, yaw) radians, L1 loss.",
            "1 frame",
            ("crops", None),
            ("drop_path", 0.0),
            common={"backbone": "vit_base_patch16_224", "proj": "none"},
        ),
        _zoo(
            "gazetr",
            "GazeTR-Hybrid: ResNet-18 map -> 1x1 conv to 32 channels -> transformer on its tokens -> "
            "(yaw, pitch), L1 loss.",
            "1 frame",
            ("crops", None),
            ("maps", 32),
            ("heads", 8),
            ("layers", 6),
            ("feedforward", 512),
            ("dropout", 0.1),
            ("positions", 50),
            common={"proj": "none"},
        ),
    )
}


def from_factory(name: str) -> ModelInfo:
    """Model ``name`` read from its registered factory (imports the models; an unknown name raises
    the registry's error, with suggestions).  ``input`` is left None (it needs the model built)."""
    entry = MODELS.entry(name)  # imports the built-in models (MODELS.builtins) when the name is not registered
    parameters = inspect.signature(entry.obj).parameters.values()
    options = tuple((p.name, p.default) for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
    keys = getattr(entry.obj, "identity_recipe_keys", None)
    return ModelInfo(
        entry.name,
        entry.description,
        options,
        None,
        f"{entry.obj.__module__}:{entry.obj.__name__}",
        bool(getattr(entry.obj, "trainable", True)),
        None if keys is None else tuple(keys),
        getattr(entry.obj, "options_without_effect", None),
        any(p.kind == p.VAR_KEYWORD for p in parameters),
    )


def model_info(name: str) -> ModelInfo:
    """What planning knows of model ``name``: a built-in's declaration, else its factory's."""
    return BUILT_IN[name] if name in BUILT_IN else from_factory(name)


def model_names() -> list[str]:
    """Every model: the built-in ones and those registered (plugins; entry points are loaded)."""
    return sorted(set(BUILT_IN) | set(MODELS.names()))


def reject_unknown_options(name: str, given: Any, accepted: list[str]) -> None:
    """Every key of ``given`` must be in ``accepted``: one clear error naming the options."""
    for key in given:
        if key not in accepted:
            raise UserTypeError(
                f"model {name!r} has no option {key!r}.{closest(key, accepted)} Options: {', '.join(accepted)}"
            )


def check_options(name: str, given: Any) -> None:
    """:func:`gazebench.models.base.check_model_options` from the declaration (no torch for a built-in)."""
    info = model_info(name)
    if not info.takes_any:
        reject_unknown_options(name, given, list(info.keys))
