"""``gazebench check-data``: counts per split and fold, label ranges, and every problem listed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gazebench.core import geometry
from gazebench.datasets.gaze360.fake import full_window, render, split_file_lines
from gazebench.datasets.gaze360.fake import write_tree as write_gaze360
from gazebench.datasets.rtgene.fake import ALL_SUBJECTS, write_labels, write_tree
from gazebench.datasets.rtgene.fake import render as render_rtgene
from gazebench.datasets.rtgene.tests.test_rtgene import FOLD_TEST, SYNTH_SEED
from tests.helpers import run_cli, use_cards


def check_cli(argv: list[str], capsys) -> tuple[int, str]:
    from gazebench.commands import check_data

    parser = argparse.ArgumentParser(prog="gazebench")
    sub = parser.add_subparsers(dest="command")
    check_data.add_parser(sub)
    args = parser.parse_args(["check-data", *argv])
    code = int(args.func(args) or 0)
    return code, capsys.readouterr().out


def expected_stats(gaze: np.ndarray) -> dict:
    yp = np.degrees(geometry.vector_to_yawpitch(geometry.normalize(gaze)))
    return {
        "yaw_mean_deg": yp[:, 0].mean(),
        "pitch_mean_deg": yp[:, 1].mean(),
        "yaw_range_deg": [yp[:, 0].min(), yp[:, 0].max()],
        "pitch_range_deg": [yp[:, 1].min(), yp[:, 1].max()],
    }


def assert_stats(got: dict, gaze: np.ndarray) -> None:
    want = expected_stats(gaze)
    assert got["yaw_mean_deg"] == pytest.approx(want["yaw_mean_deg"], abs=2e-3)
    assert got["pitch_mean_deg"] == pytest.approx(want["pitch_mean_deg"], abs=2e-3)
    assert got["yaw_range_deg"] == pytest.approx(want["yaw_range_deg"], abs=2e-3)
    assert got["pitch_range_deg"] == pytest.approx(want["pitch_range_deg"], abs=2e-3)


# -- RT-GENE -------------------------------------------------------------------------------------


def test_rtgene_counts_per_fold_and_split(tmp_path, capsys):
    root = tmp_path / "rt"
    written = write_tree(root, frames=3, variants=("original_large",))
    code, out = check_cli(["--dataset", "rtgene", "--root", str(root), "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["problems"] == []
    assert report["dataset"] == "rtgene" and report["root"] == str(root)
    assert set(report["folds"]) == {"0", "1", "2"}
    for fold, test in FOLD_TEST.items():
        f = report["folds"][fold]
        assert f["test"]["subject_ids"] == test
        assert f["test"]["samples"] == 3 * len(test) and f["test"]["subjects"] == len(test)
        assert f["val"]["subject_ids"] == ["s000", "s014", "s015", "s016"]
        assert f["train"]["subjects"] == 17 - 4 - len(test)
        yp = np.array([[r[1], r[2]] for s in test for r in written[s]])
        assert_stats(f["test"], geometry.from_yaw_pitch(yp))
        assert "front180" not in f["test"]  # RT-GENE reports no subsets
    assert report["splits"]["test"]["samples"] == 3 * 13  # every non-validation subject is tested once
    assert report["splits"]["val"]["samples"] == 12
    code, out = check_cli(["--dataset", "rtgene", "--root", str(root), "--set", "validation=gazehub", "--json"], capsys)
    assert json.loads(out)["folds"]["0"]["val"]["subject_ids"] == ["s014", "s015", "s016"]


def test_rtgene_problems_are_all_listed(tmp_path, capsys):
    root = tmp_path / "rt"
    write_tree(root, frames=4, variants=("original_large",))
    labels = root / "s003_glasses" / "label_combined.txt"
    lines = labels.read_text().splitlines()
    lines[1] = "2, [0.1, -0.2], [0.3], 1504190788.8"  # malformed
    lines[2] = "1" + lines[2][1:]  # duplicate idx 1
    lines.append("9, [0.1, -0.2], [inf, 0.1], 1504190799")  # non-finite
    labels.write_text("\n".join(lines) + "\n")
    faces = root / "s005_glasses" / "original" / "face_before_inpainting"  # the default protocol's images
    (faces / "face_000002_rgb.png").unlink()  # missing image
    data = (faces / "face_000003_rgb.png").read_bytes()
    (faces / "face_000003_rgb.png").write_bytes(data[: len(data) // 2])  # truncated image
    (faces / "face_000004_rgb.png").write_bytes(b"not an image")  # undecodable

    code, out = check_cli(["--dataset", "rtgene", "--root", str(root), "--json"], capsys)
    assert code == 1
    problems = json.loads(out)["problems"]
    kinds = sorted((p["kind"], Path(p["path"].split(":")[0]).name, p["path"].rsplit(":", 1)[-1]) for p in problems)
    assert kinds == sorted(
        [
            ("malformed_line", "label_combined.txt", "2"),
            ("duplicate", "label_combined.txt", "3"),
            ("bad_label", "label_combined.txt", "5"),
            ("missing_image", "face_000002_rgb.png", str(faces / "face_000002_rgb.png")),
            ("bad_image", "face_000003_rgb.png", str(faces / "face_000003_rgb.png")),
            ("bad_image", "face_000004_rgb.png", str(faces / "face_000004_rgb.png")),
        ]
    )
    assert all(str(root) in p["path"] for p in problems)
    # the text report lists them too, and a normal run stops at the first bad line
    code, text = check_cli(["--dataset", "rtgene", "--root", str(root)], capsys)
    assert code == 1 and "6 problem(s)" in text and "[missing_image]" in text
    from gazebench.datasets import build_dataset
    from gazebench.datasets.base import DatasetError

    with pytest.raises(DatasetError, match=r"s003_glasses/label_combined\.txt:2: expected"):
        build_dataset("rtgene", root).index


def test_rtgene_card_leakage_and_absent_subjects(tmp_path, capsys, monkeypatch):
    root = tmp_path / "rt"
    write_tree(root, subjects=[s for s in ALL_SUBJECTS if s != "s016"], frames=2, variants=("original_large",))
    cards = tmp_path / "cards"
    cards.mkdir()
    from gazebench.datasets.cards import load_card

    card = yaml.safe_load(load_card("rtgene").path.read_text())
    card["protocol"]["folds"]["1"]["test"].append("s014")  # s014 is a validation subject
    (cards / "rtgene.yaml").write_text(yaml.safe_dump(card))
    use_cards(monkeypatch, cards)
    code, out = check_cli(["--dataset", "rtgene", "--root", str(root), "--json", "--no-images"], capsys)
    report = json.loads(out)
    assert code == 1
    (leak,) = [p for p in report["problems"] if p["kind"] == "leakage"]
    assert "subject 's014' is in val and test in fold 1" in leak["message"]
    assert any("s016" in w for w in report["warnings"])  # absent protocol subjects: a warning


# -- Gaze360 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("annotation", ["metadata", "splitfiles"])
def test_gaze360_counts_subsets_and_windows(tmp_path, capsys, annotation):
    root = tmp_path / "g360"
    df = write_gaze360(root)
    code, out = check_cli(
        [
            "--dataset",
            "gaze360",
            "--root",
            str(root),
            "--set",
            f"annotation={annotation}",
            "--set",
            "expect_samples=any",
            "--json",
        ],
        capsys,
    )
    report = json.loads(out)
    assert code == 0, report["problems"]
    assert list(report["folds"]) == ["default"]
    centre = full_window(df) & (df["split"] <= 2).to_numpy()
    for code_, split in ((0, "train"), (1, "val"), (2, "test")):
        part = df[centre & (df["split"] == code_).to_numpy()]
        gaze = part[["gx", "gy", "gz"]].to_numpy()
        masks = geometry.subset_masks(geometry.normalize(gaze))
        got = report["splits"][split]
        assert got["samples"] == len(part) and got["subjects"] == part["subject"].nunique()
        assert (got["front180"], got["front20"], got["back"]) == tuple(
            int(masks[k].sum()) for k in ("front180", "front20", "back")
        )
        assert got["windows_complete"] == len(part)
        assert_stats(got, gaze)
        assert report["folds"]["default"][split]["subject_ids"] == sorted(part["subject"].unique())
    assert report["splits"]["test"]["back"] > 0 and report["splits"]["test"]["front180"] > 0


def test_gaze360_leakage_in_split_files(tmp_path, capsys):
    root = tmp_path / "g360"
    write_gaze360(root, metadata=False)
    with open(root / "validation.txt", "a") as f:
        f.write("rec_002/head/000002/000011.jpg\t0.1\t0.2\t-0.9\n")  # a test person listed for validation
    code, out = check_cli(["--dataset", "gaze360", "--root", str(root)], capsys)
    assert code == 1
    assert "[leakage]" in out and "subject 'rec_002/p000002' is in val and test" in out


def test_missing_root_reports_the_fix_it_message(tmp_path, capsys):
    code, out = check_cli(["--dataset", "gaze360", "--root", str(tmp_path / "none"), "--json"], capsys)
    report = json.loads(out)
    assert code == 1
    (p,) = report["problems"]
    assert p["kind"] == "root" and "gaze360.csail.mit.edu" in p["message"] and str(tmp_path / "none") in p["message"]


def test_unknown_option_is_refused(tmp_path, capsys):
    from gazebench.core.config import ConfigError

    with pytest.raises(ConfigError, match="unknown setting 'varient'. Did you mean 'variant'"):
        check_cli(["--dataset", "rtgene", "--root", str(tmp_path), "--set", "varient=original"], capsys)


# -- on SynthGaze's renderings of the real layouts --------------------------------------------------


@pytest.mark.parametrize("annotation", ["metadata", "splitfiles"])
def test_synth_gaze360_counts_match_what_was_written(tmp_path, capsys, annotation):
    root = tmp_path / "g360"
    scene, source, origin = render(root)
    code, out = check_cli(
        [
            "--dataset",
            "gaze360",
            "--root",
            str(root),
            "--set",
            f"annotation={annotation}",
            "--set",
            "expect_samples=any",
            "--json",
        ],
        capsys,
    )
    report = json.loads(out)
    assert code == 0 and report["problems"] == []
    frames = scene.frames.set_index(["subject", "sequence", "frame"])
    for split, images in split_file_lines(root).items():
        keys, persons = [], set()
        for image in images:
            rec, _, person, frame = image[: -len(".jpg")].split("/")
            persons.add((rec, int(person)))
            keys.append((*origin[(rec, int(person))], int(frame)))
        gaze = frames.loc[keys, ["gaze_x", "gaze_y", "gaze_z"]].to_numpy()
        masks = geometry.subset_masks(gaze)
        got = report["splits"][split]
        assert got["samples"] == len(images) and got["subjects"] == len(persons)
        assert [got[k] for k in ("front180", "front20", "back")] == [
            int(masks[k].sum()) for k in ("front180", "front20", "back")
        ]
        assert got["windows_complete"] == len(images)
        assert_stats(got, gaze)


def test_synth_rtgene_counts_match_what_was_written(tmp_path, capsys):
    root = tmp_path / "rt"
    _, source = render_rtgene(root, SYNTH_SEED)
    per_subject = source["frames_per_subject"]
    code, out = check_cli(["--dataset", "rtgene", "--root", str(root), "--json"], capsys)
    report = json.loads(out)
    assert code == 0, report["problems"]
    for fold, test in FOLD_TEST.items():
        f = report["folds"][fold]
        present = [s for s in test if per_subject.get(s)]
        assert f["test"]["subject_ids"] == present
        assert f["test"]["samples"] == sum(per_subject.get(s, 0) for s in test)
        assert f["val"]["samples"] == per_subject["s000"]
        train = [s for s in per_subject if s not in test and s != "s000"]
        assert f["train"]["samples"] == sum(per_subject[s] for s in train)
    # the protocol's subjects beyond this tiny set are reported, not fatal
    assert any("s016" in w for w in report["warnings"])


def test_synth_gaze360_split_file_leakage_fails_check_data_and_run(tmp_path, capsys):
    from gazebench.datasets.base import LeakageError

    root = tmp_path / "g360"
    render(root)
    (root / "metadata.mat").unlink()  # read the split files
    lines = (root / "train.txt").read_text().splitlines()
    person_of = [ln.split()[0].rsplit("/", 1)[0] for ln in lines]  # rec_XXX/head/PPPPPP
    k = next(i for i, p in enumerate(person_of) if person_of.count(p) > 1)  # a person with several frames
    (root / "train.txt").write_text("".join(ln + "\n" for i, ln in enumerate(lines) if i != k))
    with open(root / "test.txt", "a") as fh:
        fh.write(lines[k].replace(" ", "\t") + "\n")  # now that person is in train and in test
    rec, _, person = person_of[k].split("/")
    subject = f"{rec}/p{person}"
    code, out = check_cli(["--dataset", "gaze360", "--root", str(root)], capsys)
    assert code == 1 and f"subject '{subject}' is in train and test" in out
    with pytest.raises(LeakageError, match=f"subject '{subject}' is in both train and test"):
        run_cli(
            [
                "run",
                "--dataset",
                "gaze360",
                "--root",
                str(root),
                "--model",
                "mean",
                "--quiet",
                "--no-table",
                "--results",
                str(tmp_path / "results"),
                "--runs",
                str(tmp_path / "runs"),
            ]
        )


# -- published sizes (the card's published_sizes) ---------------------------------------------------


#: Gaze360's published sizes, as its card states them (read from the card, never hard-coded twice)
def published_gaze360() -> dict[str, int]:
    from gazebench.datasets.cards import load_card

    return {k: int(v) for k, v in load_card("gaze360").published_sizes.items()}


def directions(front20: int, side: int, back: int, seed: int, axis20: int = 0) -> np.ndarray:
    """Eye-frame gaze vectors, shuffled: ``axis20`` within 17 deg of the camera axis (|yaw|, |pitch|
    <= 12 deg), ``front20`` with |yaw| < 20 deg but more than 21 deg from the axis (|pitch| > 21 deg),
    ``side`` with 20 < |yaw| < 90 and ``back`` with |yaw| > 90."""
    rng = np.random.default_rng(seed)
    n = axis20 + front20 + side + back
    sign = rng.choice([-1.0, 1.0], n)
    yaw = np.concatenate(
        [rng.uniform(0, 12, axis20), rng.uniform(0, 19, front20), rng.uniform(21, 89, side), rng.uniform(91, 179, back)]
    )
    off_axis = rng.choice([-1.0, 1.0], front20) * rng.uniform(21, 30, front20)
    pitch = np.concatenate([rng.uniform(-12, 12, axis20), off_axis, rng.uniform(-30, 30, side + back)])
    order = rng.permutation(n)
    return geometry.yawpitch_to_vector(np.radians(np.stack([(yaw * sign)[order], pitch[order]], 1)))


def split_sizes(published: dict[str, int], drop: dict[str, int]) -> dict[str, np.ndarray]:
    """Gaze vectors of test / val / train with the published sizes, less ``drop[kind]`` test
    frames of each kind (``axis20``, ``front20`` -- |yaw| <= 20 deg outside 20 deg of the camera axis --,
    ``side``, ``back``) and ``drop["val"]`` validation frames."""
    axis, f20, f180 = published["test_front20axis"], published["test_front20"], published["test_front180"]
    kinds = {"axis20": axis, "front20": f20 - axis, "side": f180 - f20, "back": published["test"] - f180}
    kinds = {k: n - drop.get(k, 0) for k, n in kinds.items()}
    return {
        "test": directions(kinds["front20"], kinds["side"], kinds["back"], 0, axis20=kinds["axis20"]),
        "val": directions(0, published["val"] - drop.get("val", 0), 0, 1),
        "train": directions(0, 10, 0, 2),
    }


#: recording of each split: splits are recording-disjoint, as in the release
RECORDING_OF = {"train": "rec_000", "val": "rec_001", "test": "rec_002"}
PERSONS = 8


def centre_rows(split: str, n: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(recordings, persons, frames) of ``n`` centre frames spread over ``PERSONS`` persons; frame
    numbers start at 3 so that frames f-3 .. f+3 can exist."""
    i = np.arange(n)
    return [RECORDING_OF[split]] * n, i % PERSONS, i // PERSONS + 3


def write_published_split_files(root: Path, gaze: dict[str, np.ndarray]) -> None:
    """The original code's split files with these centre frames (no images: counting needs none)."""
    names = {"train": "train.txt", "val": "validation.txt", "test": "test.txt"}
    root.mkdir(parents=True, exist_ok=True)
    (root / "imgs").mkdir(exist_ok=True)
    for split, g in gaze.items():
        recs, persons, frames = centre_rows(split, len(g))
        lines = [
            f"{r}/head/{p:06d}/{f:06d}.jpg {x:.6f} {y:.6f} {z:.6f}"
            for r, p, f, (x, y, z) in zip(recs, persons, frames, g)
        ]
        (root / names[split]).write_text("\n".join(lines) + "\n")


def write_published_metadata(root: Path, gaze: dict[str, np.ndarray]) -> None:
    """metadata.mat whose centres with a full window are these frames: each person also has the
    three frames before its first and after its last centre frame, marked unused (split 3)."""
    codes = {"train": 0, "val": 1, "test": 2}
    parts = []
    for split, g in gaze.items():
        recs, persons, frames = centre_rows(split, len(g))
        rec = int(RECORDING_OF[split][-3:])
        parts.append(
            pd.DataFrame(
                {
                    "recording": rec,
                    "person": persons,
                    "frame": frames,
                    "split": codes[split],
                    "gx": g[:, 0],
                    "gy": g[:, 1],
                    "gz": g[:, 2],
                }
            )
        )
        for p in range(PERSONS):
            last = frames[persons == p].max()
            edge = [0, 1, 2, last + 1, last + 2, last + 3]
            parts.append(
                pd.DataFrame(
                    {"recording": rec, "person": p, "frame": edge, "split": 3, "gx": 0.0, "gy": 0.0, "gz": -1.0}
                )
            )
    df = pd.concat(parts, ignore_index=True)
    root.mkdir(parents=True, exist_ok=True)
    (root / "imgs").mkdir(exist_ok=True)
    import scipy.io

    scipy.io.savemat(
        root / "metadata.mat",
        {
            "recordings": np.array(list(RECORDING_OF.values()), dtype=object).reshape(1, -1),
            "recording": df["recording"].to_numpy(np.int32).reshape(1, -1),
            "frame": df["frame"].to_numpy(np.int32).reshape(1, -1),
            "person_identity": df["person"].to_numpy(np.int32).reshape(1, -1),
            "gaze_dir": df[["gx", "gy", "gz"]].to_numpy(np.float64),
            "split": df["split"].to_numpy(np.int32).reshape(1, -1),
        },
    )


def check_published_tree(root: Path, capsys, *sets: str) -> tuple[int, dict, str]:
    """check-data on ``root`` without opening images: (exit status, JSON report, text report)."""
    argv = ["--dataset", "gaze360", "--root", str(root), "--no-images"]
    for s in sets:
        argv += ["--set", s]
    code, out = check_cli([*argv, "--json"], capsys)
    text_code, text = check_cli(argv, capsys)
    assert text_code == code
    return code, json.loads(out), text


def published_messages(report: dict) -> list[str]:
    return [p["message"] for p in report["problems"] if p["kind"] == "published_size"]


def test_gaze360_split_files_one_frame_short_fail_naming_both_sizes(tmp_path, capsys):
    published = published_gaze360()
    root = tmp_path / "g360"
    write_published_split_files(root, split_sizes(published, {"back": 1}))
    code, report, text = check_published_tree(root, capsys, "annotation=splitfiles")
    assert code == 1
    test = published["test"]
    (message,) = published_messages(report)  # the back frame changes the test size only
    assert message == (
        f"test: {test - 1:,} centre frames, the published Gaze360 test set has {test:,} "
        "(gazebench/datasets/gaze360/card.yaml published_sizes)"
    )
    assert "25,969" in message and "25,968" in message
    assert message in text and "[published_size]" in text
    assert [p["kind"] for p in report["problems"]] == ["published_size"]  # nothing else is wrong
    compared = report["published"]["compared"]
    assert compared["test"] == {"counted": test - 1, "published": test}
    assert all(v["counted"] == v["published"] for k, v in compared.items() if k != "test")
    assert f"1 of {len(compared)} differ" in text


@pytest.mark.parametrize(
    "drop, differ",
    [
        ({"front20": 1}, ["test", "test_front180", "test_front20"]),
        ({"axis20": 1}, ["test", "test_front180", "test_front20", "test_front20axis"]),
        ({"side": 2}, ["test", "test_front180"]),
        ({"val": 3}, ["val"]),
    ],
)
def test_gaze360_each_published_size_is_compared(tmp_path, capsys, drop, differ):
    published = published_gaze360()
    root = tmp_path / "g360"
    write_published_split_files(root, split_sizes(published, drop))
    code, report, _ = check_published_tree(root, capsys)
    assert code == 1
    messages = published_messages(report)
    assert [m.split(":")[0] for m in messages] == differ
    for m in messages:
        key = m.split(":")[0]
        counted = report["published"]["compared"][key]["counted"]
        assert f"{counted:,} centre frames" in m and f"has {published[key]:,} " in m


def test_gaze360_published_sizes_from_metadata_and_the_switches(tmp_path, capsys):
    published = published_gaze360()
    root = tmp_path / "g360"
    write_published_metadata(root, split_sizes(published, {}))
    code, report, text = check_published_tree(root, capsys)
    assert code == 0 and report["problems"] == []
    assert {k: v["counted"] for k, v in report["published"]["compared"].items()} == published
    assert "all match" in text

    write_published_metadata(root, split_sizes(published, {"back": 1}))
    code, report, _ = check_published_tree(root, capsys)
    assert code == 1 and [m.split(":")[0] for m in published_messages(report)] == ["test"]
    # a root that is not the release, or another population of centre frames: nothing compared, said so
    for setting, why in (("expect_samples=any", "expect_samples=any"), ("centres=all", "centres=all")):
        code, report, text = check_published_tree(root, capsys, setting)
        assert code == 0 and report["published"]["compared"] == {}
        assert why in report["published"]["skipped"] and f"not compared, {why}" in text


def test_rtgene_publishes_no_size_and_says_so(tmp_path, capsys):
    root = tmp_path / "rt"
    write_tree(root, frames=2, variants=("original_large",))
    code, out = check_cli(["--dataset", "rtgene", "--root", str(root), "--no-images"], capsys)
    assert code == 0 and "published sizes: none published" in out


def test_published_shortfall_for_the_population_check(tmp_path):
    from gazebench.datasets import build_dataset
    from gazebench.datasets.published_sizes import SUBJECT_KEY, population_counts, published_shortfall

    root = tmp_path / "g360"
    published = published_gaze360()
    write_published_split_files(root, split_sizes(published, {"front20": 1}))
    ds = build_dataset("gaze360", root)
    counts = population_counts(ds, ds.split_positions()["test"], "test")
    assert counts["test"] == published["test"] - 1 and counts["test_front20"] == published["test_front20"] - 1
    assert sum(v for k, v in counts.items() if k.startswith(SUBJECT_KEY)) == counts["test"]
    got = published_shortfall(ds.card, ds, counts)
    assert [m.split(":")[0] for m in got] == ["test", "test_front180", "test_front20"]
    assert published_shortfall(ds.card, ds, {"test": published["test"], "train": 3}) == []  # train: not published
    any_root = build_dataset("gaze360", root, expect_samples="any")
    assert published_shortfall(any_root.card, any_root, counts) == []


# --- a damaged manifest; labels in the wrong unit ---------------------------------------------------------


def test_a_corrupt_synthgaze_manifest_is_a_problem_and_stops_a_run(tiny_synth, tmp_path, capsys):
    import shutil

    from gazebench.datasets.base import DatasetError

    root = tmp_path / "synth"
    shutil.copytree(tiny_synth, root)
    manifest = root / "synthgaze.json"
    manifest.write_text(manifest.read_text()[:40])  # truncated
    code, out = check_cli(["--root", str(root), "--no-images", "--json"], capsys)
    problems = json.loads(out)["problems"]
    assert code == 1 and [p["kind"] for p in problems] == ["manifest"]
    assert problems[0]["path"] == str(manifest) and "cannot be read as JSON" in problems[0]["message"]
    with pytest.raises(DatasetError, match="synthgaze.json: cannot be read as JSON"):
        run_cli(
            [
                "run",
                "--root",
                str(root),
                "--model",
                "mean",
                "--quiet",
                "--no-table",
                "--results",
                str(tmp_path / "r"),
                "--runs",
                str(tmp_path / "runs"),
            ]
        )
    manifest.write_text("[1, 2]")  # valid JSON, not the render's description
    code, out = check_cli(["--root", str(root), "--no-images", "--json"], capsys)
    assert code == 1 and "holds a JSON list" in json.loads(out)["problems"][0]["message"]


def test_degrees_read_as_radians_are_warned_about_from_the_cards_range(tmp_path, capsys):
    root = tmp_path / "rt"
    written = write_tree(root, frames=4, variants=("original_large",))
    code, out = check_cli(["--dataset", "rtgene", "--root", str(root), "--no-images", "--json"], capsys)
    assert code == 0 and not [w for w in json.loads(out)["warnings"] if "gaze_range_deg" in w]
    for subject, rows in written.items():  # the same angles, written in degrees
        write_labels(root, subject, [(i, np.degrees(yaw), np.degrees(pitch), t) for i, yaw, pitch, t in rows])
    code, out = check_cli(["--dataset", "rtgene", "--root", str(root), "--no-images", "--json"], capsys)
    (warning,) = [w for w in json.loads(out)["warnings"] if "gaze_range_deg" in w]
    assert "gaze yaw outside [-90, 90] deg" in warning and "degrees as radians" in warning
    assert "gazebench/datasets/rtgene/card.yaml" in warning


def test_check_data_reads_the_images_of_the_protocol_a_run_would_use(tmp_path, capsys):
    """RT-GENE's default protocol reads original/face_before_inpainting; check-data must check those
    files (not the adapter's own default, the inpainted ones), and --protocol picks another's."""
    root = tmp_path / "rt"
    write_tree(root, frames=2, variants=("inpainted",))  # only the inpainted images exist
    code, out = check_cli(["--dataset", "rtgene", "--root", str(root), "--json"], capsys)
    report = json.loads(out)
    assert code == 1 and report["options"]["variant"] == "original_large"
    assert {p["kind"] for p in report["problems"]} == {"missing_image"}
    assert all("face_before_inpainting" in p["path"] for p in report["problems"])
    code, out = check_cli(["--dataset", "rtgene", "--root", str(root), "--protocol", "inpainted", "--json"], capsys)
    assert code == 0 and json.loads(out)["problems"] == []
