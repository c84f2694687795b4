"""Joint multi-dataset training (gazebench.plan.joint, gazebench.datasets.joint) and label spaces
(gazebench.datasets.labelspace): one model trained on several SynthGaze trees, each in its own
dataset's layout, tested on a third."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gazebench.datasets.labelspace import LabelSpace, join_problem
from tests.helpers import cli, run_cli, use_cards

TINY = [
    "--epochs",
    "1",
    "--backbone",
    "test_resnet",
    "--set",
    "image_size=32",
    "--set",
    "num_workers=0",
    "--set",
    "pretrained=false",
    "--set",
    "expect_samples=any",
    "--set",
    "batch_size=16",
    "--quiet",
    "--no-table",
]


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("joint")
    for layout in ("gaze360", "rtgene", "mpiifacegaze", "ethxgaze"):
        assert cli("synth", "--preset", "tiny", "--layout", layout, "--out", base / layout) == 0
    return base


def roots(trees, *names):
    return [a for n in names for a in ("--root", f"{n}={trees / n}")]


def units(*argv):
    """The planned units of ``gazebench run <argv>`` (no data read)."""
    from gazebench.cli import build_parser
    from gazebench.core.request import Request
    from gazebench.plan.planning import plan_request

    args = build_parser().parse_args(["run", *map(str, argv)])
    return plan_request(Request.from_args(args)).units


# --- label spaces ------------------------------------------------------------------------------


def test_every_builtin_card_declares_its_label_space():
    from gazebench.datasets import BUILTIN
    from gazebench.plan.planning import dataset_card

    for name in BUILTIN:
        space = dataset_card(name).label_space()
        assert space is not None and space.source, name
    assert dataset_card("ethxgaze").label_space().normalised
    assert not dataset_card("gaze360").label_space().normalised
    # an adapter option that changes the images: GazeHub's Gaze360 is face crops, the release head crops
    assert dataset_card("gaze360").label_space({"layout": "gazehub"}).images == "face-crop"
    assert dataset_card("gaze360").label_space({"layout": "original"}).images == "head-crop"


def test_join_problem_names_the_datasets_and_why():
    cam = LabelSpace("camera", "head-crop", False)
    norm = LabelSpace("normalised-camera", "normalised-face", True)
    assert join_problem({"a": cam, "b": norm}) is None  # camera and normalised camera: one family
    line = join_problem({"a": cam, "b": LabelSpace("head", "face-crop", False)})
    assert "a" in line and "b (head)" in line and "gaze frames differ" in line and "\n" not in line
    assert "images differ" in join_problem({"a": cam, "b": LabelSpace("camera", "eye-patch", False)})
    assert "declares no label_space" in join_problem({"a": cam, "b": None})


def test_unjoinable_label_spaces_are_refused_in_one_line(tmp_path, monkeypatch, capsys):
    from gazebench.datasets.cards import load_card

    text = load_card("rtgene").path.read_text()
    (tmp_path / "rtgene.yaml").write_text(
        text.replace("  frame: camera\n  images: face-crop", "  frame: head\n  images: face-crop", 1)
    )
    use_cards(monkeypatch, tmp_path)
    capsys.readouterr()
    assert cli("run", "--train", "gaze360,rtgene", "--model", "static", "--dry-run") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot join gaze360, rtgene" in err[0] and "rtgene (head)" in err[0]


# --- planning ----------------------------------------------------------------------------------


def test_the_order_of_train_names_does_not_change_the_unit():
    (a,) = units("--train", "gaze360,rtgene", "--model", "static")
    (b,) = units("--train", "rtgene,gaze360", "--model", "static")
    assert a.spec.dataset == b.spec.dataset == "gaze360+rtgene" and a.spec.members == ("gaze360", "rtgene")
    assert a.unit_id == b.unit_id and a.result_path == b.result_path
    assert set(a.data_options["members"]) == {"gaze360", "rtgene"}
    assert a.protocol.name == "joint" and a.fold == "default"


def test_sampling_is_part_of_the_unit_and_weights_must_name_training_datasets():
    (plain,) = units("--train", "gaze360,rtgene", "--model", "static")
    (balanced,) = units("--train", "gaze360,rtgene", "--model", "static", "--set", "sampling=balanced")
    (weighted,) = units("--train", "gaze360,rtgene", "--model", "static", "--set", "sampling_weights=gaze360:2")
    assert len({plain.unit_id, balanced.unit_id, weighted.unit_id}) == 3
    assert weighted.data_options["sampling_weights"] == {"gaze360": 2.0}
    from gazebench.core.errors import GazebenchError

    with pytest.raises(GazebenchError, match="sampling_weights names mpiifacegaze"):
        units("--train", "gaze360,rtgene", "--model", "static", "--set", "sampling_weights=mpiifacegaze:2")
    with pytest.raises(GazebenchError, match="positive"):
        units("--train", "gaze360,rtgene", "--model", "static", "--set", "sampling_weights=gaze360:-1")


def test_a_joint_run_refuses_what_it_cannot_mean(capsys):
    from gazebench.core.errors import GazebenchError

    with pytest.raises(GazebenchError, match="keeps each training dataset's own protocol"):
        units("--train", "gaze360,rtgene", "--model", "static", "--protocol", "original")
    with pytest.raises(GazebenchError, match="is one of the training datasets"):
        units("--train", "gaze360,rtgene", "--test", "rtgene", "--model", "static")
    with pytest.raises(GazebenchError, match="say which one as --root NAME=DIR"):
        units("--train", "gaze360,rtgene", "--model", "static", "--root", "/data")


def test_a_member_option_reaches_only_the_members_that_take_it():
    (u,) = units("--train", "gaze360,rtgene", "--model", "static", "--set", "variant=original")
    assert u.data_options["members"]["rtgene"]["options"]["variant"] == "original"
    assert "variant" not in u.data_options["members"]["gaze360"]["options"]


def test_joint_suite_entry_and_its_mistakes(tmp_path):
    from gazebench.core.errors import GazebenchError
    from gazebench.plan.planning import expand, plan
    from gazebench.plan.suites import get_suite

    path = tmp_path / "b.yaml"
    path.write_text("""benchmarks:
  j:
    datasets:
      - train: [rtgene, gaze360]
        root: {gaze360: /g, rtgene: /r, mpiifacegaze: /m}
        protocol: {gaze360: gazehub, mpiifacegaze: gazehub}
        options: {sampling: balanced, rtgene: {variant: original}}
        test: [mpiifacegaze]
    models: [static]
  one:
    datasets: [{train: [gaze360]}]
    models: [static]
  stranger:
    datasets: [{train: [gaze360, rtgene], root: {ethxgaze: /x}}]
    models: [static]
""")
    (u,) = plan(expand(get_suite("j", path)), tmp_path / "r", tmp_path / "runs")
    assert u.spec.dataset == "gaze360+rtgene" and u.spec.member_roots == {"gaze360": "/g", "rtgene": "/r"}
    assert u.data_options["sampling"] == "balanced"
    assert u.data_options["members"]["gaze360"]["protocol"] == "gazehub"
    assert u.data_options["members"]["gaze360"]["options"]["layout"] == "gazehub"
    assert u.data_options["members"]["rtgene"]["options"]["variant"] == "original"
    assert u.spec.cross == (("mpiifacegaze", "/m"),) and u.spec.cross_protocols == {"mpiifacegaze": "gazehub"}
    with pytest.raises(GazebenchError, match="two or more"):
        get_suite("one", path)
    with pytest.raises(GazebenchError, match="'ethxgaze' is not one of the entry's"):
        get_suite("stranger", path)


# --- the composite dataset ----------------------------------------------------------------------


def test_sample_weights_follow_the_sampling(trees):
    from gazebench.datasets.joint import build_joint
    from gazebench.train.assemble import make_loader

    (u,) = units("--train", "gaze360,rtgene", "--model", "static", "--set", "expect_samples=any")
    opts = dict(u.data_options)
    roots_ = {n: str(trees / n) for n in ("gaze360", "rtgene")}
    ds = build_joint(opts, roots_)
    train = ds.split_positions("default")["train"]
    n = {k: int(m.sum()) for k, m in ds.member_masks(train).items()}
    assert all(n.values()) and n["gaze360"] != n["rtgene"]
    assert ds.sample_weights(train) is None  # proportional, equal weights: the single-dataset sampler

    def shares(options):
        w = build_joint({**opts, **options}, roots_).sample_weights(train)
        return {k: float(w[m].sum()) for k, m in ds.member_masks(train).items()}

    assert shares({"sampling": "balanced"}) == pytest.approx({"gaze360": 0.5, "rtgene": 0.5})
    two = shares({"sampling": "balanced", "sampling_weights": {"gaze360": 2.0}})
    assert two == pytest.approx({"gaze360": 2 / 3, "rtgene": 1 / 3})
    prop = shares({"sampling_weights": {"gaze360": 2.0}})
    total = 2 * n["gaze360"] + n["rtgene"]
    assert prop == pytest.approx({"gaze360": 2 * n["gaze360"] / total, "rtgene": n["rtgene"] / total})
    # and the training loader draws by them
    from gazebench.core.config import Recipe
    from gazebench.datasets.loading import FrameWindows
    from gazebench.models import build_model

    bal = build_joint({**opts, "sampling": "balanced"}, roots_)
    view = build_model("static", backbone="test_resnet", pretrained=False).view
    frames = FrameWindows(bal, train, view, bal.open_frames(16, "off"))
    import torch

    loader = make_loader(frames, Recipe.resolve({}, {"num_workers": 0}), 0, True, torch.Generator().manual_seed(0))
    assert np.allclose(loader.sampler.weights.numpy(), bal.sample_weights(train))
    drawn = np.concatenate([np.fromiter(loader.sampler, dtype=np.int64) for _ in range(60)])  # 60 epochs' draws
    got = bal.member_masks(train[drawn])
    assert abs(got["gaze360"].mean() - 0.5) < 0.05  # balanced, though the members' sizes differ


def test_joint_rows_are_the_members_rows(trees):
    from gazebench.datasets import build_dataset
    from gazebench.datasets.joint import build_joint

    (u,) = units("--train", "gaze360,rtgene", "--model", "static", "--set", "expect_samples=any")
    ds = build_joint(u.data_options, {n: str(trees / n) for n in ("gaze360", "rtgene")})
    rt = build_dataset("rtgene", str(trees / "rtgene"), **u.data_options["members"]["rtgene"]["options"])
    pos = ds.split_positions("default")
    own = rt.split_positions("0")
    mask = ds.member_masks(pos["val"])["rtgene"]
    ids = set(ds.index["id"].to_numpy()[pos["val"][mask]])
    assert ids == {f"rtgene/{i}" for i in rt.index["id"].to_numpy()[own["val"]]}
    row = int(pos["train"][ds.member_masks(pos["train"])["rtgene"]][0])
    member, local = ds.member_at(row)
    assert member.name == "rtgene" and np.array_equal(ds.read_image(row), rt.read_image(local))
    frames = ds.open_frames(24, "off")
    assert frames.read(row).shape == (24, 24, 3)
    assert np.allclose(ds.gaze(np.array([row]))[0], rt.gaze(np.array([local]))[0])


# --- end to end ---------------------------------------------------------------------------------


def test_joint_run_writes_one_record_per_test_dataset(trees, tmp_path, capsys):
    results, runs = tmp_path / "results", tmp_path / "runs"
    argv = [
        "run",
        "--train",
        "rtgene,gaze360",
        "--test",
        "mpiifacegaze",
        "--model",
        "static",
        *roots(trees, "gaze360", "rtgene", "mpiifacegaze"),
        "--results",
        results,
        "--runs",
        runs,
        "--set",
        "sampling=balanced",
        *TINY,
    ]
    assert run_cli(argv) == 0
    files = sorted(results.rglob("*.json"))
    assert [f.name.split(".", 1)[1] for f in files] == ["cross-mpiifacegaze.json", "json"]
    own = json.loads(files[1].read_text())
    cross = json.loads(files[0].read_text())
    assert own["dataset"]["name"] == "gaze360+rtgene"
    joint = own["joint"]
    assert joint["datasets"] == ["gaze360", "rtgene"] and joint["sampling"] == "balanced"
    assert joint["not_normalised"] == ["gaze360", "rtgene"] and joint["normalised"] == []
    assert set(joint["val_metrics"]) == {"gaze360", "rtgene"}
    assert sum(m["n"] for m in joint["val_metrics"].values()) == own["selection"]["validation_samples"]
    assert joint["members"]["rtgene"]["label_space"]["images"] == "face-crop"
    # the test dataset's record: its own population, the training datasets in its identity
    assert cross["dataset"]["name"] == "mpiifacegaze" and cross["trained_on"]["datasets"] == ["gaze360", "rtgene"]
    config = cross["identity"]["config"]["trained_on"]
    assert config["datasets"] == ["gaze360", "rtgene"] and config["data_options"]["sampling"] == "balanced"
    assert set(config["data_options"]["members"]) == {"gaze360", "rtgene"}
    assert cross["population"]["name"] == "mpiifacegaze/test (all folds)"

    # a single-dataset cross run beside it: its own column, its trained_on a one-element list
    single = [
        "run",
        "--train",
        "gaze360",
        "--test",
        "mpiifacegaze",
        "--model",
        "static",
        *roots(trees, "gaze360", "mpiifacegaze"),
        "--results",
        results,
        "--runs",
        runs,
        *TINY,
    ]
    assert run_cli(single) == 0
    one = json.loads(next(results.glob("gaze360/static/*.cross-mpiifacegaze.json")).read_text())
    assert one["trained_on"]["datasets"] == ["gaze360"]
    assert "datasets" not in one["identity"]["config"]["trained_on"]  # a single run's identity is as before
    capsys.readouterr()
    assert run_cli(["table", "--results", results]) == 0
    table = capsys.readouterr().out
    assert "gaze360+rtgene → mpiifacegaze (" in table and "gaze360 → mpiifacegaze (" in table
    assert "gaze360+rtgene (joint)" in table


def test_a_sequence_model_needs_sequences_in_every_training_dataset(trees, tmp_path, capsys):
    capsys.readouterr()
    assert (
        cli(
            "run",
            "--train",
            "gaze360,mpiifacegaze",
            "--model",
            "seqlstm",
            *roots(trees, "gaze360", "mpiifacegaze"),
            "--results",
            tmp_path / "r",
            "--runs",
            tmp_path / "runs",
            *TINY,
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'mpiifacegaze' has no sequences" in err[0] and "gaze360+mpiifacegaze" in err[0]


def test_leaderboard_column_of_a_joint_cross_result():
    import pandas as pd

    from gazebench.leaderboard_rows import column_names

    def row(dataset, trained_on):
        return {
            "dataset": dataset,
            "card_version": "1",
            "protocol": "p",
            "dataset_options": "{}",
            "trained_on": json.dumps(trained_on, sort_keys=True) if trained_on else "",
            "population": "x",
        }

    df = pd.DataFrame(
        [
            row("c", {"dataset": "a+b", "datasets": ["a", "b"], "protocol": "joint"}),
            row("c", {"dataset": "a", "protocol": "p"}),
            row("c", None),
        ]
    )
    assert list(column_names(df)) == ["a+b → c (p)", "a → c (p)", "c (p)"]
    # two joint trainings of the same datasets: each named by what differs between them only
    members = {"a": {"options": {"layout": "x", "size": 1}}, "b": {"options": {"v": 2}}}
    other = {"a": {"options": {"layout": "y", "size": 1}}, "b": {"options": {"v": 2}}}
    df = pd.DataFrame(
        [
            row(
                "c",
                {
                    "dataset": "a+b",
                    "datasets": ["a", "b"],
                    "protocol": "joint",
                    "card_version": "1",
                    "data_options": {"members": m, "sampling": "balanced"},
                },
            )
            for m in (members, other)
        ]
    )
    assert list(column_names(df)) == ["a+b[a.layout=x] → c (p)", "a+b[a.layout=y] → c (p)"]


def test_bench_compares_a_joint_data_path_with_each_member_alone(trees, capsys):
    capsys.readouterr()
    assert (
        cli(
            "bench",
            "--train",
            "rtgene,gaze360",
            "--train-root",
            f"gaze360={trees / 'gaze360'}",
            "--train-root",
            f"rtgene={trees / 'rtgene'}",
            "--model",
            "static",
            "--backbone",
            "test_resnet",
            "--set",
            "image_size=32",
            "--set",
            "pretrained=false",
            "--set",
            "expect_samples=any",
            "--set",
            "num_workers=0",
            "--set",
            "batch_size=8",
            "--steps",
            "1",
            "--warmup",
            "0",
            "--repeat",
            "1",
            "--json",
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    joint = report["joint"]
    assert set(joint["data_samples_per_s"]) == {"joint", "gaze360", "rtgene"}
    slowest = min(joint["data_samples_per_s"][k] for k in ("gaze360", "rtgene"))
    assert joint["joint_over_slowest"] == pytest.approx(joint["data_samples_per_s"]["joint"] / slowest)
    assert report["frames"]["members"].keys() == {"gaze360", "rtgene"}


def test_a_test_dataset_with_withheld_labels_points_to_split_all(trees, tmp_path, capsys):
    capsys.readouterr()
    assert (
        cli(
            "run",
            "--train",
            "gaze360",
            "--test",
            "ethxgaze",
            "--model",
            "static",
            *roots(trees, "gaze360", "ethxgaze"),
            "--results",
            tmp_path / "r",
            "--runs",
            tmp_path / "runs",
            *TINY,
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--test ethxgaze: no labelled test samples" in err[0] and "split: all" in err[0]


def test_a_joint_run_is_planned_again_from_its_record(trees, tmp_path):
    """Re-evaluation (gazebench analyze) re-plans a run from its record: a joint run's members come back."""
    from gazebench.analysis.reevaluate import unit_from_record

    results, runs = tmp_path / "results", tmp_path / "runs"
    assert (
        run_cli(
            [
                "run",
                "--train",
                "gaze360,rtgene",
                "--model",
                "static",
                *roots(trees, "gaze360", "rtgene"),
                "--results",
                results,
                "--runs",
                runs,
                "--set",
                "sampling_weights=rtgene:3",
                *TINY,
            ]
        )
        == 0
    )
    (path,) = results.rglob("*.json")
    record = json.loads(path.read_text())
    unit = unit_from_record(record, runs / "gaze360+rtgene" / "static" / path.stem)
    assert unit.spec.members == ("gaze360", "rtgene") and unit.data_options["sampling_weights"] == {"rtgene": 3.0}
    assert unit.data_options["members"] == record["identity"]["config"]["data_options"]["members"]
    assert unit.spec.member_roots == {"gaze360": str(trees / "gaze360"), "rtgene": str(trees / "rtgene")}
