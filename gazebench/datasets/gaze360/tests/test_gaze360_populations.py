"""Gaze360's two test populations (the full test set and its face-detectable frames) and GazeHub's
layout of the face-detectable frames: counts in check-data and in the result, the population named
in every result and leaderboard header, GazeHub's labels converted once and checked line by line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io
from PIL import Image

from gazebench.core import geometry
from gazebench.datasets import build_dataset
from gazebench.datasets.base import DatasetError
from gazebench.datasets.gaze360.fake import full_window, gazehub_line, write_gazehub
from gazebench.datasets.gaze360.fake import write_tree as write_gaze360
from gazebench.datasets.gaze360.parsing import GAZEHUB_HEADER, faces_detected, parse_gazehub_label
from gazebench.population import ids_sha256, population_name, population_of_subset
from tests.helpers import cli, use_cards
from tests.test_check_data import check_cli

pytestmark = pytest.mark.usefixtures("one_torch_thread")

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
    "--set",
    "expect_samples=any",
    "--quiet",
    "--no-table",
]
GAZE_SUBSETS = ("front180", "front20", "front20axis", "back")
FACE_SUBSETS = ("face", "face_front180", "face_front20", "face_front20axis", "face_back")


def _record(results: Path) -> dict:
    (path,) = list(results.rglob("*.json"))
    return json.loads(path.read_text())


# -- the face-detectable flag of metadata.mat ------------------------------------------------------


def face_boxes(df: pd.DataFrame) -> np.ndarray:
    """``person_face_bbox``: -1 (no face) for back views and every third frame; one box has a single
    -1 coordinate, which is a detection (only all four -1 mean none)."""
    boxes = np.tile([0.12, 0.1, 0.05, 0.05], (len(df), 1))
    none = (df["gz"].to_numpy() > 0) | (df["frame"].to_numpy() % 3 == 0)
    boxes[none] = -1.0
    boxes[np.flatnonzero(~none)[0], 0] = -1.0
    return boxes


def write_with_faces(root: Path) -> pd.DataFrame:
    """The small hand-made release (:func:`gazebench.datasets.gaze360.fake.write_tree`), its
    metadata.mat with ``person_face_bbox``; the frame table gains ``face`` and ``centre`` (a centre
    frame: split 0-2 with a full window)."""
    df = write_gaze360(root, split_files=False)
    mat = {k: v for k, v in scipy.io.loadmat(root / "metadata.mat").items() if not k.startswith("__")}
    mat["person_face_bbox"] = face_boxes(df)
    scipy.io.savemat(root / "metadata.mat", mat)
    df["face"] = ~(face_boxes(df) == -1).all(1)
    df["centre"] = full_window(df) & (df["split"] <= 2).to_numpy()
    return df


def expected_counts(df: pd.DataFrame, code: int) -> dict[str, int]:
    part = df[df["centre"] & (df["split"] == code)]
    masks = geometry.subset_masks(geometry.normalize(part[["gx", "gy", "gz"]].to_numpy()))
    face = part["face"].to_numpy()
    out = {"samples": len(part), **{k: int(m.sum()) for k, m in masks.items()}, "face": int(face.sum())}
    out.update({f"face_{k}": int((m & face).sum()) for k, m in masks.items()})
    return out


def test_face_detected_is_all_four_minus_one(tmp_path):
    got = faces_detected(np.array([[-1, -1, -1, -1], [-1, 0.2, 0.1, 0.1], [0.1, 0.2, 0.1, 0.1]]), tmp_path)
    assert got.tolist() == [False, True, True]
    assert faces_detected(np.array([[-1, -1, -1, -1], [0.1, 0.2, 0.1, 0.1]]).T, tmp_path).tolist() == [False, True]
    with pytest.raises(DatasetError, match="'person_face_bbox' must be N x 4"):
        faces_detected(np.zeros((3, 2)), tmp_path / "metadata.mat")


def test_check_data_counts_both_populations(tmp_path, capsys):
    df = write_with_faces(tmp_path / "g360")
    code, out = check_cli(
        ["--dataset", "gaze360", "--root", str(tmp_path / "g360"), "--set", "expect_samples=any", "--json"], capsys
    )
    report = json.loads(out)
    assert code == 0, report["problems"]
    assert report["subsets"] == [*GAZE_SUBSETS, *FACE_SUBSETS]
    for code_, split in ((0, "train"), (1, "val"), (2, "test")):
        want = expected_counts(df, code_)
        assert {k: report["splits"][split][k] for k in want} == want, split
    test = report["splits"]["test"]
    assert 0 < test["face"] < test["samples"] and test["face_front180"] + test["face_back"] == test["face"]
    assert "person_face_bbox" in report["populations"]["face"]
    # the text names the columns and says what the population is
    code, text = check_cli(
        ["--dataset", "gaze360", "--root", str(tmp_path / "g360"), "--set", "expect_samples=any"], capsys
    )
    header = next(line for line in text.splitlines() if line.startswith("split "))
    assert header.split()[:10] == [
        "split",
        "samples",
        "subjects",
        "front180",
        "front20",
        "front20axis",
        "back",
        "face",
        "face_front180",
        "face_front20",
    ]
    assert "population face (columns face, face_<subset>): the face-detectable frames" in text


def test_split_files_have_no_face_population(tmp_path, capsys):
    write_gaze360(tmp_path / "g360")
    code, out = check_cli(
        [
            "--dataset",
            "gaze360",
            "--root",
            str(tmp_path / "g360"),
            "--set",
            "annotation=splitfiles",
            "--set",
            "expect_samples=any",
            "--json",
        ],
        capsys,
    )
    report = json.loads(out)
    assert code == 0 and report["subsets"] == list(GAZE_SUBSETS) and report["populations"] == {}
    assert "face" not in report["splits"]["test"]


def test_the_result_reports_both_populations_on_the_right_frames(tmp_path, capsys):
    df = write_with_faces(tmp_path / "g360")
    out = tmp_path / "out"
    assert (
        cli(
            "run",
            "--dataset",
            "gaze360",
            "--root",
            tmp_path / "g360",
            *RUN,
            "--results",
            out / "results",
            "--runs",
            out / "runs",
        )
        == 0
    )
    record = _record(out / "results")
    want = expected_counts(df, 2)
    pop = record["population"]
    assert pop["name"] == "gaze360/test" and pop["count"] == want["samples"]
    assert pop["subsets"] == {k: want[k] for k in (*GAZE_SUBSETS, *FACE_SUBSETS)}
    assert {k: record["metrics"][k]["n"] for k in pop["subsets"]} == pop["subsets"]
    # the face metrics are the errors of the face-detectable test frames, and nothing else
    pred = pd.read_csv(record["artifacts"]["predictions"])
    test = df[df["centre"] & (df["split"] == 2)]
    face_ids = set(test.loc[test["face"], "stem"])
    on_face = pred[pred["id"].isin(face_ids)]
    assert len(on_face) == want["face"]
    assert record["metrics"]["face"]["mean"] == pytest.approx(on_face["error_deg"].mean(), abs=1e-4)
    front = on_face[on_face["gaze_z"] <= 0]
    assert record["metrics"]["face_front180"]["mean"] == pytest.approx(front["error_deg"].mean(), abs=1e-4)
    # the predictions file flags the population, so compare and the analyses cut by it as the record does
    assert set(pred.loc[pred["in_face"] == 1, "id"]) == face_ids
    from gazebench.compare import _subset
    from gazebench.population import table_subset_masks

    for subset in FACE_SUBSETS:
        cut = _subset(pred, subset, Path("predictions.csv"))
        assert len(cut) == want[subset] == record["metrics"][subset]["n"]
        if len(cut):
            assert cut["error_deg"].mean() == pytest.approx(record["metrics"][subset]["mean"], abs=1e-4)
    assert set(table_subset_masks(pred)) == {*GAZE_SUBSETS, *FACE_SUBSETS}
    # the population is GazeHub's (every test frame with a face box, window or not): the record counts
    # the frames its source keeps beside those evaluated, and says that the windowless ones are missing
    kept = df[(df["split"] == 2) & df["face"]]
    missing = len(kept) - want["face"]
    assert missing > 0  # this release has face-detectable test frames without frames f-3..f+3
    assert pop["populations"] == {
        "face": {
            "name": "gaze360/test[face]",
            "count": want["face"],
            "sha256": ids_sha256(face_ids),
            "source_count": len(kept),
            "complete": False,
            "shortfall": [
                f"{missing} of the {len(kept)} test frames of population face (as its source keeps them) are "
                "not evaluated: they are not test centre frames under these options"
            ],
        }
    }
    # every leaderboard header names the population the metric is on
    for metric, label in (
        ("all.mean", "— test |"),
        ("front180.mean", "— test |"),
        ("face.mean", "— test[face] |"),
        ("face_front180.mean", "— test[face] |"),
    ):
        assert cli("table", "--results", out / "results", "--metric", metric) == 0
        table = capsys.readouterr().out
        header = table.splitlines()[0]
        assert f"gaze360 (original) {label}" in header, (metric, header)
        # a face cell covers fewer frames than the face population as its source keeps it: marked
        # like any short population, with the record's reason; the full test set's cells are not
        assert ("†" in table) == metric.startswith("face"), (metric, table)
        if metric.startswith("face"):
            assert f"{missing} of the {len(kept)} test frames of population face" in table


def test_population_names():
    assert population_name("gaze360", "default", tag="face") == "gaze360/test[face]"
    assert population_name("rtgene", "1", tag="face") == "rtgene/fold-1/test[face]"
    assert [population_of_subset(s) for s in ("all", "front180", "front20", "back", "face", "face_front20")] == [
        None,
        None,
        None,
        None,
        "face",
        "face",
    ]


# -- SynthGaze: the face-detectable rule of the gaze360 layout ----------------------------------------


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    """The tiny scene written in both layouts by ``gazebench synth`` (seed 0, SynthGaze's split):
    (scene, gaze360 root, gaze360-gazehub root)."""
    from gazebench.synth import layout_names, make_scene

    assert {"gaze360", "gaze360-gazehub"} <= set(layout_names())
    base = tmp_path_factory.mktemp("layouts")
    for layout, folder in (("gaze360", "g360"), ("gaze360-gazehub", "hub")):
        assert cli("synth", "--out", base / folder, "--preset", "tiny", "--layout", layout, "--workers", "1") == 0
    return make_scene("tiny", 0), base / "g360", base / "hub"


def test_synth_face_flag_follows_the_head_pose(trees):
    from gazebench.datasets.gaze360.layout import FACE_FACING_MIN, face_detectable

    scene, g360, _ = trees
    m = scipy.io.loadmat(g360 / "metadata.mat")
    flag = face_detectable(scene.frames)
    assert (faces_detected(m["person_face_bbox"], g360) == flag).all()
    assert 0 < flag.sum() < len(flag)
    facing = geometry.yawpitch_to_vector(scene.frames[["head_yaw", "head_pitch"]].to_numpy())
    turned = np.degrees(np.arccos(-facing[:, 2]))  # angle between the face's direction and the camera
    assert (turned[flag] < np.degrees(np.arccos(FACE_FACING_MIN))).all() and (turned[~flag] >= 78.4).all()
    assert not flag[scene.frames["gaze_z"].to_numpy() > 0.5].any()  # clear back views never show a face


# -- GazeHub's layout --------------------------------------------------------------------------------


def test_gazehub_is_the_face_population_of_the_release(trees, capsys):
    _, g360, hub = trees
    original = build_dataset("gaze360", g360, expect_samples="any")
    gazehub = build_dataset("gaze360", hub, layout="gazehub")
    pos_o, pos_h = original.split_positions(), gazehub.split_positions()
    face = original.index["face_detected"].to_numpy()
    for split in ("train", "val", "test"):
        ids_o = original.index["id"].to_numpy()[pos_o[split]][face[pos_o[split]]]
        ids_h = gazehub.index["id"].to_numpy()[pos_h[split]]
        assert sorted(ids_h) == sorted(ids_o) and len(ids_h) > 0, split
    # check-data: the same counts as the release's face population, and nothing compared with the card
    code, out = check_cli(["--dataset", "gaze360", "--root", str(hub), "--set", "layout=gazehub", "--json"], capsys)
    report = json.loads(out)
    code_o, out_o = check_cli(
        ["--dataset", "gaze360", "--root", str(g360), "--set", "expect_samples=any", "--json"], capsys
    )
    report_o = json.loads(out_o)
    assert code == 0 == code_o, report["problems"]
    for split in ("train", "val", "test"):
        got, want = report["splits"][split], report_o["splits"][split]
        assert (got["samples"], got["front180"], got["front20"], got["back"]) == tuple(
            want[k] for k in ("face", "face_front180", "face_front20", "face_back")
        )
    assert (
        "layout=gazehub" in report["published"]["skipped"]
        and "every sample of this root" in report["populations"]["face"]
    )


def test_gazehub_labels_round_trip_to_the_rendered_gaze(trees):
    scene, _, hub = trees
    source = json.loads((hub / "synthgaze_source.json").read_text())
    origin = {(rec, int(p)): tuple(key.split(":")) for rec, pairs in source["recordings"].items() for key, p in pairs}
    frames = scene.frames.set_index(["subject", "sequence", "frame"])
    ds = build_dataset("gaze360", hub, layout="gazehub")
    idx = ds.index
    keys = [(*origin[(s.split("/")[0], int(s.split("/p")[1]))], int(f)) for s, f in zip(idx["subject"], idx["frame"])]
    np.testing.assert_allclose(
        idx[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(),
        frames.loc[keys, ["gaze_x", "gaze_y", "gaze_z"]].to_numpy(),
        atol=1e-9,
    )
    # 2DGaze is (yaw, pitch) of 3DGaze as GazeHub's GazeTo2d computes it
    labels = parse_gazehub_label(hub / "Label" / "test.label")
    assert labels.columns == GAZEHUB_HEADER
    g3 = np.array([[float(v) for v in t.split(",")] for t in labels.column("3DGaze")])
    np.testing.assert_allclose(
        labels.yaw_pitch, np.stack([np.arctan2(g3[:, 0], -g3[:, 2]), np.arcsin(g3[:, 1])], 1), atol=1e-12
    )
    # face images at Image/<split>/Face/<n>.jpg, eye crops 60 x 36 beside them
    face = idx["path"].iloc[0]
    assert face.startswith("Image/") and "/Face/" in face and ds.read_image(0).shape == (48, 48, 3)
    assert Image.open(hub / face.replace("/Face/", "/Left/")).size == (60, 36)


def test_gazehub_run_names_the_face_population(trees, tmp_path, capsys):
    _, g360, hub = trees
    out = tmp_path / "out"
    assert (
        cli(
            "run",
            "--dataset",
            "gaze360",
            "--root",
            hub,
            "--protocol",
            "gazehub",
            *RUN,
            "--results",
            out / "results",
            "--runs",
            out / "runs",
        )
        == 0
    )
    record = _record(out / "results")
    original = build_dataset("gaze360", g360, expect_samples="any")
    test = original.split_positions()["test"]
    face_ids = original.index["id"].to_numpy()[test][original.index["face_detected"].to_numpy()[test]]
    pop = record["population"]
    assert pop["name"] == "gaze360/test[face]" and pop["complete"] and pop["count"] == len(face_ids)
    assert pop["sha256"] == ids_sha256(face_ids)  # the same frames as the release's face population
    assert record["protocol"]["name"] == "gazehub" and record["dataset"]["options"]["layout"] == "gazehub"
    assert set(record["metrics"]) == {"all", *GAZE_SUBSETS}
    assert cli("table", "--results", out / "results") == 0
    assert "gaze360 (gazehub) — test[face] |" in capsys.readouterr().out.splitlines()[0]


def test_reproduce_l2cs_on_gazehubs_test_set(trees, tmp_path, capsys):
    """The released L2CS-Net Gaze360 model (reference weights) evaluated on GazeHub's Label/test.label:
    its published numbers are on front180 and "front facing" (front20 or front20axis) of gaze360/test[face]."""
    from tests.test_published import REFERENCE, reference_weights, save_released

    _, _, hub = trees
    weights = save_released("l2cs-gaze360", reference_weights(REFERENCE / "l2cs-gaze360"), tmp_path / "l2cs.pkl")
    assert (
        cli(
            "reproduce",
            "l2cs-gaze360",
            "--root",
            hub,
            "--weights",
            weights,
            "--results",
            tmp_path / "results",
            "--runs",
            tmp_path / "runs",
            "--set",
            "image_size=64",
            "--set",
            "num_workers=0",
            "--quiet",
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "l2cs-gaze360 (published) on gaze360 (gazehub), population gaze360/test[face]" in out
    rows = {
        cells[0]: cells
        for cells in (
            [c.strip() for c in line.strip("|").split("|")] for line in out.splitlines() if line.startswith("| ")
        )
    }
    assert rows["front180"][1] == "GazeHub Gaze360 test, face-detectable frames, front 180°"
    # L2CS-Net's "front facing" is not defined by its code or README: both readings, no difference
    row = next(line for line in out.splitlines() if line.startswith("| front20 or front20axis "))
    assert row.rstrip(" |").endswith("none: subset not stated") and "(front20)" in row and "(front20axis)" in row
    record = _record(tmp_path / "results")
    assert record["population"]["name"] == "gaze360/test[face]" and record["recipe"]["image_size"] == 64


def test_mirror_negates_the_canonical_yaw(tmp_path):
    """A face written with 2DGaze (yaw, pitch) and its horizontal flip written with (-yaw, pitch):
    the adapter reads the flipped image and the mirrored label together (x negated, so yaw
    negated), and a positive yaw is the subject's left (+x)."""
    img = np.zeros((8, 8, 3), dtype=np.uint8)
    img[:, :2] = 255  # bright stripe on the image's left
    write_gazehub(
        tmp_path / "hub",
        [gazehub_line(1, 10, 0.4, 0.1), gazehub_line(2, 11, -0.4, 0.1)],
        {"test/Face/1.png": img, "test/Face/2.png": img[:, ::-1].copy()},
    )
    ds = build_dataset("gaze360", tmp_path / "hub", layout="gazehub")
    test = ds.split_positions()["test"]
    a, b = (ds.read_image(int(p)) for p in test)
    np.testing.assert_array_equal(a[:, ::-1], b)
    g = ds.gaze(test)
    np.testing.assert_allclose(geometry.mirror(g[0]), g[1], atol=1e-12)
    assert g[0, 0] > 0 and g[0, 1] > 0  # yaw > 0: +x; pitch > 0: up
    np.testing.assert_allclose(geometry.vector_to_yawpitch(g), [[0.4, 0.1], [-0.4, 0.1]], atol=1e-12)


@pytest.mark.parametrize(
    "bad, kind",
    [
        ("test/Face/9.jpg test/Left/9.jpg rec_002/head/000003/000012.jpg 0,0,-1 0.0,0.0", "5 fields separated"),
        (
            "test/Face/9.jpg test/Left/9.jpg test/Right/9.jpg rec_002/000003/000012.jpg 0,0,-1 0.0,0.0",
            "is not 'rec_XXX/head/PPPPPP/FFFFFF.jpg'",
        ),
        (
            "test/Face/9.jpg test/Left/9.jpg test/Right/9.jpg rec_002/head/000003/000012.jpg 0,0,-1 0.0;0.0",
            "is not 'yaw,pitch'",
        ),
        (
            "test/Face/9.jpg test/Left/9.jpg test/Right/9.jpg rec_002/head/000003/000012.jpg 0,0,-1 nan,0.0",
            "is not finite",
        ),
        (
            "test/Face/9.jpg test/Left/9.jpg test/Right/9.jpg rec_002/head/000003/000012.jpg 0,0,-1 0.0,0.5",
            "disagree by 28.65 deg",
        ),
        # GazeHub's 3DGaze is Gaze360's eye frame, not the camera frame: this one is x-flipped
        (
            "test/Face/9.jpg test/Left/9.jpg test/Right/9.jpg rec_002/head/000003/000012.jpg -0.6,0,-0.8 0.6435,0.0",
            "Gaze360's eye frame",
        ),
        (
            "test/Face/1.png test/Left/9.jpg test/Right/9.jpg rec_002/head/000003/000012.jpg 0,0,-1 0.0,0.0",
            "listed twice (first on line 2)",
        ),
    ],
)
def test_a_malformed_label_line_names_file_and_line(tmp_path, capsys, bad, kind):
    root = tmp_path / "hub"
    write_gazehub(root, [gazehub_line(1, 10, 0.2, 0.0), bad])
    path = root / "Label" / "test.label"
    with pytest.raises(DatasetError) as err:
        build_dataset("gaze360", root, layout="gazehub").index
    assert f"{path}:3:" in str(err.value) and kind in str(err.value)
    code, out = check_cli(
        ["--dataset", "gaze360", "--root", str(root), "--set", "layout=gazehub", "--no-images", "--json"], capsys
    )
    (problem,) = json.loads(out)["problems"]
    assert code == 1 and problem["path"] == f"{path}:3" and kind in problem["message"]


def test_gazehub_header_and_frames_listed_twice(tmp_path):
    root = tmp_path / "hub"
    write_gazehub(root, [gazehub_line(1, 10, 0.2, 0.0)])
    path = root / "Label" / "val.label"
    path.write_text("Face Left Right Origin 3DGaze\n")
    with pytest.raises(DatasetError, match=rf"{path}:1: expected GazeHub's header line .*no column 2DGaze"):
        build_dataset("gaze360", root, layout="gazehub").index
    # the same frame (Origin) in two label files
    write_gazehub(
        root,
        [
            gazehub_line(1, 10, 0.2, 0.0),
            gazehub_line(2, 5, 0.2, 0.0).replace("rec_002/head/000003", "rec_000/head/000000"),
        ],
    )
    with pytest.raises(
        DatasetError,
        match=r"test.label:3: Origin rec_000/head/000000/000005.jpg is also listed at "
        r".*train.label:2",
    ):
        build_dataset("gaze360", root, layout="gazehub").index


def test_a_gazehub_root_without_labels_says_what_is_missing(tmp_path):
    (tmp_path / "hub" / "Image").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"missing Label/train.label, Label/val.label, Label/test.label"):
        build_dataset("gaze360", tmp_path / "hub", layout="gazehub")


# -- the face population is its source's: every test frame with a face box, window or not ----------


def test_the_face_population_is_gazehubs_whatever_the_centre_rule(tmp_path):
    """GazeHub keeps every frame with a face box (data_processing_gaze360.py lines 46, 56-57, 84):
    the population counts those; under centres=full_window the windowless ones are not evaluated and
    the record says so, under centres=all it is evaluated whole."""
    from gazebench.population import describe_rows

    df = write_with_faces(tmp_path / "g360")
    kept = df[(df["split"] == 2) & df["face"]]  # what GazeHub's Label/test.label lists
    assert not full_window(df)[kept.index].all()  # some have no frames f-3..f+3
    for centres, complete in (("full_window", False), ("all", True)):
        ds = build_dataset("gaze360", tmp_path / "g360", expect_samples="any", centres=centres)
        assert sorted(ds.index["id"].to_numpy()[ds.population_rows("test")["face"]]) == sorted(kept["stem"])
        face = describe_rows(ds, ds.split_positions()["test"], [])["populations"]["face"]
        assert face["source_count"] == len(kept) and face["complete"] is complete, centres
        if complete:
            assert face["count"] == len(kept) and face["sha256"] == ids_sha256(kept["stem"]) and face["shortfall"] == []
        else:
            missing = len(kept) - face["count"]
            assert missing > 0 and face["shortfall"] == [
                f"{missing} of the {len(kept)} test frames of population face (as its source keeps them) are not "
                "evaluated: they are not test centre frames under these options"
            ]


def test_check_data_counts_the_face_population_as_its_source_keeps_it(tmp_path, capsys, monkeypatch):
    import yaml

    from gazebench.datasets.cards import load_card

    df = write_with_faces(tmp_path / "g360")
    splits = enumerate(("train", "val", "test"))
    kept = {split: int(((df["split"] == code) & df["face"]).sum()) for code, split in splits}
    centre = {split: int(((df["split"] == code) & df["face"] & df["centre"]).sum()) for code, split in enumerate(kept)}
    code, out = check_cli(
        [
            "--dataset",
            "gaze360",
            "--root",
            str(tmp_path / "g360"),
            "--set",
            "expect_samples=any",
            "--json",
            "--no-images",
        ],
        capsys,
    )
    report = json.loads(out)
    assert report["population_sizes"]["face"] == {s: {"source": kept[s], "centre": centre[s]} for s in kept}
    assert report["splits"]["test"]["face"] == centre["test"] < kept["test"]
    assert f"test {kept['test']:,} frames, {centre['test']:,} of them centre frames" in report["populations"]["face"]
    # where a card states the population's size, check-data compares it (the card states none today)
    card = yaml.safe_load(load_card("gaze360").path.read_text())
    card["protocol"]["published_sizes"] = {"test_face": kept["test"] + 1}
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "gaze360.yaml").write_text(yaml.safe_dump(card, allow_unicode=True))
    use_cards(monkeypatch, cards)
    code, out = check_cli(["--dataset", "gaze360", "--root", str(tmp_path / "g360"), "--json", "--no-images"], capsys)
    report = json.loads(out)
    assert code == 1 and report["published"]["compared"] == {
        "test_face": {"counted": kept["test"], "published": kept["test"] + 1}
    }
    (message,) = [p["message"] for p in report["problems"] if p["kind"] == "published_size"]
    assert message.startswith(
        f"test_face: {kept['test']} frames, the published Gaze360 test set's face population has {kept['test'] + 1}"
    )
