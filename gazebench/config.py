"""Recipes and ``--set key=value`` overrides.

A run is configured by three dictionaries: the *recipe* (how to train), the *model* kwargs
(what the registered factory accepts) and the *data* options (what the adapter accepts).
``--set`` routes each key to the one that knows it; an unknown key is an error naming the
closest known keys.
"""

from __future__ import annotations

from typing import Any

import yaml

from gazebench.registry import closest

RECIPE_DEFAULTS: dict[str, Any] = {
    "epochs": 8,
    "batch_size": 32,
    "eval_batch_size": 128,
    "optimizer": "adam",
    "lr": 1e-3,
    "betas": [0.9, 0.999],
    "weight_decay": 0.0,
    "image_size": 64,
    "num_workers": 1,
    "loss": None,  # None: the model's default loss
    "patience": None,  # early stop after this many epochs without improvement (None: never)
    "early_stop_on": "val_loss",  # or val_angular
    "select": "val_angular",  # checkpoint rule: best validation mean angular error
    "precision": "fp32",
    "device": "auto",
    "channels_last": "auto",  # true / false / auto: CUDA, or CPU from 112 px up (docs/performance.md)
    "compile": False,  # torch.compile the model's forward passes
    "max_train_samples": None,  # cap on training samples per epoch (random subset each epoch)
    "augment_flip": True,
    "on_bad_sample": "error",  # or "skip": leave unreadable samples out, recorded in the result  # horizontal flip with the label mirrored (x negated)
}

RECIPE_CHOICES = {
    "on_bad_sample": ("error", "skip"),
    "optimizer": ("adam", "adamw", "sgd"),
    "early_stop_on": ("val_loss", "val_angular"),
    "select": ("val_angular", "val_loss", "last"),
    "precision": ("fp32", "bf16", "fp16"),
}


class ConfigError(ValueError):
    """A bad recipe key or value."""


def parse_value(text: str) -> Any:
    """``--set`` values are YAML scalars/lists: ``3`` -> int, ``1e-4`` -> float, ``[1, 2]`` -> list,
    ``true`` -> bool, ``none`` -> None; anything else stays a string (``1.0,0.78``)."""
    if text.strip().lower() in ("none", "null"):
        return None
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:  # YAML 1.1 reads "1e-4" as a string
            return float(value)
        except ValueError:
            return value
    return value


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value; got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = parse_value(value)
    return out


def route_overrides(
    overrides: dict[str, Any], model_keys: list[str], data_keys: list[str]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Split overrides into (recipe, model kwargs, data options).  Keys may be qualified
    (``model.crops``, ``data.variant``, ``recipe.lr``); bare keys go to the first that knows them."""
    recipe, model, data = {}, {}, {}
    for key, value in overrides.items():
        scope, _, bare = key.rpartition(".")
        if scope in ("", "recipe") and bare in RECIPE_DEFAULTS:
            recipe[bare] = value
        elif scope in ("", "model") and bare in model_keys:
            model[bare] = value
        elif scope in ("", "data") and bare in data_keys:
            data[bare] = value
        else:
            known = list(RECIPE_DEFAULTS) + model_keys + data_keys
            raise ConfigError(
                f"unknown setting {key!r}.{closest(bare, known)} Recipe keys: {', '.join(RECIPE_DEFAULTS)}; "
                f"model options: {', '.join(model_keys) or 'none'}; data options: {', '.join(data_keys) or 'none'}"
            )
    return recipe, model, data


def resolve_recipe(*layers: dict[str, Any]) -> dict[str, Any]:
    """Defaults updated by each layer in turn (dataset recipe, benchmark recipe, --set)."""
    recipe = dict(RECIPE_DEFAULTS)
    for layer in layers:
        for key, value in (layer or {}).items():
            if key not in RECIPE_DEFAULTS:
                raise ConfigError(f"unknown recipe key {key!r}.{closest(key, list(RECIPE_DEFAULTS))}")
            recipe[key] = value
    for key, choices in RECIPE_CHOICES.items():
        if recipe[key] not in choices:
            raise ConfigError(f"recipe {key}={recipe[key]!r} is not one of {', '.join(choices)}")
    for key in ("epochs", "batch_size", "eval_batch_size", "image_size", "num_workers"):
        if not isinstance(recipe[key], int) or recipe[key] < (0 if key in ("num_workers", "epochs") else 1):
            raise ConfigError(f"recipe {key} must be a positive integer; got {recipe[key]!r}")
    return recipe
