"""Face and eye normalisation: equal to the original code's outputs (fixture), geometric properties,
and one-line errors for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from gazebench.core import geometry
from gazebench.core.errors import GazebenchError
from gazebench.core.normalization import (
    NormalizationError,
    eye_centers,
    face_center,
    normalize_eye,
    normalize_face,
    warp_image,
    warp_points,
)

FIXTURES = Path(__file__).parent / "fixtures" / "normalization"
FACE_CASES = sorted(FIXTURES.glob("face_*.npz"))
EYE_CASES = sorted(FIXTURES.glob("eye_*.npz"))
#: the originals the fixture was made from (tests/fixtures/normalization/README.md)
FACE_SOURCE_SHA256 = "306684277c4e4ca247e0dbb76f0e3ca0f41a5f2a4b3f0195fa593766e639b7df"
EYE_SOURCE_SHA256 = "9e7657d52f54f3b0943334b8098d6bda791cc86a77fdad9ddee93d7fb78db570"


def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _face(case: dict, **kwargs):
    return normalize_face(
        case["image"], case["camera_matrix"], case["head_rvec"], case["head_tvec"], case["face_model"], **kwargs
    )


def _mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


# --- equal to the originals -----------------------------------------------------------------------


def test_fixture_is_there_and_from_the_cited_files():
    assert len(FACE_CASES) >= 6 and len(EYE_CASES) >= 3
    for path in FACE_CASES:
        assert str(_load(path)["source_sha256"]) == FACE_SOURCE_SHA256
    for path in EYE_CASES:
        assert str(_load(path)["source_sha256"]) == EYE_SOURCE_SHA256


@pytest.mark.parametrize("path", FACE_CASES, ids=lambda p: p.stem)
def test_face_equals_eth_xgaze_normalizeData_face(path):
    case = _load(path)
    n = _face(case, landmarks=case["landmarks"], gaze_target=case["gaze_target"])
    np.testing.assert_allclose(n.rotation, case["out_rotation"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(n.gaze, case["out_gaze"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(n.head_rvec, case["out_head_rvec"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(n.landmarks, case["out_landmarks"], rtol=0, atol=1e-2)
    np.testing.assert_allclose(n.warp, case["out_warp"], rtol=1e-9, atol=1e-9)
    assert n.image.shape == case["out_image"].shape == (448, 448, 3)
    assert n.image.dtype == case["out_image"].dtype == np.uint8
    assert _mean_abs(n.image, case["out_image"]) <= 1.0


@pytest.mark.parametrize("path", EYE_CASES, ids=lambda p: p.stem)
def test_eye_equals_the_authors_normalizeData(path):
    case = _load(path)
    centres = eye_centers(case["face_model"], case["head_rvec"], case["head_tvec"])
    for i, centre in enumerate(centres):
        n = normalize_eye(
            case["image"],
            case["camera_matrix"],
            case["head_rvec"],
            case["head_tvec"],
            centre,
            gaze_target=case["gaze_target"],
        )
        np.testing.assert_allclose(n.gaze, case["out_gaze"][i], rtol=0, atol=1e-9)
        np.testing.assert_allclose(n.head_rvec, case["out_head_rvec"][i], rtol=0, atol=1e-6)
        np.testing.assert_allclose(n.warp, case["out_warp"][i], rtol=1e-9, atol=1e-9)
        assert n.image.shape == case["out_image"][i].shape == (36, 60, 3)
        assert n.image.dtype == np.uint8
        assert _mean_abs(n.image, case["out_image"][i]) <= 1.0
        assert n.landmarks is None


def test_float_image_keeps_its_dtype_and_matches():
    case = _load(FACE_CASES[0])
    n = _face(case | {"image": case["image"].astype(np.float32)})
    assert n.image.dtype == np.float32 and n.image.shape == (448, 448, 3)
    assert _mean_abs(n.image, case["out_image"]) <= 1.0


def test_landmarks_and_target_are_optional_and_change_nothing_else():
    case = _load(FACE_CASES[1])
    full = _face(case, landmarks=case["landmarks"], gaze_target=case["gaze_target"])
    bare = _face(case)
    assert bare.gaze is None and bare.landmarks is None
    np.testing.assert_array_equal(bare.rotation, full.rotation)
    np.testing.assert_array_equal(bare.warp, full.warp)
    np.testing.assert_array_equal(bare.head_rvec, full.head_rvec)
    np.testing.assert_array_equal(bare.image, full.image)


def test_result_is_frozen():
    n = _face(_load(FACE_CASES[0]))
    with pytest.raises(AttributeError):
        n.gaze = np.zeros(3)


# --- geometric properties on poses the fixture does not hold -----------------------------------------


def _scene(seed: int):
    rng = np.random.default_rng(seed)
    k = np.array(
        [
            [rng.uniform(500, 1500), 0, rng.uniform(300, 340)],
            [0, rng.uniform(500, 1500), rng.uniform(220, 260)],
            [0, 0, 1.0],
        ]
    )
    model = np.array([[-45.0, -35, 28], [-19, -33, 29], [19, -33, 29], [45, -35, 28], [-24, 38, 22], [24, 38, 22]])
    rvec = Rotation.from_euler("yxz", rng.uniform(-60, 60, 3), degrees=True).as_rotvec()
    tvec = np.array([rng.uniform(-150, 150), rng.uniform(-100, 100), rng.uniform(300, 1200)])
    image = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    target = np.array([rng.uniform(-300, 300), rng.uniform(50, 300), 0.0])
    return image, k, rvec, tvec, model, target


@pytest.mark.parametrize("seed", range(5))
def test_rotation_is_a_rotation_and_looks_at_the_face_centre(seed):
    image, k, rvec, tvec, model, target = _scene(seed)
    n = normalize_face(image, k, rvec, tvec, model, gaze_target=target, size=64)
    r = n.rotation
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-12)
    centre = face_center(model, rvec, tvec)
    np.testing.assert_allclose(n.center, centre)
    # the face centre lies on the virtual camera's axis and lands in the middle of the patch
    np.testing.assert_allclose(r @ centre / np.linalg.norm(centre), [0, 0, 1], atol=1e-12)
    pixel = k @ centre
    np.testing.assert_allclose(warp_points(pixel[None, :2] / pixel[2], n.warp), [[32.0, 32.0]], atol=1e-9)
    # the head's x-axis has no vertical component in the virtual camera (no roll)
    head_x = Rotation.from_rotvec(n.head_rvec).as_matrix()[:, 0]
    assert abs(head_x[1]) < 1e-12
    # gaze: unit, from the centre towards the target, rotated by R only
    assert np.linalg.norm(n.gaze) == pytest.approx(1.0, abs=1e-12)
    expected = r @ (target - centre)
    np.testing.assert_allclose(n.gaze, expected / np.linalg.norm(expected), atol=1e-12)
    # the head rotation is R applied to the original one
    np.testing.assert_allclose(
        Rotation.from_rotvec(n.head_rvec).as_matrix(), r @ Rotation.from_rotvec(rvec).as_matrix(), atol=1e-12
    )


def test_distance_scales_the_patch_and_leaves_the_labels():
    image, k, rvec, tvec, model, target = _scene(7)
    marks = np.array([[300.0, 200.0], [350.0, 260.0], [280.0, 300.0]])
    near = normalize_face(image, k, rvec, tvec, model, landmarks=marks, gaze_target=target, distance=300, size=100)
    far = normalize_face(image, k, rvec, tvec, model, landmarks=marks, gaze_target=target, distance=600, size=100)
    # twice the virtual distance: every point is half as far from the patch centre
    np.testing.assert_allclose(far.landmarks - 50, (near.landmarks - 50) / 2, atol=1e-9)
    np.testing.assert_allclose(far.rotation, near.rotation)
    np.testing.assert_allclose(far.gaze, near.gaze)  # the 2018 normalisation does not scale the gaze
    np.testing.assert_allclose(far.head_rvec, near.head_rvec)


def test_the_face_has_the_same_size_in_the_patch_wherever_it_is():
    """What normalisation is for: a face twice as far from the camera fills the same part of the patch."""
    _, k, _, _, model, _ = _scene(3)
    rvec = np.zeros(3)
    spans = []
    for z in (400.0, 800.0):
        tvec = np.array([0.0, 0.0, z])
        pts = model @ Rotation.from_rotvec(rvec).as_matrix().T + tvec
        px = (pts @ k.T)[:, :2] / (pts @ k.T)[:, 2:]
        n = normalize_face(np.zeros((480, 640, 3), np.uint8), k, rvec, tvec, model, landmarks=px, size=448)
        spans.append(n.landmarks[3, 0] - n.landmarks[0, 0])  # outer eye corner to outer eye corner
    assert spans[0] == pytest.approx(spans[1], rel=0.02)


def test_gaze_at_a_screen_below_the_camera_points_down():
    """The physical check for the label's sign: the normalised gaze to a target below the camera has
    y > 0 (down in the camera frame), i.e. a negative canonical pitch, with ETH-XGaze's label signs."""
    image, k, rvec, tvec, model, _ = _scene(11)
    rvec = np.zeros(3)
    n = normalize_face(image, k, rvec, [0.0, 0.0, 600.0], model, gaze_target=[0.0, 250.0, 0.0], size=32)
    assert n.gaze[1] > 0
    label = geometry.from_camera_frame(n.gaze)
    yaw, pitch = geometry.vector_to_yawpitch(label)
    assert pitch < 0 and abs(yaw) < 1e-9
    # the stored ETH-XGaze label (pitch, yaw) is made from the normalised gaze as
    # (arcsin(-g_y), arctan2(-g_x, -g_z)) (ETH-XGaze normalization_example.py lines 313-315):
    # geometry's converter for that label gives the same canonical vector as from_camera_frame
    for seed in range(4):
        image, k, rvec, tvec, model, target = _scene(seed)
        g = normalize_face(image, k, rvec, tvec, model, gaze_target=target, size=16).gaze
        stored = np.array([np.arcsin(-g[1]), np.arctan2(-g[0], -g[2])])
        np.testing.assert_allclose(geometry.from_pitch_yaw(stored), geometry.from_camera_frame(g), atol=1e-12)


def test_eye_patch_is_centred_on_the_eye_and_sized_width_by_height():
    image, k, rvec, tvec, model, target = _scene(5)
    right, left = eye_centers(model, rvec, tvec)
    pts = model @ Rotation.from_rotvec(rvec).as_matrix().T + tvec
    np.testing.assert_allclose(right, (pts[0] + pts[1]) / 2)
    np.testing.assert_allclose(left, (pts[2] + pts[3]) / 2)
    n = normalize_eye(image, k, rvec, tvec, right, gaze_target=target)
    assert n.image.shape == (36, 60, 3)
    pixel = k @ right
    np.testing.assert_allclose(warp_points(pixel[None, :2] / pixel[2], n.warp), [[30.0, 18.0]], atol=1e-9)
    wide = normalize_eye(image, k, rvec, tvec, right, focal=1800, size=(128, 128))
    assert wide.image.shape == (128, 128, 3)


# --- the warp ---------------------------------------------------------------------------------------


def test_warp_image_identity_and_integer_shift():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    np.testing.assert_array_equal(warp_image(img, np.eye(3), (30, 20)), img)
    shift = np.array([[1.0, 0, 3], [0, 1, -2], [0, 0, 1]])  # source (x, y) -> (x + 3, y - 2)
    out = warp_image(img, shift, (30, 20))
    np.testing.assert_array_equal(out[:18, 3:], img[2:, :27])
    assert not out[:, :3].any() and not out[18:].any()  # outside the source: 0
    grey = warp_image(img[..., 0], shift, (30, 20))
    assert grey.shape == (20, 30)
    np.testing.assert_array_equal(grey, out[..., 0])


def test_warp_image_half_pixel_is_the_average():
    img = np.array([[0, 100], [50, 250]], dtype=np.uint8)
    half = np.array([[1.0, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])  # destination (0, 0) reads source (0.5, 0.5)
    assert warp_image(img, half, (1, 1))[0, 0] == 100


def test_warp_image_matches_opencv_on_random_homographies():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(1)
    ys, xs = np.mgrid[0:120, 0:160]
    img = np.stack([(xs * 3 + ys) % 256, ((xs // 7 + ys // 5) % 2) * 200, np.sin(xs / 9) * 100 + 120], -1)
    img = img.astype(np.uint8)
    for _ in range(5):
        h = np.eye(3) + rng.normal(0, [[0.2, 0.2, 10], [0.2, 0.2, 10], [5e-4, 5e-4, 0]])
        ours, theirs = warp_image(img, h, (100, 90)), cv2.warpPerspective(img, h, (100, 90))
        assert _mean_abs(ours, theirs) <= 0.05
        assert np.abs(ours.astype(int) - theirs).max() <= 1


# --- errors ----------------------------------------------------------------------------------------


def _good():
    image, k, rvec, tvec, model, target = _scene(0)
    return {
        "image": image,
        "camera_matrix": k,
        "head_rvec": rvec,
        "head_tvec": tvec,
        "face_model": model,
        "landmarks": np.zeros((5, 2)),
        "gaze_target": target,
    }


@pytest.mark.parametrize(
    "change, words",
    [
        ({"camera_matrix": np.eye(3)[:2]}, "camera_matrix must be 3x3"),
        ({"camera_matrix": np.zeros((3, 3))}, "camera_matrix is singular"),
        ({"head_rvec": np.zeros(4)}, "head_rvec must have 3 values"),
        ({"head_tvec": [[1.0, 2.0], [3.0, 4.0]]}, "head_tvec must have 3 values"),
        ({"head_tvec": [0.0, np.nan, 500.0]}, "head_tvec has a NaN"),
        ({"face_model": np.zeros((3, 6))}, "pass face_model.T"),
        ({"face_model": np.zeros((5, 3))}, "face_model must be 6x3"),
        ({"landmarks": np.zeros((5, 3))}, "landmarks must be Nx2"),
        ({"gaze_target": [1.0, 2.0]}, "gaze_target must have 3 values"),
        ({"image": [[1, 2], [3, 4]]}, "image must be a numpy array"),
        ({"image": np.zeros((4,), np.uint8)}, "image must be height x width"),
        ({"image": np.zeros((4, 4), bool)}, "image must hold integers or floats"),
        ({"focal": -1}, "focal must be a positive number"),
        ({"distance": 0}, "distance must be a positive number"),
        ({"size": 0}, "size must be a positive int"),
        ({"size": (60, 36, 3)}, "size must be a positive int"),
        ({"head_rvec": np.zeros(3), "head_tvec": "centre at the camera"}, "at the camera's centre"),
    ],
)
def test_bad_input_is_one_clear_line(change, words):
    args = _good() | change
    if isinstance(args["head_tvec"], str):  # the face centre exactly at the camera's centre
        args["head_tvec"] = -face_center(args["face_model"], args["head_rvec"], np.zeros(3))
    with pytest.raises(NormalizationError) as err:
        normalize_face(**args)
    assert isinstance(err.value, GazebenchError) and isinstance(err.value, ValueError)
    message = str(err.value)
    assert words in message and "\n" not in message


def test_bad_eye_input_is_one_clear_line():
    g = _good()
    with pytest.raises(NormalizationError, match="eye_center must have 3 values"):
        normalize_eye(g["image"], g["camera_matrix"], g["head_rvec"], g["head_tvec"], np.zeros(2))


def test_head_x_axis_along_the_line_of_sight_is_refused():
    g = _good()
    # the head's x-axis (first column of its rotation) is turned onto the camera's z-axis, and the face
    # centre put on that axis
    rvec = Rotation.from_euler("y", -90, degrees=True).as_rotvec()
    tvec = np.array([0.0, 0.0, 500.0]) - Rotation.from_rotvec(rvec).apply(
        0.5 * (g["face_model"][:4].mean(0) + g["face_model"][4:].mean(0))
    )
    with pytest.raises(NormalizationError, match="x-axis points along the line of sight"):
        normalize_face(g["image"], g["camera_matrix"], rvec, tvec, g["face_model"])


def test_importing_needs_no_opencv_and_nothing_above_it():
    code = (
        "import sys, gazebench.core.normalization; "
        "print(sorted(m for m in sys.modules if m.startswith('gazebench')), 'cv2' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert (
        out.strip() == "['gazebench', 'gazebench.core', 'gazebench.core.errors', 'gazebench.core.normalization'] False"
    )
