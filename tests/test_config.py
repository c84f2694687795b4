import pytest

from gazebench.config import ConfigError, parse_sets, resolve_recipe, route_overrides


def test_set_values_are_typed():
    got = parse_sets(["epochs=3", "lr=1e-4", "crops=1.0,0.78", "betas=[0.9, 0.95]", "patience=none", "augment_flip=false"])
    assert got == {"epochs": 3, "lr": 1e-4, "crops": "1.0,0.78", "betas": [0.9, 0.95], "patience": None,
                   "augment_flip": False}


def test_routing_and_unknown_key_suggests_closest():
    recipe, model, data = route_overrides({"lr": 0.1, "crops": "1.0", "variant": "original"}, ["crops", "backbone"], ["variant"])
    assert recipe == {"lr": 0.1} and model == {"crops": "1.0"} and data == {"variant": "original"}
    with pytest.raises(ConfigError, match="Did you mean 'epochs'"):
        route_overrides({"epoch": 3}, ["backbone"], [])


def test_recipe_layers_and_validation():
    r = resolve_recipe({"lr": 1e-4, "epochs": 100}, {"epochs": 2})
    assert r["lr"] == 1e-4 and r["epochs"] == 2
    with pytest.raises(ConfigError, match="precision"):
        resolve_recipe({"precision": "fp8"})
    with pytest.raises(ConfigError, match="unknown recipe key"):
        resolve_recipe({"learning_rate": 1})
    with pytest.raises(ConfigError, match="batch_size"):
        resolve_recipe({"batch_size": 0})
