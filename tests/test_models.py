"""Every registered model honours the GazeModel contract; the parts do what their names say."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest
import timm
import torch

import gazebench.models  # noqa: F401  (registers the models)
from gazebench.core.geometry import yawpitch_to_vector
from gazebench.core.options import ConfigError
from gazebench.core.registry import MODELS, RegistryError
from gazebench.datasets.views import ViewSpec
from gazebench.losses import LOSSES
from gazebench.models import GazeModel, build_model, model_kwargs
from gazebench.models.backbones import Backbone
from gazebench.models.binned import BinnedHead
from gazebench.models.fusion import LSTMFusion, MaxFusion, MeanFusion, SingleView, SpatialMaxFusion
from gazebench.models.heads import AngleHead, SinCosHead

TINY = dict(backbone="test_resnet", pretrained=False)
SIZE = 32


def tiny(name: str, **kwargs) -> GazeModel:
    accepted = model_kwargs(name)
    return build_model(name, **{k: v for k, v in {**TINY, **kwargs}.items() if k in accepted})


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("name", MODELS.names())
def test_contract(name: str) -> None:
    model = tiny(name)
    assert isinstance(model, GazeModel)
    assert MODELS.entry(name).description, "a registered model needs a one-line description"
    assert model.default_loss in LOSSES
    views = torch.rand(2, model.view.num_views, 3, SIZE, SIZE)
    out = model(views)

    vec = out["vector"]
    assert vec.shape == (2, 3) and torch.isfinite(vec).all()
    torch.testing.assert_close(vec.norm(dim=-1), torch.ones(2), atol=1e-5, rtol=0)
    if "sigma" in out:
        assert out["sigma"].shape == (2,) and (out["sigma"] > 0).all() and (out["sigma"] < math.pi).all()
    if "yaw_pitch" in out:
        yp = out["yaw_pitch"]
        assert yp.shape == (2, 2) and torch.isfinite(yp).all()
        assert (yp[:, 0].abs() <= math.pi).all() and (yp[:, 1].abs() <= math.pi / 2).all()
    if "sincos" in out:
        assert out["sincos"].shape == (2, 3) and (out["sincos"].abs() <= 1).all()

    if not model.trainable:
        return
    target = torch.nn.functional.normalize(torch.randn(2, 3), dim=-1)
    loss = LOSSES.get(model.default_loss)(out, target)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", [n for n in MODELS.names() if n != "mean"])
def test_every_model_takes_the_common_options(name: str) -> None:
    assert {"backbone", "pretrained", "weights_file", "feature_dim", "proj", "loss"} <= set(model_kwargs(name))


def test_expected_views() -> None:
    def view(name, **kw):
        return tiny(name, **kw).view

    assert view("static") == ViewSpec() and view("staticsc").num_views == 1
    assert view("staticsc", crops=175).crops == (175 / 224,)
    assert view("staticsclstm").num_views == 7 and view("staticsclstm").num_frames == 1
    assert [round(c * 224) for c in view("staticsclstm").crops] == [224, 212, 199, 187, 174, 162, 150]
    assert [round(c * 224) for c in view("staticsclstmsym").crops] == [224, 200, 175, 150, 175, 200, 224]
    assert view("seqlstm") == ViewSpec.window(7)
    assert view("seqsclstm").offsets == tuple(range(-3, 4)) and len(view("seqsclstm").crops) == 7
    assert view("seqsclstmsym").crops == view("staticsclstmsym").crops
    assert view("msa").num_views == 4 and view("msa").num_frames == 1
    assert view("msaseq").num_frames == 7
    assert view("seqlstm", frames=5).num_views == 5
    assert view("l2cs") == ViewSpec() and view("xgaze") == ViewSpec()
    assert view("msa", head="angle") == view("msa") and view("msaseq", head="angle") == view("msaseq")


def test_default_losses() -> None:
    assert tiny("static").default_loss == "pinball" and tiny("seqlstm").default_loss == "pinball"
    for name in ("staticsc", "staticsclstm", "staticsclstmsym", "seqsclstm", "seqsclstmsym"):
        assert tiny(name).default_loss == "sincos"
    # MSA and MSA+Seq, the seed's NonLstmSinCosModel, train with plain pinball on the sin-cos outputs
    assert tiny("msa").default_loss == tiny("msaseq").default_loss == "sincos_pinball"
    assert tiny("static", loss="mse").default_loss == "mse"
    assert tiny("l2cs").default_loss == "l2cs" and tiny("xgaze").default_loss == "l1"
    # the MSA models' loss follows their head: MSA+raw (head=angle) trains with pinball, as the seed
    assert tiny("msa", head="angle").default_loss == tiny("msaseq", head="angle").default_loss == "pinball"
    # mse on a sin-cos head is MSE on its decoded angles plus its own regulariser
    assert tiny("staticsc", loss="mse").default_loss == "mse_sincos"
    assert tiny("staticsc", loss="mse").options["loss"] == "mse_sincos"
    with pytest.raises(RegistryError, match="pinball"):
        tiny("static", loss="pinbal")


def test_unknown_option_is_an_error_listing_the_options() -> None:
    with pytest.raises(TypeError, match="crop.*Did you mean 'crops'"):
        build_model("staticsclstm", backbone="test_resnet", crop="224,150")
    with pytest.raises(TypeError, match="decode"):
        build_model("static", backbone="test_resnet", decode="avg")  # angle head has no decode


def test_unknown_backbone_suggests_a_timm_name() -> None:
    with pytest.raises(ValueError, match="Did you mean 'resnet18'"):
        build_model("static", backbone="resnet19")


def test_crops_override_changes_the_view() -> None:
    assert tiny("staticsclstm", crops="224,150").view == ViewSpec((0,), (1.0, 150 / 224))
    assert tiny("staticsclstm", crops=(1.0, 0.5, 0.25)).view.num_views == 3
    assert tiny("msa", crops="none").view == ViewSpec()
    assert tiny("seqsclstmsym", frames=3, crops="1.0,0.8,1.0").view == ViewSpec((-1, 0, 1), (1.0, 0.8, 1.0))
    with pytest.raises(ValueError, match="seqsclstm.*frames=5 needs 5 crops"):
        tiny("seqsclstm", frames=5)
    with pytest.raises(ValueError, match="static.*at most one crop"):
        tiny("static", crops="224,200")


def test_string_options_from_a_command_line_are_converted() -> None:
    model = tiny("seqlstm", frames="5", bidirectional="false", lstm_hidden="16", take="last")
    assert model.view.num_frames == 5
    assert model.fusion.out_dim == 16 and model.fusion.take == "last"
    assert model.options["bidirectional"] is False


def test_wrong_view_count_is_rejected() -> None:
    model = tiny("staticsclstmsym")
    with pytest.raises(ValueError, match=r"\[B, 7, C, H, W\]"):
        model(torch.rand(2, 3, 3, SIZE, SIZE))


def test_weights_file_loads_a_local_state_dict(tmp_path) -> None:
    source = timm.create_model("test_resnet", pretrained=False, num_classes=0)
    with torch.no_grad():
        for p in source.parameters():
            p.normal_()
    path = tmp_path / "test_resnet.pth"
    torch.save(source.state_dict(), path)

    model = build_model("static", backbone="test_resnet", weights_file=str(path))
    loaded = model.backbone.net.state_dict()
    for key, value in source.state_dict().items():
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0)

    with pytest.raises(FileNotFoundError, match="missing.pth"):
        build_model("static", backbone="test_resnet", weights_file=str(tmp_path / "missing.pth"))
    torch.save({"unrelated.weight": torch.zeros(1)}, tmp_path / "foreign.pth")
    with pytest.raises(ConfigError, match="does not fit"):
        build_model("static", backbone="test_resnet", weights_file=str(tmp_path / "foreign.pth"))


# --- parts ----------------------------------------------------------------------------------------


def test_backbone_runs_all_views_in_one_call() -> None:
    backbone = Backbone("test_resnet", feature_dim=8)
    calls = []
    inner = backbone.net.forward_features
    backbone.net.forward_features = lambda x: calls.append(tuple(x.shape)) or inner(x)
    views = torch.rand(2, 5, 3, SIZE, SIZE)
    feats = backbone(views)
    assert calls == [(10, 3, SIZE, SIZE)]
    assert feats.shape == (2, 5, 8) and (feats >= 0).all()  # Linear + ReLU projection
    # per view, the same numbers as running each view on its own (eval: BatchNorm uses running stats)
    backbone.eval()
    with torch.no_grad():
        together = backbone(views)
        alone = torch.stack([backbone(views[:, i : i + 1])[:, 0] for i in range(5)], dim=1)
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)


def test_lstm_fusion_reads_the_middle_or_last_step() -> None:
    x = torch.randn(3, 5, 8)
    mid = LSTMFusion(8, hidden=4, layers=2, bidirectional=True, take="middle")
    full, _ = mid.lstm(x)
    torch.testing.assert_close(mid(x), full[:, 2])  # V // 2, not a hard-coded index
    assert mid.out_dim == 8
    last = LSTMFusion(8, hidden=4, layers=1, bidirectional=False, take="last")
    full, _ = last.lstm(x)
    torch.testing.assert_close(last(x), full[:, -1])
    assert last.out_dim == 4
    with pytest.raises(ValueError, match="take"):
        LSTMFusion(8, take="first")


def test_simple_fusions() -> None:
    x = torch.randn(2, 4, 6)
    torch.testing.assert_close(MeanFusion(6)(x), x.mean(1))
    torch.testing.assert_close(MaxFusion(6)(x), x.max(1).values)
    torch.testing.assert_close(SingleView(6)(x[:, :1]), x[:, 0])
    with pytest.raises(ValueError, match="one view"):
        SingleView(6)(x)
    maps = torch.randn(2, 4, 6, 3, 3)
    fused = SpatialMaxFusion(6)(maps)
    assert fused.shape == (2, 6, 3, 3)
    torch.testing.assert_close(fused[1, 2, 0, 1], maps[1, :, 2, 0, 1].max())


def test_msa_is_invariant_to_the_order_of_crops() -> None:
    model = tiny("msa").eval()
    views = torch.rand(2, 4, 3, SIZE, SIZE)
    with torch.no_grad():
        a = model(views)["vector"]
        b = model(views.flip(1))["vector"]
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_lstm_model_depends_on_the_order_of_crops() -> None:
    model = tiny("staticsclstm").eval()
    views = torch.rand(2, 7, 3, SIZE, SIZE)
    with torch.no_grad():
        a = model(views)["sincos"]
        b = model(views.flip(1))["sincos"]
    assert not torch.allclose(a, b)


def test_transformer_backbone_with_msa() -> None:
    # token outputs [B, V, N, C] are max-fused and pooled by the model's own head
    model = tiny("msa", backbone="test_vit", crops="224,150")
    size = model.backbone.net.pretrained_cfg["input_size"][-1]
    out = model(torch.rand(1, 2, 3, size, size))
    assert out["vector"].shape == (1, 3)


def test_option_strings_are_read_like_set_values_and_unknown_options_suggest():
    """A model option given as text (a suite file, Python) is read the way --set reads it and must
    fit the option's type; an option the model lacks is refused wherever the model is built."""
    from gazebench.core.registry import MODELS

    model = tiny("static", feature_dim="64")
    assert model.backbone.feature_dim == 64 and isinstance(model.backbone.feature_dim, int)
    with pytest.raises(ValueError, match="feature_dim|expected a number"):
        tiny("static", feature_dim="wide")
    for make in (build_model, lambda name, **kw: MODELS.get(name)(**kw)):
        with pytest.raises(TypeError, match="no option 'crop'.*Did you mean 'crops'"):
            make("staticsc", backbone="test_resnet", crop=175)


REFERENCE = Path(__file__).parent / "fixtures" / "reference"
#: the MultiZoomGaze releases' prefixes -> gazebench's: the seed's MSA tail is
#: Sequential(pool, view, fc1, ReLU, fc2), so its layers 2 and 4 are the projection's 0 and 2
MSA_PREFIXES = {
    "module.base_model_tail.2.": "backbone.proj.0.",
    "module.base_model_tail.4.": "backbone.proj.2.",
    "module.base_model.": "backbone.net.",
    "module.last_layer.": "head.fc.",
}
GAZE360_PREFIXES = {
    "module.base_model.fc1.": "backbone.proj.0.",
    "module.base_model.fc2.": "backbone.proj.2.",
    "module.base_model.": "backbone.net.",
    "module.lstm.": "fusion.lstm.",
    "module.last_layer.": "head.fc.",
}
#: (reference folder, model, options, source prefix -> gazebench prefix, ignored source prefixes);
#: the rest of each key is equal.  Ignored: entries the original forward never uses.
RELEASES = [
    ("gaze360-lstm", "seqlstm", dict(backbone="resnet18"), GAZE360_PREFIXES, ()),
    ("multizoom-static", "static", dict(backbone="resnet18"), GAZE360_PREFIXES, ()),
    ("multizoom-msa", "msa", dict(backbone="resnet18"), MSA_PREFIXES, ()),
    ("multizoom-msa-seq", "msaseq", dict(backbone="resnet18"), MSA_PREFIXES, ()),
    ("multizoom-msa-raw", "msa", dict(backbone="resnet18", head="angle"), MSA_PREFIXES, ()),
    # L2CS-Net: a bare torchvision-named ResNet-50; fc_finetune is vestigial (l2cs/model.py:25-26)
    (
        "l2cs-gaze360",
        "l2cs",
        {},
        {
            "fc_yaw_gaze.": "head.fc_yaw.",
            "fc_pitch_gaze.": "head.fc_pitch.",
            "conv1.": "backbone.net.conv1.",
            "bn1.": "backbone.net.bn1.",
            "layer": "backbone.net.layer",
        },
        ("fc_finetune.",),
    ),
    # ETH-XGaze: the backbone's own fc (1000 classes) is never called (modules/resnet.py:205-209)
    (
        "ethxgaze-resnet50",
        "xgaze",
        {},
        {"gaze_network.": "backbone.net.", "gaze_fc.0.": "head.fc."},
        ("gaze_network.fc.",),
    ),
]


def released_entries(folder: str, prefixes: dict, ignore: tuple) -> dict[str, tuple]:
    """keys.tsv of a released checkpoint, renamed by ``prefixes``: gazebench key -> (shape, dtype)."""
    entries = {}
    for line in (REFERENCE / folder / "keys.tsv").read_text().splitlines():
        key, shape, dtype = line.split("\t")
        if key.startswith(ignore):
            continue
        prefix = next(p for p in prefixes if key.startswith(p))
        entries[prefixes[prefix] + key[len(prefix) :]] = (
            () if shape == "scalar" else tuple(int(n) for n in shape.split("x")),
            dtype,
        )
    return entries


@pytest.mark.parametrize("folder, name, options, prefixes, ignore", RELEASES, ids=[r[0] for r in RELEASES])
def test_models_have_exactly_the_released_checkpoints_entries(folder, name, options, prefixes, ignore) -> None:
    """Every entry of the authors' checkpoint (tests/fixtures/reference/<folder>/keys.tsv: keys,
    shapes and dtypes only), renamed by prefix, is a parameter or buffer of the same shape and dtype
    in the gazebench model with its paper defaults, in the same order, and nothing else is there."""
    model = build_model(name, **options)
    ours = {k: (tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in model.state_dict().items()}
    theirs = released_entries(folder, prefixes, ignore)
    assert ours == theirs
    assert list(ours) == list(theirs)


def test_gaze360_projection_layers() -> None:
    """fc1 512->1000, fc2 1000->256 feeding the LSTM directly (the seed's static variants add a ReLU)."""
    model = build_model("seqlstm", backbone="resnet18", proj="gaze360")
    assert tuple(model.backbone.proj[0].weight.shape) == (1000, 512)
    assert tuple(model.backbone.proj[2].weight.shape) == (256, 1000)
    assert isinstance(model.backbone.proj[-1], torch.nn.Linear)
    assert isinstance(
        build_model("static", backbone="test_resnet", proj="gaze360-relu").backbone.proj[-1], torch.nn.ReLU
    )
    with pytest.raises(ValueError, match="proj must be one of linear, gaze360, gaze360-relu, none"):
        build_model("static", backbone="test_resnet", proj="two-layer")


def test_proj_none_feeds_the_pooled_features_to_the_head() -> None:
    model = tiny("xgaze", feature_dim=7).eval()  # feature_dim is ignored without a projection
    width = model.backbone.net.num_features
    assert model.backbone.feature_dim == width and model.options["feature_dim"] == width
    assert not any(k.startswith("backbone.proj.") for k in model.state_dict())
    assert model.head.fc.in_features == width
    views = torch.rand(2, 1, 3, SIZE, SIZE)
    with torch.no_grad():
        pooled = model.backbone.net.forward_head(model.backbone.net.forward_features(views[:, 0]), pre_logits=True)
        torch.testing.assert_close(model.backbone(views)[:, 0], pooled)
    # any model takes it: the fusion and head follow the backbone's width
    assert tiny("seqlstm", proj="none").fusion.lstm.input_size == width
    assert tiny("msa", proj="none").head.fc.in_features == width


# --- paper defaults -------------------------------------------------------------------------------

PAPER_MODELS = (
    "static",
    "staticsc",
    "staticsclstm",
    "staticsclstmsym",
    "seqlstm",
    "seqsclstm",
    "seqsclstmsym",
    "msa",
    "msaseq",
)
#: the seed's static models put a ReLU after fc2; the LSTM and MSA models feed fc2 on directly
RELU_AFTER_FC2 = {"static", "staticsc"}


@pytest.mark.parametrize("name", PAPER_MODELS)
def test_paper_models_default_to_the_originals_projection(name: str) -> None:
    model = build_model(name, backbone="resnet18")
    params = {k: tuple(v.shape) for k, v in model.named_parameters() if k.startswith("backbone.proj.")}
    assert params == {
        "backbone.proj.0.weight": (1000, 512),
        "backbone.proj.0.bias": (1000,),
        "backbone.proj.2.weight": (256, 1000),
        "backbone.proj.2.bias": (256,),
    }
    assert isinstance(model.backbone.proj[1], torch.nn.ReLU)
    assert isinstance(model.backbone.proj[-1], torch.nn.ReLU) == (name in RELU_AFTER_FC2)
    assert model.options["proj"] == ("gaze360-relu" if name in RELU_AFTER_FC2 else "gaze360")
    if name == "seqlstm":
        lstm = model.fusion.lstm
        assert (lstm.num_layers, lstm.bidirectional, lstm.input_size, lstm.hidden_size) == (2, True, 256, 256)
        assert tuple(model.head.fc.weight.shape) == (3, 512)
    assert tiny(name, proj="linear").options["proj"] == "linear"  # the single layer stays an option


@pytest.mark.parametrize("name", PAPER_MODELS)
def test_sigma_scale_per_head_as_the_seed(name: str) -> None:
    model = tiny(name).eval()
    scale = 1.0 if name == "staticsc" else math.pi  # the seed's static sin-cos sigma is a plain sigmoid
    with torch.no_grad():
        model.head.fc.weight.zero_()
        model.head.fc.bias.zero_()
        model.head.fc.bias[-1] = 30.0  # sigmoid saturates: sigma = the scale
        sigma = model(torch.rand(1, model.view.num_views, 3, SIZE, SIZE))["sigma"]
    torch.testing.assert_close(sigma, torch.full((1,), scale), atol=1e-5, rtol=0)


# --- backbone weights -----------------------------------------------------------------------------


@pytest.fixture()
def offline_caches(monkeypatch, tmp_path):
    """No network and empty caches under tmp_path: (HF hub cache, torch hub checkpoints)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    return tmp_path / "hf" / "hub", tmp_path / "torch" / "hub" / "checkpoints"


def random_state(arch: str) -> dict:
    net = timm.create_model(arch, pretrained=False)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_()
    return net.state_dict()


def assert_loaded(model, state: dict) -> None:
    loaded = model.backbone.net.state_dict()
    for key, value in loaded.items():
        torch.testing.assert_close(value, state[key], rtol=0, atol=0)


def test_offline_without_cached_weights_stops_with_one_line_naming_weights_file(offline_caches) -> None:
    hub, checkpoints = offline_caches
    with pytest.raises(ConfigError) as err:
        build_model("static", backbone="resnet18", pretrained="tv_in1k")
    message = str(err.value)
    assert "\n" not in message and "weights_file=" in message and "resnet18.tv_in1k" in message
    assert str(hub) in message and str(checkpoints) in message and "HF_HUB_OFFLINE" in message


def test_cached_hub_weights_load_offline_and_are_recorded(offline_caches) -> None:
    hub, _ = offline_caches
    snapshot = hub / "models--timm--test_resnet.r160_in1k" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (hub / "models--timm--test_resnet.r160_in1k" / "refs").mkdir()
    (hub / "models--timm--test_resnet.r160_in1k" / "refs" / "main").write_text("0" * 40)
    state = random_state("test_resnet")
    torch.save(state, snapshot / "pytorch_model.bin")

    model = build_model("static", backbone="test_resnet", pretrained=True)  # timm's default tag
    assert_loaded(model, state)
    assert model.weights == {
        "tag": "test_resnet.r160_in1k",
        "file": str(snapshot / "pytorch_model.bin"),
        "sha256": hashlib.sha256((snapshot / "pytorch_model.bin").read_bytes()).hexdigest(),
    }
    assert model.options["pretrained"] == "r160_in1k"  # recorded as the tag loaded
    assert build_model("static", backbone="test_resnet", pretrained="r160_in1k").weights == model.weights


def test_cached_torch_hub_file_of_the_tags_url_loads_offline(offline_caches) -> None:
    _, checkpoints = offline_caches
    url = timm.models.get_pretrained_cfg("resnet18.tv_in1k").url
    checkpoints.mkdir(parents=True)
    path = checkpoints / url.rsplit("/", 1)[1]
    state = random_state("resnet18")
    torch.save(state, path)
    model = build_model("static", backbone="resnet18", pretrained="tv_in1k")
    assert_loaded(model, state)
    assert model.weights["tag"] == "resnet18.tv_in1k" and model.weights["file"] == str(path)


def test_weights_file_records_its_hash_and_wins_over_the_hub(offline_caches, tmp_path) -> None:
    path = tmp_path / "backbone.pth"
    torch.save(random_state("test_resnet"), path)
    model = build_model("static", backbone="test_resnet", pretrained="r160_in1k", weights_file=str(path))
    assert model.weights == {"tag": "file", "file": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def test_unknown_tag_lists_the_backbones_tags() -> None:
    with pytest.raises(ConfigError, match=r"'resnet18'.*'imagenet'.*a1_in1k.*tv_in1k"):
        build_model("static", backbone="resnet18", pretrained="imagenet")


@pytest.mark.parametrize("value", [False, "false", "none", None])
def test_no_pretrained_weights_is_recorded_as_none(value) -> None:
    model = tiny("static", pretrained=value)
    assert model.weights == {"tag": "none", "file": None, "sha256": None}
    assert model.options["pretrained"] is False


# --- L2CS-Net, the ETH-XGaze baseline, MSA+raw ----------------------------------------------------


def test_l2cs_decodes_the_softmax_expectation_over_bin_left_edges() -> None:
    model = tiny("l2cs", bins=28, bin_width=3.0, angle_min=-42.0).eval()  # the repo's MPIIGaze grid
    views = torch.rand(3, 1, 3, SIZE, SIZE)
    with torch.no_grad():
        for fc in (model.head.fc_yaw, model.head.fc_pitch):
            fc.weight.normal_(0.0, 0.5)
        out = model(views)
    assert out["yaw_logits"].shape == out["pitch_logits"].shape == (3, 28) and "sigma" not in out
    edges = -42.0 + 3.0 * torch.arange(28, dtype=torch.float64)
    torch.testing.assert_close(out["bin_edges_deg"], edges.float().expand(3, 28))
    for column, logits in enumerate((out["yaw_logits"], out["pitch_logits"])):  # the first head is yaw
        expected = torch.deg2rad((torch.softmax(logits.double(), -1) * edges).sum(-1))
        torch.testing.assert_close(out["yaw_pitch"][:, column].double(), expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(out["vector"], yawpitch_to_vector(out["yaw_pitch"]))


def test_l2cs_a_sharp_bin_decodes_to_its_left_edge() -> None:
    head = BinnedHead(4)  # 90 bins of 4 deg from -180
    with torch.no_grad():
        head.fc_yaw.weight.zero_(), head.fc_pitch.weight.zero_()
        head.fc_yaw.bias.fill_(-1e4), head.fc_pitch.bias.fill_(-1e4)
        head.fc_yaw.bias[50] = 0.0  # 50 * 4 - 180 = 20 deg
        head.fc_pitch.bias[40] = 0.0  # -20 deg
        yaw, pitch = torch.rad2deg(head(torch.zeros(1, 4))["yaw_pitch"][0]).tolist()
    assert yaw == pytest.approx(20.0, abs=1e-4) and pitch == pytest.approx(-20.0, abs=1e-4)


def test_l2cs_options_are_checked() -> None:
    with pytest.raises(ValueError, match="l2cs.*bins must be an integer >= 2"):
        tiny("l2cs", bins=1)
    with pytest.raises(ValueError, match="l2cs.*bin_width must be > 0"):
        tiny("l2cs", bin_width=0)
    options = tiny("l2cs", bins="28", bin_width="3", angle_min="-42").options  # as --set gives them
    assert (options["bins"], options["bin_width"], options["angle_min"]) == (28, 3.0, -42.0)
    assert options["proj"] == "none" and options["backbone"] == "test_resnet"


def test_xgaze_reads_pitch_then_yaw_in_the_gaze360_convention() -> None:
    model = tiny("xgaze").eval()
    pitch, yaw = 0.2, -0.7
    with torch.no_grad():
        model.head.fc.weight.zero_()
        model.head.fc.bias.copy_(torch.tensor([pitch, yaw]))  # the original's output order
        out = model(torch.rand(1, 1, 3, SIZE, SIZE))
    torch.testing.assert_close(out["yaw_pitch"], torch.tensor([[yaw, pitch]]))
    # ETH-XGaze's utils.pitchyaw_to_vector: (cos p sin y, sin p, cos p cos y) = -g, g the gaze in the
    # OpenCV camera frame (x right, y down, z forward); the Gaze360 frame is that one with x and y flipped
    minus_g = torch.tensor([math.cos(pitch) * math.sin(yaw), math.sin(pitch), math.cos(pitch) * math.cos(yaw)])
    torch.testing.assert_close(out["vector"][0], -minus_g * torch.tensor([-1.0, -1.0, 1.0]))
    assert "sigma" not in out


def test_msa_head_option() -> None:
    raw = tiny("msa", head="angle")
    assert isinstance(raw.head, AngleHead) and raw.head.fc.out_features == 3 and raw.options["head"] == "angle"
    assert isinstance(tiny("msaseq").head, SinCosHead) and tiny("msaseq").options["head"] == "sincos"
    with pytest.raises(ValueError, match="msa.*head must be one of sincos, angle"):
        tiny("msa", head="binned")
    with pytest.raises(ValueError, match="msaseq.*decode=avg reads a sin-cos head"):
        tiny("msaseq", head="angle", decode="avg")


@pytest.mark.parametrize("name, options", [("l2cs", {}), ("xgaze", {}), ("msa", {"head": "angle"})])
def test_new_models_train(name: str, options: dict) -> None:
    """A few optimiser steps on one batch lower the model's own default loss."""
    model = tiny(name, **options).train()
    views = torch.rand(4, model.view.num_views, 3, SIZE, SIZE)
    target = yawpitch_to_vector(torch.tensor([[0.3, 0.1], [-0.5, -0.2], [1.0, 0.3], [-1.2, 0.0]]))
    loss_fn = LOSSES.get(model.default_loss)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
    losses = []
    for _ in range(8):
        loss = loss_fn(model(views), target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
