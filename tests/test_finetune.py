"""Fine-tuning from published checkpoints the way their authors train: the recipe's warm-up and
step decay (GazeTR), OneCycleLR (UniGaze), ViT layer-wise lr decay, the ViT's drop path, the cards'
``fine_tune:`` sections, and unit ids that do not move for runs that set none of it."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import torch

from gazebench.core.config import OMITTED_AT_DEFAULT, Recipe, parse_sets
from gazebench.core.options import ConfigError
from gazebench.models import build_model
from gazebench.plan import planning
from gazebench.published import load_catalogue, published_card
from gazebench.train.schedules import onecycle, param_groups, set_rate
from tests.helpers import cli
from tests.test_published import REFERENCE, reference_weights, save_released

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- identity: a run that sets none of the new fields is the run it was --------------------------


def test_new_recipe_fields_at_their_default_change_no_record_and_no_unit_id(tmp_path: Path) -> None:
    default = Recipe().as_dict()
    assert not set(OMITTED_AT_DEFAULT) & set(default)  # records and hashes as before these fields existed

    def uid(**recipe) -> str:
        spec = planning.RunSpec("synthgaze", "static", recipe={"epochs": 1, **recipe})
        return planning.plan_unit(spec, tmp_path / "r", tmp_path / "runs").unit_id

    same = uid()
    assert uid(warmup=0, lr_schedule="epochs", layer_decay=None) == same
    changed = {uid(warmup=2), uid(lr_schedule="onecycle"), uid(layer_decay=0.75)}
    assert same not in changed and len(changed) == 3
    assert Recipe.resolve({"warmup": 2}).as_dict()["warmup"] == 2


def test_onecycle_refuses_a_warmup_or_step_decay_beside_it() -> None:
    with pytest.raises(ConfigError, match="lr_schedule=onecycle warms up and anneals by itself"):
        Recipe.resolve({"lr_schedule": "onecycle", "lr_step": [2, 0.5]})
    with pytest.raises(ConfigError, match="layer_decay=1.5: must be none or a number in"):
        Recipe.resolve({"layer_decay": 1.5})


# --- the schedules ---------------------------------------------------------------------------------


def test_warmup_then_step_decay_is_gazetrs_gradual_warmup_around_steplr() -> None:
    # GazeTR's MPIIFaceGaze config (lr 5e-4, warmup 5, x0.5 every 60 epochs, 80 epochs): its
    # GradualWarmupScheduler(multiplier=1) is stepped once before training, so epoch e <= 5 trains at
    # lr * e / 5, epoch 6 at lr, and the StepLR it hands over to counts from epoch 6: 60 epochs at lr,
    # then lr / 2 from epoch 66
    recipe = Recipe.resolve(published_card("gazetr-hybrid-ethxgaze").fine_tune.recipe)
    want = {1: 1e-4, 2: 2e-4, 3: 3e-4, 4: 4e-4, 5: 5e-4, 6: 5e-4, 65: 5e-4, 66: 2.5e-4, 80: 2.5e-4}
    for epoch, lr in want.items():
        assert recipe.epoch_lr(epoch) == pytest.approx(lr, rel=1e-12), epoch
    # without a warm-up, lr_step is what it always was
    plain = Recipe.resolve({"lr": 1e-3, "lr_step": [2, 0.1]})
    assert [plain.epoch_lr(e) for e in (1, 2, 3, 5)] == [1e-3, 1e-3, pytest.approx(1e-4), pytest.approx(1e-5)]


def _vit(**options):
    return build_model("unigaze", backbone="test_vit", **options)


def test_onecycle_with_layer_decay_is_torchs_onecyclelr_per_group() -> None:
    """Every step's lr (per layer group) and beta1 equal torch's OneCycleLR built on the same
    groups with ``max_lr = lr * lr_scale``."""
    recipe = Recipe.resolve({"lr": 1e-3, "lr_schedule": "onecycle", "layer_decay": 0.75, "epochs": 3})
    model, twin = _vit(), _vit()
    ours = torch.optim.Adam(param_groups(model, recipe.layer_decay), lr=recipe.lr)
    groups = param_groups(twin, recipe.layer_decay)
    theirs = torch.optim.Adam(groups, lr=recipe.lr)
    steps = 7
    sched = torch.optim.lr_scheduler.OneCycleLR(
        theirs, max_lr=[recipe.lr * g["lr_scale"] for g in groups], epochs=recipe.epochs, steps_per_epoch=steps
    )
    for epoch in range(1, recipe.epochs + 1):
        for i in range(steps):
            set_rate(ours, recipe, epoch, i, steps)
            for a, b in zip(ours.param_groups, theirs.param_groups, strict=True):
                assert a["lr"] == pytest.approx(b["lr"], rel=1e-12, abs=1e-18)
                assert a["betas"][0] == pytest.approx(b["betas"][0], rel=1e-12)
            theirs.step()
            sched.step()
    assert onecycle(0, 21)[0] == pytest.approx(1 / 25) and onecycle(20, 21)[0] == pytest.approx(1 / 25 / 1e4)


def test_layer_decay_groups_a_vit_by_block_depth_as_mae_does() -> None:
    model = _vit()
    depth = len(model.backbone.net.blocks)  # test_vit: 6
    scale = {}
    for group in param_groups(model, 0.5):
        for p in group["params"]:
            scale[id(p)] = group["lr_scale"]
    named = dict(model.named_parameters())
    for name in ("backbone.net.cls_token", "backbone.net.pos_embed", "backbone.net.patch_embed.proj.weight"):
        assert scale[id(named[name])] == 0.5 ** (depth + 1), name
    for i in range(depth):
        assert scale[id(named[f"backbone.net.blocks.{i}.attn.qkv.weight"])] == 0.5 ** (depth - i)
    for name in ("backbone.net.norm.weight", "head.fc.weight", "head.fc.bias"):
        assert scale[id(named[name])] == 1.0, name
    assert len(scale) == len(named)  # every trainable parameter in exactly one group
    with pytest.raises(ConfigError, match="no transformer blocks"):
        param_groups(build_model("gazetr"), 0.75)


def test_drop_path_acts_in_training_only() -> None:
    torch.manual_seed(0)
    dropped, plain = _vit(drop_path=0.5), _vit()
    plain.load_state_dict(dropped.state_dict())  # drop path adds no parameter
    blocks = dropped.backbone.net.blocks
    rates = [getattr(b.drop_path1, "drop_prob", 0.0) for b in blocks]
    assert rates == pytest.approx([0.5 * i / (len(blocks) - 1) for i in range(len(blocks))])  # timm's rule
    x = torch.randn(2, 1, 3, 160, 160)
    dropped.eval(), plain.eval()
    with torch.no_grad():
        assert torch.equal(dropped(x)["yaw_pitch"], plain(x)["yaw_pitch"])
        dropped.train(), plain.train()
        torch.manual_seed(1)
        a = dropped(x)["yaw_pitch"]
        torch.manual_seed(2)
        b = dropped(x)["yaw_pitch"]
        assert not torch.allclose(a, b)  # a random depth each pass
        assert torch.equal(plain(x)["yaw_pitch"], plain(x)["yaw_pitch"])  # test_vit has no other dropout
    with pytest.raises(Exception, match="drop_path must be in"):
        _vit(drop_path=1.0)
    assert dropped.options["drop_path"] == 0.5


# --- the cards' fine_tune sections -------------------------------------------------------------------


def test_every_transformer_card_states_its_authors_fine_tuning_recipe() -> None:
    cards = load_catalogue()
    for name in (
        "gazetr-hybrid-ethxgaze",
        "unigaze-b16-joint",
        "unigaze-l16-joint",
        "unigaze-h14-joint",
        "unigaze-h14-cross-x",
    ):
        tune = cards[name].fine_tune
        assert tune is not None and "@" in tune.source and "line" in tune.source, name
        recipe = Recipe.resolve(tune.recipe)
        assert recipe.loss == "l1" and recipe.image_size == 224
        # the flags `ls published --fine-tune` prints read back (through a shell) as the card's settings
        flags = shlex.split(tune.set_flags(cards[name].tag))
        assert parse_sets(flags[1::2]) == {
            k: list(v) if isinstance(v, tuple) else v for k, v in tune.settings(cards[name].tag).items()
        }
    uni = Recipe.resolve(cards["unigaze-b16-joint"].fine_tune.recipe)
    assert uni.lr_schedule == "onecycle" and uni.layer_decay is None and uni.lr == 1e-4
    assert cards["unigaze-b16-joint"].fine_tune.model == {"drop_path": 0.1}
    tr = cards["gazetr-hybrid-ethxgaze"].fine_tune
    assert Recipe.resolve(tr.recipe, tr.per_dataset["gaze360"]).betas == (0.9, 0.999)
    assert Recipe.resolve(tr.recipe).betas == (0.9, 0.95)


def test_a_fine_tune_section_with_an_unknown_key_or_an_architecture_option_is_refused(tmp_path: Path) -> None:
    from gazebench.published.cards import read_card

    text = published_card("unigaze-b16-joint").path.read_text()
    bad = tmp_path / "unigaze-b16-joint.yaml"
    bad.write_text(text.replace("lr_schedule: onecycle", "lr_shedule: onecycle"))
    with pytest.raises(ConfigError, match="fine_tune: unknown recipe key 'lr_shedule'"):
        read_card(bad)
    bad.write_text(text.replace("model: {drop_path: 0.1}", "model: {backbone: vit_large_patch16_224}"))
    with pytest.raises(ConfigError, match="fine_tune.model may set only drop_path, dropout"):
        read_card(bad)


def test_ls_published_prints_a_cards_fine_tuning_flags(capsys) -> None:
    card = published_card("gazetr-hybrid-ethxgaze")
    assert cli("ls", "published", "--fine-tune", card.name, "--dataset", "gaze360") == 0
    out, err = capsys.readouterr()
    flags = shlex.split(out)
    assert flags[:-2] == shlex.split(card.fine_tune.set_flags(card.tag, "gaze360"))
    assert flags[-2:] == ["--set", "weights_file=Iter_50_trans6.pt"]
    assert "batch_size=256" in out and "'betas=[0.9,0.999]'" in out  # Gaze360's train-test run
    assert "yihuacheng/GazeTR @ d7cf716" in err and "BGR" in err
    assert cli("ls", "published", "--fine-tune", "gaze360-lstm") == 2
    assert "states no fine-tuning recipe" in capsys.readouterr().err
    # docs/published.md shows this command's output as it is
    assert cli("ls", "published", "--fine-tune", "unigaze-b16-joint") == 0
    docs = (Path(__file__).resolve().parents[1] / "docs" / "published.md").read_text().splitlines()
    shown = docs[docs.index("$ gazebench ls published --fine-tune unigaze-b16-joint") + 1]
    assert capsys.readouterr().out.strip() == shown


def test_ls_published_names_the_test_set_of_each_number(capsys) -> None:
    assert published_card("unigaze-h14-cross-x").published_short() == "EYEDIAP CS all 4.65°; EYEDIAP FT all 8.13°"
    assert cli("ls", "published") == 0
    assert "EYEDIAP CS all 4.65°; EYEDIAP FT all 8.13°" in capsys.readouterr().out


# --- real fine-tuning runs ---------------------------------------------------------------------------


class StepSpy:
    """Wraps ``torch.optim.Adam.step`` (the real step runs) to see, before each step, every group's
    lr and beta1, and before the first one the parameters the run starts from."""

    def __init__(self, monkeypatch) -> None:
        self.steps: list[list[tuple[float, float]]] = []
        self.start: list[torch.Tensor] | None = None
        real = torch.optim.Adam.step
        spy = self

        def step(opt, *args, **kwargs):
            if spy.start is None:
                spy.start = [p.detach().clone() for g in opt.param_groups for p in g["params"]]
            spy.steps.append([(g["lr"], g["betas"][0]) for g in opt.param_groups])
            return real(opt, *args, **kwargs)

        monkeypatch.setattr(torch.optim.Adam, "step", step)


def _run(root: Path, out: Path, model: str, *sets: str) -> dict:
    flags = [
        x
        for s in ("num_workers=0", "max_train_samples=8", "batch_size=4", "eval_batch_size=64", *sets)
        for x in ("--set", s)
    ]
    assert (
        cli(
            "run",
            "--dataset",
            "synthgaze",
            "--root",
            root,
            "--model",
            model,
            *flags,
            "--results",
            out / "results",
            "--runs",
            out / "runs",
            "--quiet",
            "--no-table",
        )
        == 0
    )
    (path,) = (out / "results").rglob("*.json")
    return json.loads(path.read_text())


def test_fine_tuning_gazetr_starts_from_the_checkpoint_and_warms_up_then_decays(
    tiny_synth, tmp_path, monkeypatch
) -> None:
    """A real run from GazeTR's weights rebuilt by rule and packed as the release: the first step
    starts from exactly those weights, and each epoch's two steps run at the card's schedule (here
    shortened: warm-up 2, then x0.5 every epoch)."""
    file = save_released(
        "gazetr-hybrid-ethxgaze",
        reference_weights(REFERENCE / "gazetr-hybrid-ethxgaze"),
        tmp_path / "Iter_50_trans6.pt",
    )
    released = published_card("gazetr-hybrid-ethxgaze")
    settings = released.fine_tune.settings(released.tag)
    settings.update(epochs=4, warmup=2, lr_step=[1, 0.5], image_size=64)
    del settings["batch_size"]  # 4 (_run): two steps an epoch
    spy = StepSpy(monkeypatch)
    record = _run(tiny_synth, tmp_path, "gazetr", *(f"{k}={v}" for k, v in settings.items()), f"weights_file={file}")
    from gazebench.published import load_published

    start = [p.detach() for p in load_published(released.name, file).parameters()]
    assert len(spy.start) == len(start) and all(torch.equal(a, b) for a, b in zip(spy.start, start))
    lrs = [s[0][0] for s in spy.steps]
    # epochs 1-2 warm up (lr * e / 2); the StepLR's count starts at epoch 3, which trains at lr, and
    # halves it after one epoch
    assert lrs == pytest.approx([2.5e-4] * 2 + [5e-4] * 2 + [5e-4] * 2 + [2.5e-4] * 2, rel=1e-12)
    assert {s[0][1] for s in spy.steps} == {0.9}  # beta1 untouched by an epoch schedule
    assert [h["lr"] for h in record["history"]] == pytest.approx([2.5e-4, 5e-4, 5e-4, 2.5e-4])
    assert record["recipe"]["warmup"] == 2 and "lr_schedule" not in record["recipe"]
    assert record["weights"]["tag"] == released.tag and record["model"]["options"]["dropout"] == 0.1


def test_a_vit_trains_under_onecycle_with_layer_decay_and_drop_path(tiny_synth, tmp_path, monkeypatch) -> None:
    """UniGaze's recipe on a tiny timm ViT, end to end: every step's lr per layer group and beta1
    are OneCycleLR's (:func:`onecycle`, checked against torch above) times the group's decay, and the
    record states what was set."""
    spy = StepSpy(monkeypatch)
    record = _run(
        tiny_synth,
        tmp_path,
        "unigaze",
        "backbone=test_vit",
        "image_size=160",
        "epochs=2",
        "lr=1e-3",
        "lr_schedule=onecycle",
        "layer_decay=0.5",
        "drop_path=0.1",
        "weight_decay=1e-6",
    )
    depth = 6
    scales = [0.5 ** (depth + 1 - layer) for layer in range(depth + 2)]
    assert len(spy.steps) == 4 and all(len(s) == depth + 2 for s in spy.steps)
    for k, step in enumerate(spy.steps):
        factor, beta1 = onecycle(k, 4)
        assert [lr for lr, _ in step] == pytest.approx([1e-3 * factor * s for s in scales], rel=1e-12)
        assert [b for _, b in step] == pytest.approx([beta1] * len(step), rel=1e-12)
    assert record["recipe"]["lr_schedule"] == "onecycle" and record["recipe"]["layer_decay"] == 0.5
    assert record["model"]["options"]["drop_path"] == 0.1


def test_a_published_vit_loads_exactly_with_its_training_drop_path(tmp_path: Path) -> None:
    """``init=published:unigaze-*`` with ``--set drop_path=0.1`` (the card's fine_tune): the same
    released tensors load strictly into the ViT with stochastic depth; the architecture stays the card's."""
    from gazebench.published import load_published
    from gazebench.published.loading import build_published

    name = "unigaze-b16-joint"
    file = save_released(name, reference_weights(REFERENCE / name), tmp_path / "unigaze_b16_joint.safetensors")
    tuned, plain = load_published(name, file, drop_path=0.1), load_published(name, file)
    assert tuned.backbone.net.blocks[-1].drop_path1.drop_prob == pytest.approx(0.1)
    assert all(torch.equal(a, b) for a, b in zip(tuned.state_dict().values(), plain.state_dict().values()))
    with pytest.raises(ConfigError, match="may set only drop_path, dropout, not backbone"):
        build_published(name, backbone="vit_large_patch16_224")
