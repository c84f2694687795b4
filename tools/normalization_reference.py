"""Make the fixture that tests gazebench.core.normalization against the original normalisation code.

The originals are not part of gazebench (nor copied into it): give their files, taken from a checkout,

    git -C <ETH-XGaze checkout> show HEAD:normalization_example.py > /tmp/eth_norm.py
    git -C <data-preprocessing-gaze checkout> show HEAD:normalize_data.py > /tmp/eye_norm.py
    python tools/normalization_reference.py --face /tmp/eth_norm.py --eye /tmp/eye_norm.py \\
        --out tests/fixtures/normalization --seed 23

This imports ETH-XGaze's ``normalizeData_face`` and the authors' eye ``normalizeData`` (OpenCV needed:
``pip install opencv-python-headless``), runs them on seeded generated inputs (several cameras, head
poses up to strong rotations, structured uint8 images, 68 landmarks, gaze targets) and writes
``face_NN.npz`` / ``eye_NN.npz`` with the inputs and the originals' outputs.  The functions run
unchanged; the module's ``cv2`` is wrapped only to record the matrix it hands to ``warpPerspective``
(neither function returns W) and, for the eye code, to skip its grey conversion and histogram
equalisation, which the file marks as optional post-processing (normalize_data.py lines 55 and 94).

Not imported by gazebench or its tests.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import sys
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

IMAGE_SIZES = [(320, 240), (400, 300), (480, 360), (640, 480), (360, 480)]


class RecordingCV2:
    """OpenCV with ``warpPerspective`` recording its matrix; optionally grey/equalise as identity."""

    def __init__(self, cv2, skip_post_processing: bool = False):
        self._cv2 = cv2
        self._skip = skip_post_processing
        self.warps: list[np.ndarray] = []

    def __getattr__(self, name):
        return getattr(self._cv2, name)

    def warpPerspective(self, src, m, dsize, *args, **kwargs):  # noqa: N802 (OpenCV's name)
        self.warps.append(np.array(m, dtype=np.float64))
        return self._cv2.warpPerspective(src, m, dsize, *args, **kwargs)

    def cvtColor(self, src, code, *args, **kwargs):  # noqa: N802
        if self._skip and code == self._cv2.COLOR_BGR2GRAY:
            return src
        return self._cv2.cvtColor(src, code, *args, **kwargs)

    def equalizeHist(self, src, *args, **kwargs):  # noqa: N802
        return src if self._skip else self._cv2.equalizeHist(src, *args, **kwargs)


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- generated inputs -------------------------------------------------------------------------------


def camera(rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int]]:
    w, h = IMAGE_SIZES[rng.integers(len(IMAGE_SIZES))]
    fx = rng.uniform(0.8, 2.2) * max(w, h)
    fy = fx * rng.uniform(0.97, 1.03)
    cx, cy = w / 2 + rng.uniform(-0.06, 0.06) * w, h / 2 + rng.uniform(-0.06, 0.06) * h
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]), (w, h)


def face_model(rng: np.random.Generator) -> np.ndarray:
    """Six points (mm, x to the image's right, y down, z into the head): 4 eye corners, 2 mouth corners."""
    base = np.array(
        [
            [-45.0, -35.0, 28.0],
            [-19.0, -33.0, 29.0],
            [19.0, -33.0, 29.0],
            [45.0, -35.0, 28.0],
            [-24.0, 38.0, 22.0],
            [24.0, 38.0, 22.0],
        ]
    )
    return base * rng.uniform(0.85, 1.15) + rng.normal(0.0, 2.5, base.shape)


def head_rotation(rng: np.random.Generator, strong: bool) -> np.ndarray:
    limits = (75.0, 50.0, 45.0) if strong else (30.0, 20.0, 15.0)  # yaw, pitch, roll (degrees)
    yaw, pitch, roll = (rng.uniform(-m, m) for m in limits)
    if strong:  # at least one large angle
        yaw = np.sign(yaw or 1.0) * max(abs(yaw), 50.0)
    return Rotation.from_euler("yxz", [yaw, pitch, roll], degrees=True).as_rotvec()


def structured_image(rng: np.random.Generator, size: tuple[int, int], face_px: np.ndarray, k: np.ndarray) -> np.ndarray:
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.empty((h, w, 3))
    for c in range(3):
        a, b = rng.uniform(-0.3, 0.3, 2)
        fxq, fyq, ph = rng.uniform(0.01, 0.08), rng.uniform(0.01, 0.08), rng.uniform(0, 2 * np.pi)
        img[..., c] = 110 + a * xs + b * ys + 40 * np.sin(fxq * xs + ph) * np.cos(fyq * ys)
    for _ in range(12):  # hard edges
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        x1, y1 = x0 + rng.integers(5, w // 3), y0 + rng.integers(5, h // 3)
        img[y0:y1, x0:x1] = rng.uniform(0, 255, 3)
    # the face: a filled ellipse around the projected points, the points as dark dots, a checkerboard
    centre = face_px.mean(axis=0)
    span = np.maximum(face_px.max(axis=0) - face_px.min(axis=0), 8.0)
    inside = ((xs - centre[0]) / (0.7 * span[0])) ** 2 + ((ys - centre[1]) / (0.7 * span[1])) ** 2 <= 1
    img[inside] = rng.uniform(150, 230, 3)
    cell = int(rng.integers(2, 5))
    check = (
        ((xs // cell + ys // cell) % 2 == 0)
        & (np.abs(xs - centre[0]) < span[0] / 5)
        & (np.abs(ys - centre[1] - span[1] / 4) < span[1] / 8)
    )
    img[check] = 30
    for px, py in face_px:
        img[(xs - px) ** 2 + (ys - py) ** 2 <= 4] = (20, 40, 60)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def project(k: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = pts @ k.T
    return p[:, :2] / p[:, 2:3]


def case(rng: np.random.Generator, strong: bool) -> dict[str, np.ndarray]:
    k, size = camera(rng)
    model = face_model(rng)
    rvec = head_rotation(rng, strong)
    h_rot = Rotation.from_rotvec(rvec).as_matrix()
    # place the face centre (as the originals define it) on a ray through the middle of the image
    c_model = 0.5 * (model[:4].mean(axis=0) + model[4:].mean(axis=0))
    u, v = size[0] * rng.uniform(0.3, 0.7), size[1] * rng.uniform(0.3, 0.7)
    ray = np.linalg.solve(k, [u, v, 1.0])
    centre = rng.uniform(350.0, 900.0) * ray / np.linalg.norm(ray)
    tvec = centre - h_rot @ c_model
    # 68 landmarks: the six model points and 62 other points of the face, projected, with noise
    extra = np.c_[rng.uniform(-60, 60, 62), rng.uniform(-60, 80, 62), rng.uniform(5, 40, 62)]
    pts3 = np.r_[model, extra] @ h_rot.T + tvec
    landmarks = project(k, pts3) + rng.normal(0.0, 0.7, (68, 2))
    image = structured_image(rng, size, landmarks, k)
    kind = rng.integers(3)
    if kind == 0:  # a screen below the camera
        target = np.array([rng.uniform(-300, 300), rng.uniform(20, 350), rng.uniform(-30, 30)])
    elif kind == 1:  # anywhere in front of the face
        target = centre + rng.normal(0.0, 1.0, 3) * [400, 300, 100] - [0, 0, rng.uniform(200, 600)]
    else:  # far to a side
        target = centre + [rng.choice([-1, 1]) * rng.uniform(600, 1500), rng.uniform(-400, 400), -rng.uniform(0, 300)]
    return {
        "image": image,
        "camera_matrix": k,
        "head_rvec": rvec,
        "head_tvec": tvec,
        "face_model": model,
        "landmarks": landmarks,
        "gaze_target": target,
    }


# --- running the originals -----------------------------------------------------------------------


def run_face(module, inputs: dict) -> dict[str, np.ndarray]:
    rec = module.cv2
    rec.warps.clear()
    img, hr_norm, gaze, lms, rot = module.normalizeData_face(
        inputs["image"],
        inputs["face_model"],
        inputs["landmarks"],
        inputs["head_rvec"].reshape(3, 1),
        inputs["head_tvec"].reshape(3, 1),
        inputs["gaze_target"].reshape(3, 1),
        inputs["camera_matrix"],
    )
    return {
        "out_image": img,
        "out_head_rvec": hr_norm.reshape(3),
        "out_gaze": gaze.reshape(3),
        "out_landmarks": lms,
        "out_rotation": rot,
        "out_warp": rec.warps[-1],
    }


def run_eye(module, inputs: dict) -> dict[str, np.ndarray]:
    rec = module.cv2
    rec.warps.clear()
    data = module.normalizeData(
        inputs["image"],
        inputs["face_model"].T,
        inputs["head_rvec"].reshape(3, 1),
        inputs["head_tvec"].reshape(3, 1),
        inputs["gaze_target"].reshape(3, 1),
        inputs["camera_matrix"],
    )
    return {
        "out_image": np.stack([d[0] for d in data]),
        "out_head_rvec": np.stack([d[1].reshape(3) for d in data]),
        "out_gaze": np.stack([d[2].reshape(3) for d in data]),
        "out_warp": np.stack(rec.warps),
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--face", type=Path, required=True, help="ETH-XGaze normalization_example.py")
    ap.add_argument("--eye", type=Path, help="data-preprocessing-gaze normalize_data.py (eye patches)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=23)
    ap.add_argument("--cases", type=int, default=8, help="face cases (eye cases: half as many)")
    args = ap.parse_args(argv)

    import cv2

    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    face = load(args.face, "eth_xgaze_normalization")
    face.cv2 = RecordingCV2(cv2)
    written = []
    for i in range(args.cases):
        inputs = case(rng, strong=i % 2 == 1)
        out = run_face(face, inputs)
        path = args.out / f"face_{i:02d}.npz"
        np.savez_compressed(path, **inputs, **out, source_sha256=sha256(args.face), seed=args.seed)
        written.append(path)
    if args.eye is not None:
        eye = load(args.eye, "data_preprocessing_gaze_normalize")
        eye.cv2 = RecordingCV2(cv2, skip_post_processing=True)
        for i in range(max(1, args.cases // 2)):
            inputs = case(rng, strong=i % 2 == 1)
            out = run_eye(eye, inputs)
            path = args.out / f"eye_{i:02d}.npz"
            np.savez_compressed(path, **inputs, **out, source_sha256=sha256(args.eye), seed=args.seed)
            written.append(path)
    for path in written:
        print(path, path.stat().st_size)
    print(
        f"opencv {cv2.__version__}, numpy {np.__version__}; face file sha256 {sha256(args.face)}"
        + (f", eye file sha256 {sha256(args.eye)}" if args.eye else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
