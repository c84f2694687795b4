"""GazeHub's layouts of MPIIFaceGaze and RT-GENE (``--set layout=gazehub``): SynthGaze writes them,
the labels read back are the rendered ones, a mirrored label reads as the mirrored gaze, bad lines
are one error at ``file:line``, and check-data and runs work on them."""

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
from gazebench.datasets.cards import load_card
from gazebench.datasets.checks import check_dataset
from gazebench.synth import Preset, layout_names, make_scene, render_frames, write_layout

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # shared fixture in conftest.py

GAZE = ["gaze_x", "gaze_y", "gaze_z"]
MPII_HEADER = "Face Left Right Origin WhichEye 3DGaze 3DHead 2DGaze 2DHead Rmat Smat GazeOrigin"
RT_HEADER = "Face Left Right Origin 3DGaze 3DHead 2DGaze 2DHead"
#: the run the issue names, on every tree
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
#: 17 subjects, so that RT-GENE's fold files and valid.label (s014-s016) all get frames
RT_PRESET = Preset(n_subjects=17, n_sequences=1, n_frames=6, image_size=32, name="rtgene-gazehub-test")


@pytest.fixture(scope="module")
def mpii_tree(tmp_path_factory) -> Path:
    """``gazebench synth --layout mpiifacegaze-gazehub --preset tiny``: 8 people, 18 samples each."""
    root = tmp_path_factory.mktemp("gazehub") / "mpii"
    assert (
        main(["synth", "--out", str(root), "--preset", "tiny", "--layout", "mpiifacegaze-gazehub", "--workers", "1"])
        == 0
    )
    return root


@pytest.fixture(scope="module")
def rt_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gazehub") / "rt"
    write_layout(make_scene(RT_PRESET, 0), root, layout="rtgene-gazehub", workers=1, progress=False)
    return root


def mpii(root: Path, **options):
    return build_dataset("mpiifacegaze", root, layout="gazehub", expect_samples="any", **options)


def rtgene(root: Path, **options):
    return build_dataset("rtgene", root, layout="gazehub", **{"variant": "original", **options})


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def gazehub_mirror(fields: list[str], gaze3d: int, gaze2d: int) -> list[str]:
    """The label line of the horizontally flipped image, as GazeHub makes it for MPIIFaceGaze's
    right samples: GazeFlip negates x of the camera-frame 3DGaze and 2DGaze is GazeTo2d of that,
    (arctan2(-x, -z), arcsin(-y)) (data_processing_core.py lines 133-136, 153-158).  Written here
    from the formulas, not with gazebench's geometry."""
    x, y, z = (float(v) for v in fields[gaze3d].split(","))
    out = list(fields)
    out[gaze3d] = ",".join(str(v) for v in (-x, y, z))
    out[gaze2d] = ",".join(str(v) for v in (np.arctan2(x, -z), np.arcsin(-y)))
    return out


def yaw_pitch_deg(gaze: np.ndarray) -> np.ndarray:
    return np.degrees(geometry.vector_to_yawpitch(gaze))


# -- the layouts as written ------------------------------------------------------------------------


def test_the_layouts_are_listed_and_each_protocol_reads_its_files():
    assert {"mpiifacegaze-gazehub", "rtgene-gazehub"} <= set(layout_names())
    for dataset in ("mpiifacegaze", "rtgene"):
        card = load_card(dataset)
        assert card.protocol("gazehub").data["layout"] == "gazehub"
        assert "layout" not in card.protocol("gazehub-original").data  # the release's files, the same split
        assert card.protocol("gazehub").data.get("validation") == card.protocol("gazehub-original").data.get(
            "validation"
        )


def test_mpii_files_are_gazehubs(mpii_tree):
    scene = make_scene("tiny", 0)
    assert sorted(p.name for p in (mpii_tree / "Label").iterdir()) == [f"p{k:02d}.label" for k in range(8)]
    lines = (mpii_tree / "Label" / "p03.label").read_text().splitlines()
    assert lines[0] == MPII_HEADER and len(lines) == 1 + 18
    first = lines[1].split(" ")
    assert first[:5] == ["p03/face/1.jpg", "p03/left/1.jpg", "p03/right/1.jpg", "day01/0001.jpg", "left"]
    assert [len(f.split(",")) for f in first[5:]] == [3, 3, 2, 2, 3, 3, 3]
    assert [line.split(" ")[4] for line in lines[1:5]] == ["left", "right", "left", "right"]
    with Image.open(mpii_tree / "Image" / "p03" / "face" / "2.jpg") as face:
        assert face.format == "JPEG" and face.size == (scene.image_size,) * 2 and face.mode == "RGB"
    with Image.open(mpii_tree / "Image" / "p03" / "left" / "2.jpg") as eye:
        assert eye.size == (60, 36) and eye.mode == "L"
    source = json.loads((mpii_tree / "synthgaze_source.json").read_text())
    assert source["layout"] == "mpiifacegaze-gazehub" and source["files"]["p03"] == {"subject": "s003", "frames": 18}


def test_the_same_scene_gives_the_same_bytes(mpii_tree, tmp_path):
    again = write_layout(
        make_scene("tiny", 0), tmp_path / "again", layout="mpiifacegaze-gazehub", workers=2, progress=False
    )
    files = sorted(p.relative_to(mpii_tree) for p in mpii_tree.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file()) and len(files) > 400
    assert all((mpii_tree / p).read_bytes() == (again / p).read_bytes() for p in files)


def test_rtgene_files_are_gazehubs(rt_tree):
    files = {p.name: p.read_text().splitlines() for p in (rt_tree / "Label").iterdir()}
    assert sorted(files) == ["train1.label", "train2.label", "train3.label", "valid.label"]
    assert all(lines[0] == RT_HEADER for lines in files.values())
    origins = {name: sorted({line.split(" ")[3] for line in lines[1:]}) for name, lines in files.items()}
    assert origins == {
        "train1.label": ["s001", "s002", "s008", "s010"],
        "train2.label": ["s003", "s004", "s007", "s009"],
        "train3.label": ["s005", "s006", "s011", "s012", "s013"],
        "valid.label": ["s014", "s015", "s016"],
    }
    face, left, right, origin, *_ = files["valid.label"][1].split(" ")
    assert face.startswith(f"{origin}_glasses/original/face/face_") and face.endswith("_rgb.png")
    assert left.replace("left", "face") == face and right.replace("right", "face") == face
    assert (rt_tree / "Image" / face).is_file() and (
        rt_tree / "Image" / "s000_glasses" / "label_combined.txt"
    ).is_file()


# -- labels: the rendered gaze, and the original layout's ids ------------------------------------------


def test_mpii_labels_round_trip_to_the_rendered_gaze(mpii_tree):
    f = make_scene("tiny", 0).frames
    ds = mpii(mpii_tree)
    assert sorted(ds.index["subject"].unique()) == [f"p{k:02d}" for k in range(8)]
    for k in range(8):
        rows = ds.index["subject"].to_numpy() == f"p{k:02d}"
        want = f.loc[f["subject"] == f"s{k:03d}", GAZE].to_numpy()
        right = ds.index["which_eye"].to_numpy()[rows] == "right"
        want[right] = geometry.mirror(want[right])  # GazeHub's right samples are mirrored
        assert geometry.angular_error_deg(ds.gaze(np.flatnonzero(rows)), want).max() < 1e-6
        assert ds.index["id"].to_numpy()[rows].tolist() == [f"p{k:02d}/face/{n}" for n in range(1, 19)]


def test_rtgene_labels_round_trip_and_keep_the_original_ids(rt_tree):
    f = make_scene(RT_PRESET, 0).frames
    ds = rtgene(rt_tree)
    released = build_dataset("rtgene", rt_tree / "Image", variant="original")  # Image/ is the release
    assert sorted(ds.index["subject"].unique()) == [f"s{k:03d}" for k in range(1, 17)]  # s000: in no file
    same = released.index.set_index("id").loc[ds.index["id"]]  # every GazeHub frame is a release frame
    assert (same["path"].to_numpy() == ds.index["path"].str.removeprefix("Image/").to_numpy()).all()
    assert geometry.angular_error_deg(same[GAZE].to_numpy(), ds.gaze()).max() < 1e-4  # label_combined: 6 decimals
    for subject, rows in ds.index.groupby("subject").indices.items():
        scene_rows = np.flatnonzero(f["subject"].to_numpy() == subject)
        want = f[GAZE].to_numpy()[scene_rows[ds.index["idx"].to_numpy()[rows] - 1]]  # idx: rank in time
        assert geometry.angular_error_deg(ds.gaze(rows), want).max() < 1e-6
    inpainted = rtgene(rt_tree, variant="inpainted")
    assert inpainted.index["path"].str.contains("/inpainted/face/").all() and inpainted.read_image(0).shape == (
        32,
        32,
        3,
    )


# -- mirror tests: a flipped image's label negates the canonical yaw -----------------------------------


def test_mpii_right_samples_are_flipped_images_with_mirrored_labels(mpii_tree):
    scene = make_scene("tiny", 0)
    f = scene.frames
    ds = mpii(mpii_tree)
    checked = 0
    for position in np.flatnonzero(ds.index["subject"].to_numpy() == "p02")[:6]:
        row = np.flatnonzero(f["subject"].to_numpy() == "s002")[int(ds.index["order"].iat[position]) - 1]
        rendered = render_frames(scene, [int(row)], glasses=True)[0].astype(float)
        got = ds.read_image(int(position)).astype(float)
        flipped = ds.index["which_eye"].iat[position] == "right"
        same, other = (rendered[:, ::-1], rendered) if flipped else (rendered, rendered[:, ::-1])
        assert np.abs(got - same).mean() < 0.5 * np.abs(got - other).mean()
        yp, want = yaw_pitch_deg(ds.gaze([position])[0]), yaw_pitch_deg(f[GAZE].to_numpy()[row])
        np.testing.assert_allclose(yp, [-want[0], want[1]] if flipped else want, atol=1e-6)
        checked += flipped
    assert checked == 3


@pytest.mark.parametrize("layout", ["mpii", "rtgene"])
def test_a_mirrored_label_reads_as_the_mirrored_gaze(layout, mpii_tree, rt_tree, tmp_path):
    """Flip one sample's image and give it GazeHub's mirrored label line: the adapter reads the
    flipped image and the original gaze with its canonical yaw negated."""
    root = copy_tree(mpii_tree if layout == "mpii" else rt_tree, tmp_path / layout)
    label = root / "Label" / ("p01.label" if layout == "mpii" else "train2.label")
    lines = label.read_text().splitlines()
    gaze3d, gaze2d = (5, 7) if layout == "mpii" else (4, 6)
    fields = max((line.split(" ") for line in lines[1:]), key=lambda f: abs(float(f[gaze2d].split(",")[0])))
    mirrored = gazehub_mirror(fields, gaze3d, gaze2d)
    stem, suffix = fields[0].rsplit(".", 1)
    mirrored[0] = f"{stem.rsplit('/', 1)[0]}/9999.{suffix}" if layout == "mpii" else fields[0].replace("_0000", "_9999")
    with Image.open(root / "Image" / fields[0]) as image:
        image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(root / "Image" / mirrored[0], quality=100, subsampling=0)
    label.write_text("\n".join([*lines, " ".join(mirrored)]) + "\n")

    ds = mpii(root) if layout == "mpii" else rtgene(root)
    ids = ds.index["path"].to_numpy()
    a, b = int(np.flatnonzero(ids == f"Image/{fields[0]}")[0]), int(np.flatnonzero(ids == f"Image/{mirrored[0]}")[0])
    np.testing.assert_allclose(ds.gaze([b])[0], geometry.mirror(ds.gaze([a])[0]), atol=1e-12)
    (yaw_a, pitch_a), (yaw_b, pitch_b) = yaw_pitch_deg(ds.gaze([a, b]))
    assert abs(yaw_a) > 1 and yaw_b == pytest.approx(-yaw_a, abs=1e-9) and pitch_b == pytest.approx(pitch_a, abs=1e-9)
    flipped, original = ds.read_image(b).astype(float), ds.read_image(a).astype(float)
    difference = np.abs(flipped - original[:, ::-1]).mean()  # JPEG re-encoded at quality 100 / PNG: exact
    assert difference <= (1.5 if layout == "mpii" else 0.0) and difference < 0.2 * np.abs(flipped - original).mean()


# -- bad lines: one error naming file and line -------------------------------------------------------


BAD_LINES = {
    "fields": (lambda f: f[:-1], "fields separated by single spaces, the header names"),
    "2DGaze": (lambda f: f[:7] + ["0.1;0.2"] + f[8:], "2DGaze '0.1;0.2' is not 'yaw,pitch'"),
    "swapped": (lambda f: f[:7] + [",".join(f[7].split(",")[::-1])] + f[8:], "disagree by"),
    "nan": (lambda f: f[:7] + ["nan,0.1"] + f[8:], "is not finite"),
    "face": (lambda f: ["p04/face/x.jpg"] + f[1:], "Face 'p04/face/x.jpg' is not 'p04/face/<k>.jpg'"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_a_malformed_mpii_line_is_one_error_naming_file_and_line(case, mpii_tree, tmp_path):
    root = copy_tree(mpii_tree, tmp_path / "bad")
    label = root / "Label" / "p04.label"
    lines = label.read_text().splitlines()
    edit, expected = BAD_LINES[case]
    lines[5] = " ".join(edit(lines[5].split(" ")))
    label.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError) as err:
        mpii(root).index  # noqa: B018
    text = str(err.value)
    assert text.startswith(f"{label}:6: ") and expected in text and "\n" not in text
    report = check_dataset("mpiifacegaze", root, {"layout": "gazehub", "expect_samples": "any"}, images=False)
    bad = [p for p in report["problems"] if p["kind"] != "empty_split"]
    assert [p["path"] for p in bad] == [f"{label}:6"]
    assert report["folds"]["4"]["test"]["samples"] == 17  # the other lines are read


def test_any_damaged_line_parses_or_is_one_error_at_its_line(mpii_tree, tmp_path):
    """Random damage to a line (characters deleted, inserted, doubled spaces, CRLF): the parser
    accepts it or raises one DatasetError at that line, never anything else."""
    from gazebench.datasets.gazehub import read_label_file
    from gazebench.datasets.mpiifacegaze.gazehub import HEADER

    lines = (mpii_tree / "Label" / "p05.label").read_text().splitlines()
    rng = np.random.default_rng(0)
    path = tmp_path / "p05.label"
    for trial in range(300):
        k = int(rng.integers(1, len(lines)))
        chars = list(lines[k])
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(0, len(chars)))
            if rng.uniform() < 0.5:
                del chars[at]
            else:
                chars.insert(at, str(rng.choice(list(",. -e0123456789n\t"))))
        damaged = [*lines[:k], "".join(chars), *lines[k + 1 :]]
        path.write_bytes(("\r\n" if trial % 2 else "\n").join(damaged).encode() + b"\n")
        try:
            parsed = read_label_file(path, HEADER, None)
        except DatasetError as exc:
            assert str(exc).startswith(f"{path}:{k + 1}: ") and "\n" not in str(exc), str(exc)
        else:
            assert len(parsed) == len(lines) - 1 and np.isfinite(parsed.gaze).all()


def test_rtgene_bad_lines_and_files_that_are_not_gazehubs(rt_tree, tmp_path):
    root = copy_tree(rt_tree, tmp_path / "bad")
    label = root / "Label" / "train1.label"
    lines = label.read_text().splitlines()
    label.write_text(
        "\n".join([*lines[:2], lines[2].replace("/original/face/", "/inpainted/face/", 1), *lines[3:]]) + "\n"
    )
    with pytest.raises(DatasetError) as err:
        rtgene(root).index  # noqa: B018
    text = str(err.value)
    assert text.startswith(f"{label}:3: Face '") and "is not 'sNNN_glasses/original/face/face_<idx>_rgb.png'" in text
    # a subject in another fold file than GazeHub's (and the card's): its lines are not read
    valid = root / "Label" / "valid.label"
    moved = [line for line in lines[1:] if line.split(" ")[3] == "s001"]
    label.write_text("\n".join(line for line in lines if line not in moved) + "\n")
    valid.write_text(valid.read_text() + "\n".join(moved) + "\n")
    report = check_dataset("rtgene", root, {"layout": "gazehub"}, images=False)
    (problem,) = report["problems"]
    assert problem["kind"] == "bad_file" and problem["path"].startswith(f"{valid}:")
    assert "s001 is in valid.label, but the card's list for that file is s014, s015, s016" in problem["message"]


def test_roots_and_options_that_do_not_fit_the_layout(mpii_tree, rt_tree, tmp_path):
    with pytest.raises(DatasetNotFound, match="no Label/pNN.label files found"):
        build_dataset("mpiifacegaze", rt_tree, layout="gazehub")
    with pytest.raises(ConfigError, match="gaze_signs applies to the original layout"):
        mpii(mpii_tree, gaze_signs="negated")
    moved = copy_tree(rt_tree / "Label", tmp_path / "rt" / "Label" / "test")  # where GazeHub's script writes them
    with pytest.raises(DatasetNotFound, match=r"no Label/\*\.label files found \(layout=gazehub\).*move them up"):
        rtgene(moved.parent.parent)
    # the count check holds GazeHub's files to the release's 3000 samples per person
    with pytest.raises(DatasetError, match="p00: 18 samples, the published MPIIFaceGaze release has 3,000"):
        build_dataset("mpiifacegaze", mpii_tree, layout="gazehub").index  # noqa: B018


# -- check-data and runs -------------------------------------------------------------------------------


def test_check_data_on_both_trees(mpii_tree, rt_tree):
    report = check_dataset("mpiifacegaze", mpii_tree, {"layout": "gazehub", "expect_samples": "any"}, images=True)
    assert {p["kind"] for p in report["problems"]} == {"empty_split"}  # 8 of 15 people: folds 7-14
    assert report["folds"]["0"]["test"]["samples"] == 18 and report["folds"]["0"]["val"]["subject_ids"] == ["p01"]
    report = check_dataset("rtgene", rt_tree, {"layout": "gazehub", "variant": "original"}, images=True)
    assert report["problems"] == [] and any("s000" in w for w in report["warnings"])
    assert report["folds"]["1"]["test"]["subject_ids"] == ["s003", "s004", "s007", "s009"]
    assert report["folds"]["1"]["val"]["subject_ids"] == ["s014", "s015", "s016"]


def run_record(tmp_path: Path, *argv: str) -> dict:
    results = tmp_path / "results"
    assert main(["run", "--results", str(results), "--runs", str(tmp_path / "runs"), *argv, *RUN]) == 0
    (path,) = results.rglob("*.json")
    return json.loads(path.read_text())


def test_run_mpii_protocol_gazehub(mpii_tree, tmp_path):
    record = run_record(
        tmp_path,
        "--dataset",
        "mpiifacegaze",
        "--root",
        str(mpii_tree),
        "--protocol",
        "gazehub",
        "--fold",
        "2",
        "--set",
        "expect_samples=any",
    )
    assert record["dataset"]["options"]["layout"] == "gazehub" and record["protocol"]["name"] == "gazehub"
    assert record["dataset"]["subjects"] == {
        "train": [f"p{k:02d}" for k in range(8) if k != 2],
        "val": [],
        "test": ["p02"],
    }
    assert record["metrics"]["all"]["n"] == 18


def test_run_rtgene_protocol_gazehub(rt_tree, tmp_path):
    record = run_record(tmp_path, "--dataset", "rtgene", "--root", str(rt_tree), "--protocol", "gazehub", "--fold", "0")
    options = record["dataset"]["options"]
    assert (options["layout"], options["variant"], options["validation"]) == ("gazehub", "original", "gazehub")
    subjects = record["dataset"]["subjects"]
    assert subjects["test"] == ["s001", "s002", "s008", "s010"] and subjects["val"] == ["s014", "s015", "s016"]
    assert subjects["train"] == ["s003", "s004", "s005", "s006", "s007", "s009", "s011", "s012", "s013"]
    assert record["metrics"]["all"]["n"] == record["dataset"]["samples"]["test"] > 0
