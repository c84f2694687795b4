"""SynthGaze: scene statistics, pixels that agree with the labels, determinism, and every on-disk layout."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from gazebench.core.geometry import angular_error_deg, vector_to_yawpitch, yawpitch_to_vector
from gazebench.datasets import BUILTIN
from gazebench.synth import (
    FRAME_COLUMNS,
    PRESETS,
    LayoutError,
    Preset,
    Scene,
    layout_names,
    make_scene,
    render_debug,
    render_frames,
    write_layout,
)
from gazebench.synth.scene import HEAD_FRACTION, REFERENCE_HALF_WIDTH, compose_gaze, rotation

GAZE = ["gaze_x", "gaze_y", "gaze_z"]


@pytest.fixture(scope="module")
def tiny() -> Scene:
    return make_scene("tiny", 0)


@pytest.fixture(scope="module")
def written(tiny, tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("synth_layouts")
    return {layout: write_layout(tiny, base / layout, layout, workers=2, progress=False) for layout in BUILTIN}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- scene -----------------------------------------------------------------------------------------


def test_presets_and_columns(tiny):
    assert set(PRESETS) >= {"tiny", "small", "default"}
    d = PRESETS["default"]
    assert d.n_subjects >= 20 and d.n_total >= 4000
    f = tiny.frames
    assert list(f.columns[: len(FRAME_COLUMNS)]) == list(FRAME_COLUMNS)
    p = PRESETS["tiny"]
    assert len(f) == p.n_subjects * p.n_sequences * p.n_frames
    assert f["id"].iloc[0] == "s000_q00_f0000" and f["id"].is_unique
    assert [s.id for s in tiny.subjects] == [f"s{i:03d}" for i in range(p.n_subjects)]
    wearers = {s.id for s in tiny.subjects if s.glasses}
    assert 0 < len(wearers) < len(tiny.subjects)
    assert (f["glasses"] == f["subject"].isin(wearers)).all()
    np.testing.assert_allclose(np.linalg.norm(f[GAZE].to_numpy(), axis=1), 1.0, atol=1e-12)
    # timestamps: 30 fps within a sequence, seconds of gap between a subject's sequences
    for _, g in f.groupby("subject"):
        dt = np.diff(g["timestamp"].to_numpy())
        assert (dt > 0).all() and np.isclose(dt.min(), 1 / 30, atol=1e-5) and dt.max() > 2.0


def test_rotation_convention():
    for yaw, pitch in [(0.3, 0.2), (-2.0, -0.5), (3.0, 0.1)]:
        np.testing.assert_allclose(
            rotation(yaw, pitch, 0.7) @ [0, 0, -1], yawpitch_to_vector(np.array([yaw, pitch])), atol=1e-12
        )


def test_gaze_is_head_pose_plus_bounded_eye_rotation():
    f = make_scene("default", 0).frames
    head = f[["head_yaw", "head_pitch", "head_roll"]].to_numpy()
    np.testing.assert_allclose(
        compose_gaze(head, f[["eye_yaw", "eye_pitch"]].to_numpy()), f[GAZE].to_numpy(), atol=1e-12
    )
    assert np.degrees(np.abs(f[["eye_yaw", "eye_pitch"]].to_numpy())).max() <= 35.0 + 1e-9
    face = yawpitch_to_vector(head[:, :2])
    assert angular_error_deg(face, f[GAZE].to_numpy()).max() <= 50.0


@pytest.mark.parametrize("preset", ["tiny", "default"])
def test_scene_statistics(preset):
    f = make_scene(preset, 0).frames
    g = f[GAZE].to_numpy()
    yaw, pitch = np.degrees(vector_to_yawpitch(g)).T
    back = np.abs(yaw) > 90
    assert 0.30 <= back.mean() <= 0.50  # back views are frequent (a third of the sequences turn away)
    assert (np.abs(yaw) < 45).mean() > 0.25  # and a good share of the frames face the camera
    assert np.percentile(np.abs(pitch), 95) > 20
    # the mean-gaze baseline must be poor
    mean = g.mean(0) / np.linalg.norm(g.mean(0))
    assert angular_error_deg(np.broadcast_to(mean, g.shape), g).mean() > 45
    # zoom: the head spans from about a quarter to nearly all of the crop, spread evenly in log size
    frac = HEAD_FRACTION / f["distance"]
    assert frac.min() < 0.30 and frac.max() > 0.85
    if preset == "default":
        assert (frac < 0.4).mean() > 0.25 and (frac > 0.6).mean() > 0.25
    # smooth trajectories: consecutive frames are much closer than random pairs
    same = (f["subject"].to_numpy()[1:] == f["subject"].to_numpy()[:-1]) & (
        f["sequence"].to_numpy()[1:] == f["sequence"].to_numpy()[:-1]
    )
    step = angular_error_deg(g[1:], g[:-1])[same]
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(g), (2, 2000))
    assert step.mean() < 0.15 * angular_error_deg(g[a], g[b]).mean()
    assert np.abs(np.diff(f["distance"].to_numpy()))[same].mean() < 0.1


def test_test_split_has_many_back_views():
    """The default preset's test subjects give the back-view error a population of its own."""
    f = make_scene("default", 0).frames
    test = f[f["subject"].isin([f"s{i:03d}" for i in range(0, 40, 4)])]
    back = test[test["gaze_z"] > 0]
    assert len(back) > 400 and back.groupby("subject").ngroups >= 8


def test_background_stays_put_within_a_sequence(tiny):
    """The camera does not move within a sequence: far from the head, two frames of one sequence
    differ only by the sensor noise, while two sequences have different backgrounds."""
    f = tiny.frames
    quiet = f.copy()
    quiet["noise"], quiet["blur"] = 0.0, 0.0
    quiet["offset_x"], quiet["distance"] = 0.0, 2.5  # a small head in the middle
    scene = Scene(tiny.preset, tiny.seed, tiny.subjects, quiet)
    first = quiet.index[(quiet["subject"] == "s000") & (quiet["sequence"] == "q00")]
    other = quiet.index[(quiet["subject"] == "s000") & (quiet["sequence"] == "q01")]
    a, b, c = render_frames(scene, [first[0], first[-1], other[0]]).astype(int)
    corner = (slice(0, 6), slice(0, 6))
    assert np.abs(a[corner] - b[corner]).max() == 0
    assert np.abs(a[corner] - c[corner]).mean() > 5


def test_scene_is_seeded():
    a, b, c = make_scene("tiny", 3), make_scene("tiny", 3), make_scene("tiny", 4)
    pd.testing.assert_frame_equal(a.frames, b.frames)
    assert a.subjects == b.subjects
    assert not np.allclose(a.frames[GAZE].to_numpy(), c.frames[GAZE].to_numpy())


# --- pixels agree with labels ------------------------------------------------------------------------


def _posed(scene: Scene, subject: str, poses: list[tuple[float, float, float, float]]) -> Scene:
    """One clean frame per (head_yaw, head_pitch, eye_yaw, eye_pitch) in degrees, of one subject."""
    base = scene.frames[scene.frames["subject"] == subject].iloc[0]
    rows = []
    for hy, hp, ey, ep in poses:
        r = base.copy()
        head = np.radians([hy, hp, 0.0])
        r["head_yaw"], r["head_pitch"], r["head_roll"] = head
        r["gaze_x"], r["gaze_y"], r["gaze_z"] = compose_gaze(head[None], np.radians([[ey, ep]]))[0]
        r["distance"], r["offset_x"], r["offset_y"], r["blur"], r["noise"] = 1.0, 0.0, 0.0, 0.0, 0.0
        r["light_x"], r["light_y"], r["light_z"] = 0.0, 0.0, -1.0
        rows.append(r)
    return Scene(scene.preset, scene.seed, scene.subjects, pd.DataFrame(rows).reset_index(drop=True))


def _centroid(weights: np.ndarray) -> np.ndarray:
    ys, xs = np.indices(weights.shape)
    w = weights.sum()
    assert w > 0
    return np.array([(xs * weights).sum() / w, (ys * weights).sum() / w])


def _light_subject(scene: Scene) -> str:
    return max(scene.subjects, key=lambda s: sum(s.skin)).id


def test_pupil_moves_with_gaze_yaw(tiny):
    # canonical +x (positive yaw) is the camera's -x: the pupils move to the image LEFT
    size = 128
    sid = _light_subject(tiny)
    yaws = [-30.0, -15.0, 0.0, 15.0, 30.0]
    scene = _posed(tiny, sid, [(0.0, 0.0, y, 0.0) for y in yaws])
    debug = [render_debug(scene, i, glasses=False, size=size) for i in range(len(yaws))]
    mask_x = [_centroid(d["pupil"])[0] for d in debug]
    assert all(b < a for a, b in zip(mask_x, mask_x[1:])), mask_x
    # the same from the pixels alone: dark pixels in the eye region
    ys, xs = np.nonzero(debug[2]["iris"] > 0)
    box = (slice(ys.min() - 3, ys.max() + 4), slice(xs.min() - 8, xs.max() + 9))
    dark_x = []
    for d in debug:
        lum = d["image"].astype(float).mean(-1)[box]
        dark_x.append(_centroid((lum < 45).astype(float))[0])
    assert all(b < a for a, b in zip(dark_x, dark_x[1:])), dark_x
    # and by the amount the geometry says: the pupil centre moves by eye_radius * sin(yaw)
    subj = tiny.subject(sid)
    px = 2 * REFERENCE_HALF_WIDTH / HEAD_FRACTION / size  # world units per pixel at distance 1
    expected = subj.eye_radius * np.sin(np.radians(30.0)) / px
    assert mask_x[2] - mask_x[4] == pytest.approx(expected, rel=0.25)


def test_pupil_moves_up_with_gaze_pitch(tiny):
    sid = _light_subject(tiny)
    pitches = [-20.0, 0.0, 20.0]
    scene = _posed(tiny, sid, [(0.0, 0.0, 0.0, p) for p in pitches])
    mask_y = [_centroid(render_debug(scene, i, glasses=False, size=128)["pupil"])[1] for i in range(3)]
    assert mask_y[0] > mask_y[1] > mask_y[2], mask_y  # +pitch is up: smaller row index


def test_head_pose_moves_the_face(tiny):
    sid = _light_subject(tiny)
    scene = _posed(tiny, sid, [(-40.0, 0.0, 0.0, 0.0), (40.0, 0.0, 0.0, 0.0)])
    xs = [_centroid(render_debug(scene, i, glasses=False, size=96)["iris"])[0] for i in range(2)]
    assert xs[1] < xs[0]  # a head turned to +yaw shows its eyes on the image left


def test_back_views_hide_the_eyes(tiny):
    f = tiny.frames
    back = np.flatnonzero(f["gaze_z"].to_numpy() > 0)
    assert len(back) > 0
    for i in back:
        d = render_debug(tiny, int(i))
        assert d["iris"].sum() == 0 and d["pupil"].sum() == 0, f["id"].iloc[i]
    # a head turned away hides the eyes for any eye rotation; a frontal one shows them
    sid = _light_subject(tiny)
    scene = _posed(tiny, sid, [(180.0, 0.0, 0.0, 0.0), (150.0, 20.0, 30.0, -20.0), (0.0, 0.0, 0.0, 0.0)])
    masks = [render_debug(scene, i) for i in range(3)]
    assert masks[0]["iris"].sum() == 0 and masks[1]["iris"].sum() == 0
    assert masks[2]["pupil"].sum() > 0
    # no near-black pupil colour in the back view either
    img = masks[0]["image"].astype(int)
    assert not (img.max(-1) < 12).any()


def test_glasses_change_only_wearers(tiny):
    f = tiny.frames
    for s in tiny.subjects:
        rows = np.flatnonzero((f["subject"] == s.id).to_numpy() & (f["gaze_z"] < -0.5).to_numpy())[:2]
        if len(rows) == 0:
            continue
        on = render_frames(tiny, rows, glasses=True)
        off = render_frames(tiny, rows, glasses=False)
        if s.glasses:
            assert (on != off).any(axis=-1).mean() > 0.01, s.id
        else:
            np.testing.assert_array_equal(on, off)


def test_render_frames_shape_and_size(tiny):
    out = render_frames(tiny, [0, 5, 7])
    assert out.shape == (3, 48, 48, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(render_frames(tiny, [5])[0], out[1])  # a frame does not depend on its batch
    assert render_frames(tiny, [0], size=32).shape == (1, 32, 32, 3)
    assert out.std() > 20  # not blank


# --- determinism and the target directory ----------------------------------------------------------------


def test_same_seed_same_bytes(written, tmp_path):
    again = write_layout(make_scene("tiny", 0), tmp_path / "again", workers=1, progress=False)
    a, b = _files(written["synthgaze"]), _files(again)
    assert a.keys() == b.keys() and len(a) > 100
    assert all(a[k] == b[k] for k in a)
    other = _files(write_layout(make_scene("tiny", 1), tmp_path / "other", workers=2, progress=False))
    assert other["labels.csv"] != a["labels.csv"]
    assert sum(other[k] != a[k] for k in a if k.endswith(".jpg")) > 0.9 * sum(k.endswith(".jpg") for k in a)


def test_foreign_layouts_are_reproducible(tiny, written, tmp_path):
    for layout in ("gaze360", "mpiifacegaze"):
        again = _files(write_layout(tiny, tmp_path / layout, layout, workers=1, progress=False))
        first = _files(written[layout])
        assert again.keys() == first.keys()
        assert all(again[k] == first[k] for k in first), layout


def test_refuses_non_empty_directory(tiny, tmp_path):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("x")
    with pytest.raises(LayoutError, match="busy"):
        write_layout(tiny, target, progress=False)
    assert (target / "keep.txt").read_text() == "x"
    with pytest.raises(LayoutError, match="unknown SynthGaze layout"):
        write_layout(tiny, tmp_path / "x", "imagenet", progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    small = Preset(n_subjects=2, n_sequences=1, n_frames=2, image_size=16, name="unit")
    write_layout(make_scene(small, 0), empty, progress=False)
    assert (empty / "labels.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "empty"]  # no temporary folders left


# --- layouts -------------------------------------------------------------------------------------------


def test_layouts_are_the_registered_datasets_with_a_writer(tiny, tmp_path):
    assert set(BUILTIN) <= set(layout_names())
    with pytest.raises(LayoutError, match="splits does not apply to the rtgene layout"):
        write_layout(tiny, tmp_path / "x", "rtgene", progress=False, splits={"test": ["s000"]})
    assert not (tmp_path / "x").exists()


def test_synthgaze_layout(tiny, written):
    import json

    root = written["synthgaze"]
    labels = pd.read_csv(root / "labels.csv", dtype={"subject": str, "sequence": str})
    assert list(labels.columns) == [
        "id", "subject", "sequence", "frame", "path", "gaze_x", "gaze_y", "gaze_z",
        "head_yaw", "head_pitch", "head_roll", "distance", "glasses", "timestamp",
    ]  # fmt: skip
    assert labels["glasses"].dtype == bool and len(labels) == len(tiny.frames)
    np.testing.assert_allclose(labels[GAZE].to_numpy(), tiny.frames[GAZE].to_numpy(), atol=1e-8)
    np.testing.assert_allclose(labels["timestamp"], tiny.frames["timestamp"], atol=1e-6)
    assert labels["path"].iloc[10] == "images/s000/q01/0001.jpg"
    for p in labels["path"]:
        assert (root / p).is_file() and (root / p.replace("images/", "inpainted/", 1)).is_file()
    img = np.asarray(Image.open(root / labels["path"].iloc[0]))
    assert img.shape == (48, 48, 3)
    from gazebench.synth.output import JPEG_QUALITY

    buf = io.BytesIO()  # the file is the JPEG of the render, byte for byte once decoded
    Image.fromarray(render_frames(tiny, [0])[0]).save(buf, format="JPEG", quality=JPEG_QUALITY)
    np.testing.assert_array_equal(img, np.asarray(Image.open(buf)))
    info = json.loads((root / "synthgaze.json").read_text())
    assert info["seed"] == 0 and info["preset"]["name"] == "tiny" and info["counts"]["frames"] == len(labels)
    assert [s["glasses"] for s in info["subjects"]] == [s.glasses for s in tiny.subjects]
    differs = {}
    for s in tiny.subjects:  # inpainted differs from images only for wearers
        a = _files(root / "images" / s.id)
        b = _files(root / "inpainted" / s.id)
        differs[s.id] = any(a[k] != b[k] for k in a)
    assert differs == {s.id: s.glasses for s in tiny.subjects}


SPLIT_LINE = re.compile(r"^(rec_\d{3}/head/\d{6}/\d{6}\.jpg)([ \t]+)(\S+) (\S+) (\S+)$")


def test_gaze360_layout(tiny, written):
    import json

    from scipy.io import loadmat

    root = written["gaze360"]
    m = loadmat(root / "metadata.mat")
    n = len(tiny.frames)
    for key in ("recording", "frame", "person_identity", "split"):
        assert m[key].shape == (1, n), key
    for key in ("person_head_bbox", "person_face_bbox", "person_eye_left_bbox", "person_eye_right_bbox"):
        assert m[key].shape == (n, 4), key
    assert m["gaze_dir"].shape == (n, 3)
    recordings = [str(r[0]) for r in m["recordings"].ravel()]
    assert [str(s[0]) for s in m["splits"].ravel()] == ["train", "validation", "test", "unused"]
    np.testing.assert_allclose(m["gaze_dir"], tiny.frames[GAZE].to_numpy())
    rec, person, frame, split = (m[k].ravel() for k in ("recording", "person_identity", "frame", "split"))
    for i in range(n):
        assert (root / "imgs" / recordings[rec[i]] / "head" / f"{person[i]:06d}" / f"{frame[i]:06d}.jpg").is_file()
    back = tiny.frames["gaze_z"].to_numpy() > 0
    assert (m["person_eye_left_bbox"][back] == -1).all() and (m["person_face_bbox"][back] == -1).all()
    assert (m["person_eye_left_bbox"][~back] != -1).any()
    assert set(split.tolist()) == {0, 1, 2, 3}
    # a recording belongs to one split (unused frames aside) and a subject to one recording per sequence
    for r in set(rec.tolist()):
        assert len(set(split[(rec == r) & (split != 3)].tolist())) == 1
    # split files
    code_of = {"train.txt": 0, "validation.txt": 1, "test.txt": 2}
    index = {(recordings[rec[i]], person[i], frame[i]): i for i in range(n)}
    tabs = scaled = 0
    for name, code in code_of.items():
        lines = (root / name).read_text().splitlines()
        assert lines, name
        for line in lines:
            mt = SPLIT_LINE.match(line)
            assert mt, line
            parts = mt.group(1).split("/")
            i = index[(parts[0], int(parts[2]), int(parts[3][:6]))]
            assert split[i] == code  # never an unused frame
            assert all((parts[0], int(parts[2]), int(parts[3][:6]) + k) in index for k in range(-3, 4))
            v = np.array([float(mt.group(k)) for k in (3, 4, 5)])
            assert 1.0 - 1e-6 <= np.linalg.norm(v) <= 1.3 + 1e-6
            np.testing.assert_allclose(v / np.linalg.norm(v), m["gaze_dir"][i], atol=1e-6)
            tabs += "\t" in mt.group(2)
            scaled += np.linalg.norm(v) > 1.01
    assert tabs > 0 and scaled > 0
    # subject-disjoint splits, recorded in the source file
    info = json.loads((root / "synthgaze_source.json").read_text())
    assert set(info["subject_splits"].values()) == {"train", "validation", "test"}
    assert [s for s, sp in info["subject_splits"].items() if sp == "test"] == ["s000", "s001"]


def test_gaze360_custom_splits(tiny, tmp_path):
    import json

    root = write_layout(tiny, tmp_path / "g", "gaze360", progress=False, splits={"test": ["s005"], "val": ["s006"]})
    info = json.loads((root / "synthgaze_source.json").read_text())
    assert info["subject_splits"]["s005"] == "test" and info["subject_splits"]["s006"] == "validation"
    assert sum(v == "train" for v in info["subject_splits"].values()) == 6
    with pytest.raises(LayoutError):
        write_layout(tiny, tmp_path / "bad", "gaze360", progress=False, splits={"test": ["s001"], "val": ["s001"]})


RTGENE_LINE = re.compile(r"^(\d+), \[(-?\d+\.\d+), (-?\d+\.\d+)\], \[(-?\d+\.\d+), (-?\d+\.\d+)\], (\d+\.\d+)$")


def test_rtgene_layout(tiny, written):
    root = written["rtgene"]
    folders = sorted(p.name for p in root.iterdir() if p.is_dir())
    assert folders == [f"{s.id}_glasses" for s in tiny.subjects]
    f = tiny.frames
    gaps = 0
    for s in tiny.subjects:
        lines = (root / f"{s.id}_glasses" / "label_combined.txt").read_text().splitlines()
        assert lines
        rows = f[f["subject"] == s.id].sort_values("timestamp")
        parsed = [RTGENE_LINE.match(line) for line in lines]
        assert all(parsed), lines
        idx = np.array([int(p.group(1)) for p in parsed])
        ts = np.array([float(p.group(6)) for p in parsed])
        assert idx[0] >= 1 and (np.diff(idx) > 0).all() and (np.diff(ts) > 0).all()
        gaps += int((np.diff(idx) > 1).sum())
        for p, i in zip(parsed, idx):
            row = rows.iloc[i - 1]
            g = yawpitch_to_vector(np.array([float(p.group(4)), float(p.group(5))]))
            assert angular_error_deg(g, row[GAZE].to_numpy(float)) < 1e-3
            assert float(p.group(2)) == pytest.approx(row["head_yaw"], abs=1e-6)
            assert float(p.group(6)) == pytest.approx(row["timestamp"], abs=1e-3)
            for sub in ("inpainted/face", "original/face", "original/face_before_inpainting"):
                assert (root / f"{s.id}_glasses" / sub / f"face_{i:06d}_rgb.png").is_file()
        assert len(list((root / f"{s.id}_glasses" / "original" / "face").iterdir())) == len(lines)
        first = f"face_{idx[0]:06d}_rgb.png"
        inp = np.asarray(Image.open(root / f"{s.id}_glasses/inpainted/face" / first))
        orig = np.asarray(Image.open(root / f"{s.id}_glasses/original/face" / first))
        wide = np.asarray(Image.open(root / f"{s.id}_glasses/original/face_before_inpainting" / first))
        assert (inp != orig).any() == s.glasses
        assert wide.shape == orig.shape and (wide != orig).any()
        np.testing.assert_array_equal(orig, render_frames(tiny, [int(rows.index[idx[0] - 1])])[0])
    assert gaps > 0  # frames were dropped


def test_mpiifacegaze_layout(tiny, written):
    import h5py

    root = written["mpiifacegaze"]
    files = sorted(p.name for p in root.glob("p*.mat"))
    assert files == [f"p{k:02d}.mat" for k in range(len(tiny.subjects))]
    f = tiny.frames
    for k, s in enumerate(tiny.subjects[:3]):
        path = root / f"p{k:02d}.mat"
        assert path.read_bytes()[:10] == b"MATLAB 7.3"
        rows = np.flatnonzero((f["subject"] == s.id).to_numpy())
        with h5py.File(path, "r") as h:
            data, label = h["Data/data"][()], h["Data/label"][()]
        assert data.shape == (len(rows), 3, 48, 48) and data.dtype == np.uint8
        assert label.shape == (len(rows), 16) and label.dtype == np.float64
        g = yawpitch_to_vector(label[:, [1, 0]])  # stored (pitch, yaw)
        assert angular_error_deg(g, f[GAZE].to_numpy()[rows]).max() < 1e-5  # arccos near 1: ~1e-6 deg of float noise
        np.testing.assert_allclose(label[:, 2:4], f[["head_pitch", "head_yaw"]].to_numpy()[rows])
        assert (label[:, 4:] == 0).all()
        rgb = render_frames(tiny, rows[:2])
        np.testing.assert_array_equal(data[:2].transpose(0, 2, 3, 1)[..., ::-1], rgb)  # BGR channel order
        assert not np.array_equal(data[:2].transpose(0, 2, 3, 1), rgb)


# --- renders by another generator version ------------------------------------------------------------


def _age(root: Path, version: str = "1.0") -> None:
    import json

    info = json.loads((root / "synthgaze.json").read_text())
    info["generator_version"] = version
    (root / "synthgaze.json").write_text(json.dumps(info))


def test_a_stale_render_at_a_given_root_is_refused_with_the_command_that_renders_it_anew(tiny, tmp_path):
    from gazebench.datasets import build_dataset
    from gazebench.datasets.base import DatasetError
    from gazebench.synth import GENERATOR_VERSION

    root = write_layout(tiny, tmp_path / "old", "synthgaze", workers=1, progress=False)
    build_dataset("synthgaze", root)  # current: fine
    _age(root)
    with pytest.raises(DatasetError) as err:
        build_dataset("synthgaze", root)
    msg = str(err.value)
    assert str(root / "synthgaze.json") in msg and "generator 1.0" in msg and GENERATOR_VERSION in msg
    assert "gazebench synth --out NEW_DIR --preset tiny --seed 0" in msg


def test_a_stale_default_root_is_rendered_anew(tiny, tmp_path, monkeypatch, capsys):
    import gazebench.datasets.synthgaze as adapter
    from gazebench.datasets import build_dataset
    from gazebench.synth import GENERATOR_VERSION

    monkeypatch.setenv("GAZEBENCH_DATA", str(tmp_path))
    monkeypatch.setattr(adapter, "DEFAULT_PRESET", "tiny")
    root = write_layout(tiny, tmp_path / "synthgaze", "synthgaze", workers=1, progress=False)
    _age(root)
    (root / "images" / "s000" / "q00" / "0000.jpg").unlink()  # the old render is not reused
    ds = build_dataset("synthgaze")
    assert "rendered by generator 1.0" in capsys.readouterr().err
    assert adapter.rendered_version(root) == GENERATOR_VERSION
    assert (root / "images" / "s000" / "q00" / "0000.jpg").is_file() and len(ds) == len(tiny.frames)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synthgaze"]  # the old render is gone
