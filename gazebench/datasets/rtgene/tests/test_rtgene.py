"""RT-GENE adapter: label_combined.txt parsing, conventions, folds, timestamp windows, fix-it errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from PIL import Image

from gazebench.core import geometry
from gazebench.core.options import ConfigError
from gazebench.datasets import build_dataset
from gazebench.datasets.base import DatasetError, DatasetNotFound, LeakageError
from gazebench.datasets.rtgene import VARIANT_DIRS, segment_ids
from gazebench.datasets.rtgene.fake import BASE_TIME, render, write_image, write_tree
from gazebench.datasets.rtgene.parsing import parse_rtgene_labels
from tests.helpers import SMALL_RUN, run_cli, use_cards

#: the folds' test subjects (the card's protocol)
FOLD_TEST = {
    "0": ["s001", "s002", "s008", "s010"],
    "1": ["s003", "s004", "s007", "s009"],
    "2": ["s005", "s006", "s011", "s012", "s013"],
}


# -- parsing ---------------------------------------------------------------------------------


def test_parse_documented_line_formats(tmp_path):
    path = tmp_path / "label_combined.txt"
    text = (
        "1, [0.1648, -0.2991], [-0.1191, 0.1629], 1504190788.51\r\n"  # the documented example, CRLF
        "2,[0.1,-0.2],[0.3,-0.4],1504190788.6\r\n"  # no spaces
        "3,  [ 1e-2 ,\t-2.5E-1 ] ,  [\t.5, -0.25 ],\t1504190788.7  \r\n"  # double spaces, tabs, exponents
        "\r\n"  # blank line: skipped
        "10, [+0.0, 0], [0, -0], 1504190789\n"
    )
    path.write_bytes(text.encode())
    labels = parse_rtgene_labels(path)
    assert labels.idx.tolist() == [1, 2, 3, 10]
    np.testing.assert_allclose(labels.head[0], [0.1648, -0.2991])
    np.testing.assert_allclose(labels.gaze[0], [-0.1191, 0.1629])
    np.testing.assert_allclose(labels.gaze[2], [0.5, -0.25])
    np.testing.assert_allclose(labels.head[2], [0.01, -0.25])
    np.testing.assert_allclose(labels.timestamp, [1504190788.51, 1504190788.6, 1504190788.7, 1504190789.0])
    assert labels.line.tolist() == [1, 2, 3, 5]


@pytest.mark.parametrize(
    "bad",
    [
        "4, 0.1, -0.2, 0.3, -0.4, 1504190788.8",  # no brackets
        "4, [0.1, -0.2], [0.3], 1504190788.8",  # gaze with one value
        "4, [0.1, -0.2], [0.3, -0.4]",  # no timestamp
        "x4, [0.1, -0.2], [0.3, -0.4], 1504190788.8",  # idx not an integer
        "4, [0.1, -0.2], [0.3, abc], 1504190788.8",  # not a number
        "4; [0.1, -0.2]; [0.3, -0.4]; 1504190788.8",  # other separator
    ],
)
def test_malformed_line_names_file_line_text_and_format(tmp_path, bad):
    path = tmp_path / "label_combined.txt"
    path.write_text("1, [0.1, -0.2], [0.3, -0.4], 1504190788.5\n\n" + bad + "\n")
    with pytest.raises(DatasetError) as err:
        parse_rtgene_labels(path)
    msg = str(err.value)
    assert f"{path}:3:" in msg
    assert bad[:20] in msg
    assert "idx, [head_yaw, head_pitch], [gaze_yaw, gaze_pitch], timestamp" in msg


def test_lenient_parse_collects_every_problem_and_keeps_good_lines(tmp_path):
    path = tmp_path / "label_combined.txt"
    path.write_text(
        "1, [0.1, -0.2], [0.3, -0.4], 1504190788.5\n"
        "2, [0.1, -0.2], [0.3], 1504190788.6\n"
        "1, [0.1, -0.2], [0.3, -0.4], 1504190788.7\n"
        "3, [0.1, -0.2], [nan, -0.4], 1504190788.8\n"
        "4, [0.1, -0.2], [0.3, -0.4], 1504190788.9\n"
    )
    problems = []
    labels = parse_rtgene_labels(path, problems)
    assert labels.idx.tolist() == [1, 4]
    assert [(p.kind, p.path) for p in problems] == [
        ("malformed_line", f"{path}:2"),
        ("duplicate", f"{path}:3"),
        ("bad_label", f"{path}:4"),
    ]


def test_duplicate_idx_is_an_error_naming_both_lines(tmp_path):
    path = tmp_path / "label_combined.txt"
    path.write_text("7, [0, 0], [0, 0], 1.0\n8, [0, 0], [0, 0], 2.0\n7, [0, 0], [0, 0], 3.0\n")
    with pytest.raises(DatasetError, match=r"label_combined\.txt:3: duplicate idx 7 \(first on line 1\)"):
        parse_rtgene_labels(path)


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_non_finite_values_are_rejected(tmp_path, value):
    path = tmp_path / "label_combined.txt"
    path.write_text(f"1, [0.1, -0.2], [0.3, -0.4], 1.0\n2, [0.1, {value}], [0.3, -0.4], 2.0\n")
    with pytest.raises(DatasetError, match=r":2: non-finite value"):
        parse_rtgene_labels(path)


# -- conventions -----------------------------------------------------------------------------


def test_convention_gaze_yaw_positive_maps_to_x_positive(tmp_path):
    root = tmp_path / "rt"
    folder = root / "s000_glasses"
    folder.mkdir(parents=True)
    (folder / "label_combined.txt").write_text(
        "1, [0.3, 0.2], [0.5, 0.0], 10.0\n"  # positive yaw
        "2, [0.3, 0.2], [-0.5, 0.0], 10.1\n"
        "3, [0.3, 0.2], [0.0, 0.4], 10.2\n"  # looking up
        "4, [0.3, 0.2], [0.0, 0.0], 10.3\n"  # straight into the camera
    )
    ds = build_dataset("rtgene", root)
    g = ds.gaze()
    assert g[0, 0] > 0 and g[1, 0] < 0  # yaw sign -> x sign
    assert g[2, 1] > 0  # pitch > 0 -> up (+y)
    np.testing.assert_allclose(g[3], [0.0, 0.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(
        np.degrees(geometry.vector_to_yawpitch(g))[:, 0], np.degrees([0.5, -0.5, 0.0, 0.0]), atol=1e-9
    )
    # the head pose is not the label: the head columns keep the native values
    assert ds.index["head_yaw"].tolist() == [0.3] * 4
    # mirroring the image negates yaw: the mirrored label of (yaw, pitch) is the label of (-yaw, pitch)
    np.testing.assert_allclose(geometry.mirror(g[0]), geometry.from_yaw_pitch(np.array([-0.5, 0.0])), atol=1e-12)


def test_image_and_label_mirror_together(tmp_path):
    """Flipping an image horizontally and mirroring its label is consistent with how a label with
    the opposite yaw is read: a frame written with yaw -a, flipped, reads like the frame with +a."""
    root = tmp_path / "rt"
    folder = root / "s000_glasses"
    img = np.zeros((8, 8, 3), dtype=np.uint8)
    img[:, :2] = 255  # bright stripe on the image's left
    write_image(folder / "inpainted/face/face_000001_rgb.png")
    Image.fromarray(img).save(folder / "inpainted/face/face_000001_rgb.png")
    Image.fromarray(img[:, ::-1].copy()).save(folder / "inpainted/face/face_000002_rgb.png")
    (folder / "label_combined.txt").write_text("1, [0, 0], [0.4, 0.1], 1.0\n2, [0, 0], [-0.4, 0.1], 1.1\n")
    ds = build_dataset("rtgene", root)
    a, b = ds.read_image(0), ds.read_image(1)
    np.testing.assert_array_equal(a[:, ::-1], b)
    np.testing.assert_allclose(geometry.mirror(ds.gaze()[0]), ds.gaze()[1], atol=1e-12)


# -- the adapter -------------------------------------------------------------------------------


def test_index_ids_paths_and_variants(tmp_path):
    root = tmp_path / "rt"
    written = write_tree(root, subjects=["s000", "s003"], frames=3, variants=tuple(VARIANT_DIRS))
    for variant, folder in VARIANT_DIRS.items():
        ds = build_dataset("rtgene", root, variant=variant)
        assert ds.index["id"].tolist() == [
            "s000/000001",
            "s000/000002",
            "s000/000003",
            "s003/000001",
            "s003/000002",
            "s003/000003",
        ]
        assert ds.index["path"].iat[4] == f"s003_glasses/{folder}/face_000002_rgb.png"
        assert ds.read_image(4).shape == (12, 12, 3)
    yp = np.array([[r[1], r[2]] for s in ("s000", "s003") for r in written[s]])
    np.testing.assert_allclose(ds.gaze(), geometry.from_yaw_pitch(yp), atol=1e-6)
    assert ds.index["subject"].tolist() == ["s000"] * 3 + ["s003"] * 3


def test_noglasses_folders_are_ignored(tmp_path):
    root = tmp_path / "rt"
    write_tree(root, subjects=["s000"], frames=2)
    (root / "s000_noglasses" / "original" / "face").mkdir(parents=True)
    assert set(build_dataset("rtgene", root).index["subject"]) == {"s000"}


def test_folds_and_validation_variants_come_from_the_card(tmp_path):
    root = tmp_path / "rt"
    write_tree(root, frames=2)
    ds = build_dataset("rtgene", root)
    assert ds.folds() == ["0", "1", "2"]
    for fold, test in FOLD_TEST.items():
        s = ds.split_subjects(fold)
        assert s["test"] == test
        assert s["val"] == ["s000", "s014", "s015", "s016"]
        other = [x for f, t in FOLD_TEST.items() if f != fold for x in t]
        assert sorted(s["train"]) == sorted(other)
        pos = ds.split_positions(fold)
        assert len(pos["test"]) == 2 * len(test) and len(pos["val"]) == 8
    gh = build_dataset("rtgene", root, validation="gazehub")
    s = gh.split_subjects("0")
    assert s["val"] == ["s014", "s015", "s016"]
    assert "s000" in s["train"]  # train is "every other subject"


# -- windows from timestamps ----------------------------------------------------------------


def test_segments_split_on_gaps():
    t = np.array([0.0, 0.03, 0.07, 1.0, 1.03, 5.0])
    assert segment_ids(t, 0.5).tolist() == [0, 0, 0, 1, 1, 2]
    assert segment_ids(t, 10.0).tolist() == [0] * 6
    assert segment_ids(t, 0.0).tolist() == [0, 1, 2, 3, 4, 5]


def test_windows_follow_timestamps_with_gap_and_padding(tmp_path):
    root = tmp_path / "rt"
    folder = root / "s000_glasses"
    folder.mkdir(parents=True)
    # idx order differs from time order; a 2 s hole splits the frames into two segments
    times = {5: 0.00, 6: 0.04, 2: 0.08, 8: 0.12, 9: 0.16, 3: 2.16, 4: 2.20, 7: 2.24}
    (folder / "label_combined.txt").write_text(
        "".join(f"{i}, [0, 0], [0.1, 0.0], {BASE_TIME + t:.3f}\n" for i, t in times.items())
    )
    ds = build_dataset("rtgene", root)
    idx = ds.index
    assert idx["idx"].tolist() == [5, 6, 2, 8, 9, 3, 4, 7]  # time order
    assert idx["sequence"].tolist() == ["s000/seg000"] * 5 + ["s000/seg001"] * 3
    table, complete = ds.windows([-1, 0, 1])
    by_idx = lambda rows: [int(idx["idx"].iat[r]) for r in rows]  # noqa: E731
    assert by_idx(table[2]) == [6, 2, 8] and complete[2]  # inside a segment
    assert by_idx(table[4]) == [8, 9, 9] and not complete[4]  # segment end: edge frame repeated
    assert by_idx(table[5]) == [3, 3, 4] and not complete[5]  # next segment starts: no crossing
    assert complete.sum() == 4  # 6, 2, 8 and 4
    table7, complete7 = ds.windows(range(-3, 4))
    assert not complete7.any()  # no segment holds 7 frames
    # a longer max_gap joins the segments
    joined = build_dataset("rtgene", root, max_gap=3.0)
    t, c = joined.windows([-1, 0, 1])
    assert c.sum() == 6 and by_idx(t[4]) == [8, 9, 3]


def test_max_gap_is_a_number_option(tmp_path):
    root = tmp_path / "rt"
    write_tree(root, subjects=["s000"], frames=2)
    assert build_dataset("rtgene", root).options["max_gap"] == 0.5
    assert build_dataset("rtgene", root, max_gap=2).options["max_gap"] == 2.0
    with pytest.raises(ConfigError, match=r"max_gap=-1: must be a number in \[0, 3600\]"):
        build_dataset("rtgene", root, max_gap=-1)


# -- root errors -------------------------------------------------------------------------------


def test_missing_root_fix_it_message(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetNotFound) as err:
        build_dataset("rtgene", missing)
    msg = str(err.value)
    assert str(missing) in msg and "does not exist" in msg
    assert "zenodo" in msg.lower() and "Tobias-Fischer/rt_gene" in msg
    assert "label_combined.txt" in msg and "inpainted/face/face_%06d_rgb.png" in msg


def test_incomplete_root_fix_it_message(tmp_path):
    root = tmp_path / "rt"
    (root / "s000_glasses").mkdir(parents=True)
    with pytest.raises(DatasetNotFound, match=r"incomplete: no sNNN_glasses/label_combined.txt found"):
        build_dataset("rtgene", root)


def test_missing_images_error_or_skip(tmp_path):
    root = tmp_path / "rt"
    write_tree(root, subjects=["s000"], frames=3)
    (root / "s000_glasses/inpainted/face/face_000002_rgb.png").unlink()
    ds = build_dataset("rtgene", root)
    assert len(ds) == 3
    with pytest.raises(DatasetError, match="check-data"):
        ds.read_image(1)
    skipped = build_dataset("rtgene", root, missing_images="skip")
    assert skipped.index["idx"].tolist() == [1, 3]


def test_leakage_in_an_edited_card_fails_naming_the_subject(tmp_path, monkeypatch):
    root = tmp_path / "rt"
    write_tree(root, frames=2)
    cards = tmp_path / "cards"
    cards.mkdir()
    from gazebench.datasets.cards import load_card

    card = yaml.safe_load(load_card("rtgene").path.read_text())
    card["protocol"]["val"] = ["s001", "s014", "s015", "s016"]  # s001 is also a fold-0 test subject
    (cards / "rtgene.yaml").write_text(yaml.safe_dump(card))
    use_cards(monkeypatch, cards)
    ds = build_dataset("rtgene", root)
    with pytest.raises(LeakageError, match="subject 's001' is in both"):
        ds.split_positions("0")
    ds.split_positions("1")  # fold 1: s001 is only in val ("rest" leaves val subjects out of train)
    with pytest.raises(LeakageError, match="'s001'"):
        run_cli(
            [
                "run",
                "--dataset",
                "rtgene",
                "--root",
                str(root),
                "--model",
                "mean",
                "--fold",
                "0",
                "--results",
                str(tmp_path / "results"),
                "--runs",
                str(tmp_path / "runs"),
                "--quiet",
                "--no-table",
            ]
        )


# -- end to end ----------------------------------------------------------------------------------


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_run_static_all_three_folds(tmp_path):
    root = tmp_path / "rt"
    write_tree(root, frames=3, size=16, variants=("original_large",))  # the original protocol's images
    results = tmp_path / "results"
    assert (
        run_cli(
            [
                "run",
                "--dataset",
                "rtgene",
                "--root",
                str(root),
                "--model",
                "static",
                "--fold",
                "all",
                "--results",
                str(results),
                "--runs",
                str(tmp_path / "runs"),
                *SMALL_RUN,
            ]
        )
        == 0
    )
    records = [json.loads(p.read_text()) for p in sorted(results.rglob("*.json"))]
    assert sorted(r["fold"] for r in records) == ["0", "1", "2"]
    for r in records:
        assert r["dataset"]["subjects"]["test"] == FOLD_TEST[r["fold"]]
        assert r["dataset"]["samples"]["test"] == 3 * len(FOLD_TEST[r["fold"]])
        assert r["dataset"]["samples"]["val"] == 12
        assert r["recipe"]["lr"] == 3.25e-4 and r["recipe"]["betas"] == [0.9, 0.95]
        assert r["model"]["loss"] == "mse"
        assert r["dataset"]["options"]["variant"] == "original_large"  # the seed script's default images


@pytest.mark.parametrize("model", ["seqlstm", "seqsclstmsym"])
def test_run_temporal_models_record_complete_windows(tmp_path, model):
    root = tmp_path / "rt"
    # 9 frames per subject at 30 Hz: the three middle frames have a full f-3..f+3 window
    write_tree(root, frames=9, size=16, variants=("original_large",))
    results = tmp_path / "results"
    assert (
        run_cli(
            [
                "run",
                "--dataset",
                "rtgene",
                "--root",
                str(root),
                "--model",
                model,
                "--fold",
                "2",
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
    assert record["dataset"]["windows_complete"] == {"train": 8 * 3, "val": 4 * 3, "test": 5 * 3}


# -- on SynthGaze's rendering of the RT-GENE layout ------------------------------------------------

#: a tiny scene whose every validation/test group keeps frames after the layout drops extreme poses
SYNTH_SEED = 5


def test_synth_rtgene_labels_match_the_scene(tmp_path):
    root = tmp_path / "rt"
    scene, source = render(root, SYNTH_SEED)
    ds = build_dataset("rtgene", root)
    counts = ds.index.groupby("subject").size().to_dict()
    assert counts == {s: n for s, n in source["frames_per_subject"].items() if n}
    # idx = 1-based position of the frame in the subject's time-ordered recording
    f = scene.frames
    for subject, group in ds.index.groupby("subject"):
        rows = f.index[f["subject"] == subject].to_numpy()
        rows = rows[np.argsort(f["timestamp"].to_numpy()[rows], kind="stable")]
        want = f.loc[rows[group["idx"].to_numpy() - 1], ["gaze_x", "gaze_y", "gaze_z"]].to_numpy()
        np.testing.assert_allclose(group[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(), want, atol=1e-5)
    # sequences are a few seconds apart: windows never join two SynthGaze sequences
    table, _ = ds.windows(range(-3, 4))
    ids = ds.index["idx"].to_numpy()
    seq_of = {
        (s, i + 1): q
        for s in ds.index["subject"].unique()
        for i, q in enumerate(f[f["subject"] == s].sort_values("timestamp", kind="stable")["sequence"])
    }
    subj = ds.index["subject"].to_numpy()
    for r in range(len(ds.index)):
        assert len({seq_of[(subj[r], int(ids[t]))] for t in table[r]}) == 1
    for variant in VARIANT_DIRS:
        assert build_dataset("rtgene", root, variant=variant).read_image(0).shape == (48, 48, 3)


def test_every_fold_tests_on_the_subjects_its_card_names(tmp_path):
    """The three folds through the card alone (no training): test subjects as the RT-GENE
    scripts split them, the same validation subjects for every fold, the rest for training."""
    root = tmp_path / "rt"
    render(root, SYNTH_SEED)
    ds = build_dataset("rtgene", root)
    present = set(ds.index["subject"])
    assert ds.card.folds() == ["0", "1", "2"]
    for fold, test in FOLD_TEST.items():
        rule = ds.card.split_rule(fold, ds.options)
        assert list(rule.test) == test and list(rule.val) == ["s000", "s014", "s015", "s016"] and rule.train is None
        subjects = ds.split_subjects(fold)
        assert subjects["test"] == [s for s in test if s in present] and subjects["test"]
        assert sorted(subjects["train"]) == sorted(present - set(rule.test) - set(rule.val))


@pytest.mark.slow
def test_synth_rtgene_sequence_model_trains_on_one_fold(tmp_path):
    root = tmp_path / "rt"
    render(root, SYNTH_SEED)
    results = tmp_path / "results"
    assert (
        run_cli(
            [
                "run",
                "--dataset",
                "rtgene",
                "--root",
                str(root),
                "--model",
                "seqlstm",
                "--fold",
                "2",
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
    assert record["fold"] == "2" and record["dataset"]["subjects"]["test"] == [
        s for s in FOLD_TEST["2"] if s in record["dataset"]["subjects"]["test"]
    ]
    wc = record["dataset"]["windows_complete"]
    assert all(0 <= wc[s] <= record["dataset"]["samples"][s] for s in wc)


def centroid(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(mask.shape)
    return float((ys * mask).sum() / mask.sum()), float((xs * mask).sum() / mask.sum())


def test_mirrored_rendering_matches_the_mirrored_label():
    """Render a frame, and the same frame with every left/right parameter negated and its label
    replaced by ``geometry.mirror(label)``: the second image is exactly the horizontal flip of the
    first (pupils included), so a flipped image's label is the mirrored label -- the RT-GENE label
    with its yaw negated."""
    from gazebench.synth import make_scene
    from gazebench.synth.render import render_row
    from gazebench.synth.scene import compose_gaze

    scene = make_scene("tiny", 0)
    f = scene.frames
    checked = 0
    for i in range(0, len(f), 5):
        row = f.iloc[i].copy()
        g = row[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)
        mirrored = row.copy()
        for key in ("head_yaw", "head_roll", "eye_yaw", "offset_x", "light_x"):
            mirrored[key] = -mirrored[key]
        mirrored["gaze_x"], mirrored["gaze_y"], mirrored["gaze_z"] = geometry.mirror(g)
        subject = scene.subject(row["subject"])
        _, masks = render_row(row, subject, scene.image_size, (False,), masks=True)
        _, masks_m = render_row(mirrored, subject, scene.image_size, (False,), masks=True)
        if masks["pupil"].sum() < 2:
            continue  # pupils hidden (back views) or too small to compare
        np.testing.assert_array_equal(masks["pupil"][:, ::-1], masks_m["pupil"])
        if abs(centroid(masks["pupil"])[1] - centroid(masks_m["pupil"])[1]) > 1.0:
            checked += 1  # the flip visibly moved the pupils
        # the mirrored label is also what the mirrored head and eye rotations compose to
        g_m = compose_gaze(
            mirrored[["head_yaw", "head_pitch", "head_roll"]].to_numpy(np.float64)[None],
            mirrored[["eye_yaw", "eye_pitch"]].to_numpy(np.float64)[None],
        )[0]
        np.testing.assert_allclose(g_m, geometry.mirror(g), atol=1e-9)
        # and it is the RT-GENE label with its yaw negated
        yaw, pitch = geometry.vector_to_yawpitch(g)
        np.testing.assert_allclose(geometry.from_yaw_pitch(np.array([-yaw, pitch])), g_m, atol=1e-9)
    assert checked >= 3
