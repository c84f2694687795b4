"""gazebench predict: a trained run on images, folders and videos gives the run's own predictions;
the arrow's direction follows the convention; sequence models read their frame window; crops."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from gazebench.core.geometry import from_camera_frame, yawpitch_to_vector
from gazebench.predict.crops import Box
from gazebench.predict.detectors import DETECTORS
from gazebench.predict.drawing import ARROW_COLOUR, arrow_tip, draw_gaze
from gazebench.predict.output import COLUMNS
from gazebench.predict.windows import windows
from tests.helpers import cli

av = pytest.importorskip("av")

SIZE = 32
FIXED_BOX = (6.0, 4.0, 40.0, 40.0)


@DETECTORS.register("test-fixed-box") if "test-fixed-box" not in DETECTORS else (lambda cls: cls)
class FixedBox:
    """A test detector: one box in every frame."""

    def detect(self, rgb):
        return [Box(1, 1, 5, 5), Box(*FIXED_BOX)]  # the larger one is kept


@pytest.fixture(scope="module")
def trained(tiny_synth, tmp_path_factory) -> dict:
    """A static model trained one epoch on the tiny SynthGaze tree: its record, run folder, test predictions."""
    base = tmp_path_factory.mktemp("predict_run")
    assert (
        cli(
            "run",
            "--dataset",
            "synthgaze",
            "--root",
            tiny_synth,
            "--model",
            "static",
            "--epochs",
            "1",
            "--backbone",
            "test_resnet",
            "--set",
            f"image_size={SIZE}",
            "--set",
            "num_workers=0",
            "--results",
            base / "results",
            "--runs",
            base / "runs",
            "--quiet",
            "--no-table",
        )
        == 0
    )
    (record,) = sorted((base / "results").rglob("*.json"))
    run_dir = Path(json.loads(record.read_text())["artifacts"]["checkpoint"]).parent
    return {
        "record": record,
        "run_dir": run_dir,
        "results": base / "results",
        "test": pd.read_csv(run_dir / "predictions_test.csv"),
    }


def _image_of(root: Path, sample_id: str) -> Path:
    labels = pd.read_csv(root / "labels.csv")
    return root / labels.loc[labels["id"] == sample_id, "path"].item()


def _sequence_images(root: Path, n: int) -> list[Path]:
    labels = pd.read_csv(root / "labels.csv").sort_values(["subject", "sequence", "frame"])
    return [root / p for p in labels["path"].iloc[:n]]


def write_video(path: Path, images: list[np.ndarray], fps: int = 10) -> Path:
    container = av.open(str(path), "w")
    stream = container.add_stream("mpeg4", rate=fps)
    stream.width, stream.height, stream.pix_fmt = images[0].shape[1], images[0].shape[0], "yuv420p"
    for image in images:
        container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
    container.mux(stream.encode(None))
    container.close()
    return path


def predict(*argv) -> int:
    return cli("predict", *argv, "--quiet", "--device", "cpu")


# --- the arrow ---------------------------------------------------------------------------------------


def test_positive_yaw_draws_to_the_image_left_and_positive_pitch_up():
    centre = (50.0, 50.0)
    tip = arrow_tip(centre, yawpitch_to_vector(np.radians([30.0, 0.0])), 40.0)
    assert tip[0] < centre[0] and tip[1] == pytest.approx(centre[1])
    assert arrow_tip(centre, yawpitch_to_vector(np.radians([-30.0, 0.0])), 40.0)[0] > centre[0]
    tip = arrow_tip(centre, yawpitch_to_vector(np.radians([0.0, 30.0])), 40.0)
    assert tip[1] < centre[1] and tip[0] == pytest.approx(centre[0])  # rows count downwards
    # the camera frame (x to the image's right, y down) converted by the one convention function
    assert arrow_tip(centre, from_camera_frame([1.0, 0.0, 0.0]), 40.0)[0] > centre[0]
    assert arrow_tip(centre, from_camera_frame([0.0, 1.0, 0.0]), 40.0)[1] > centre[1]


def test_the_drawn_arrow_lies_on_the_gaze_side_of_the_head_centre():
    box = Box(20, 20, 120, 120)
    cx, cy = box.centre
    for yaw, pitch, side in ((30.0, 0.0, "left"), (-30.0, 0.0, "right"), (0.0, 30.0, "up")):
        drawn = draw_gaze(np.zeros((160, 160, 3), np.uint8), box, yawpitch_to_vector(np.radians([yaw, pitch])))
        ys, xs = np.nonzero((drawn == ARROW_COLOUR).all(-1))
        dx, dy = xs.mean() - cx, ys.mean() - cy
        assert {"left": dx < -3, "right": dx > 3, "up": dy < -3}[side], (yaw, pitch, dx, dy)


# --- the frame window --------------------------------------------------------------------------------


@pytest.mark.parametrize("offsets", [(0,), (-3, -2, -1, 0, 1, 2, 3), (-2, 0, 1)])
def test_windows_pad_the_edges_with_the_nearest_frame_like_the_training_path(offsets):
    for n in range(0, 10):
        got = list(windows(range(n), offsets))
        ranks = np.arange(n)[:, None] + np.asarray(offsets)[None, :]
        assert [item for item, _, _ in got] == list(range(n))
        assert [w for _, w, _ in got] == np.clip(ranks, 0, max(n - 1, 0)).tolist()[:n]
        assert [c for _, _, c in got] == ((ranks >= 0) & (ranks < n)).all(1).tolist()


def test_windows_match_the_dataset_windows_of_a_sequence(tiny_synth):
    from gazebench.datasets import build_dataset

    dataset = build_dataset("synthgaze", tiny_synth)
    offsets = (-3, -2, -1, 0, 1, 2, 3)
    table, complete = dataset.windows(offsets)
    idx = dataset.index
    rows = idx.index[(idx["subject"] == idx["subject"].iat[0]) & (idx["sequence"] == idx["sequence"].iat[0])]
    rows = np.asarray(rows)[np.argsort(idx["order"].to_numpy()[rows])]
    got = list(windows(list(rows), offsets))
    assert [w for _, w, _ in got] == table[rows].tolist()
    assert [c for _, _, c in got] == complete[rows].tolist()


# --- a trained run -------------------------------------------------------------------------------------


def test_a_run_predicts_a_test_image_as_its_own_evaluation_did(trained, tiny_synth, tmp_path):
    row = trained["test"].iloc[3]
    image = _image_of(tiny_synth, row["id"])
    for i, run in enumerate((trained["record"], trained["run_dir"])):
        out = tmp_path / f"out{i}"
        assert predict("--run", run, "--results", trained["results"], image, "--out", out) == 0
        (got,) = pd.read_csv(out / "gaze.csv").itertuples()
        assert [got.gaze_x, got.gaze_y, got.gaze_z] == pytest.approx([row.pred_x, row.pred_y, row.pred_z], abs=1e-4)
        with Image.open(image) as im:
            assert np.isnan(got.time_s) and got.frame == 0 and (got.box_w, got.box_h) == im.size
        assert (out / f"{image.stem}.png").is_file()


def test_a_video_and_a_folder_give_one_row_per_frame_in_order(trained, tiny_synth, tmp_path):
    images = [np.asarray(Image.open(p).convert("RGB")) for p in _sequence_images(tiny_synth, 12)]
    video = write_video(tmp_path / "clip.mp4", images, fps=10)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, image in enumerate(images[:5]):
        Image.fromarray(image).save(folder / f"f{i}.png")  # f10 would sort after f9: natural order
    out = tmp_path / "out"
    assert predict("--run", trained["record"], video, folder, "--out", out) == 0
    table = pd.read_csv(out / "gaze.csv")
    assert list(table.columns) == list(COLUMNS) and len(table) == 12 + 5
    clip = table[table["input"] == str(video)]
    assert clip["frame"].tolist() == list(range(12))
    assert clip["time_s"].to_numpy() == pytest.approx(np.arange(12) / 10)
    assert table["input"].iloc[12:].tolist() == [str(folder / f"f{i}.png") for i in range(5)]
    norms = np.linalg.norm(table[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(), axis=1)
    assert norms == pytest.approx(1.0, abs=1e-5)
    assert np.isnan(table["sigma_rad"]).all() == np.isnan(table["sigma_deg"]).all()
    doc = json.loads((out / "gaze.json").read_text())
    assert len(doc["rows"]) == 17 and "image's left" in doc["convention"] and doc["predictor"]["source"] == "run"
    with av.open(str(out / "clip.mp4")) as drawn:
        assert sum(1 for _ in drawn.decode(video=0)) == 12
    assert sorted(p.name for p in (out / "frames").iterdir()) == [f"f{i}.png" for i in range(5)]
    assert predict("--run", trained["record"], video, "--out", tmp_path / "png", "--video-out", "png") == 0
    assert len(list((tmp_path / "png" / "clip").glob("*.png"))) == 12


def test_recursive_folders_are_one_sequence_each(tiny_synth, tmp_path, capsys):
    top = tmp_path / "clips"
    for name in ("b", "a"):
        (top / name).mkdir(parents=True)
        for i, p in enumerate(_sequence_images(tiny_synth, 2)):
            Image.open(p).save(top / name / f"{i}.png")
    out = tmp_path / "out"
    model = ["--model", "static", "--set", "backbone=test_resnet", "--set", f"image_size={SIZE}"]
    assert predict(*model, top, "--out", out) == 2
    assert "--recursive" in capsys.readouterr().err
    assert predict(*model, top, "--recursive", "--out", out) == 0
    table = pd.read_csv(out / "gaze.csv")
    assert table["input"].tolist() == [str(top / d / f"{i}.png") for d in ("a", "b") for i in range(2)]
    assert sorted(p.name for p in (out / "a").iterdir()) == ["0.png", "1.png"] and (out / "b").is_dir()


# --- a sequence model -----------------------------------------------------------------------------------


def test_a_sequence_model_reads_the_window_of_consecutive_frames(tiny_synth, tmp_path, one_torch_thread):
    import torch

    from gazebench.datasets.base import resize_frame
    from gazebench.datasets.views import make_views
    from gazebench.models import build_model

    torch.manual_seed(0)
    model = build_model("seqlstm", backbone="test_resnet").eval()
    weights = tmp_path / "seqlstm.pt"
    torch.save(model.state_dict(), weights)
    folder = tmp_path / "seq"
    folder.mkdir()
    paths = _sequence_images(tiny_synth, 5)
    for i, p in enumerate(paths):
        Image.open(p).save(folder / f"{i:02d}.png")
    out = tmp_path / "out"
    assert (
        predict(
            "--model",
            "seqlstm",
            "--set",
            "backbone=test_resnet",
            "--set",
            f"image_size={SIZE}",
            "--weights",
            weights,
            folder,
            "--out",
            out,
            "--batch-size",
            "2",
        )
        == 0
    )
    table = pd.read_csv(out / "gaze.csv")
    frames = np.stack([resize_frame(np.asarray(Image.open(p).convert("RGB")), SIZE) for p in paths])
    window = np.clip(np.arange(5)[:, None] + np.arange(-3, 4)[None, :], 0, 4)
    batch = torch.from_numpy(frames[window]).permute(0, 1, 4, 2, 3)
    with torch.inference_mode():
        expected = model(make_views(batch, model.view, SIZE))["vector"].numpy()
    assert table[["gaze_x", "gaze_y", "gaze_z"]].to_numpy() == pytest.approx(expected, abs=1e-5)
    assert table["window_complete"].tolist() == [False] * 5  # 5 frames: no window of 7 is whole


# --- a published checkpoint ---------------------------------------------------------------------------


def _released_key(key: str, card) -> str:
    """A gazebench key under its released name: the card's prefix table read backwards."""
    for source, target in sorted(card.keys.map, key=lambda pair: -len(pair[1])):
        if key.startswith(target):
            return card.container.prefix + source + key[len(target) :]
    raise AssertionError(f"{card.name}: no released name for {key}")


def test_a_published_checkpoint_predicts_at_its_cards_input_size(tiny_synth, tmp_path, one_torch_thread):
    import torch

    from gazebench.datasets.base import resize_frame
    from gazebench.datasets.views import make_views

    loading = pytest.importorskip("gazebench.published.loading", reason="the published catalogue's loader")
    card = loading.published_card("multizoom-static")
    torch.manual_seed(0)
    model = loading.build_published(card.name).eval()
    released = {_released_key(k, card): v for k, v in model.state_dict().items()}
    container = {e: released if e == card.container.state_dict else 0 for e in card.container.entries}
    weights = tmp_path / "released.pth.tar"
    torch.save(container, weights, _use_new_zipfile_serialization=card.container.format == "zip")
    image = _sequence_images(tiny_synth, 1)[0]
    out = tmp_path / "out"
    assert predict("--published", card.name, "--weights", weights, image, "--out", out) == 0
    (got,) = pd.read_csv(out / "gaze.csv").itertuples()
    size = card.input["size"]
    frames = torch.from_numpy(resize_frame(np.array(Image.open(image).convert("RGB")), size).copy())
    with torch.inference_mode():
        expected = model(make_views(frames.permute(2, 0, 1)[None, None], model.view, size))["vector"][0].numpy()
    assert [got.gaze_x, got.gaze_y, got.gaze_z] == pytest.approx(expected.tolist(), abs=1e-5)
    doc = json.loads((out / "gaze.json").read_text())
    assert doc["predictor"]["image_size"] == size and doc["predictor"]["weights"]["tag"] == "published:multizoom-static"


# --- crops ------------------------------------------------------------------------------------------


def test_a_crop_file_cuts_the_head_out_of_a_larger_frame(trained, tiny_synth, tmp_path, capsys):
    row = trained["test"].iloc[0]
    head = Image.open(_image_of(tiny_synth, row["id"])).convert("RGB")
    canvas = Image.new("RGB", (120, 90), (40, 80, 120))
    canvas.paste(head, (30, 20))
    frame = tmp_path / "scene.png"
    canvas.save(frame)
    other = tmp_path / "other.png"
    canvas.save(other)
    crops = tmp_path / "crops.csv"
    crops.write_text(f"input,frame,x,y,w,h\nscene.png,0,30,20,{head.width},{head.height}\ntypo.png,0,1,1,4,4\n")
    out = tmp_path / "out"
    assert predict("--run", trained["record"], frame, other, "--crops", crops, "--out", out) == 0
    (got,) = pd.read_csv(out / "gaze.csv").itertuples()
    assert [got.gaze_x, got.gaze_y, got.gaze_z] == pytest.approx([row.pred_x, row.pred_y, row.pred_z], abs=1e-4)
    assert (got.box_x, got.box_y, got.box_w, got.box_h) == (30, 20, head.width, head.height)
    err = capsys.readouterr().err
    assert "1 frame(s) have no head box" in err and "other.png" in err and "typo.png" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("input,frame,x,y,w,h\nscene.png,0,30,20,0,48\n")
    assert predict("--run", trained["record"], frame, "--crops", bad, "--out", out) == 2
    assert "line 2" in capsys.readouterr().err


def test_a_detector_plugin_gives_the_boxes_and_the_largest_is_kept(tiny_synth, tmp_path):
    image = _sequence_images(tiny_synth, 1)[0]
    out = tmp_path / "out"
    assert (
        predict(
            "--model",
            "static",
            "--set",
            "backbone=test_resnet",
            image,
            "--detector",
            "test-fixed-box",
            "--crop-scale",
            "0.5",
            "--out",
            out,
        )
        == 0
    )
    (got,) = pd.read_csv(out / "gaze.csv").itertuples()
    assert (got.box_x, got.box_y, got.box_w, got.box_h) == (16, 14, 20, 20)  # FIXED_BOX halved about its centre


def test_the_opencv_detector_is_optional_and_says_how_to_install_it(monkeypatch):
    from gazebench.predict.detectors import build_detector

    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(ValueError, match=r'pip install "gazebench\[detect\]"'):
        build_detector("opencv-haar")


def test_the_opencv_detector_finds_one_face_in_a_portrait_and_none_in_a_blank_frame():
    pytest.importorskip("cv2")
    matplotlib = pytest.importorskip("matplotlib", reason="its sample portrait (grace_hopper.jpg)")
    from gazebench.predict.detectors import build_detector

    detector = build_detector("opencv-haar")
    assert detector.detect(np.full((120, 160, 3), 128, np.uint8)) == []
    with Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg") as im:
        portrait = np.asarray(im.convert("RGB"))
    (face,) = detector.detect(portrait)
    cx, cy = face.centre
    assert 0.3 < cx / portrait.shape[1] < 0.7 and 0.2 < cy / portrait.shape[0] < 0.5 and face.w > 100


# --- user errors are one line ------------------------------------------------------------------------------


def test_user_errors_are_one_line(trained, tiny_synth, tmp_path, capsys, monkeypatch):
    image = _sequence_images(tiny_synth, 1)[0]
    out = tmp_path / "out"
    cases = [
        (["--published", "gaze360-lstm", image], "needs --weights FILE"),
        (["--run", trained["record"], tmp_path / "missing.jpg"], "does not exist"),
        (["--run", trained["record"], "--set", "lr=1", image], "--set goes with --model"),
        (["--model", "static", "--set", "lr=1", image], "training recipe key"),
        (
            ["--model", "seqlstm", "--set", "backbone=test_resnet", "--weights", trained["run_dir"] / "best.pt", image],
            "first missing",
        ),
    ]
    for argv, message in cases:
        assert predict(*argv, "--out", out) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    monkeypatch.setitem(sys.modules, "av", None)
    (tmp_path / "clip.mp4").write_bytes(b"")
    assert predict("--run", trained["record"], tmp_path / "clip.mp4", "--out", out) == 2
    assert 'pip install "gazebench[video]"' in capsys.readouterr().err


# --- the output folder ------------------------------------------------------------------------------------


def test_a_non_empty_out_is_refused_and_overwrite_replaces_only_a_previous_predictions_files(
    tiny_synth, tmp_path, capsys
):
    first, second = _sequence_images(tiny_synth, 2)
    model = ["--model", "static", "--set", "backbone=test_resnet", "--set", f"image_size={SIZE}"]
    out = tmp_path / "out"
    assert predict(*model, first, second, "--out", out) == 0
    drawn = sorted(p.name for p in out.iterdir())
    assert predict(*model, second, "--out", out) == 2  # would leave the first image's drawing beside the new table
    err = capsys.readouterr().err
    assert f"--out {out} is not empty" in err and "--overwrite" in err
    assert sorted(p.name for p in out.iterdir()) == drawn  # nothing touched

    (out / "notes.txt").write_text("mine")
    assert predict(*model, second, "--out", out, "--overwrite") == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(["gaze.csv", "gaze.json", f"{second.stem}.png", "notes.txt"])
    assert pd.read_csv(out / "gaze.csv")["input"].tolist() == [str(second)]
    assert (out / "notes.txt").read_text() == "mine"

    (out / "gaze.json").unlink()  # no longer a prediction's folder: its files are not ours to replace
    assert predict(*model, second, "--out", out, "--overwrite") == 2
    assert "gaze.csv is not a file of a previous prediction" in capsys.readouterr().err
