import dataclasses

import pytest

from gazebench.core.config import ConfigError, Recipe, parse_sets, recipe_table, route_settings


def test_set_values_are_typed():
    got = parse_sets(["epochs=3", "lr=1e-4", "crops=1.0,0.78", "betas=[0.9, 0.95]", "patience=none", "augment=none"])
    assert got == {
        "epochs": 3,
        "lr": 1e-4,
        "crops": "1.0,0.78",
        "betas": [0.9, 0.95],
        "patience": None,
        "augment": None,
    }


def test_routing_and_unknown_key_suggests_closest():
    routed = route_settings({"lr": 0.1, "crops": "1.0", "variant": "original"}, ["crops", "backbone"], ["variant"])
    assert routed.recipe == {"lr": 0.1} and routed.model == {"crops": "1.0"} and routed.data == {"variant": "original"}
    qualified = route_settings({"data.variant": "x", "model.crops": 1}, ["crops"], ["variant"])
    assert qualified.data == {"variant": "x"} and qualified.model == {"crops": 1}
    with pytest.raises(ConfigError, match="Did you mean 'epochs'"):
        route_settings({"epoch": 3}, ["backbone"], [])
    assert route_settings({"epoch": 3}, ["backbone"], [], strict=False).recipe == {}


def test_recipe_layers_and_validation():
    r = Recipe.resolve({"lr": 1e-4, "epochs": 100}, {"epochs": 2})
    assert r.lr == 1e-4 and r.epochs == 2 and r.batch_size == Recipe().batch_size
    with pytest.raises(ConfigError, match="precision"):
        Recipe.resolve({"precision": "fp8"})
    with pytest.raises(ConfigError, match="unknown recipe key"):
        Recipe.resolve({"learning_rate": 1})
    with pytest.raises(ConfigError, match="batch_size"):
        Recipe.resolve({"batch_size": 0})
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.epochs = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "key, value, why",
    [
        ("lr", "abc", "must be a positive number"),
        ("lr", -1.0, "must be a positive number"),
        ("epochs", 1.5, "must be an integer >= 0"),
        ("num_workers", -1, "must be auto or an integer >= 0"),
        ("betas", [0.9], "two numbers"),
        ("augment", "mirror", "unknown augmentation 'mirror'"),
        ("device", "tpu", "auto, cpu, cuda"),
        ("patience", 0, "an integer >= 1 or none"),
    ],
)
def test_bad_recipe_values_get_one_clear_line(key, value, why):
    with pytest.raises(ConfigError) as info:
        Recipe.resolve({key: value})
    message = str(info.value)
    assert f"recipe {key}={value!r}" in message and why in message and "\n" not in message


def test_as_dict_is_what_results_record():
    d = Recipe.resolve({"betas": (0.9, 0.95), "lr": 3}).as_dict()
    assert d["betas"] == [0.9, 0.95] and d["lr"] == 3 and isinstance(d["lr"], int)  # ints kept: stable unit ids
    # the fields added after results existed are recorded only when set (config.OMITTED_AT_DEFAULT)
    assert list(d) == [k for k in Recipe.keys() if k not in ("warmup", "lr_schedule", "layer_decay")]
    assert list(Recipe.resolve({"warmup": 1, "layer_decay": 0.5}).as_dict()) == [
        k for k in Recipe.keys() if k != "lr_schedule"
    ]


def test_recipe_table_lists_every_key_with_help():
    rows = recipe_table()
    assert [r[0] for r in rows] == Recipe.keys()
    assert all(r[3] for r in rows)
    assert ("precision", "fp32") == rows[Recipe.keys().index("precision")][:2]


def test_fp32_means_ieee_float32_on_cuda_and_tf32_is_asked_for():
    import torch

    from gazebench.train.engine import configure_matmul_precision

    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        configure_matmul_precision("tf32")
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
        for precision in ("fp32", "bf16", "fp16"):
            configure_matmul_precision(precision)
            assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before
    assert Recipe.resolve({"precision": "tf32"}).precision == "tf32"


def test_image_size_is_bounded_by_the_largest_frame_a_dataset_stores_unless_raised(monkeypatch, capsys):
    """--set image_size=100000 once grew to 24 GB and was killed without a word: refused up front,
    with the way past the bound for whoever really needs it."""
    from gazebench.cli import main

    monkeypatch.delenv("GAZEBENCH_MAX_IMAGE_SIZE", raising=False)
    assert Recipe.resolve({"image_size": 448}).image_size == 448  # MPIIFaceGaze's normalised frames
    with pytest.raises(ConfigError, match=r"image_size=449: must be at most 448 px.*GAZEBENCH_MAX_IMAGE_SIZE=449"):
        Recipe.resolve({"image_size": 449})
    assert main(["run", "--dry-run", "--set", "image_size=100000"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "image_size=100000: must be at most 448 px" in err
    monkeypatch.setenv("GAZEBENCH_MAX_IMAGE_SIZE", "1024")
    assert Recipe.resolve({"image_size": 1024}).image_size == 1024
    with pytest.raises(ConfigError, match="at most 1024 px"):
        Recipe.resolve({"image_size": 1025})
    monkeypatch.setenv("GAZEBENCH_MAX_IMAGE_SIZE", "big")
    with pytest.raises(ConfigError, match="GAZEBENCH_MAX_IMAGE_SIZE='big': must be a whole number"):
        Recipe.resolve({"image_size": 64})


def test_lr_step_takes_an_epoch_count_and_a_factor():
    assert Recipe().lr_step is None and Recipe().epoch_lr(30) == Recipe().lr
    assert Recipe.resolve({"lr_step": "10,0.1"}).lr_step == Recipe.resolve({"lr_step": [10, 0.1]}).lr_step == (10, 0.1)
    assert Recipe.resolve({"lr_step": [10, 0.1]}).as_dict()["lr_step"] == [10, 0.1]
    for bad in ([0, 0.1], [10, 2], [1.5, 0.1], [10], "x"):
        with pytest.raises(ConfigError, match=r"lr_step=.*\[EPOCHS, GAMMA\]"):
            Recipe.resolve({"lr_step": bad})
