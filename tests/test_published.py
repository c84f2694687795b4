"""The published-checkpoint catalogue and its loader, checked against the authors' own code.

Peer checks: for each card, tests/fixtures/reference/<card>/ holds the released file's key list, a
rule that rebuilds reference weights (README.md there and /work/shared/reference/README.md), an
input, and the outputs the authors' own code computed from those weights.  Each test rebuilds the
weights, saves them the way the released file is packed (entry, ``module.`` prefix, legacy or zip
serialisation, storages tagged ``cuda:0``), loads them with ``gazebench.published.load_published`` and
compares gazebench's outputs with the authors' within the reference's tolerance.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

import gazebench.published.loading as loading
from gazebench.cli import main as cli_main
from gazebench.core.options import ConfigError
from gazebench.core.registry import MODELS
from gazebench.models.heads import decode_yaw
from gazebench.published import load_catalogue, load_published, published_card
from tests.reference_rule import key_rows, reference_weights
from tests.reference_rule import parse_shape as _shape

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path(__file__).parent / "fixtures" / "reference"
NAMES = (
    "gaze360-lstm",
    "multizoom-msa-seq",
    "multizoom-msa",
    "multizoom-msa-raw",
    "multizoom-static",
    "l2cs-gaze360",
    "ethxgaze-resnet50",
    "gazetr-hybrid-ethxgaze",
    "unigaze-b16-joint",
    "unigaze-l16-joint",
    "unigaze-h14-joint",
    "unigaze-h14-cross-x",
)
#: the cards whose forward pass is peer-checked in full (L/16 and H/14: key tables and shapes only, below)
PEER_NAMES = NAMES[:9]


# --- the reference weights, rebuilt by the rule and packed as the released file ------------------


def _other_entry(name: str) -> object:
    """Stand-ins for a released file's entries besides the weights (plain values, as torch writes them)."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param], lr=1e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.1)
    return {
        "epoch": 25,
        "best_prec1": 12.5,
        "optim_state": optimizer.state_dict(),
        "scheule_state": scheduler.state_dict(),
    }[name]


@contextlib.contextmanager
def cuda_tagged_storages():
    """While saving, tag CPU storages ``cuda:0``, as a file saved from a CUDA model is."""
    from torch import serialization

    entry = (1, lambda obj: "cuda:0" if obj.device.type == "cpu" else None, lambda obj, location: None)
    serialization._package_registry.insert(0, entry)
    try:
        yield
    finally:
        serialization._package_registry.remove(entry)


def save_released(name: str, state: dict[str, torch.Tensor], path: Path, cuda_tag: bool = True) -> Path:
    """``state`` (keyed as in the released file, keys.tsv) packed as the card says the file is."""
    container = published_card(name).container
    if container.format == "safetensors":  # a flat table of tensors, as Hugging Face hosts them
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
        return path
    obj = (
        state
        if container.state_dict is None
        else {e: state if e == container.state_dict else _other_entry(e) for e in container.entries}
    )
    with cuda_tagged_storages() if cuda_tag else contextlib.nullcontext():
        torch.save(obj, path, _use_new_zipfile_serialization=container.format == "zip")
    return path


# --- the peer checks ------------------------------------------------------------------------------


def _angles(out, exp):
    return [("yaw_pitch", out["yaw_pitch"], exp["yaw_pitch"]), ("sigma", out["sigma"], exp["sigma"])]


def _sincos(out, exp):
    """The sin-cos models: raw outputs, run.py's avg and weighted yaw, its pitch."""
    s, c = out["sincos"][:, 0], out["sincos"][:, 1]
    return [
        *_angles(out, exp),
        ("sincos", out["sincos"], exp["sincos"]),
        ("yaw (decode=avg) vs pred_yaw_avg", out["yaw_pitch"][:, 0], exp["eval_pred_yaw_avg"]),
        ("decode=weighted vs pred_yaw_weighted", decode_yaw(s, c, "weighted"), exp["eval_pred_yaw_weighted"]),
        ("pitch vs pred_pitch_cos", out["yaw_pitch"][:, 1], exp["eval_pred_pitch_cos"]),
    ]


def _l2cs(out, exp):
    """First head = yaw (the repo's variable `pitch` holds it), second = pitch."""
    return [
        ("yaw_logits", out["yaw_logits"], exp["logits_fc_yaw_gaze"]),
        ("pitch_logits", out["pitch_logits"], exp["logits_fc_pitch_gaze"]),
        ("yaw", out["yaw_pitch"][:, 0], exp["yaw"]),
        ("pitch", out["yaw_pitch"][:, 1], exp["pitch"]),
    ]


def _xgaze(out, exp):
    return [("(pitch, yaw)", out["yaw_pitch"][:, [1, 0]], exp["pitch_yaw"])]


def _yawpitch(out, exp):
    return [("(yaw, pitch)", out["yaw_pitch"], exp["yaw_pitch"])]


#: card -> (outputs to compare, input [B, 3, S, S] gets a view axis)
PEER = {
    "gaze360-lstm": (_angles, False),
    "multizoom-msa-seq": (_sincos, False),
    "multizoom-msa": (_sincos, False),
    "multizoom-msa-raw": (_angles, False),
    "multizoom-static": (_angles, False),
    "l2cs-gaze360": (_l2cs, True),
    "ethxgaze-resnet50": (_xgaze, True),
    "gazetr-hybrid-ethxgaze": (_yawpitch, True),
    "unigaze-b16-joint": (_xgaze, True),
}


def card_views(name: str, pictures: np.ndarray) -> torch.Tensor:
    """uint8 RGB pictures ``[B, H, W, 3]`` -> ``[B, 3, H, W]`` float64 as the card's ``input:`` says
    (channel order, 1/255, mean and std): the references that store pictures check the card's input
    conventions too, since the authors' code made its input from the same pictures its own way."""
    spec = published_card(name).input
    x = pictures[..., ::-1] if spec["channels"] == "BGR" else pictures
    x = torch.from_numpy(np.ascontiguousarray(x)).double().permute(0, 3, 1, 2) / 255
    mean, std = (torch.tensor(spec["normalise"][k], dtype=torch.float64).view(1, 3, 1, 1) for k in ("mean", "std"))
    return (x - mean) / std


#: How far a peer output may be from the reference, in float32 epsilons (2^-23) of the output's
#: scale.  gazebench's side runs in float64 (test below), so its own rounding (~1e-16) is nothing
#: and does not depend on the CPU (vector width, AVX-512 or not, summation order): what is left is
#: the reference's own float32 rounding, one fixed number per output.  Its size, from float32
#: arithmetic: a sum of n rounded products errs by about sqrt(n) eps relative to its terms (the
#: random-walk model of rounding), n up to 3 x 3 x 512 = 4,608 in a ResNet's last convolutions, so
#: ~70 eps per layer, and ~20 such layers add in quadrature to ~300 eps of the output's scale.
#: 2^10 = 1,024 eps (1.2e-4 at scale 1) leaves a factor ~3 above that; a wrong key, layer or decode
#: moves outputs by 1e-2 or more.  (In float32 on gazebench's side the two roundings add, and that
#: sum depends on the CPU: 2.1e-4 rad for multizoom-static on an AMD EPYC without AVX-512.)
PEER_EPS = 2**10


def peer_tolerance(reference: np.ndarray) -> float:
    """:data:`PEER_EPS` float32 epsilons of the reference output's scale (its largest magnitude,
    at least 1: a tanh or sigmoid output, sin/cos or an angle in radians is of order 1)."""
    return PEER_EPS * float(np.finfo(np.float32).eps) * max(1.0, float(np.abs(reference).max()))


def _needs_model(name: str) -> None:
    if published_card(name).model not in MODELS.names():
        pytest.skip(f"model {published_card(name).model!r} is not registered yet")


@pytest.mark.parametrize("name", PEER_NAMES)
def test_peer_check_against_the_authors_outputs(name: str, tmp_path: Path) -> None:
    _needs_model(name)
    compare, add_view_axis = PEER[name]
    folder = REFERENCE / name
    path = save_released(name, reference_weights(folder), tmp_path / published_card(name).file.replace(":", "_"))
    model = load_published(name, path)
    if (folder / "views.npy").is_file():
        views = torch.from_numpy(np.load(folder / "views.npy"))
    else:
        views = card_views(name, np.load(folder / "pictures.npy"))
    with torch.no_grad():  # float64: the comparison does not depend on this CPU (PEER_EPS)
        out = model.double()(views.double().unsqueeze(1) if add_view_axis else views.double())
    expected = np.load(folder / "expected.npz")
    for label, got, want in compare(out, expected):
        diff, tolerance = np.abs(got.double().numpy() - want).max(), peer_tolerance(want)
        assert diff <= tolerance, f"{name}: {label} differs from the authors' output by {diff:.2e} > {tolerance:.2e}"
    assert not model.training
    assert model.weights == {
        "tag": f"published:{name}",
        "file": str(path),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith(("unigaze", "gazetr"))])
def test_the_key_table_fits_the_authors_architecture(name: str) -> None:
    """Every key of the authors' model (keys.tsv, listed from their own class) maps onto gazebench's
    model built from the card, with its shape, or is ignored with a reason: for UniGaze-L/16 and
    -H/14, whose forward pass is B/16's at another size, this is their check (built on the meta
    device: no memory, no arithmetic)."""
    card = published_card(name)
    rows = key_rows(REFERENCE / name)
    with torch.device("meta"):
        model = loading.build_published(name)
        state = {
            key: torch.empty(shape, dtype=torch.int64 if "int" in dtype else torch.float32)
            for key, shape, dtype in rows
        }
    mapped, origin = loading.map_keys(state, card)
    loading.check_fit(model, mapped, origin, card, Path(card.file))  # raises on any missing, unexpected or reshaped key
    ignored = [key for key, _, _ in rows if card.keys.ignored(key)]
    assert len(mapped) + len(ignored) == len(rows) and len(mapped) == len(model.state_dict())


def test_the_unigaze_sizes_are_the_authors_vits() -> None:
    """B/16, L/16 and H/14 as MAE_Gaze builds them (models/mae.py lines 429-447): width, depth, patch."""
    sizes = {}
    for name in ("unigaze-b16-joint", "unigaze-l16-joint", "unigaze-h14-joint", "unigaze-h14-cross-x"):
        shapes = {key: shape for key, shape, _ in key_rows(REFERENCE / name)}
        depth = len({k.split(".")[2] for k in shapes if k.startswith("vit.blocks.")})
        sizes[name] = (
            shapes["vit.cls_token"][-1],
            depth,
            shapes["vit.patch_embed.proj.weight"][-1],
            shapes["vit.pos_embed"][1],
        )
    assert sizes == {
        "unigaze-b16-joint": (768, 12, 16, 197),
        "unigaze-l16-joint": (1024, 24, 16, 197),
        "unigaze-h14-joint": (1280, 32, 14, 257),
        "unigaze-h14-cross-x": (1280, 32, 14, 257),
    }


# --- the loader's errors --------------------------------------------------------------------------


def zero_weights(name: str) -> dict[str, torch.Tensor]:
    """The released file's keys and shapes with zeros: enough for every check but the outputs."""
    dtypes = {"int64": torch.int64}
    rows = [line.split("\t") for line in (REFERENCE / name / "keys.tsv").read_text().splitlines()]
    return {key: torch.zeros(_shape(shape), dtype=dtypes.get(dtype, torch.float32)) for key, shape, dtype in rows}


def test_a_renamed_key_names_the_first_missing_and_the_first_unexpected_key(tmp_path: Path) -> None:
    state = zero_weights("gaze360-lstm")
    state["module.lstm.weight_ih_l9"] = state.pop("module.lstm.weight_ih_l0")
    path = save_released("gaze360-lstm", state, tmp_path / "w.tar")
    with pytest.raises(ConfigError) as err:
        load_published("gaze360-lstm", path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    assert "1 missing (first: 'fusion.lstm.weight_ih_l0')" in message
    assert "1 unexpected (first: 'module.lstm.weight_ih_l9' -> 'fusion.lstm.weight_ih_l9')" in message


def test_a_key_of_another_shape_is_named(tmp_path: Path) -> None:
    state = zero_weights("multizoom-static")
    state["module.last_layer.weight"] = torch.zeros(4, 256)
    path = save_released("multizoom-static", state, tmp_path / "w.tar", cuda_tag=False)
    with pytest.raises(
        ConfigError,
        match=r"1 of another shape \(first: 'module.last_layer.weight' \(4, 256\), "
        r"model 'head.fc.weight' \(3, 256\)\)",
    ):
        load_published("multizoom-static", path)


def test_the_released_container_is_required(tmp_path: Path) -> None:
    path = tmp_path / "bare.pt"
    torch.save(zero_weights("gaze360-lstm"), path)
    with pytest.raises(ConfigError, match=r"bare.pt: has no 'state_dict' entry .*gaze360_model.pth.tar"):
        load_published("gaze360-lstm", path)


def test_a_file_that_is_no_checkpoint_is_one_line(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    with pytest.raises(ConfigError, match=r"notes.txt: is not a PyTorch checkpoint"):
        load_published("gaze360-lstm", text)
    code = tmp_path / "module.pt"
    torch.save(torch.nn.Linear(2, 2), code)  # a pickled module: unpickling it would run code
    with pytest.raises(
        ConfigError, match=r"module.pt: holds pickled code or objects \(torch.nn.modules.linear.Linear\)"
    ):
        load_published("gaze360-lstm", code)
    with pytest.raises(ConfigError, match="does not exist"):
        load_published("gaze360-lstm", tmp_path / "absent.tar")


def test_a_card_with_a_known_hash_refuses_another_file(tmp_path: Path, monkeypatch) -> None:
    path = save_released("multizoom-static", zero_weights("multizoom-static"), tmp_path / "w.tar")
    card = dataclasses.replace(published_card("multizoom-static"), sha256="ab" * 32)
    monkeypatch.setattr(loading, "published_card", lambda name: card)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ConfigError, match=f"SHA-256 {digest} is not the released .*'s {'ab' * 32}"):
        load_published("multizoom-static", path)


def test_cuda_tagged_storages_load_on_the_cpu(tmp_path: Path) -> None:
    path = save_released("multizoom-static", zero_weights("multizoom-static"), tmp_path / "w.tar")
    if not torch.cuda.is_available():  # the authors' own torch.load(path) fails here without map_location
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)
    model = load_published("multizoom-static", path, device="cpu")
    assert {p.device.type for p in model.parameters()} == {"cpu"}


# --- the catalogue ---------------------------------------------------------------------------------


def test_the_catalogue_holds_the_twelve_releases() -> None:
    """The first seven, GazeTR's one released file (its fine-tuned models are not released) and
    UniGaze's four."""
    cards = load_catalogue()
    assert tuple(sorted(cards)) == tuple(sorted(NAMES))
    for card in cards.values():
        assert card.url.startswith("http") and card.licence
        assert card.container.format in ("zip", "legacy", "safetensors")
        assert all(reason for _, reason in card.keys.ignore)
        assert all(n.source for n in card.published)
        if card.model in MODELS.names():
            MODELS.get(card.model)  # the card's model is registered


def test_every_published_number_says_its_subset_or_that_it_is_unknown() -> None:
    from gazebench.core.geometry import SUBSETS
    from gazebench.published.cards import UNKNOWN_SUBSET

    for card in load_catalogue().values():
        for n in card.published:
            assert n.subset_source, (card.name, n.population)
            if n.subset == UNKNOWN_SUBSET:
                assert len(n.candidates) >= 2 and set(n.candidates) <= set(SUBSETS), card.name
            else:
                assert n.subset in ("all", *SUBSETS) and n.candidates == (), card.name
    # "front facing": no source read says |yaw| <= 20 deg or within 20 deg of the camera axis
    for name in ("gaze360-lstm", "l2cs-gaze360"):
        (facing,) = [n for n in published_card(name).published if "front-facing" in n.population]
        assert facing.subset == UNKNOWN_SUBSET and facing.candidates == ("front20", "front20axis")
        assert facing.subset_source.startswith("not stated")
    # MultiZoomGaze's own evaluation code cuts |yaw| <= 20 deg (its numbers are not quoted)
    (facing,) = [n for n in published_card("multizoom-msa").published if "front-facing" in n.population]
    assert facing.subset == "front20" and "analysis_utils.py line 49" in facing.subset_source


@pytest.mark.parametrize(
    "entry, says",
    [
        ("  - {population: p, value: 1.0, source: s}\n", "must say which gazebench subset it is on"),
        ("  - {population: p, value: 1.0, source: s, subset: front20, subset_source: x}\n", None),
        ("  - {population: p, value: 1.0, source: s, subset: unknown, subset_source: x}\n", "needs candidates:"),
        (
            "  - {population: p, value: 1.0, source: s, subset: front30, subset_source: x}\n",
            "subset 'front30' is not all",
        ),
        (
            "  - {population: p, value: 1.0, source: s, subset: unknown, candidates: [front20, front20axis],"
            " subset_source: x}\n",
            None,
        ),
    ],
)
def test_a_published_number_without_its_subset_is_refused(tmp_path, entry, says) -> None:
    from gazebench.published.cards import read_card

    text = (ROOT / "gazebench" / "published" / "gaze360-lstm.yaml").read_text()
    head, _, tail = text.partition("published:\n")
    path = tmp_path / "gaze360-lstm.yaml"
    path.write_text(head + "published:\n" + entry + tail[tail.index("peer_check:") :])
    if says is None:
        assert read_card(path).published[0].value == 1.0
    else:
        with pytest.raises(ConfigError, match=f"gaze360-lstm.yaml: published entry 1.*{says}"):
            read_card(path)


def test_an_unknown_name_lists_the_catalogue() -> None:
    with pytest.raises(ConfigError, match=r"no published checkpoint 'gaze360'.*gaze360-lstm.*l2cs-gaze360"):
        published_card("gaze360")


def test_a_jointly_trained_card_knows_each_of_its_datasets() -> None:
    card = published_card("unigaze-b16-joint")
    assert card.training_datasets == ("ethxgaze", "gazecapture", "mpiifacegaze", "eyediap", "gaze360")
    assert "trained on the train split of gaze360" in card.training_overlap("gaze360", "train")
    assert "trained on the train split of ethxgaze" in card.training_overlap("ethxgaze", "train")
    assert card.training_overlap("gaze360", "test") is None and card.training_overlap("rtgene", "train") is None


def test_a_safetensors_release_that_is_no_safetensors_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "unigaze_b16_joint.safetensors"
    torch.save(zero_weights("unigaze-b16-joint"), path)  # a torch file under the released name
    with pytest.raises(ConfigError, match=r"unigaze_b16_joint.safetensors: is not a safetensors file") as err:
        load_published("unigaze-b16-joint", path)
    assert "\n" not in str(err.value)


def test_reproduce_refuses_the_cards_it_cannot_feed_yet() -> None:
    """GazeTR takes BGR in [0, 1] and gazebench's data pipeline feeds RGB with ImageNet's mean and std:
    no reproduce until that is wired.  UniGaze's input is the pipeline's, on ETH-XGaze's own
    normalised faces: its cards reproduce there (tests/test_published_reproduce.py)."""
    from gazebench.plan import reproduce

    with pytest.raises(ConfigError, match="gazetr-hybrid-ethxgaze cannot be reproduced here"):
        reproduce.check_reproducible(published_card("gazetr-hybrid-ethxgaze"))
    for name in ("unigaze-b16-joint", "unigaze-l16-joint", "unigaze-h14-joint", "unigaze-h14-cross-x"):
        reproduce.check_reproducible(published_card(name))  # the ETH-XGaze test subset: never trained on


def test_predict_refuses_a_card_whose_input_it_does_not_feed() -> None:
    from gazebench.predict.predictors import card_input_size

    with pytest.raises(ConfigError, match=r"gazetr-hybrid-ethxgaze: its input \(BGR"):
        card_input_size(published_card("gazetr-hybrid-ethxgaze"))
    assert card_input_size(published_card("unigaze-h14-joint")) == 224


def test_a_card_knows_its_training_data() -> None:
    card = published_card("gaze360-lstm")
    assert "trained on the train split of gaze360" in card.training_overlap("gaze360", "train")
    assert "selected its checkpoint on the val split" in card.training_overlap("gaze360", "val")
    assert card.training_overlap("gaze360", "test") is None
    assert card.training_overlap("mpiifacegaze", "train") is None


def test_the_msa_seq_card_feeds_frame_i_zoomed_by_crop_i() -> None:
    """run.py --enable_time: view i is frame f-3+i through crop c_i (data_loader.make_dataset,
    ImageLoaderSineCosineMultiSizedCrops): gazebench's msaseq window with one crop per frame."""
    _needs_model("multizoom-msa-seq")
    card = published_card("multizoom-msa-seq")
    view = loading.build_published(card.name).view
    assert list(view.offsets) == card.input["frames"]
    assert [round(c * 224) for c in view.crops] == card.input["crops"]


def test_the_cards_are_package_data() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "*.yaml" in config["tool"]["setuptools"]["package-data"]["gazebench.published"]


def test_ls_published_lists_every_card(capsys) -> None:
    assert cli_main(["ls", "published"]) == 0
    printed = capsys.readouterr().out
    for name, card in load_catalogue().items():
        line = next(line for line in printed.splitlines() if line.startswith(name + " "))
        assert card.model in line
    assert "10.41" in printed and "not stated" in printed
