"""SynthGaze scene parameters: presets, subjects and smooth per-sequence trajectories (no pixels).

Everything here is drawn from numpy Generators seeded by ``(seed, stream, subject[, sequence])``, so a
scene depends on the seed alone, never on how its frames are later split across processes.

Angles follow the canonical convention of :mod:`gazebench.core.geometry`: yaw = atan2(x, -z), pitch =
asin(y) of a unit vector in the Gaze360 eye frame (+x image left, +y up, +z away from the camera).
The head pose uses the same signs: ``yawpitch_to_vector(head_yaw, head_pitch)`` is the direction the
face points to, and ``head_roll`` turns the head about that direction.  The gaze is the head pose
composed with an eye-in-head rotation (``eye_yaw``, ``eye_pitch``, at most about 35 degrees), so it
can be read both from the head and from the iris.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from gazebench.core.errors import UserKeyError
from gazebench.core.geometry import yawpitch_to_vector

#: 2.0: the background is fixed per sequence (1.x drew a new one every frame), head sizes span
#: 25-94 % of the crop (1.x: 35-94 %), and a third of the sequences are back views
GENERATOR_VERSION = "2.0"
FPS = 30.0
BASE_TIMESTAMP = 1.5e9
#: the head (2 x the reference half-width below) spans about ``HEAD_FRACTION / distance`` of the crop
HEAD_FRACTION = 0.92
REFERENCE_HALF_WIDTH = 0.75
EYE_YAW_MAX_DEG = 35.0  # eye-in-head rotation limit
BACK_HEAD_YAW_DEG = 128.0  # the gaze points away from the camera only beyond this head yaw
#: per-sequence mean distance, before drift: the head spans HEAD_FRACTION / distance of the crop,
#: from about 94 % down to 25 % (log-uniform), so a centre crop of 150/224 px magnifies a small head
LOG_DISTANCE_RANGE = (math.log(0.98), math.log(3.7))
DISTANCE_CLIP = (0.97, 3.9)  # after the per-frame drift
ANYWHERE_FRACTION = 0.4  # share of sequences whose mean head yaw is anywhere on the circle
BACK_FRACTION = 0.3  # share of sequences whose mean head yaw is turned away (|yaw| >= BACK_BASE_DEG)
BACK_BASE_DEG = 145.0

# stream ids of the seeded generators (so adding a stream never shifts another one)
_SUBJECT_STREAM, _SEQUENCE_STREAM, _GLASSES_STREAM, _YAW_STREAM = 1, 2, 3, 4

FRAME_COLUMNS = (
    "id", "subject", "sequence", "frame",
    "gaze_x", "gaze_y", "gaze_z",
    "head_yaw", "head_pitch", "head_roll",
    "distance", "glasses", "timestamp",
)  # fmt: skip
EXTRA_COLUMNS = (
    "eye_yaw", "eye_pitch",            # eye-in-head rotation (radians), for analysis only
    "offset_x", "offset_y",            # head centre offset, fraction of the crop width (image x right, y down)
    "light_x", "light_y", "light_z",   # unit vector towards the light, camera frame (x right, y down, z forward)
    "ambient", "diffuse",              # light terms
    "gain_r", "gain_g", "gain_b",      # exposure / white balance
    "blur", "noise",                   # Gaussian blur sigma (pixels at the preset size), noise sigma (of 255)
    "bg_seed",                         # seed of the sequence's background clutter and noise
)  # fmt: skip


@dataclass(frozen=True)
class Preset:
    """Size of a SynthGaze set."""

    n_subjects: int
    n_sequences: int  # per subject
    n_frames: int  # per sequence
    image_size: int  # pixels, square RGB crops
    name: str = "custom"
    fps: float = FPS
    supersample: int = 2  # rays per pixel along each axis (anti-aliasing)

    @property
    def n_total(self) -> int:
        return self.n_subjects * self.n_sequences * self.n_frames

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, Preset] = {
    "tiny": Preset(n_subjects=8, n_sequences=2, n_frames=9, image_size=48, name="tiny"),
    "small": Preset(n_subjects=12, n_sequences=6, n_frames=20, image_size=64, name="small"),
    "default": Preset(n_subjects=40, n_sequences=6, n_frames=24, image_size=80, name="default"),
}


@dataclass(frozen=True)
class SubjectParams:
    """Per-subject appearance (lengths in head units: the head's half-width is about 0.75)."""

    id: str
    index: int
    glasses: bool
    skin: tuple[float, float, float]
    iris: tuple[float, float, float]
    hair: tuple[float, float, float]
    lips: tuple[float, float, float]
    head_axes: tuple[float, float, float]  # ellipsoid semi-axes x (width), y (height), z (depth)
    eye_spacing: float  # half the distance between the eye centres
    eye_height: float  # eye centre y (head-local, y down: negative is above the head centre)
    eye_radius: float
    iris_angle: float  # half-angle of the iris cap on the eyeball (radians)
    pupil_angle: float
    lid_upper: float  # eye opening above / below the eye centre, in eye radii
    lid_lower: float
    hairline: float  # hair starts above this height (fraction of the head height)
    hair_length: float  # at the back and sides, hair reaches down to this height (fraction, y down)
    hair_scale: float  # hair shell size relative to the head
    brow_offset: float  # brow height above the eye, in eye radii
    mouth_height: float
    glasses_color: tuple[float, float, float] = (0.05, 0.05, 0.05)
    glasses_shape: float = 2.0  # superellipse exponent of the lenses (2 round, 4 squarish)
    glasses_size: float = 1.3  # lens half-width in eye radii
    lens_tint: tuple[float, float, float] = (0.6, 0.7, 0.8)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Scene:
    """Everything needed to render a SynthGaze set: subjects and one row of parameters per frame."""

    preset: Preset
    seed: int
    subjects: list[SubjectParams]
    frames: pd.DataFrame = field(repr=False)

    @property
    def image_size(self) -> int:
        return self.preset.image_size

    def subject(self, subject_id: str) -> SubjectParams:
        for s in self.subjects:
            if s.id == subject_id:
                return s
        raise KeyError(f"no subject {subject_id!r} in this scene")

    def __len__(self) -> int:
        return len(self.frames)


# --- rotations ---------------------------------------------------------------------------------


def rotation(yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    """Canonical-frame rotation that turns the forward direction (0, 0, -1) into
    ``yawpitch_to_vector(yaw, pitch)`` and then rolls about it."""
    cy, sy = math.cos(-yaw), math.sin(-yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cr, sr = math.cos(roll), math.sin(roll)
    ry = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    rz = np.array([[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]])
    return ry @ rx @ rz


def compose_gaze(head_ypr: np.ndarray, eye_yp: np.ndarray) -> np.ndarray:
    """Gaze vectors ``[N, 3]`` of eyes turned by ``eye_yp`` (yaw, pitch) inside heads posed ``head_ypr``."""
    eye_dirs = yawpitch_to_vector(np.asarray(eye_yp, dtype=np.float64))
    return np.stack([rotation(*h) @ e for h, e in zip(head_ypr, eye_dirs)]) if len(eye_dirs) else eye_dirs


# --- random draws -------------------------------------------------------------------------------

_SKIN_LIGHT = np.array([0.94, 0.78, 0.66])
_SKIN_DARK = np.array([0.34, 0.21, 0.14])
_IRIS = np.array(
    [
        [0.33, 0.19, 0.08],
        [0.17, 0.09, 0.04],
        [0.28, 0.48, 0.74],
        [0.32, 0.52, 0.28],
        [0.50, 0.38, 0.18],
        [0.48, 0.53, 0.58],
    ]
)
_HAIR = np.array(
    [
        [0.05, 0.04, 0.04],
        [0.18, 0.11, 0.06],
        [0.38, 0.24, 0.12],
        [0.82, 0.68, 0.40],
        [0.58, 0.24, 0.10],
        [0.68, 0.68, 0.68],
    ]
)
_FRAMES = np.array([[0.04, 0.04, 0.04], [0.28, 0.16, 0.08], [0.62, 0.60, 0.58], [0.10, 0.12, 0.35], [0.45, 0.08, 0.08]])


def _col(rng: np.random.Generator, base: np.ndarray, jitter: float) -> tuple[float, float, float]:
    c = np.clip(base * (1.0 + rng.uniform(-jitter, jitter, 3)), 0.0, 1.0)
    return tuple(round(float(v), 4) for v in c)  # type: ignore[return-value]


def _draw_subject(seed: int, index: int, glasses: bool) -> SubjectParams:
    rng = np.random.default_rng([seed, _SUBJECT_STREAM, index])
    tone = rng.uniform(0.0, 1.0)
    skin = _SKIN_LIGHT * (1.0 - tone) + _SKIN_DARK * tone
    ax, ay, az = rng.uniform(0.68, 0.80), rng.uniform(0.90, 1.04), rng.uniform(0.82, 0.95)
    eye_radius = rng.uniform(0.16, 0.19)
    eye_spacing = rng.uniform(max(0.26, 1.22 * eye_radius), 0.34)
    lips = np.array([0.62, 0.30, 0.30]) * (0.75 + 0.5 * (1.0 - tone)) * 0.8 + skin * 0.2
    return SubjectParams(
        id=f"s{index:03d}",
        index=index,
        glasses=glasses,
        skin=_col(rng, skin, 0.06),
        iris=_col(rng, _IRIS[rng.integers(len(_IRIS))], 0.15),
        hair=_col(rng, _HAIR[rng.integers(len(_HAIR))], 0.15),
        lips=_col(rng, np.clip(lips, 0, 1), 0.08),
        head_axes=(round(ax, 4), round(ay, 4), round(az, 4)),
        eye_spacing=round(float(eye_spacing), 4),
        eye_height=round(float(rng.uniform(-0.17, -0.07)), 4),
        eye_radius=round(float(eye_radius), 4),
        iris_angle=round(float(np.radians(rng.uniform(38.0, 45.0))), 4),
        pupil_angle=round(float(np.radians(rng.uniform(14.0, 19.0))), 4),
        lid_upper=round(float(rng.uniform(0.50, 0.78)), 4),
        lid_lower=round(float(rng.uniform(0.40, 0.58)), 4),
        hairline=round(float(rng.uniform(0.30, 0.62)), 4),
        hair_length=round(float(rng.uniform(0.15, 0.75)), 4),
        hair_scale=round(float(rng.uniform(1.03, 1.08)), 4),
        brow_offset=round(float(rng.uniform(1.25, 1.55)), 4),
        mouth_height=round(float(rng.uniform(0.50, 0.62)), 4),
        glasses_color=_col(rng, _FRAMES[rng.integers(len(_FRAMES))], 0.1),
        glasses_shape=round(float(rng.choice([2.0, 2.0, 3.0, 4.5])), 4),
        glasses_size=round(float(rng.uniform(1.2, 1.45)), 4),
        lens_tint=_col(rng, np.array([0.62, 0.72, 0.82]), 0.15),
    )


def _smooth(rng: np.random.Generator, n: int, amplitude: float, k: int = 3) -> np.ndarray:
    """A smooth random curve over ``n`` frames: a sum of ``k`` sinusoids with periods of 25-200
    frames, whose amplitudes add up to at most ``amplitude``."""
    t = np.arange(n, dtype=np.float64)
    out = np.zeros(n)
    weights = rng.dirichlet(np.ones(k)) * amplitude * rng.uniform(0.3, 1.0)
    for w in weights:
        freq = rng.uniform(1.0 / 200.0, 1.0 / 25.0)
        out += w * np.sin(2.0 * np.pi * freq * t + rng.uniform(0.0, 2.0 * np.pi))
    return out


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2.0 * np.pi) - np.pi


def _eye_yaw_limit(abs_head_yaw_deg: np.ndarray) -> np.ndarray:
    """Largest *outward* eye-in-head yaw (degrees) at a head yaw.  Near profile the eyes are pulled
    towards the camera, so the gaze only turns past 90 degrees once the head is turned far enough
    (about 128 degrees) to hide the eyes, as in Gaze360's back views."""
    a = abs_head_yaw_deg
    limit = np.full_like(a, EYE_YAW_MAX_DEG)
    limit = np.where(a > 45.0, 80.0 - a, limit)
    limit = np.where(a > 115.0, -EYE_YAW_MAX_DEG, limit)
    limit = np.where(a > BACK_HEAD_YAW_DEG, -EYE_YAW_MAX_DEG + 2.5 * (a - BACK_HEAD_YAW_DEG), limit)
    return np.minimum(limit, EYE_YAW_MAX_DEG)


def _stratified(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` values in [0, 1), one in each of ``n`` equal bins, in random order."""
    return (rng.permutation(n) + rng.uniform(0.0, 1.0, n)) / max(n, 1)


def _sequence_bases(
    seed: int, n: int, anywhere: float = ANYWHERE_FRACTION, back: float = BACK_FRACTION
) -> tuple[np.ndarray, np.ndarray]:
    """Mean head yaw and mean log-distance of each of ``n`` sequences.

    A share ``back`` of the sequences are turned away from the camera (mean yaw spread evenly over
    ``BACK_BASE_DEG``..180 degrees on either side), a share ``anywhere`` have their mean yaw spread
    evenly over the whole circle, the others are drawn around the camera; distances are spread
    evenly (log-uniform) over the zoom range. Stratifying keeps the share of back views and the zoom
    range steady even in tiny sets.
    """
    rng = np.random.default_rng([seed, _YAW_STREAM, n])
    k_back = int(round(back * n))
    k_any = int(round(anywhere * n))
    arc = np.pi - np.radians(BACK_BASE_DEG)
    u = 2.0 * _stratified(rng, k_back) - 1.0  # [-1, 1): the sign picks the side
    away = np.sign(u) * (np.pi - arc * np.abs(u))
    spread = -np.pi + 2.0 * np.pi * _stratified(rng, k_any)
    front = rng.normal(0.0, np.radians(35.0), n - k_back - k_any)
    yaws = _wrap(np.concatenate([away, spread, front])[rng.permutation(n)])
    log_d = LOG_DISTANCE_RANGE[0] + (LOG_DISTANCE_RANGE[1] - LOG_DISTANCE_RANGE[0]) * _stratified(rng, n)
    return yaws, log_d


def _draw_sequence(
    seed: int, subject: int, sequence: int, n: int, base_yaw: float, base_log_d: float
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([seed, _SEQUENCE_STREAM, subject, sequence])
    d = np.radians
    head_yaw = _wrap(base_yaw + _smooth(rng, n, d(55.0)))
    head_pitch = np.clip(rng.normal(0.0, d(10.0)) + _smooth(rng, n, d(12.0)), d(-30.0), d(30.0))
    head_roll = np.clip(rng.normal(0.0, d(5.0)) + _smooth(rng, n, d(6.0)), d(-18.0), d(18.0))
    # eye-in-head rotation, soft-limited to about +-35 degrees yaw and +-30 pitch
    raw_eye_yaw = rng.normal(0.0, 18.0) + _smooth(rng, n, 40.0)
    eye_yaw_deg = EYE_YAW_MAX_DEG * np.tanh(raw_eye_yaw / EYE_YAW_MAX_DEG)
    side = np.where(head_yaw >= 0.0, 1.0, -1.0)
    outward = np.minimum(eye_yaw_deg * side, _eye_yaw_limit(np.degrees(np.abs(head_yaw))))
    eye_yaw = d(outward * side)
    raw_eye_pitch = rng.normal(0.0, 12.0) + _smooth(rng, n, 25.0)
    eye_pitch = d(30.0 * np.tanh(raw_eye_pitch / 30.0))
    # zoom: the head spans HEAD_FRACTION / distance of the crop (about 25% to 95%)
    log_d = base_log_d + _smooth(rng, n, 0.18)
    distance = np.clip(np.exp(log_d), *DISTANCE_CLIP)
    offset_x = np.clip(rng.normal(0.0, 0.03) + _smooth(rng, n, 0.03), -0.08, 0.08)
    offset_y = np.clip(rng.normal(0.0, 0.03) + _smooth(rng, n, 0.03), -0.08, 0.08)
    # light from the camera's side of the head, drifting slowly
    lx = rng.uniform(-0.9, 0.9) + _smooth(rng, n, 0.2)
    ly = rng.uniform(-0.9, 0.4) + _smooth(rng, n, 0.2)
    lz = -rng.uniform(0.3, 1.0) + np.zeros(n)
    light = np.stack([lx, ly, lz], axis=1)
    light /= np.linalg.norm(light, axis=1, keepdims=True)
    ambient = rng.uniform(0.22, 0.5)
    diffuse = rng.uniform(0.55, 0.95)
    gains = rng.uniform(0.85, 1.15) * (1.0 + rng.uniform(-0.08, 0.08, 3))
    return {
        "head_yaw": head_yaw,
        "head_pitch": head_pitch,
        "head_roll": head_roll,
        "eye_yaw": eye_yaw,
        "eye_pitch": eye_pitch,
        "distance": distance,
        "offset_x": offset_x,
        "offset_y": offset_y,
        "light_x": light[:, 0],
        "light_y": light[:, 1],
        "light_z": light[:, 2],
        "ambient": np.full(n, ambient),
        "diffuse": np.full(n, diffuse),
        "gain_r": np.full(n, gains[0]),
        "gain_g": np.full(n, gains[1]),
        "gain_b": np.full(n, gains[2]),
        "blur": np.full(n, rng.uniform(0.0, 1.0) ** 2 * 1.1),
        "noise": np.full(n, rng.uniform(1.0, 7.0)),
        "bg_seed": np.full(n, int(rng.integers(0, 2**31 - 1)), dtype=np.int64),
        "gap": np.full(n, rng.uniform(3.0, 9.0)),  # seconds before this sequence starts
    }


def _glasses_flags(seed: int, n: int, fraction: float = 0.4) -> list[bool]:
    """About 40% of subjects wear glasses; with two or more subjects, both kinds always occur."""
    rng = np.random.default_rng([seed, _GLASSES_STREAM])
    k = int(round(fraction * n))
    if n >= 2:
        k = min(max(k, 1), n - 1)
    wearers = set(rng.permutation(n)[:k].tolist())
    return [i in wearers for i in range(n)]


def head_size(frames: pd.DataFrame, subjects: list[SubjectParams]) -> np.ndarray:
    """Width of each frame's head as a fraction of the crop width (the head ellipsoid's, without
    hair): ``HEAD_FRACTION / distance`` scaled by the subject's head width."""
    width = {s.id: s.head_axes[0] / REFERENCE_HALF_WIDTH for s in subjects}
    return HEAD_FRACTION / frames["distance"].to_numpy() * frames["subject"].map(width).to_numpy()


def resolve_preset(preset: str | Preset) -> Preset:
    if isinstance(preset, Preset):
        return preset
    try:
        return PRESETS[preset]
    except KeyError:
        raise UserKeyError(f"unknown SynthGaze preset {preset!r}; choose one of {', '.join(PRESETS)}") from None


def make_scene(preset: str | Preset, seed: int = 0) -> Scene:
    """All parameters of a SynthGaze set (no pixels): subjects and one row per frame.

    ``Scene.frames`` has the columns ``FRAME_COLUMNS`` (labels) followed by ``EXTRA_COLUMNS``
    (render parameters).  Rows are ordered by subject, sequence, frame.
    """
    p = resolve_preset(preset)
    seed = int(seed)
    flags = _glasses_flags(seed, p.n_subjects)
    subjects = [_draw_subject(seed, i, flags[i]) for i in range(p.n_subjects)]
    parts = []
    base_yaws, base_log_d = _sequence_bases(seed, p.n_subjects * p.n_sequences)
    for s in subjects:
        t0 = BASE_TIMESTAMP + 3600.0 * s.index  # subjects an hour apart
        for q in range(p.n_sequences):
            j = s.index * p.n_sequences + q
            seq = _draw_sequence(seed, s.index, q, p.n_frames, float(base_yaws[j]), float(base_log_d[j]))
            gap = float(seq.pop("gap")[0])
            t0 += gap
            n = p.n_frames
            df = pd.DataFrame(seq)
            df.insert(0, "frame", np.arange(n, dtype=np.int64))
            df.insert(0, "sequence", f"q{q:02d}")
            df.insert(0, "subject", s.id)
            df["timestamp"] = np.round(t0 + np.arange(n) / p.fps, 6)
            df["glasses"] = s.glasses
            t0 += n / p.fps
            parts.append(df)
    frames = pd.concat(parts, ignore_index=True)
    head = frames[["head_yaw", "head_pitch", "head_roll"]].to_numpy()
    eye = frames[["eye_yaw", "eye_pitch"]].to_numpy()
    gaze = compose_gaze(head, eye)
    frames["gaze_x"], frames["gaze_y"], frames["gaze_z"] = gaze[:, 0], gaze[:, 1], gaze[:, 2]
    frames["id"] = frames["subject"] + "_" + frames["sequence"] + "_f" + frames["frame"].map("{:04d}".format)
    frames = frames[list(FRAME_COLUMNS) + list(EXTRA_COLUMNS)].reset_index(drop=True)
    return Scene(preset=p, seed=seed, subjects=subjects, frames=frames)
