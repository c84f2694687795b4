"""EYEDIAP in both forms: the release (session folders, videos, text files, normalised when read)
and GazeHub's preprocessed layout (``layout=gazehub``, folds from the ClusterLabel files); the
errors a damaged tree gives; and the issue's end-to-end run (synth -> check-data -> run) on each."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gazebench.cli import main
from gazebench.core import geometry
from gazebench.core.options import ConfigError
from gazebench.datasets import build_dataset
from gazebench.datasets.base import DatasetError, DatasetNotFound
from gazebench.datasets.checks import check_dataset
from gazebench.datasets.eyediap.gazehub_layout import sample_ids
from gazebench.synth import make_scene, render_frames

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # shared fixture in conftest.py

HEADER = "Face Left Right metapath 3DGaze 3DHead 2DGaze 2DHead Rvec Svec GazeOrigin"
#: the run the issue names: one fold, one epoch, the tiny test backbone
RUN = [
    "--model",
    "static",
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
    "--quiet",
    "--no-table",
]


@pytest.fixture(scope="module")
def hub_tree(tmp_path_factory) -> Path:
    """``gazebench synth --layout eyediap-gazehub --preset tiny``: 8 SynthGaze subjects -> participants
    p1, p5, p9, p14, p2, p6, p10, p15 (two per group), 18 faces each."""
    root = tmp_path_factory.mktemp("eyediap") / "hub"
    assert main(["synth", "--out", str(root), "--preset", "tiny", "--layout", "eyediap-gazehub", "--workers", "1"]) == 0
    return root


@pytest.fixture(scope="module")
def release_tree(tmp_path_factory) -> Path:
    """``gazebench synth --layout eyediap``: the same 8 participants as session folders with videos."""
    root = tmp_path_factory.mktemp("eyediap") / "release"
    assert main(["synth", "--out", str(root), "--preset", "tiny", "--layout", "eyediap", "--workers", "1"]) == 0
    return root


def hub(root: Path, **options):
    return build_dataset("eyediap", root, layout="gazehub", **options)


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def run_record(tmp_path: Path, *argv: str) -> dict:
    results = tmp_path / "results"
    assert main(["run", "--results", str(results), "--runs", str(tmp_path / "runs"), *argv, *RUN]) == 0
    (path,) = results.rglob("*.json")
    return json.loads(path.read_text())


# -- GazeHub's layout as written -------------------------------------------------------------------


def test_gazehub_files_are_gazehubs(hub_tree):
    assert sorted(p.name for p in (hub_tree / "ClusterLabel").iterdir()) == [f"cluster{g}.label" for g in (1, 2, 3, 4)]
    lines = (hub_tree / "ClusterLabel" / "cluster3.label").read_text().splitlines()
    assert lines[0] == HEADER and len(lines) == 1 + 2 * 18  # p9 and p10, 18 faces each
    first = lines[1].split(" ")
    # the first face of participant 9: frame 0 of its first screen session, line 1 of its files
    assert first[:4] == ["p9/face/1.jpg", "p9/left/1.jpg", "p9/right/1.jpg", "9_A_DS_S_1"]
    assert [len(f.split(",")) for f in first[4:]] == [3, 3, 2, 2, 3, 3, 3]
    # one sampled frame in 15: the session's second face is video line 16
    assert lines[2].split(" ")[3] == "9_A_DS_S_16"
    assert {line.split(" ")[0].split("/")[0] for line in lines[1:]} == {"p9", "p10"}
    assert (hub_tree / "Label" / "p9.label").read_text().splitlines()[1:19] == lines[1:19]
    with Image.open(hub_tree / "Image" / "p9" / "face" / "2.jpg") as face:
        assert face.format == "JPEG" and face.mode == "RGB"
    with Image.open(hub_tree / "Image" / "p9" / "left" / "2.jpg") as eye:
        assert eye.size == (60, 36) and eye.mode == "L"


def test_labels_and_pixels_round_trip_to_the_rendered_frames(hub_tree):
    scene = make_scene("tiny", 0)
    ds = hub(hub_tree)
    ids = sample_ids(scene)
    want = scene.frames[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)
    got = ds.gaze(ds.index.set_index("id").index.get_indexer(ids))
    assert geometry.angular_error_deg(got, want).max() < 1e-6
    # 2DGaze as written is gazebench's (yaw, pitch); sessions and frame numbers from metapath
    row = ds.index.set_index("id").loc["p9/face/2"]
    assert (row["session"], row["frame"], row["order"], row["sequence"]) == ("9_A_DS_S", 15, 15.0, "9_A_DS_S")
    np.testing.assert_allclose(
        [row["gaze_yaw"], row["gaze_pitch"]], geometry.vector_to_yawpitch(want[ids.index("p9/face/2")]), atol=1e-9
    )
    r = ids.index("p15/face/7")
    image = ds.read_image(int(np.flatnonzero(ds.index["id"] == "p15/face/7")[0])).astype(float)
    assert np.abs(image - render_frames(scene, [r], glasses=True)[0]).mean() < 8  # JPEG, not mirrored


# -- folds: GazeHub's groups are its ClusterLabel files --------------------------------------------


def test_fold_k_tests_the_kth_cluster_file_and_validates_on_the_next(hub_tree, tmp_path):
    ds = hub(hub_tree)
    assert ds.split_subjects(2) == {"train": ["p1", "p15", "p2", "p5", "p6"], "val": ["p14"], "test": ["p10", "p9"]}
    assert ds.split_subjects(3)["val"] == ["p1"]  # the last fold validates on the first group
    assert hub(hub_tree, validation="none").split_subjects(0)["val"] == []
    # the groups are the files' people, whatever the card lists: swap two people between files
    root = copy_tree(hub_tree, tmp_path / "swapped")
    c1, c2 = root / "ClusterLabel" / "cluster1.label", root / "ClusterLabel" / "cluster2.label"
    one, two = c1.read_text().splitlines(), c2.read_text().splitlines()
    p2 = [line for line in one[1:] if line.startswith("p2/")]
    p6 = [line for line in two[1:] if line.startswith("p6/")]
    c1.write_text("\n".join([one[0], *[ln for ln in one[1:] if ln not in p2], *p6]) + "\n")
    c2.write_text("\n".join([two[0], *[ln for ln in two[1:] if ln not in p6], *p2]) + "\n")
    swapped = hub(root)
    assert swapped.split_subjects(0)["test"] == ["p1", "p6"] and swapped.split_subjects(1)["test"] == ["p2", "p5"]
    assert swapped.named_subjects(0) == {"test": ["p1", "p6"], "val": ["p2"]}
    # the files are numbered in name order, as GazeHub's trainers sort them
    c1.rename(root / "ClusterLabel" / "zz.label")
    assert hub(root).split_subjects(0)["test"] == ["p2", "p5"] and hub(root).split_subjects(3)["test"] == ["p1", "p6"]


def test_damaged_trees_are_one_error_naming_the_file(hub_tree, tmp_path):
    root = copy_tree(hub_tree, tmp_path / "bad")
    label = root / "ClusterLabel" / "cluster2.label"
    lines = label.read_text().splitlines()
    fields = lines[4].split(" ")
    fields[3] = "9_A_DS_S_31"  # a session of participant 9 on a face of p5
    label.write_text("\n".join([*lines[:4], " ".join(fields), *lines[5:]]) + "\n")
    with pytest.raises(DatasetError) as err:
        hub(root).index  # noqa: B018
    assert str(err.value).startswith(f"{label}:5: metapath '9_A_DS_S_31' is a session of participant 9, Face of p5")
    report = check_dataset("eyediap", root, {"layout": "gazehub"}, images=False)
    assert [p["path"] for p in report["problems"]] == [f"{label}:5"]
    assert report["folds"]["1"]["test"]["samples"] == 2 * 18 - 1  # the other lines are read
    # a person in two files, and three files instead of four
    label.write_text("\n".join(lines) + "\n")
    (root / "ClusterLabel" / "cluster4.label").write_text(
        (root / "ClusterLabel" / "cluster4.label").read_text() + lines[1] + "\n"
    )
    with pytest.raises(DatasetError, match="p5 has lines in cluster2.label, cluster4.label"):
        hub(root).index  # noqa: B018
    (root / "ClusterLabel" / "cluster4.label").unlink()
    with pytest.raises(DatasetError, match=r"3 label files \(cluster1.label, cluster2.label, cluster3.label\)"):
        hub(root).index  # noqa: B018
    shutil.rmtree(root / "ClusterLabel")
    with pytest.raises(DatasetNotFound, match=r"no ClusterLabel/\*\.label files found \(layout=gazehub\)"):
        hub(root)


# -- the run: synth -> check-data clean -> one fold end to end --------------------------------


def test_gazehub_tree_checks_clean_and_runs_a_fold(hub_tree, tmp_path):
    report = check_dataset("eyediap", hub_tree, {"layout": "gazehub"}, images=True)
    assert report["problems"] == []
    assert report["folds"]["1"]["test"]["subject_ids"] == ["p5", "p6"] and report["folds"]["1"]["val"][
        "subject_ids"
    ] == ["p9"]
    record = run_record(
        tmp_path, "--dataset", "eyediap", "--root", str(hub_tree), "--protocol", "gazehub", "--fold", "1"
    )
    assert record["dataset"]["options"]["layout"] == "gazehub" and record["protocol"]["name"] == "gazehub"
    assert record["dataset"]["subjects"] == {
        "train": ["p1", "p10", "p14", "p15", "p2", "p9"],
        "val": [],
        "test": ["p5", "p6"],
    }
    assert record["metrics"]["all"]["n"] == 36
    assert (
        record["population"]["complete"] and record["population"]["shortfall"] == []
    )  # the files' groups are the protocol's


def test_release_tree_checks_clean_and_runs_a_fold(release_tree, tmp_path):
    report = check_dataset("eyediap", release_tree, {}, images=True)
    assert report["problems"] == []
    assert report["folds"]["0"]["test"]["subject_ids"] == ["p1", "p2"] and report["folds"]["0"]["val"][
        "subject_ids"
    ] == ["p5"]
    record = run_record(tmp_path, "--dataset", "eyediap", "--root", str(release_tree), "--fold", "0")
    assert record["dataset"]["options"]["layout"] == "release" and record["protocol"]["name"] == "four-fold"
    assert record["dataset"]["subjects"] == {
        "train": ["p10", "p14", "p15", "p6", "p9"],
        "val": ["p5"],
        "test": ["p1", "p2"],
    }
    assert record["metrics"]["all"]["n"] == 36
    # 8 of the card's 14 participants: the population says which are missing
    assert record["population"]["shortfall"] == [
        "test subjects p3, p4 named by the protocol have no samples under the root"
    ]


# -- the release ---------------------------------------------------------------------------------------


def release(root: Path, **options):
    return build_dataset("eyediap", root, **options)


def test_release_labels_and_faces_round_trip_through_normalisation(release_tree):
    """The writer places the face 600 mm in front of a camera that sits rotated and offset in the
    world; reading maps the world into the camera (R^T (p - T)), normalises, and gets back the
    rendered label and face (a 224 px face of the 48 px rendering)."""
    scene = make_scene("tiny", 0)
    ds = release(release_tree)
    source = json.loads((release_tree / "synthgaze_source.json").read_text())["samples"]
    rows = scene.frames.set_index("id").loc[[source[i] for i in ds.index["id"]]]
    assert geometry.angular_error_deg(ds.gaze(), rows[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)).max() < 1e-4
    assert ds.index["id"].iat[1] == "p1/1_A_DS_M/15" and ds.index["sequence"].iat[1] == "1_A_DS_M"
    face = ds.read_image(1)
    assert face.shape == (224, 224, 3) and face.dtype == np.uint8
    r = int(np.flatnonzero(scene.frames["id"].to_numpy() == source["p1/1_A_DS_M/15"])[0])
    rendered = np.asarray(
        Image.fromarray(render_frames(scene, [r], glasses=True)[0]).resize((224, 224), Image.BILINEAR), float
    )
    assert np.abs(face - rendered).mean() < 10 < np.abs(face - rendered[:, ::-1]).mean()


def test_video_frames_read_in_any_order_are_the_same(release_tree):
    ds = release(release_tree)
    forward = [ds.read_image(i) for i in range(len(ds.index))[:20]]
    fresh = release(release_tree)
    for i in (19, 3, 11, 0, 19, 7):  # backwards and repeated: seeks, then decodes forward
        assert np.array_equal(fresh.read_image(i), forward[i])


def test_frames_without_tracking_are_left_out_and_damaged_files_name_their_line(release_tree, tmp_path):
    root = copy_tree(release_tree, tmp_path / "bad")
    head = root / "Data" / "5_A_DS_S" / "head_pose.txt"
    lines = head.read_text().splitlines()
    lines[16] = "15;" + ";".join(["0"] * 12)  # frame 15: no head tracking, the release writes zeros
    head.write_text("\n".join(lines) + "\n")
    ds = release(root)
    assert "p5/5_A_DS_S/15" not in set(ds.index["id"]) and ds.left_out == {"p5": 1}
    lines[31] = "30;1;2;3"
    head.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError) as err:
        release(root).index  # noqa: B018
    assert str(err.value).startswith(f"{head}:32: 4 fields separated by ';', expected 13")
    (root / "Data" / "9_A_DS_M" / "rgb_vga.mov").unlink()
    report = check_dataset("eyediap", root, {}, images=False)
    assert sorted((p["kind"], p["path"]) for p in report["problems"]) == [
        ("malformed_line", f"{head}:32"),
        ("missing_file", str(root / "Data" / "9_A_DS_M")),
    ]


def test_release_options_and_roots(release_tree, hub_tree, monkeypatch):
    assert len(release(release_tree, frame_step=30).index) == 8 * 2 * 5  # frames 0, 30, ..., 120 of each session
    with pytest.raises(ConfigError, match="face_size applies to the release"):
        hub(hub_tree, face_size=64)
    with pytest.raises(DatasetNotFound, match=r"no screen-target session folders \(Data/"):
        release(hub_tree)
    import builtins

    real_import = builtins.__import__

    def no_av(name, *args, **kwargs):
        if name == "av":
            raise ImportError("No module named 'av'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_av)
    with pytest.raises(
        ConfigError, match=r'EYEDIAP.s videos need PyAV, which is not installed: pip install "gazebench\[video\]"'
    ):
        release(release_tree).read_image(0)


# -- the adapter contract on GazeHub's layout (the registry's contract test covers the release) -------


def test_the_contract_holds_for_gazehub_layout(tmp_path, monkeypatch):
    from gazebench.datasets.eyediap import EYEDIAP
    from tests.test_dataset_contract import (
        check_check_data,
        check_folds_and_splits,
        check_images,
        check_index,
        check_views,
    )

    root = tmp_path / "fake"
    info = EYEDIAP.write_fake(root, layout="gazehub")
    ds = EYEDIAP(root=root, **info["options"])
    check_index(ds, info)
    check_folds_and_splits(ds, monkeypatch)
    check_images(ds, info)
    check_views(ds)
    check_check_data("eyediap", root, info)


def test_prepare_decodes_the_release_once_into_the_frame_cache(release_tree, tmp_path):
    """``gazebench prepare`` reads the videos from several threads (one container each); the cache
    holds what reading the release gives."""
    import h5py

    assert (
        main(
            [
                "prepare",
                "--dataset",
                "eyediap",
                "--root",
                str(release_tree),
                "--size",
                "32",
                "--workers",
                "2",
                "--cache-dir",
                str(tmp_path),
                "--quiet",
            ]
        )
        == 0
    )
    (path,) = tmp_path.glob("eyediap-32px-*.h5")
    ds = release(release_tree)
    with h5py.File(path, "r") as f:
        for position in (0, 17, 70, len(ds.index) - 1):
            assert np.array_equal(f["frames"][position], ds.read_resized(position, 32))
