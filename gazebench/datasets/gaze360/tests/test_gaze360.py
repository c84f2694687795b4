"""Gaze360 adapter: metadata.mat and split files, centre/context frames, windows by frame number."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import scipy.io

from gazebench.datasets import build_dataset
from gazebench.datasets.base import DatasetError, DatasetNotFound, LeakageError
from gazebench.datasets.gaze360.fake import (
    SPLIT_NAMES,
    full_window,
    gaze360_frames,
    render,
    split_file_lines,
    write_images,
    write_metadata,
    write_tree,
)
from gazebench.datasets.gaze360.parsing import mat_strings, parse_gaze360_split_file
from tests.helpers import SMALL_RUN, run_cli

# -- parsing -----------------------------------------------------------------------------------


def test_split_file_formats(tmp_path):
    path = tmp_path / "test.txt"
    path.write_bytes(
        b"rec_005/head/000002/000123.jpg 0.1 0.2 -0.9\r\n"
        b"rec_005/head/000002/000124.jpg\t-0.5\t0.0\t-1.5\r\n"
        b"rec_005/head/000002/000125.jpg  0.3   -0.2 \t 2\r\n"
        b"\r\n"
        b"rec_010/head/000011/000007.jpg 1e-1 -2E-1 0.5"  # no newline at the end
    )
    lines = parse_gaze360_split_file(path)
    assert lines.image[1] == "rec_005/head/000002/000124.jpg"
    assert lines.recording == ["rec_005"] * 3 + ["rec_010"]
    assert lines.person.tolist() == [2, 2, 2, 11] and lines.frame.tolist() == [123, 124, 125, 7]
    np.testing.assert_allclose(lines.gaze[2], [0.3, -0.2, 2.0])
    np.testing.assert_allclose(lines.gaze[3], [0.1, -0.2, 0.5])
    assert lines.line.tolist() == [1, 2, 3, 5]


@pytest.mark.parametrize(
    "bad, kind",
    [
        ("rec_005/head/000002/000126.jpg 0.1 0.2", "expected 'rec_XXX/head/PPPPPP/FFFFFF.jpg gx gy gz'"),
        ("rec_005/head/000002/000126.jpg 0.1 0.2 0.3 0.4", "4 fields"),
        ("rec_005/000002/000126.jpg 0.1 0.2 0.3", "expected"),
        ("rec_005/head/000002/000126.png 0.1 0.2 0.3", "expected"),
        ("rec_005/head/000002/000126.jpg 0.1 zero 0.3", "expected"),
        ("rec_005/head/000002/000126.jpg,0.1,0.2,0.3", "expected"),
        ("rec_005/head/000002/000126.jpg nan 0.2 0.3", "not a finite non-zero vector"),
        ("rec_005/head/000002/000126.jpg 0 0 0", "not a finite non-zero vector"),
        ("rec_005/head/000002/000123.jpg 0.1 0.2 0.3", "listed twice (first on line 1)"),
    ],
)
def test_bad_split_lines_name_file_and_line(tmp_path, bad, kind):
    path = tmp_path / "train.txt"
    path.write_text("rec_005/head/000002/000123.jpg 0.1 0.2 -0.9\n\n" + bad + "\n")
    with pytest.raises(DatasetError) as err:
        parse_gaze360_split_file(path)
    assert f"{path}:3:" in str(err.value) and kind in str(err.value)
    problems = []
    assert len(parse_gaze360_split_file(path, problems)) == 1 and len(problems) == 1
    assert problems[0].path == f"{path}:3"


def test_mat_strings_reads_cell_arrays_and_char_matrices(tmp_path):
    scipy.io.savemat(
        tmp_path / "m.mat",
        {
            "cells": np.array(["rec_000", "rec_01"], dtype=object).reshape(1, -1),
            "chars": np.array(["rec_000", "rec_001"]),
        },
    )
    m = scipy.io.loadmat(tmp_path / "m.mat")
    assert mat_strings(m["cells"]) == ["rec_000", "rec_01"]
    assert mat_strings(m["chars"]) == ["rec_000", "rec_001"]


# -- the index ---------------------------------------------------------------------------------


def test_metadata_index_splits_centres_and_context(tmp_path):
    root = tmp_path / "g360"
    df = write_tree(root, split_files=False)
    ds = build_dataset("gaze360", root)
    assert ds.annotation == "metadata"
    idx = ds.index.set_index("id")
    assert len(idx) == len(df)
    assert idx.loc["rec_001/head/000000/000009", "split"] == "unused"
    assert idx.loc["rec_002/head/000002/000014", "subject"] == "rec_002/p000002"
    assert idx.loc["rec_002/head/000002/000014", "path"] == "imgs/rec_002/head/000002/000014.jpg"
    expected_centre = full_window(df) & (df["split"] <= 2).to_numpy()
    np.testing.assert_array_equal(idx.loc[df["stem"], "centre"].to_numpy(), expected_centre)
    # rec_001 frame 6 needs frame 9, which is unused: unused frames serve as context
    assert idx.loc["rec_001/head/000000/000006", "centre"]
    assert not idx.loc["rec_001/head/000000/000007", "centre"]
    # labels: normalised, direction unchanged (already the canonical eye frame)
    g = idx.loc[df["stem"], ["gaze_x", "gaze_y", "gaze_z"]].to_numpy()
    raw = df[["gx", "gy", "gz"]].to_numpy()
    np.testing.assert_allclose(g, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-12)

    pos = ds.split_positions()
    got = {s: sorted(ds.index["id"].iloc[p]) for s, p in pos.items()}
    for code, split in SPLIT_NAMES.items():
        if split in got:
            assert got[split] == sorted(df["stem"][expected_centre & (df["split"] == code).to_numpy()])
    assert [len(got[s]) for s in ("train", "val", "test")] == [4, 4, 6]
    assert ds.split_subjects() == {
        "train": ["rec_000/p000000", "rec_000/p000001"],
        "val": ["rec_001/p000000"],
        "test": ["rec_002/p000000", "rec_002/p000002"],
    }
    every = build_dataset("gaze360", root, centres="all")
    assert len(every.split_positions()["train"]) == 19


def test_split_files_index_matches_metadata(tmp_path):
    root = tmp_path / "g360"
    write_tree(root)
    meta = build_dataset("gaze360", root)
    files = build_dataset("gaze360", root, annotation="splitfiles")
    assert files.annotation == "splitfiles"
    for split in ("train", "val", "test"):
        a = meta.index.iloc[meta.split_positions()[split]].set_index("id")
        b = files.index.iloc[files.split_positions()[split]].set_index("id")
        assert sorted(a.index) == sorted(b.index)
        np.testing.assert_allclose(
            a.loc[b.index, ["gaze_x", "gaze_y", "gaze_z"]], b[["gaze_x", "gaze_y", "gaze_z"]], atol=1e-7
        )
    # frames on disk that no file lists are context rows (label unknown) of the listed persons
    ctx = files.index[~files.index["centre"]]
    assert (ctx["split"] == "unused").all() and not ctx["labelled"].any()
    assert "rec_000/head/000000/000000" in set(ctx["id"])
    assert not any(s == "rec_000/p000001" for s in files.index["subject"])  # no listed frame: not indexed
    assert files.index["labelled"].sum() == 14


def test_windows_by_frame_number(tmp_path):
    root = tmp_path / "g360"
    write_tree(root, split_files=False)
    ds = build_dataset("gaze360", root, centres="all")
    idx = ds.index
    table, complete = ds.windows(range(-3, 4))
    row = lambda i: int(np.flatnonzero(idx["id"] == i)[0])  # noqa: E731
    frames = lambda r: idx["order"].to_numpy()[table[r]].astype(int).tolist()  # noqa: E731
    # person rec_000/p000001 has no frame 5: the nearest number present stands in, ties toward the centre
    r = row("rec_000/head/000001/000004")
    assert frames(r) == [1, 2, 3, 4, 4, 6, 7] and not complete[r]
    r = row("rec_000/head/000001/000008")
    assert frames(r) == [6, 6, 7, 8, 9, 9, 9] and not complete[r]
    r = row("rec_000/head/000000/000005")
    assert frames(r) == [2, 3, 4, 5, 6, 7, 8] and complete[r]
    assert set(idx["subject"].to_numpy()[table[r]]) == {"rec_000/p000000"}
    # every metadata centre frame has a complete window
    assert complete[ds.index["centre"].to_numpy() & (ds.index["split"] != "unused").to_numpy()].sum() >= 14
    strict = build_dataset("gaze360", root)
    _, c = strict.windows(range(-3, 4))
    assert c[strict.index["centre"].to_numpy()].all()


def test_split_file_windows_use_frames_on_disk(tmp_path):
    root = tmp_path / "g360"
    write_tree(root, metadata=False)
    ds = build_dataset("gaze360", root)
    assert ds.annotation == "splitfiles"
    table, complete = ds.windows(range(-3, 4))
    centre = ds.index["centre"].to_numpy()
    assert complete[centre].all()
    r = int(np.flatnonzero(ds.index["id"] == "rec_000/head/000000/000003")[0])
    assert ds.index["order"].to_numpy()[table[r]].astype(int).tolist() == [0, 1, 2, 3, 4, 5, 6]


def test_metadata_bad_labels_strict_and_lenient(tmp_path):
    root = tmp_path / "g360"
    df = gaze360_frames()
    root.mkdir()
    write_images(root, df)
    df.loc[3, ["gx", "gy", "gz"]] = [np.nan, 0.0, 1.0]
    df.loc[5, ["gx", "gy", "gz"]] = [0.0, 0.0, 0.0]
    write_metadata(root, df)
    with pytest.raises(DatasetError, match=r"metadata\.mat\[3\]: .*rec_000, person 0, frame 3.*not a finite"):
        build_dataset("gaze360", root).index
    lenient = build_dataset("gaze360", root, strict=False)
    assert len(lenient.index) == len(df) - 2
    assert [(p.kind, p.path.rsplit("/", 1)[-1]) for p in lenient.problems] == [
        ("bad_label", "metadata.mat[3]"),
        ("bad_label", "metadata.mat[5]"),
    ]


def test_frame_listed_in_two_split_files(tmp_path):
    root = tmp_path / "g360"
    write_tree(root, metadata=False)
    line = "rec_000/head/000000/000004.jpg 0.1 0.2 -0.9\n"
    with open(root / "test.txt", "a") as f:
        f.write(line)
    with pytest.raises(
        DatasetError, match=r"test\.txt:\d+: rec_000/head/000000/000004\.jpg is also listed at .*train\.txt:2"
    ):
        build_dataset("gaze360", root).index


def test_subject_in_two_split_files_is_leakage(tmp_path):
    root = tmp_path / "g360"
    write_tree(root, metadata=False)
    with open(root / "test.txt", "a") as f:
        f.write("rec_000/head/000000/000008.jpg 0.1 0.2 -0.9\n")  # a train person's frame listed for test
    ds = build_dataset("gaze360", root)
    with pytest.raises(LeakageError, match=r"subject 'rec_000/p000000' is in both train and test"):
        ds.split_positions()


# -- root errors -------------------------------------------------------------------------------


def test_missing_root_fix_it_message(tmp_path):
    with pytest.raises(DatasetNotFound) as err:
        build_dataset("gaze360", tmp_path / "nope")
    msg = str(err.value)
    assert str(tmp_path / "nope") in msg and "does not exist" in msg
    assert "gaze360.csail.mit.edu" in msg
    assert "imgs/<recording>/head/<person %06d>/<frame %06d>.jpg" in msg and "metadata.mat" in msg


def test_root_without_annotation_fix_it_message(tmp_path):
    root = tmp_path / "g360"
    write_tree(root, metadata=False, split_files=False)
    with pytest.raises(DatasetNotFound, match=r"incomplete: missing metadata\.mat \(or the split files"):
        build_dataset("gaze360", root)
    with pytest.raises(DatasetNotFound, match=r"missing train\.txt, validation\.txt, test\.txt"):
        build_dataset("gaze360", root, annotation="splitfiles")
    (root / "metadata.mat").write_bytes(b"")
    shutil.rmtree(root / "imgs")
    with pytest.raises(DatasetNotFound, match="incomplete: missing imgs"):
        build_dataset("gaze360", root)


def test_unreadable_metadata_is_a_dataset_error(tmp_path):
    root = tmp_path / "g360"
    (root / "imgs").mkdir(parents=True)
    (root / "metadata.mat").write_bytes(b"not a mat file")
    with pytest.raises(DatasetError, match=r"metadata\.mat: cannot read as a MATLAB file"):
        build_dataset("gaze360", root).index
    scipy.io.savemat(root / "metadata.mat", {"frame": np.arange(3)})
    with pytest.raises(DatasetError, match=r"missing field\(s\) recordings, recording, person_identity"):
        build_dataset("gaze360", root).index


# -- end to end ----------------------------------------------------------------------------------


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("model", ["static", "seqlstm"])
def test_run_end_to_end(tmp_path, model):
    root = tmp_path / "g360"
    write_tree(root)
    results = tmp_path / "results"
    assert (
        run_cli(
            [
                "run",
                "--dataset",
                "gaze360",
                "--root",
                str(root),
                "--model",
                model,
                "--results",
                str(results),
                "--runs",
                str(tmp_path / "runs"),
                *SMALL_RUN,
            ]
        )
        == 0
    )
    (record,) = [json.loads(p.read_text()) for p in results.rglob("*.json")]
    assert record["fold"] == "default"
    assert record["dataset"]["samples"] == {"train": 4, "val": 4, "test": 6}
    assert set(record["metrics"]) >= {"all", "front180", "front20", "back"}
    assert record["recipe"]["lr"] == 1e-4 and record["recipe"]["batch_size"] == 8
    if model == "seqlstm":
        assert record["dataset"]["windows_complete"] == {"train": 4, "val": 4, "test": 6}


# -- on SynthGaze's rendering of the Gaze360 layout ------------------------------------------------


@pytest.mark.parametrize("annotation", ["metadata", "splitfiles"])
def test_synth_gaze360_labels_and_splits_match_the_scene(tmp_path, annotation):
    root = tmp_path / "g360"
    scene, source, origin = render(root)
    ds = build_dataset("gaze360", root, annotation=annotation)
    frames = scene.frames.set_index(["subject", "sequence", "frame"])
    idx = ds.index[ds.index["labelled"]]
    keys = [(*origin[(s.split("/")[0], int(s.split("/p")[1]))], int(f)) for s, f in zip(idx["subject"], idx["order"])]
    want = frames.loc[keys, ["gaze_x", "gaze_y", "gaze_z"]].to_numpy()
    np.testing.assert_allclose(idx[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(), want, atol=1e-6)
    # the centre frames are exactly the split files' lines, split by split
    lines = split_file_lines(root)
    pos = ds.split_positions()
    for split in ("train", "val", "test"):
        assert sorted(ds.index["path"].iloc[pos[split]]) == sorted("imgs/" + p for p in lines[split])
        assert len(pos[split]) > 0
    # subjects keep the SynthGaze split of the person they come from
    of = {"train": "train", "val": "validation", "test": "test"}
    for split, subjects in ds.split_subjects().items():
        for s in subjects:
            sid, _ = origin[(s.split("/")[0], int(s.split("/p")[1]))]
            assert source["subject_splits"][sid] == of[split]
    _, complete = ds.windows(range(-3, 4))
    assert complete[ds.index["centre"].to_numpy()].all()


@pytest.mark.parametrize("model", ["static", "seqsclstmsym"])
def test_synth_gaze360_run_end_to_end(tmp_path, model):
    root = tmp_path / "g360"
    render(root)
    lines = split_file_lines(root)
    results = tmp_path / "results"
    assert (
        run_cli(
            [
                "run",
                "--dataset",
                "gaze360",
                "--root",
                str(root),
                "--model",
                model,
                "--results",
                str(results),
                "--runs",
                str(tmp_path / "runs"),
                *SMALL_RUN,
            ]
        )
        == 0
    )
    (record,) = [json.loads(p.read_text()) for p in results.rglob("*.json")]
    assert record["dataset"]["samples"] == {s: len(v) for s, v in lines.items()}
    assert record["metrics"]["all"]["n"] == len(lines["test"])
    if model.startswith("seq"):
        assert record["dataset"]["windows_complete"] == {s: len(v) for s, v in lines.items()}
