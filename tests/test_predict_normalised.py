"""gazebench predict on normalised faces: a SynthGaze face with a known head pose and gaze, seen off the
camera's axis, recovered in the camera frame after normalisation, and visibly wrong without it.

The scene.  SynthGaze renders a head orthographically along the line of sight V of a virtual view
camera; the test makes that render the view of a pinhole camera V (focal ``f_v`` = the render's pixels
per mm times the face's distance) that looks at the face centre ``c`` from the real camera's centre,
and re-renders it into the real camera (pinhole ``K``) by the rotation between them, a homography.
The face sits ``OFF_AXIS`` degrees off the real camera's axis, so the normalising rotation ``R``
turns the view by about that much (and removes the head's roll).  The head pose in the camera is
SynthGaze's pose composed with that rotation, the gaze likewise; the stand-in landmarker returns
ETH-XGaze's six face-model points posed by it and projected through ``K`` (exact landmarks).

The stand-in model reads the gaze from the picture as a model trained on normalised faces would:
the test paints a dot where the gaze ray from the face centre, ``L`` mm long, is seen in V; a
normalised patch shows that dot at ``f_n L / d`` px times the gaze's x and y (in the normalised
camera) from the patch centre, so the model reads those two and completes a unit vector towards the
camera.  Normalised, its output is the gaze in the normalised camera, and ``gazebench predict`` must
turn it back into the camera frame; fed the same face as a plain crop, it reads the gaze relative to
the line of sight, wrong by about the off-axis angle.

The tolerance is geometry: the dot's centre is found to within ``DOT_ERROR_PX`` of a frame pixel (the
codec's chroma is subsampled 2x2); a frame pixel is ``(f_n / f) (|c| / d)`` patch pixels; an error of
``e`` patch pixels in the dot's offset is at most ``e / (f_n L / d) / cos(theta)`` radians of gaze for a
gaze ``theta`` off the normalised camera's axis.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys

import numpy as np
import pandas as pd
import pytest

from gazebench.core.geometry import angular_error_deg, from_camera_frame, vector_to_yawpitch
from gazebench.core.normalization import face_center, warp_image
from gazebench.core.registry import MODELS
from gazebench.datasets.views import IMAGENET_MEAN, IMAGENET_STD
from gazebench.models.base import GazeModel
from gazebench.predict.facepose import FACE_MODEL, HeadPose, camera_matrix, fit_head_pose, project
from gazebench.predict.landmarks import LANDMARKERS
from gazebench.predict.normalise import XGAZE_DISTANCE, XGAZE_FOCAL, XGAZE_SIZE, Normalisation
from gazebench.synth.render import camera_rotation, eye_centres, render_row
from gazebench.synth.scene import HEAD_FRACTION, REFERENCE_HALF_WIDTH, compose_gaze, make_scene
from tests.helpers import cli

av = pytest.importorskip("av")
pytest.importorskip("cv2", reason="the head pose is fitted with OpenCV's solvePnP")

WIDTH, HEIGHT, FOCAL = 640, 480, 640.0
MM_PER_UNIT = 100.0  # SynthGaze's head half-width is 0.75 units: 75 mm
RENDER = 256  # render pixels
GAZE_LENGTH = 60.0  # L, mm: the painted gaze ray
DOT_RADIUS = 5.0  # render pixels
DOT_ERROR_PX = 1.0  # frame pixels: the dot's centre after the 2x2-subsampled chroma of the video
MAGENTA = np.array([1.0, 0.0, 1.0])
SIZE = XGAZE_SIZE
PATCH_PER_MM = XGAZE_FOCAL / XGAZE_DISTANCE  # patch pixels per mm at the normalised distance

#: (face centre in frame pixels, distance mm, head yaw/pitch/roll deg in V, eye-in-head yaw/pitch deg)
FRAMES = [
    ((545.0, 120.0), 650.0, (25.0, -10.0, 12.0), (-15.0, 8.0)),
    ((520.0, 380.0), 600.0, (-20.0, 12.0, -15.0), (10.0, -5.0)),
    ((110.0, 130.0), 700.0, (10.0, 15.0, 20.0), (12.0, 6.0)),
]

KNOWN_LANDMARKS: dict[str, np.ndarray] = {}


def _digest(rgb: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(rgb).tobytes()).hexdigest()


@LANDMARKERS.register("test-known") if "test-known" not in LANDMARKERS else (lambda cls: cls)
class KnownLandmarks:
    """A stand-in landmarker: the six points the test projected for this very frame (by its pixels)."""

    def __init__(self, model=None):
        pass

    def landmarks(self, rgb):
        return [KNOWN_LANDMARKS[_digest(rgb)]]


def _read_dot(views) -> np.ndarray:
    """The magenta dot's centre in each patch, ``[B, 2]`` pixels (x, y), from ImageNet-normalised views."""
    import torch

    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    rgb = views[:, 0] * std + mean  # [B, 3, S, S] in 0..1
    magenta = torch.minimum(rgb[:, 0], rgb[:, 2]) - rgb[:, 1]
    weight = ((magenta - 0.5) / 0.3).clamp(0.0, 1.0)
    ys, xs = torch.meshgrid(torch.arange(rgb.shape[-2]), torch.arange(rgb.shape[-1]), indexing="ij")
    total = weight.sum(dim=(1, 2)).clamp_min(1e-9)
    return torch.stack([(weight * xs).sum(dim=(1, 2)) / total, (weight * ys).sum(dim=(1, 2)) / total], dim=1)


class DotReader(GazeModel):
    """Reads the painted gaze dot as the gaze in the normalised camera: (dot - centre) / (f_n L / d)."""

    trainable = False

    def __init__(self) -> None:
        super().__init__()
        self.name, self.options = "test-dot-reader", {}

    def forward(self, views):
        import torch

        size = views.shape[-1]
        xy = (_read_dot(views.float().cpu()) - size / 2.0) / (PATCH_PER_MM * size / XGAZE_SIZE * GAZE_LENGTH)
        z = -torch.sqrt((1.0 - (xy**2).sum(dim=1)).clamp_min(0.0))  # towards the camera
        camera = torch.cat([xy, z[:, None]], dim=1)
        return {"vector": (camera * torch.tensor([-1.0, -1.0, 1.0])).to(views.device)}  # canonical


if "test-dot-reader" not in MODELS:
    MODELS.register("test-dot-reader")(DotReader)


def _look_at(forward: np.ndarray) -> np.ndarray:
    """Rows right, down, forward: the view camera V looking along ``forward`` (its roll arbitrary)."""
    forward = forward / np.linalg.norm(forward)
    down = np.cross(forward, [1.0, 0.0, 0.0])
    down /= np.linalg.norm(down)
    return np.stack([np.cross(down, forward), down, forward])


def _scene_frame(row, subject, centre_px, distance, head, eye):
    """One camera frame and its truth: the image (uint8), the six landmarks, the camera-frame gaze
    (canonical), the head pose, and the view rotation."""
    k = camera_matrix(WIDTH, HEIGHT, FOCAL)
    ray = np.linalg.inv(k) @ np.array([*centre_px, 1.0])
    view = _look_at(ray)  # camera -> V
    c = distance * ray / np.linalg.norm(ray)
    yaw, pitch, roll = np.radians(head)
    gaze_canonical_v = compose_gaze(np.array([[yaw, pitch, roll]]), np.radians([eye]))[0]
    head_v = camera_rotation(yaw, pitch, roll)  # head-local -> V (camera frame conventions)

    # the face model in SynthGaze's head: its eye-corner midpoints on the renderer's eye centres
    eyes = np.array(eye_centres(subject)) * MM_PER_UNIT
    model_eyes = np.stack([FACE_MODEL[0:2].mean(0), FACE_MODEL[2:4].mean(0)])
    offset = eyes.mean(0) - model_eyes.mean(0)
    centre_local = face_center(FACE_MODEL + offset, np.zeros(3), np.zeros(3))
    head_centre_v = np.array([0.0, 0.0, distance]) - head_v @ centre_local  # the face centre on V's axis
    pose = HeadPose(_rotvec(view.T @ head_v), view.T @ (head_v @ offset + head_centre_v))
    assert face_center(FACE_MODEL, pose.rvec, pose.tvec) == pytest.approx(c, abs=1e-6)

    fw = 2.0 * REFERENCE_HALF_WIDTH * float(row["distance"]) / HEAD_FRACTION  # render width, units
    per_mm = RENDER / (fw * MM_PER_UNIT)
    row = row.copy()
    row["head_yaw"], row["head_pitch"], row["head_roll"] = yaw, pitch, roll
    row["eye_yaw"], row["eye_pitch"] = np.radians(eye)
    row["gaze_x"], row["gaze_y"], row["gaze_z"] = gaze_canonical_v
    row["offset_x"], row["offset_y"] = head_centre_v[:2] / MM_PER_UNIT / fw
    (render,) = render_row(row, subject, RENDER, size=RENDER)
    # the stand-in model's premise: nothing in the picture but the dot is magenta
    assert (np.minimum(render[..., 0], render[..., 2]).astype(int) - render[..., 1]).max() < 0.4 * 255
    gaze_v = from_camera_frame(gaze_canonical_v)  # the same flip both ways
    centre_r = RENDER / 2.0 - 0.5
    tip = centre_r + per_mm * GAZE_LENGTH * gaze_v[:2]
    render = _paint_dot(render, tip)
    k_v = np.array([[per_mm * distance, 0.0, centre_r], [0.0, per_mm * distance, centre_r], [0.0, 0.0, 1.0]])
    frame = warp_image(render, k @ view.T @ np.linalg.inv(k_v), (WIDTH, HEIGHT))
    truth = from_camera_frame(view.T @ gaze_v)
    return frame, project(FACE_MODEL, pose, k), truth, pose, view


def _rotvec(matrix: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(matrix).as_rotvec()


def _paint_dot(image: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """A magenta disc at ``centre`` (x, y), its edge anti-aliased by 4x4 supersampled coverage."""
    ys, xs = np.mgrid[0 : image.shape[0], 0 : image.shape[1]].astype(np.float64)
    sub = (np.arange(4) + 0.5) / 4 - 0.5
    cover = np.zeros(image.shape[:2])
    for dy in sub:
        for dx in sub:
            cover += ((xs + dx - centre[0]) ** 2 + (ys + dy - centre[1]) ** 2 <= DOT_RADIUS**2) / 16.0
    out = image / 255.0 * (1 - cover[..., None]) + MAGENTA * cover[..., None]
    return np.round(out * 255).astype(np.uint8)


def _write_video(path, images):
    container = av.open(str(path), "w")
    stream = container.add_stream("mpeg4", rate=10)
    stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    stream.bit_rate = 40_000_000
    for image in images:
        container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
    container.mux(stream.encode(None))
    container.close()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A three-frame video of SynthGaze faces off the camera's axis, and each frame's truth."""
    scene = make_scene("tiny", seed=0)
    row = scene.frames.iloc[0]
    subject = scene.subject(row["subject"])
    truths = [_scene_frame(row, subject, *spec) for spec in FRAMES]
    path = tmp_path_factory.mktemp("normalised") / "clip.mp4"
    _write_video(path, [t[0] for t in truths])
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == len(FRAMES)
    for image, (_, six, *_rest) in zip(decoded, truths):
        KNOWN_LANDMARKS[_digest(image)] = six
    return {
        "path": path,
        "truth": np.array([t[2] for t in truths]),
        "poses": [t[3] for t in truths],
        "views": [t[4] for t in truths],
        "landmarks": [t[1] for t in truths],
    }


def _tolerance_deg(truth_normalised: np.ndarray, distance: float) -> float:
    """The geometric bound of the module doc for one frame."""
    patch_per_frame_px = (XGAZE_FOCAL / FOCAL) * (distance / XGAZE_DISTANCE)
    scale = PATCH_PER_MM * GAZE_LENGTH
    cos_theta = abs(truth_normalised[2])
    return math.degrees(DOT_ERROR_PX * patch_per_frame_px / scale / cos_theta)


def _predict(*argv) -> int:
    return cli("predict", *argv, "--quiet", "--device", "cpu", "--video-out", "none")


@pytest.fixture
def standin_unigaze(monkeypatch, tmp_path):
    """``--published unigaze-b16-joint --weights F`` with the stand-in model in place of the ViT."""
    import gazebench.published

    monkeypatch.setattr(gazebench.published, "load_published", lambda name, weights: DotReader())
    weights = tmp_path / "unigaze_b16_joint.safetensors"
    weights.write_bytes(b"stand-in")
    return ["--published", "unigaze-b16-joint", "--weights", weights]


def test_the_head_pose_fit_recovers_the_pose_that_made_the_landmarks(clip):
    k = camera_matrix(WIDTH, HEIGHT, FOCAL)
    for six, pose in zip(clip["landmarks"], clip["poses"]):
        fitted = fit_head_pose(six, k)
        assert fitted.matrix == pytest.approx(pose.matrix, abs=1e-6)
        assert fitted.tvec == pytest.approx(pose.tvec, abs=1e-3)


def test_a_normalised_face_card_recovers_the_gaze_in_the_camera_frame(clip, standin_unigaze, tmp_path):
    out = tmp_path / "norm"
    assert _predict(*standin_unigaze, clip["path"], "--landmarker", "test-known", "--focal", FOCAL, "--out", out) == 0
    table = pd.read_csv(out / "gaze.csv")
    assert json.loads((out / "gaze.json").read_text())["input"] == "normalised-face"  # the card chose it
    assert len(table) == len(FRAMES)
    got = table[["gaze_x", "gaze_y", "gaze_z"]].to_numpy()
    normalised = table[["norm_gaze_x", "norm_gaze_y", "norm_gaze_z"]].to_numpy()
    error = angular_error_deg(got, clip["truth"])
    for i, (pose, (_, distance, _, _)) in enumerate(zip(clip["poses"], FRAMES)):
        c = face_center(FACE_MODEL, pose.rvec, pose.tvec)
        n = Normalisation(_normalising_rotation(c, pose.matrix), pose, np.zeros(3))
        tolerance = _tolerance_deg(n.rotation @ from_camera_frame(clip["truth"][i]), distance)
        assert error[i] < tolerance, (i, error[i], tolerance)
        assert n.to_camera(normalised[i]) == pytest.approx(got[i], abs=1e-5)  # the CSV's two frames agree
        assert [table[f"head_t{a}"][i] for a in "xyz"] == pytest.approx(pose.tvec.tolist(), abs=0.01)
        facing = from_camera_frame(pose.facing())
        head = np.degrees(vector_to_yawpitch(facing))
        assert [table["head_yaw_deg"][i], table["head_pitch_deg"][i]] == pytest.approx(head.tolist(), abs=1e-3)
    # the frames differ by the normalising rotation: the normalised gaze read as the camera's is off by it
    assert (angular_error_deg(normalised, clip["truth"]) > 15).all()


def test_without_normalisation_the_gaze_is_off_by_the_faces_angle_off_the_axis(clip, standin_unigaze, tmp_path):
    """The same stand-in fed the face as a box (at the patch's scale, centred on the face centre)."""
    crops = tmp_path / "crops.csv"
    k = camera_matrix(WIDTH, HEIGHT, FOCAL)
    rows = ["input,frame,x,y,w,h"]
    for i, (pose, (_, distance, _, _)) in enumerate(zip(clip["poses"], FRAMES)):
        uvw = k @ face_center(FACE_MODEL, pose.rvec, pose.tvec)
        side = SIZE * FOCAL * XGAZE_DISTANCE / (XGAZE_FOCAL * distance)
        cx, cy = uvw[:2] / uvw[2]
        rows.append(f"{clip['path']},{i},{cx - side / 2},{cy - side / 2},{side},{side}")
    crops.write_text("\n".join(rows) + "\n")
    out = tmp_path / "plain"
    assert _predict(*standin_unigaze, clip["path"], "--input", "face-box", "--crops", crops, "--out", out) == 0
    table = pd.read_csv(out / "gaze.csv")
    assert "norm_gaze_x" not in table.columns
    wrong = angular_error_deg(table[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(), clip["truth"])
    for i, view in enumerate(clip["views"]):
        off_axis = math.degrees(math.acos(view[2, 2]))  # the angle between the line of sight and the axis
        assert 0.5 * off_axis < wrong[i] < 1.5 * off_axis, (i, wrong[i], off_axis)
        assert wrong[i] > 10 * _tolerance_deg(np.array([0.0, 0.0, 1.0]), FRAMES[i][1])


# --- the card field, flags and messages ---------------------------------------------------------------


def test_every_card_states_its_input_and_the_normalised_ones_their_virtual_camera():
    from gazebench.predict.normalise import card_image_kind, card_virtual_camera
    from gazebench.published import load_catalogue

    kinds = {name: card_image_kind(card) for name, card in load_catalogue().items()}
    normalised = {name for name, kind in kinds.items() if kind == "normalised-face"}
    assert normalised == {
        "ethxgaze-resnet50",
        "gazetr-hybrid-ethxgaze",
        "unigaze-b16-joint",
        "unigaze-l16-joint",
        "unigaze-h14-joint",
        "unigaze-h14-cross-x",
    }
    for name in normalised:
        card = load_catalogue()[name]
        assert card_virtual_camera(card).size == card.input["size"]
        assert card.input["image_source"] and card.input["normalisation_source"]


def test_flags_of_the_other_path_and_missing_landmarkers_are_one_line(
    clip, standin_unigaze, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "out"
    cases = [
        ([*standin_unigaze, "--crops", tmp_path / "c.csv"], "--crops: the model reads normalised faces"),
        (["--model", "test-dot-reader", "--focal", "500"], "--landmarker-model and --focal go with normalised faces"),
        ([*standin_unigaze, "--landmarker", "test-known", "--focal", "-1"], "--focal must be > 0"),
        ([*standin_unigaze, "--landmarker-model", tmp_path / "none.task"], "--landmarker-model"),
    ]
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    cases.append(([*standin_unigaze], 'pip install "gazebench[landmarks]"'))
    for argv, message in cases:
        assert _predict(*argv, clip["path"], "--out", out) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err


def test_the_landmarker_model_is_given_cached_or_downloaded_once_and_a_failure_names_the_url_and_flag(
    tmp_path, monkeypatch
):
    import urllib.error
    import urllib.request

    from gazebench.core.options import ConfigError
    from gazebench.predict import landmarks

    monkeypatch.setenv("GAZEBENCH_CACHE", str(tmp_path / "cache"))
    given = tmp_path / "mine.task"
    given.write_bytes(b"model")
    assert landmarks.mediapipe_model_file(given) == given

    def offline(url, timeout):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(ConfigError) as failure:
        landmarks.mediapipe_model_file()
    message = str(failure.value)
    assert landmarks.MEDIAPIPE_MODEL_URL in message and "--landmarker-model PATH" in message
    assert "\n" not in message

    class Response:
        def __init__(self):
            self.calls = 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return b"the task file"

    fetched = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: fetched.append(url) or Response())
    first = landmarks.mediapipe_model_file()
    assert first == tmp_path / "cache" / "face_landmarker.task" and first.read_bytes() == b"the task file"
    assert landmarks.mediapipe_model_file() == first and fetched == [landmarks.MEDIAPIPE_MODEL_URL]  # once


def _normalising_rotation(centre: np.ndarray, head: np.ndarray) -> np.ndarray:
    forward = centre / np.linalg.norm(centre)
    down = np.cross(forward, head[:, 0])
    down /= np.linalg.norm(down)
    right = np.cross(down, forward)
    return np.stack([right / np.linalg.norm(right), down, forward])


def test_the_mediapipe_landmarker_returns_its_six_mesh_vertices_in_pixels(tmp_path, monkeypatch):
    """MediaPipe's glue, on a stand-in ``mediapipe`` module (the real one needs its model file): the
    mesh's normalised coordinates become pixels, vertices 33, 133, 362, 263, 98, 327 in that order."""
    import types
    from types import SimpleNamespace

    from gazebench.predict import landmarks

    made = {}

    class FaceLandmarker:
        @classmethod
        def create_from_options(cls, options):
            made["options"] = options
            return cls()

        def detect(self, image):
            made["image"] = image
            mesh = [SimpleNamespace(x=i / 1000.0, y=i / 2000.0) for i in range(478)]
            return SimpleNamespace(face_landmarks=[mesh])

    modules = {
        name: types.ModuleType(name)
        for name in ("mediapipe", "mediapipe.tasks", "mediapipe.tasks.python", "mediapipe.tasks.python.vision")
    }
    modules["mediapipe"].Image = lambda image_format, data: SimpleNamespace(format=image_format, data=data)
    modules["mediapipe"].ImageFormat = SimpleNamespace(SRGB="srgb")
    modules["mediapipe.tasks.python"].BaseOptions = lambda model_asset_path: SimpleNamespace(path=model_asset_path)
    modules["mediapipe.tasks.python.vision"].FaceLandmarker = FaceLandmarker
    modules["mediapipe.tasks.python.vision"].FaceLandmarkerOptions = lambda **kw: SimpleNamespace(**kw)
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    model = tmp_path / "face_landmarker.task"
    model.write_bytes(b"model")
    rgb = np.zeros((100, 200, 3), dtype=np.uint8)
    (six,) = landmarks.build_landmarker("mediapipe", model).landmarks(rgb)
    assert made["options"].base_options.path == str(model) and made["image"].format == "srgb"
    expected = [[i / 1000.0 * 200, i / 2000.0 * 100] for i in (33, 133, 362, 263, 98, 327)]
    assert six == pytest.approx(np.array(expected))
