"""Protocols as data: every card's protocols plan, print and record the recipe their source states."""

from __future__ import annotations

import json

import pytest

from gazebench.core.config import Recipe
from gazebench.datasets.cards import CardError, load_card
from gazebench.datasets.mpiifacegaze.tests.test_mpiifacegaze import synth_tree  # noqa: F401  (fixture)
from gazebench.plan import planning
from tests.helpers import SMALL_RUN, cli, run_cli

CARDS = ["gaze360", "rtgene", "mpiifacegaze", "synthgaze"]
PAIRS = [(d, p) for d in CARDS for p in load_card(d).protocol_names()]


@pytest.mark.parametrize("dataset,protocol", PAIRS, ids=[f"{d}-{p}" for d, p in PAIRS])
def test_dry_run_prints_each_protocols_recipe_augmentation_and_selection(dataset, protocol, capsys, tmp_path):
    card_protocol = load_card(dataset).protocol(protocol)
    recipe = Recipe.resolve(card_protocol.recipe)
    assert (
        cli(
            "run", "--dataset", dataset, "--protocol", protocol, "--model", "static", "--dry-run", "--results", tmp_path
        )
        == 0
    )
    out = capsys.readouterr().out
    header, recipe_line = out.splitlines()[0], next(line for line in out.splitlines() if line.startswith("  recipe:"))
    assert header.startswith(f"protocol {protocol} of {dataset}")
    resolved = recipe.as_dict()
    for key in card_protocol.recipe:
        value = resolved[key]
        shown = (",".join(map(str, value)) or "none") if isinstance(value, list) else str(value)
        assert f" {key}={shown}" in recipe_line + " ", (key, recipe_line)
    augmentation = next(line for line in out.splitlines() if line.startswith("  augmentation:"))
    assert ("RandomResizedCrop" in augmentation) == ("resized_crop" in recipe.augment)
    assert ("no flip" in augmentation) == ("flip" not in recipe.augment)
    assert f"selection: {recipe.selection()}" in out


def test_gaze360_original_is_the_gaze360_codes_recipe(capsys, tmp_path):
    assert (
        cli(
            "run",
            "--dataset",
            "gaze360",
            "--protocol",
            "original",
            "--model",
            "seqlstm",
            "--dry-run",
            "--results",
            tmp_path,
        )
        == 0
    )
    out = capsys.readouterr().out
    assert " batch_size=80 " in out and " epochs=80 " in out and " lr=0.0001 " in out
    assert "RandomResizedCrop" in out and "no flip" in out and "erkil1452/gaze360 @ cbeb8e4" in out
    assert "pretrained=tv_in1k" in out


def test_every_protocol_cites_its_source_and_the_default_is_one_of_them():
    for dataset in CARDS:
        card = load_card(dataset)
        assert card.default_protocol in card.protocol_names()
        if dataset != "synthgaze":
            for name in card.protocol_names():
                p = card.protocol(name)
                assert p.source and p.description and p.model.get("pretrained") == "tv_in1k", (dataset, name)


def test_an_unknown_protocol_is_one_line_naming_the_protocols(capsys, tmp_path):
    assert cli("run", "--dataset", "rtgene", "--protocol", "orignal", "--dry-run", "--results", tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "original, gazehub" in err and "'orignal'" in err
    with pytest.raises(CardError, match="original, multizoom"):
        load_card("gaze360").protocol("paper")


def _unit(dataset: str, model: str, protocol: str | None = None, **kwargs):
    suite = planning.single_run_suite(dataset, [model], [0], protocol=protocol)
    (spec, *_) = planning.expand(suite, kwargs)
    return planning.plan_unit(spec, "results", "runs")


def test_protocols_set_recipe_model_and_data_defaults_and_have_their_own_units():
    original = _unit("rtgene", "staticsc")
    gazehub = _unit("rtgene", "staticsc", "gazehub")
    assert original.protocol.name == "original" and original.recipe.loss == "mse"
    assert gazehub.data_options["validation"] == "gazehub" and gazehub.data_options["variant"] == "original"
    assert original.model_kwargs["pretrained"] == "tv_in1k"
    assert original.unit_id != gazehub.unit_id
    # model defaults reach only the models that take them; --set still wins over the protocol
    assert "pretrained" not in _unit("rtgene", "mean").model_kwargs
    assert _unit("rtgene", "static", pretrained=False).model_kwargs["pretrained"] is False
    assert _unit("gaze360", "msa", "multizoom").model_kwargs["decode"] == "avg"
    assert "decode" not in _unit("gaze360", "static", "multizoom").model_kwargs
    assert _unit("synthgaze", "static").recipe.augment == ("flip",)
    assert _unit("gaze360", "static").recipe.augment == ("resized_crop",)


def test_a_suite_entry_names_its_protocol(tmp_path, capsys):
    config = tmp_path / "b.yaml"
    config.write_text(
        "benchmarks:\n  mine:\n    datasets: [{name: gaze360, protocol: multizoom}]\n    models: [static]\n"
    )
    assert cli("run", "--benchmark", "mine", "--config", config, "--dry-run", "--results", tmp_path) == 0
    assert "protocol multizoom of gaze360" in capsys.readouterr().out
    assert (
        cli(
            "run",
            "--benchmark",
            "mine",
            "--config",
            config,
            "--protocol",
            "original",
            "--dry-run",
            "--results",
            tmp_path,
        )
        == 0
    )  # --protocol replaces the suite's
    assert "protocol original of gaze360" in capsys.readouterr().out


def test_ls_datasets_names_each_default_protocol(capsys):
    assert run_cli(["ls", "datasets"]) == 0
    out = capsys.readouterr().out
    for dataset in CARDS:
        card = load_card(dataset)
        line = next(line for line in out.splitlines() if line.startswith(dataset))
        assert card.default_protocol in line


def test_the_record_names_the_protocol_and_its_selection_rule(tiny_synth, tmp_path):
    assert (
        cli(
            "run",
            "--dataset",
            "synthgaze",
            "--root",
            tiny_synth,
            "--model",
            "mean",
            "--results",
            tmp_path / "r",
            "--runs",
            tmp_path / "runs",
            "--quiet",
            "--no-table",
            "--set",
            "num_workers=0",
        )
        == 0
    )
    (path,) = (tmp_path / "r").rglob("*.json")
    record = json.loads(path.read_text())
    assert record["protocol"]["name"] == "standard"
    assert record["identity"]["config"]["protocol"] == "standard"
    # the tiny preset renders 8 of the subjects the card's split lists name: its own population is full
    pop = record["population"]
    assert pop["complete"] and pop["name"] == "synthgaze/test"
    assert pop["subsets"] == {name: record["metrics"][name]["n"] for name in ("front180", "front20", "back")}
    assert pop["subsets"]["front180"] + pop["subsets"]["back"] == pop["count"] == record["metrics"]["all"]["n"]


def test_mpiifacegaze_gazehub_trains_on_the_other_fourteen_without_validation(synth_tree, tmp_path, capsys):  # noqa: F811
    # GazeHub's split on MPI's release files (protocol gazehub reads GazeHub's own: tests/test_gazehub.py)
    common = [
        "run",
        "--dataset",
        "mpiifacegaze",
        "--root",
        synth_tree,
        "--protocol",
        "gazehub-original",
        "--fold",
        "0",
        "--model",
        "static",
        "--set",
        "expect_samples=any",
        "--set",
        "pretrained=false",
        "--results",
        tmp_path / "r",
        "--runs",
        tmp_path / "runs",
        *SMALL_RUN,
    ]
    assert cli(*common, "--set", "select=val_angular") == 2  # selecting on validation needs a validation split
    assert "the val split has no samples; recipe select=val_angular" in capsys.readouterr().err
    assert cli(*common) == 0
    (path,) = (tmp_path / "r").rglob("*.json")
    record = json.loads(path.read_text())
    assert record["dataset"]["subjects"]["val"] == [] and record["dataset"]["subjects"]["train"] == [
        f"p{k:02d}" for k in range(1, 8)
    ]
    assert "no validation split" in record["selection"]["rule"] and record["val_metrics"] == {}
    assert record["selection"]["chosen_epoch"] == 1 and record["population"]["name"] == "mpiifacegaze/fold-0/test"


def test_every_rtgene_protocol_names_its_images_and_where_they_come_from(capsys, tmp_path):
    """The seed's RT-GENE script reads original/face_before_inpainting by default (rt_run.py line
    381, data_utils.py lines 43-44): the adapter's own default (inpainted) must never decide."""
    from gazebench.datasets.rtgene import VARIANT_DIRS

    card = load_card("rtgene")
    for name in card.protocol_names():
        p = card.protocol(name)
        assert p.data.get("variant") in VARIANT_DIRS, name
        assert f"variant {p.data['variant']}" in p.description + " " + p.source, name
    assert _unit("rtgene", "static").data_options["variant"] == "original_large"
    assert _unit("rtgene", "static", "inpainted").data_options["variant"] == "inpainted"
    assert _unit("rtgene", "static", variant="original").data_options["variant"] == "original"  # --set wins
    assert cli("run", "--dataset", "rtgene", "--model", "static", "--dry-run", "--results", tmp_path) == 0
    assert "variant=original_large" in capsys.readouterr().out


@pytest.mark.parametrize(
    "model,options,loss",
    [
        ("msa", {}, "sincos_pinball"),
        ("msaseq", {}, "sincos_pinball"),
        ("msa", {"head": "angle", "decode": "atan2"}, "pinball"),
        ("static", {}, "pinball"),
        ("seqlstm", {}, "pinball"),
        ("staticsc", {}, "sincos"),
        ("staticsclstmsym", {}, "sincos"),
        ("seqsclstmsym", {}, "sincos"),
    ],
)
def test_multizoom_trains_each_model_with_its_originals_loss(model, options, loss):
    """MultiZoomGaze run.py: NonLstmSinCosModel (MSA, MSA+Seq) PinBallLoss (lines 583-584),
    NonLstmMultiCropModel (MSA+raw), StaticModel and LSTM PinBallLoss, the Reg models
    RegularizedSinAndCosLoss; the unit's model is what build_setup builds, its loss what it trains."""
    from gazebench.losses import resolve_loss
    from gazebench.train.assemble import unit_model

    unit = _unit("gaze360", model, "multizoom", backbone="test_resnet", pretrained=False, **options)
    built = unit_model(unit)
    assert resolve_loss(unit.recipe.loss, built) == loss and built.options["loss"] == loss
    assert loss in load_card("gaze360").protocol("multizoom").description


@pytest.mark.parametrize("protocol", ["seed", "xgaze-baseline"])
def test_ethxgaze_protocols_decay_the_learning_rate_as_the_originals(protocol, capsys, tmp_path):
    """StepLR(step_size=10, gamma=0.1) stepped after each epoch: ETH-XGaze trainer.py lines 72-75
    and 104; the seed's xg_run.py lines 275 and 321."""
    recipe = _unit("ethxgaze", "xgaze", protocol).recipe
    assert recipe.lr_step == (10, 0.1)
    assert [recipe.epoch_lr(e) for e in (1, 10, 11, 20, 21)] == pytest.approx([1e-4, 1e-4, 1e-5, 1e-5, 1e-6])
    assert (
        cli(
            "run",
            "--dataset",
            "ethxgaze",
            "--protocol",
            protocol,
            "--model",
            "xgaze",
            "--dry-run",
            "--results",
            tmp_path,
        )
        == 0
    )
    assert " lr_step=10,0.1 " in capsys.readouterr().out


def test_lr_step_sets_each_epochs_learning_rate(tiny_synth, tmp_path):
    assert (
        cli(
            "run",
            "--dataset",
            "synthgaze",
            "--root",
            tiny_synth,
            "--model",
            "static",
            "--epochs",
            "3",
            "--set",
            "lr=0.001",
            "--set",
            "lr_step=[1, 0.5]",
            "--results",
            tmp_path / "r",
            "--runs",
            tmp_path / "runs",
            *SMALL_RUN[2:],
        )
        == 0
    )
    (path,) = (tmp_path / "r").rglob("*.json")
    record = json.loads(path.read_text())
    assert record["recipe"]["lr_step"] == [1, 0.5]
    assert [h["lr"] for h in record["history"]] == pytest.approx([1e-3, 5e-4, 2.5e-4])


@pytest.mark.parametrize("model", ["msa", "msaseq"])
def test_a_protocols_decode_default_skips_the_angle_head_it_cannot_apply_to(model):
    """multizoom decodes sin-cos heads with decode=avg; MSA+raw (head=angle) has nothing to decode,
    so the protocol's default must not reach it (it once made `reproduce multizoom-msa-raw` fail
    while the model was built), while a decode the user gives is still refused."""
    from gazebench.core.options import ConfigError
    from gazebench.models import build_model

    sincos = _unit("gaze360", model, "multizoom", backbone="test_resnet", pretrained=False)
    assert sincos.model_kwargs["decode"] == "avg"
    raw = _unit("gaze360", model, "multizoom", head="angle", backbone="test_resnet", pretrained=False)
    assert raw.model_kwargs["decode"] == "atan2"  # the model's own default, which the angle head accepts
    build_model(model, **raw.model_kwargs)
    with pytest.raises(ConfigError, match="decode=avg reads a sin-cos head"):
        build_model(model, **{**raw.model_kwargs, "decode": "avg"})
