"""ETH-XGaze adapter: the (pitch, yaw) convention and its mirror test, SynthGaze's rendering of the
layout, check-data, lazy per-process HDF5 handles, validation sets, and runs: predict-only (test
labels withheld, or --predict-only) writing the leaderboard submission, and a normal result when
the test files carry labels."""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from gazebench.core import geometry
from gazebench.datasets import build_dataset
from gazebench.datasets.base import DatasetError
from gazebench.datasets.checks import check_dataset
from gazebench.datasets.ethxgaze.labels import read_submission, to_canonical, to_pitch_yaw
from gazebench.datasets.ethxgaze.layout import participant_ids
from gazebench.results.store import load_results
from gazebench.synth import Preset, make_scene, write_layout
from tests.helpers import SMALL_RUN, cli
from tests.lazy_h5 import check_lazy_handles

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # shared fixture in conftest.py

PRESET = Preset(name="ethxgaze-test", n_subjects=7, n_sequences=2, n_frames=3, image_size=32)
#: 7 SynthGaze subjects, 2 of them test participants: subject0087 then subject0049 (the release's order)
TEST_ORDER = ["subject0087", "subject0049"]


def release_label(g_camera: np.ndarray) -> np.ndarray:
    """ETH-XGaze's label of a camera-frame gaze vector, as normalization_example.py lines 313-315
    compute it: (theta, phi) = (arcsin(-g_y), arctan2(-g_x, -g_z))."""
    g = g_camera / np.linalg.norm(g_camera, axis=-1, keepdims=True)
    return np.stack([np.arcsin(-g[..., 1]), np.arctan2(-g[..., 0], -g[..., 2])], axis=-1)


# -- the convention -------------------------------------------------------------------------------


def test_face_gaze_is_pitch_yaw_with_the_gaze360_directions():
    # into the camera; up; towards the image's left (camera -x)
    g = np.array([[0.0, 0.0, -1.0], [0.0, -1.0, -1.0], [-1.0, 0.0, -1.0], [0.3, 0.2, -0.9]])
    label = release_label(g)
    v = to_canonical(label)
    np.testing.assert_allclose(v, geometry.from_camera_frame(g), atol=1e-12)
    np.testing.assert_allclose(v[0], [0, 0, -1], atol=1e-12)
    assert v[1, 1] > 0 and label[1, 0] > 0  # looking up: pitch > 0, canonical +y
    assert v[2, 0] > 0 and label[2, 1] > 0  # yaw > 0 towards the image's left: canonical +x
    np.testing.assert_allclose(to_pitch_yaw(v), label, atol=1e-12)  # the submission's inverse


def test_mirroring_the_image_negates_the_canonical_yaw():
    """A horizontal flip negates the camera-frame x of the gaze; the adapter's conversion of the
    flipped image's label must be the mirrored canonical vector (yaw negated, pitch kept)."""
    rng = np.random.default_rng(3)
    g = np.column_stack([rng.uniform(-1, 1, 20), rng.uniform(-0.6, 0.6, 20), -rng.uniform(0.3, 1, 20)])
    flipped = g * [-1.0, 1.0, 1.0]
    v, v_flipped = to_canonical(release_label(g)), to_canonical(release_label(flipped))
    np.testing.assert_allclose(v_flipped, geometry.mirror(v), atol=1e-12)
    yp, yp_flipped = geometry.vector_to_yawpitch(v), geometry.vector_to_yawpitch(v_flipped)
    np.testing.assert_allclose(yp_flipped, yp * [-1.0, 1.0], atol=1e-12)


# -- SynthGaze trees --------------------------------------------------------------------------------


def synth_tree(root: Path, test_labels: bool) -> Path:
    write_layout(
        make_scene(PRESET, 0),
        root,
        layout="ethxgaze",
        workers=1,
        progress=False,
        test_labels=test_labels,
        test_subjects=2,
    )
    return root


@pytest.fixture(scope="module")
def withheld(tmp_path_factory) -> Path:
    """The layout as released: the test files carry no face_gaze."""
    return synth_tree(tmp_path_factory.mktemp("xgaze") / "withheld", test_labels=False)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> Path:
    return synth_tree(tmp_path_factory.mktemp("xgaze") / "labelled", test_labels=True)


def test_the_layout_and_the_index(withheld):
    split = json.loads((withheld / "train_test_split.json").read_text())
    assert split["test"] == [f"{s}.h5" for s in TEST_ORDER]  # the release's order, not sorted
    assert split["train"] == sorted(split["train"]) and len(split["train"]) == 5
    with h5py.File(withheld / "test" / "subject0087.h5") as fh:
        assert "face_gaze" not in fh and fh["face_patch"].shape == (6, 32, 32, 3) and fh["face_patch"].dtype == np.uint8
        assert fh["cam_index"].shape == (6, 1) and fh["frame_index"].shape == (6, 1)
    ds = build_dataset("ethxgaze", withheld)
    idx = ds.index
    assert idx.loc[idx["split"] == "test", "subject"].unique().tolist() == TEST_ORDER  # index order = split-file order
    assert not idx.loc[idx["split"] == "test", "labelled"].any() and idx.loc[idx["split"] != "test", "labelled"].all()
    test = ds.split_positions()["test"]
    assert np.isnan(ds.gaze(test)).all() and np.isfinite(ds.gaze(ds.split_positions()["train"])).all()
    # the labels read are the labels rendered, by participant
    f = make_scene(PRESET, 0).frames
    for sid, (folder, subject) in participant_ids(sorted(f["subject"].unique()), 2).items():
        rows = np.flatnonzero(idx["subject"].to_numpy() == subject)
        want = f.loc[f["subject"] == sid, ["gaze_x", "gaze_y", "gaze_z"]].to_numpy()
        if folder == "train":
            assert geometry.angular_error_deg(ds.gaze(rows), want).max() < 1e-6
        assert idx["path"].iat[rows[0]] == f"{folder}/{subject}.h5#0"


def test_validation_sets_come_from_the_card(withheld):
    subjects = {
        v: build_dataset("ethxgaze", withheld, validation=v).split_subjects() for v in ("seed", "kfold-4", "none")
    }
    assert subjects["seed"]["val"] == ["subject0030", "subject0078", "subject0101"]  # train_val_split.py
    assert subjects["seed"]["train"] == ["subject0000", "subject0003"]
    assert subjects["kfold-4"]["val"] == ["subject0000"]  # kfold_split.py, fold 4
    assert subjects["none"]["val"] == [] and len(subjects["none"]["train"]) == 5
    assert all(s["test"] == sorted(TEST_ORDER) for s in subjects.values())


def test_check_data_reports_withheld_test_labels_without_problems(withheld, labelled):
    report = check_dataset("ethxgaze", withheld, {}, images=True, workers=2)
    assert report["problems"] == []
    test = report["folds"]["default"]["test"]
    assert test["samples"] == 12 and np.isnan(test["yaw_mean_deg"])  # no label to summarise
    report = check_dataset("ethxgaze", labelled, {}, images=False)
    assert report["problems"] == [] and np.isfinite(report["folds"]["default"]["test"]["yaw_mean_deg"])


def test_bad_and_missing_files_are_listed(tmp_path, labelled):
    import shutil

    root = shutil.copytree(labelled, tmp_path / "tree")
    with h5py.File(root / "train" / "subject0000.h5", "r+") as fh:
        del fh["face_gaze"]
    (root / "train" / "subject0101.h5").unlink()
    report = check_dataset("ethxgaze", root, {}, images=False)
    kinds = {p["kind"]: p for p in report["problems"]}
    assert set(kinds) == {"bad_file", "missing_file"}
    assert "subject0000.h5" in kinds["bad_file"]["path"] and "must carry labels" in kinds["bad_file"]["message"]
    with pytest.raises(DatasetError, match="subject0000.h5"):
        build_dataset("ethxgaze", root).index  # noqa: B018 - a run stops at the first one


def test_files_open_lazily_once_per_process(labelled):
    ds = build_dataset("ethxgaze", labelled)
    assert len(ds.index) == 42  # indexing read the labels (and closed every file: checked below)
    check_lazy_handles(ds, np.arange(0, 42, 3), 16, "train/subject0000.h5", 40)


def test_images_are_the_rendered_ones_in_rgb(labelled):
    from gazebench.synth import render_frames

    scene = make_scene(PRESET, 0)
    ds = build_dataset("ethxgaze", labelled)
    row = int(np.flatnonzero(ds.index["subject"].to_numpy() == "subject0049")[1])
    sid = next(
        s for s, (_, name) in participant_ids([s.id for s in scene.subjects], 2).items() if name == "subject0049"
    )
    want = render_frames(scene, [int(np.flatnonzero(scene.frames["subject"].to_numpy() == sid)[1])], glasses=True)[0]
    np.testing.assert_array_equal(ds.read_image(row), want)  # lossless: the very pixels, not BGR, not mirrored


# -- runs -------------------------------------------------------------------------------------------


def run(tree: Path, out: Path, *extra) -> tuple[dict, Path]:
    assert (
        cli(
            "run",
            "--dataset",
            "ethxgaze",
            "--root",
            tree,
            "--model",
            "static",
            "--results",
            out / "results",
            "--runs",
            out / "runs",
            *SMALL_RUN,
            *extra,
        )
        == 0
    )
    (path,) = (out / "results").rglob("*.json")
    return json.loads(path.read_text()), path


def check_submission(record: dict, tree: Path) -> None:
    """The zip to upload holds within_eva_results.txt in a folder: one pitch,yaw row per test sample,
    in split-file order, equal to the run's predictions; submission.txt beside it is the same text."""
    submission = Path(record["artifacts"]["submission"])
    assert submission.name == "submission.zip" and submission.parent == Path(record["artifacts"]["predictions"]).parent
    with zipfile.ZipFile(submission) as archive:
        assert archive.namelist() == ["submission/within_eva_results.txt"]
        text = archive.read("submission/within_eva_results.txt").decode()
    assert text == (submission.parent / "submission.txt").read_text()
    lines = text.splitlines()
    assert len(lines) == 12 and all(len(line.split(",")) == 2 for line in lines)
    pitch_yaw = read_submission(submission)
    pred = pd.read_csv(record["artifacts"]["predictions"])
    ds = build_dataset("ethxgaze", tree)
    order = ds.index["id"].to_numpy()[ds.submission_rows()]
    assert [i.split("/")[0] for i in order[::6]] == TEST_ORDER and list(order[:2]) == [
        "subject0087/000000",
        "subject0087/000001",
    ]
    vectors = pred.set_index("id").loc[order, ["pred_x", "pred_y", "pred_z"]].to_numpy()
    np.testing.assert_allclose(pitch_yaw, to_pitch_yaw(vectors), atol=1e-5)  # predictions CSV: 6 digits
    np.testing.assert_allclose(to_canonical(pitch_yaw), geometry.normalize(vectors), atol=1e-5)


def test_predict_only_run_when_the_test_labels_are_withheld(withheld, tmp_path):
    record, path = run(withheld, tmp_path)
    assert record["metrics"] == {} and record["population"]["labels"] == "withheld"
    assert record["population"]["count"] == 12 and record["population"]["name"] == "ethxgaze/test"
    assert record["val_metrics"]["all"]["n"] == 18 and record["dataset"]["samples"] == {
        "train": 12,
        "val": 18,
        "test": 12,
    }
    check_submission(record, withheld)
    pred = pd.read_csv(record["artifacts"]["predictions"])
    assert pred["gaze_x"].isna().all() and pred["error_deg"].isna().all()  # nothing scored
    # the leaderboard leaves it out with one note; running again finds it done
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert load_results(tmp_path / "results").empty
    assert [str(w.message) for w in caught if "predict-only" in str(w.message)] != []
    with pytest.warns(UserWarning, match="left out 1 predict-only result"):
        assert cli("table", "--results", tmp_path / "results") == 0
    before = path.stat().st_mtime_ns
    run(withheld, tmp_path)
    assert path.stat().st_mtime_ns == before


def leaderboard_error_deg(submission: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The leaderboard's score of (pitch, yaw) rows against its labels, as ETH-XGaze's scorer and
    utils.py ``pitchyaw_to_vector`` compute it: (cos p sin y, sin p, cos p cos y) for both, the angle
    between them in degrees."""

    def vec(py):
        return np.stack([np.cos(py[:, 0]) * np.sin(py[:, 1]), np.sin(py[:, 0]), np.cos(py[:, 0]) * np.cos(py[:, 1])], 1)

    a, b = vec(submission), vec(truth)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def test_predict_only_flag_on_a_labelled_test_split(labelled, tmp_path):
    record, _ = run(labelled, tmp_path, "--predict-only")
    assert record["metrics"] == {} and record["population"]["labels"] == "withheld"
    check_submission(record, labelled)
    # scored as the leaderboard scores it, against the test files' own labels in the json's order,
    # the zip gives each sample the error gazebench measures from the same predictions
    split = json.loads((labelled / "train_test_split.json").read_text())["test"]
    truth = []
    for name in split:
        with h5py.File(labelled / "test" / name) as fh:
            truth.append(fh["face_gaze"][:])
    scored = leaderboard_error_deg(read_submission(Path(record["artifacts"]["submission"])), np.concatenate(truth))
    ds = build_dataset("ethxgaze", labelled)
    rows = ds.submission_rows()
    pred = pd.read_csv(record["artifacts"]["predictions"]).set_index("id").loc[ds.index["id"].to_numpy()[rows]]
    ours = np.degrees(
        np.arccos(
            np.clip((geometry.normalize(pred[["pred_x", "pred_y", "pred_z"]].to_numpy()) * ds.gaze(rows)).sum(1), -1, 1)
        )
    )
    np.testing.assert_allclose(scored, ours, atol=1e-3)


def test_a_labelled_test_split_gives_a_normal_result(labelled, tmp_path):
    record, _ = run(labelled, tmp_path)
    assert record["metrics"]["all"]["n"] == 12 and np.isfinite(record["metrics"]["all"]["mean"])
    assert "labels" not in record["population"] and "submission" not in record["artifacts"]
    df = load_results(tmp_path / "results")
    assert len(df) == 1 and df["all.mean"].iat[0] == pytest.approx(record["metrics"]["all"]["mean"])


def test_the_submission_needs_every_test_sample(labelled, tmp_path):
    ds = build_dataset("ethxgaze", labelled)
    rows = ds.submission_rows()
    with pytest.raises(DatasetError, match="1 of the 12 have none"):
        ds.write_submission(rows[1:], np.tile([0.0, 0.0, -1.0], (11, 1)), tmp_path / "submission.txt")
    assert not (tmp_path / "submission.txt").exists() and not (tmp_path / "submission.zip").exists()
    shuffled = rows[::-1]
    vectors = ds.gaze(shuffled)
    written = ds.write_submission(shuffled, vectors, tmp_path / "submission.txt")  # any order in, split-file order out
    assert written == tmp_path / "submission.zip"
    for path in (tmp_path / "submission.txt", written):
        np.testing.assert_allclose(
            read_submission(path), ds.index[["gaze_pitch", "gaze_yaw"]].to_numpy()[rows], atol=1e-12
        )
    before = written.read_bytes()
    ds.write_submission(rows, ds.gaze(rows), tmp_path / "submission.txt")
    assert written.read_bytes() == before  # the same predictions give the same archive


def test_reproduce_the_released_baseline_writes_a_submission(withheld, tmp_path, capsys):
    """The authors' checkpoint (reference weights packed as released) on a tree whose test labels
    are withheld: predict-only, the submission in split-file order, no number stated."""
    from tests.test_published import REFERENCE, reference_weights, save_released

    weights = save_released(
        "ethxgaze-resnet50", reference_weights(REFERENCE / "ethxgaze-resnet50"), tmp_path / "epoch_24_ckpt.pth.tar"
    )
    assert (
        cli(
            "reproduce",
            "ethxgaze-resnet50",
            "--root",
            withheld,
            "--weights",
            weights,
            "--results",
            tmp_path / "results",
            "--runs",
            tmp_path / "runs",
            "--quiet",
            "--set",
            "image_size=32",
            "--set",
            "num_workers=0",
        )
        == 0
    )
    (path,) = (tmp_path / "results").rglob("*.json")
    record = json.loads(path.read_text())
    assert record["protocol"]["name"] == "xgaze-baseline" and record["dataset"]["samples"]["val"] == 0
    assert record["metrics"] == {} and record["population"]["labels"] == "withheld"
    check_submission(record, withheld)
    assert "| all" in capsys.readouterr().out  # the comparison table: nothing reproduced to compare
