"""MPIIFaceGaze adapter: v7.3 files, conventions, leave-one-person-out folds, the count check,
lazy per-process HDF5 handles, and runs and check-data on SynthGaze's rendering of the layout."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from gazebench.cli import main
from gazebench.core import geometry
from gazebench.core.options import ConfigError
from gazebench.datasets import build_dataset
from gazebench.datasets.base import DatasetError, DatasetNotFound
from gazebench.datasets.checks import check_dataset
from gazebench.datasets.mpiifacegaze.fake import PEOPLE, write_person, write_tree
from tests.helpers import NO_WEIGHTS, TINY_RECIPE
from tests.lazy_h5 import check_lazy_handles

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # shared fixture in conftest.py


# -- conventions and images --------------------------------------------------------------------------


def test_labels_are_pitch_yaw_and_become_canonical(tmp_path):
    labels = np.array([[0.0, 0.5], [0.0, -0.5], [0.4, 0.0], [0.0, 0.0], [-0.2, 0.3]])
    write_person(tmp_path / "p00.mat", labels)
    ds = build_dataset("mpiifacegaze", tmp_path, expect_samples="any")
    g = ds.gaze()
    assert g[0, 0] > 0 and g[1, 0] < 0  # yaw (column 1) -> x sign
    assert g[2, 1] > 0  # pitch (column 0) > 0 -> up
    np.testing.assert_allclose(g[3], [0.0, 0.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(g, geometry.from_pitch_yaw(labels), atol=1e-12)
    np.testing.assert_allclose(np.degrees(geometry.vector_to_yawpitch(g)), np.degrees(labels[:, ::-1]), atol=1e-9)
    # the native values stay in the index
    np.testing.assert_allclose(ds.index["gaze_pitch"], labels[:, 0])
    np.testing.assert_allclose(ds.index["gaze_yaw"], labels[:, 1])
    assert ds.index["head_pitch"].tolist() == [0.1] * 5 and ds.index["head_yaw"].tolist() == [-0.2] * 5
    # a mirrored image's label is the label with yaw negated
    np.testing.assert_allclose(geometry.mirror(g[0]), g[1], atol=1e-12)


def test_index_identity_and_images_are_rgb_hwc(tmp_path):
    images = np.zeros((2, 3, 4, 6), dtype=np.uint8)  # channels first, H=4, W=6, BGR
    images[0, 0] = 200  # blue everywhere
    images[0, 2, 0, 5] = 255  # red at the top right corner
    images[1, 1, 3, 0] = 99  # green at the bottom left corner
    write_person(tmp_path / "p03.mat", np.zeros((2, 2)), images)
    write_person(tmp_path / "p01.mat", np.zeros((1, 2)))
    (tmp_path / "notes.mat").write_bytes(b"not a person file")  # ignored: not pNN.mat
    ds = build_dataset("mpiifacegaze", tmp_path, expect_samples="any")
    assert ds.index["id"].tolist() == ["p01/0000", "p03/0000", "p03/0001"]
    assert ds.index["subject"].tolist() == ["p01", "p03", "p03"]
    assert ds.index["order"].tolist() == [0.0, 0.0, 1.0]
    assert ds.index["sequence"].is_unique  # no sequences: every frame stands alone
    assert not ds.has_sequences
    first = ds.read_image(1)
    assert first.shape == (4, 6, 3) and first.dtype == np.uint8
    assert first[0, 0].tolist() == [0, 0, 200] and first[0, 5].tolist() == [255, 0, 200]
    assert ds.read_image(2)[3, 0].tolist() == [0, 99, 0]
    assert ds.image_path(2) == tmp_path / "p03.mat"
    assert ds.read_resized(1, 8).shape == (8, 8, 3)


# -- the convention self-check (the screen is below the camera) -------------------------------------


def write_looking_down(root: Path, sign: float = 1.0, n: int = 40) -> dict[str, np.ndarray]:
    """Three person files whose gaze, as recorded, mostly points down at a screen below the
    camera (pitch < 0 with the release's signs); ``sign=-1`` writes them mirrored (both angles
    negated, as a copy re-normalised with the opposite convention would be)."""
    rng = np.random.default_rng(5)
    written = {}
    for person in PEOPLE[:3]:
        labels = sign * np.column_stack([rng.uniform(-0.5, 0.1, n), rng.uniform(-0.4, 0.4, n)])
        write_person(root / f"{person}.mat", labels)
        written[person] = labels
    return written


def mirrored_warnings(report: dict) -> list[str]:
    return [w for w in report["warnings"] if "look mirrored" in w]


def test_self_check_is_quiet_on_labels_that_look_down(tmp_path):
    write_looking_down(tmp_path)
    report = check_dataset("mpiifacegaze", tmp_path, {}, images=False)
    assert mirrored_warnings(report) == []
    # the self-check runs on a root read as the release even when its counts are wrong (40, not 3000)
    assert "sample_count" in {p["kind"] for p in report["problems"]}


def test_self_check_warns_on_mirrored_labels_and_names_the_fix(tmp_path):
    written = write_looking_down(tmp_path, sign=-1.0)
    report = check_dataset("mpiifacegaze", tmp_path, {}, images=False)
    (warning,) = mirrored_warnings(report)
    pitch = np.degrees(np.concatenate([w[:, 0] for w in written.values()])).mean()
    assert pitch > 0 and f"{pitch:+.1f} deg (up)" in warning
    assert "screen below the camera" in warning and "--set gaze_signs=negated" in warning
    assert "gazebench/datasets/mpiifacegaze/card.yaml" in warning
    # the fix: the labels read with both signs flipped look down, and the check is quiet
    fixed = build_dataset("mpiifacegaze", tmp_path, expect_samples="any", gaze_signs="negated")
    as_release = build_dataset("mpiifacegaze", tmp_path, expect_samples="any")
    np.testing.assert_allclose(
        fixed.gaze(), geometry.from_pitch_yaw(-np.concatenate(list(written.values()))), atol=1e-12
    )
    np.testing.assert_allclose(fixed.gaze()[:, 1], -as_release.gaze()[:, 1], atol=1e-12)
    np.testing.assert_allclose(fixed.index["gaze_pitch"], as_release.index["gaze_pitch"])  # kept as written
    report = check_dataset("mpiifacegaze", tmp_path, {"gaze_signs": "negated"}, images=False)
    assert mirrored_warnings(report) == []
    # a root declared not to be the release (e.g. a SynthGaze tree) is not held to the recording's setup
    report = check_dataset("mpiifacegaze", tmp_path, {"expect_samples": "any"}, images=False)
    assert mirrored_warnings(report) == [] and "expect_samples=any" in report["published"]["skipped"]


# -- protocol --------------------------------------------------------------------------------------


def test_fifteen_leave_one_person_out_folds_with_the_next_person_validating(tmp_path):
    write_tree(tmp_path)
    ds = build_dataset("mpiifacegaze", tmp_path, expect_samples=3)
    assert ds.folds() == [str(k) for k in range(15)]
    tested, validated = [], []
    for k in range(15):
        subjects = ds.split_subjects(k)
        assert subjects["test"] == [PEOPLE[k]]
        assert subjects["val"] == [PEOPLE[(k + 1) % 15]]
        assert subjects["train"] == [p for p in PEOPLE if p not in (PEOPLE[k], PEOPLE[(k + 1) % 15])]
        positions = ds.split_positions(k)
        assert {s: len(v) for s, v in positions.items()} == {"train": 39, "val": 3, "test": 3}
        tested += subjects["test"]
        validated += subjects["val"]
    assert sorted(tested) == PEOPLE and sorted(validated) == PEOPLE


# -- the count check -------------------------------------------------------------------------------


def test_count_check_is_an_error_in_runs_and_a_problem_in_check_data(tmp_path):
    write_tree(tmp_path, n=3)
    with pytest.raises(DatasetError) as err:
        build_dataset("mpiifacegaze", tmp_path).index
    text = str(err.value)
    published = int(build_dataset("mpiifacegaze", tmp_path, expect_samples="any").card.extra("samples_per_subject"))
    assert text.startswith(
        f"{tmp_path / 'p00.mat'}: p00: 3 samples, the published MPIIFaceGaze release has "
        f"{published:,} per subject (gazebench/datasets/mpiifacegaze/card.yaml samples_per_subject)"
    )
    assert "expect_samples=any" in text
    with pytest.raises(DatasetError, match=r"p00: 3 samples, expected 4 per subject \(--set expect_samples=4\)"):
        build_dataset("mpiifacegaze", tmp_path, expect_samples=4).index
    assert len(build_dataset("mpiifacegaze", tmp_path, expect_samples="any").index) == 45
    assert len(build_dataset("mpiifacegaze", tmp_path, expect_samples="3").index) == 45
    with pytest.raises(ConfigError, match="expect_samples='most': must be one of card, any, an integer >= 1"):
        build_dataset("mpiifacegaze", tmp_path, expect_samples="most")

    report = check_dataset("mpiifacegaze", tmp_path, {}, images=False)
    counts = [p for p in report["problems"] if p["kind"] == "sample_count"]
    assert [p["path"] for p in counts] == [str(tmp_path / f"{p}.mat") for p in PEOPLE]
    assert [p for p in report["problems"] if p["kind"] != "sample_count"] == []
    assert report["splits"]["test"]["samples"] == 45  # the frames are still read and counted
    assert check_dataset("mpiifacegaze", tmp_path, {"expect_samples": "any"}, images=True)["problems"] == []


def test_bad_files_are_listed_by_check_data_and_stop_a_run(tmp_path):
    write_tree(tmp_path, n=2)
    (tmp_path / "p04.mat").write_bytes(b"MATLAB 5.0 MAT-file, an old format")  # not HDF5
    with h5py.File(tmp_path / "p05.mat", "w") as fh:
        fh.create_dataset("Data/label", data=np.zeros((2, 16)))  # no Data/data
    write_person(tmp_path / "p06.mat", np.array([[0.1, np.nan], [0.1, 0.2]]))
    report = check_dataset("mpiifacegaze", tmp_path, {"expect_samples": "any"}, images=True)
    kinds = {(p["kind"], Path(p["path"].split("[")[0]).name) for p in report["problems"]}
    assert {("unreadable_file", "p04.mat"), ("bad_file", "p05.mat"), ("bad_label", "p06.mat")} <= kinds
    assert "MATLAB v7.3 (HDF5)" in next(p["message"] for p in report["problems"] if p["kind"] == "unreadable_file")
    with pytest.raises(DatasetError, match="p04.mat"):
        build_dataset("mpiifacegaze", tmp_path, expect_samples="any").index


def test_missing_root_or_files_say_where_to_get_the_data(tmp_path):
    for root in (tmp_path / "absent", tmp_path):
        with pytest.raises(DatasetNotFound) as err:
            build_dataset("mpiifacegaze", root)
        text = str(err.value)
        assert str(root) in text and "MPIIFaceGaze_normalized.zip" in text and "Data/label" in text
    assert "no pNN.mat files" in text


# -- HDF5 handles ----------------------------------------------------------------------------------


def test_files_open_lazily_once_per_process(tmp_path):
    write_tree(tmp_path, people=PEOPLE[:3], n=4)
    ds = build_dataset("mpiifacegaze", tmp_path, expect_samples="any")
    assert len(ds.index) == 12
    check_lazy_handles(ds, np.arange(12), 8, "p00.mat", 5)
    handle = ds._files["p00.mat"]
    inherited = handle.file()
    handle._pid = -1  # as seen from a forked child: the inherited handle is dropped, not reused
    ds.read_image(0)
    assert handle.is_open and handle.file() is not inherited


# -- end to end on SynthGaze's rendering of the layout -------------------------------------------------


@pytest.fixture(scope="module")
def synth_tree(tmp_path_factory):
    """``gazebench synth --layout mpiifacegaze --preset tiny``: 8 people, 18 frames each."""
    root = tmp_path_factory.mktemp("mpii") / "tiny"
    assert main(["synth", "--out", str(root), "--preset", "tiny", "--layout", "mpiifacegaze", "--workers", "1"]) == 0
    return root


def test_synth_tree_labels_and_check_data_statistics(synth_tree):
    from gazebench.synth import make_scene

    assert sorted(p.name for p in synth_tree.glob("p*.mat")) == [f"p{k:02d}.mat" for k in range(8)]
    scene = make_scene("tiny", 0)
    f = scene.frames
    ds = build_dataset("mpiifacegaze", synth_tree, expect_samples="any")
    assert ds.index.groupby("subject").size().to_dict() == {f"p{k:02d}": 18 for k in range(8)}
    for k in range(8):
        want = f.loc[f["subject"] == f"s{k:03d}", ["gaze_x", "gaze_y", "gaze_z"]].to_numpy()
        got = ds.gaze(np.flatnonzero(ds.index["subject"].to_numpy() == f"p{k:02d}"))
        assert geometry.angular_error_deg(got, want).max() < 1e-5  # arccos near 1: ~1e-6 deg of float noise

    report = check_dataset("mpiifacegaze", synth_tree, {"expect_samples": "any"}, images=True, workers=2)
    for k, split_of in ((0, {"test": [0], "val": [1]}), (3, {"test": [3], "val": [4]})):
        fold = report["folds"][str(k)]
        split_of["train"] = [j for j in range(8) if j not in split_of["test"] + split_of["val"]]
        for split, people in split_of.items():
            g = f.loc[f["subject"].isin([f"s{j:03d}" for j in people]), ["gaze_x", "gaze_y", "gaze_z"]].to_numpy()
            yp = np.degrees(geometry.vector_to_yawpitch(g))
            stats = fold[split]
            assert stats["samples"] == 18 * len(people) and stats["subject_ids"] == [f"p{j:02d}" for j in people]
            assert stats["yaw_mean_deg"] == pytest.approx(yp[:, 0].mean(), abs=2e-3)
            assert stats["pitch_mean_deg"] == pytest.approx(yp[:, 1].mean(), abs=2e-3)
            assert stats["yaw_range_deg"] == pytest.approx([yp[:, 0].min(), yp[:, 0].max()], abs=2e-3)
            assert stats["pitch_range_deg"] == pytest.approx([yp[:, 1].min(), yp[:, 1].max()], abs=2e-3)
            assert "windows_complete" not in stats
    # 8 of 15 people: the folds that test or validate on p08-p14 are empty, and say so
    empty = sorted({p["message"].split(" of fold ")[1].split(" ")[0] for p in report["problems"]}, key=int)
    assert {p["kind"] for p in report["problems"]} == {"empty_split"} and empty == [str(k) for k in range(7, 15)]
    assert any("p08" in w for w in report["warnings"])
    # the default count check fires on every file of the tree
    report = check_dataset("mpiifacegaze", synth_tree, {}, images=False)
    assert sum(p["kind"] == "sample_count" for p in report["problems"]) == 8


def test_run_fold_0_on_the_synth_tree(synth_tree, tmp_path, capsys):
    common = [
        "run",
        "--dataset",
        "mpiifacegaze",
        "--root",
        str(synth_tree),
        "--fold",
        "0",
        "--results",
        str(tmp_path / "results"),
        "--runs",
        str(tmp_path / "runs"),
        "--quiet",
        "--no-table",
        *TINY_RECIPE,
    ]
    assert main([*common, "--model", "mean"]) == 2  # the release's count is 3000 per person
    assert "expect_samples=any" in capsys.readouterr().err

    assert (
        main(
            [
                *common,
                "--model",
                "static",
                "--set",
                "expect_samples=any",
                "--epochs",
                "1",
                "--backbone",
                "test_resnet",
                "--set",
                "max_train_samples=32",
                *NO_WEIGHTS,
            ]
        )
        == 0
    )
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "results").rglob("*.json")]
    assert record["fold"] == "0" and record["dataset"]["options"]["expect_samples"] == "any"
    assert record["dataset"]["subjects"] == {
        "train": [f"p{k:02d}" for k in range(2, 8)],
        "val": ["p01"],
        "test": ["p00"],
    }
    assert record["dataset"]["samples"] == {"train": 108, "val": 18, "test": 18}
    assert record["metrics"]["all"]["n"] == 18 and set(record["metrics"]) == {"all"}  # no subsets


def test_sequence_models_fail_before_training_naming_model_and_dataset(synth_tree, tmp_path, capsys):
    rc = main(
        [
            "run",
            "--dataset",
            "mpiifacegaze",
            "--root",
            str(synth_tree),
            "--fold",
            "0",
            "--model",
            "seqlstm",
            "--set",
            "expect_samples=any",
            "--backbone",
            "test_resnet",
            "--results",
            str(tmp_path / "results"),
            "--runs",
            str(tmp_path / "runs"),
            "--quiet",
            "--no-table",
            *TINY_RECIPE,
            *NO_WEIGHTS,
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "'seqlstm'" in err and "'mpiifacegaze'" in err and "no sequences" in err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "results").exists()
