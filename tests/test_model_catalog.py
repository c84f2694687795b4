"""The built-in models' declarations (gazebench.model_catalog) against their factories: planning reads
the declarations without importing torch, so each must say exactly what its factory does."""

from __future__ import annotations

import importlib

import pytest

import gazebench.models  # noqa: F401  (registers the built-in models)
from gazebench.core.registry import MODELS, RegistryError
from gazebench.model_catalog import BUILT_IN, from_factory, model_info
from gazebench.models import build_model

#: settings under which an option may lose its effect (msa's decode with head=angle)
SAMPLE_KWARGS = ({}, {"head": "angle"}, {"head": "sincos"}, {"decode": "atan2", "head": "angle"})


def test_every_registered_built_in_model_is_declared_and_no_other():
    built_in = {e.name for e in MODELS if e.obj.__module__.startswith("gazebench.models.")}
    assert built_in == set(BUILT_IN)


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_a_declaration_says_what_its_factory_does(name):
    declared, factory = BUILT_IN[name], from_factory(name)
    assert declared.options == factory.options  # names, order and defaults (the defaults are the types)
    assert declared.description == factory.description == MODELS.entry(name).description
    assert declared.trainable == factory.trainable
    assert declared.identity_recipe_keys == factory.identity_recipe_keys
    assert declared.takes_any == factory.takes_any
    for kwargs in SAMPLE_KWARGS:
        assert declared.options_without_effect(kwargs) == factory.options_without_effect(kwargs)
    module, function = declared.factory.split(":")
    assert getattr(importlib.import_module(module), function) is MODELS.get(name)
    kwargs = {"backbone": "test_resnet"} if "backbone" in declared.keys else {}
    assert declared.input == build_model(name, **kwargs).view.describe()


def test_a_model_that_is_not_built_in_is_read_from_its_factory(monkeypatch):
    def plugin(depth: int = 3, width: float = 0.5, **extra):
        """A plugin's model."""

    plugin.trainable = False
    monkeypatch.setattr(MODELS, "_entries", dict(MODELS._entries))
    MODELS.add("plugged", plugin)
    info = model_info("plugged")
    assert (info.keys, info.defaults(), info.description) == (
        ("depth", "width"),
        {"depth": 3, "width": 0.5},
        "A plugin's model.",
    )
    assert not info.trainable and info.takes_any and info.input is None


def test_an_unknown_model_is_the_registrys_error_with_suggestions():
    with pytest.raises(RegistryError, match="Did you mean 'static'"):
        model_info("statik")
