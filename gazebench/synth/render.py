"""SynthGaze renderer: vectorised numpy ray casting of a simple 3-D head.

The camera is orthographic and looks along +z of the camera frame (x right, y down, z forward).  With
an orthographic camera the eye frame of Gaze360 is the camera frame with x and y negated, for every
pixel, so the canonical label is exactly the direction the eyeballs were turned to.

The model, in head-local coordinates (the camera frame of a head with zero pose; the face looks
along -z): an ellipsoid head; a larger "hair shell" ellipsoid that is opaque only behind the
hairline; an ellipsoid nose; two eyeballs (spheres) whose iris and pupil caps are centred on the
gaze direction; eyelids (a sphere shell slightly larger than each eyeball with an almond-shaped
opening whose upper edge follows the eye's pitch); brows and lips painted on the head; optional
glasses (rims, lenses, bridge and temples as planar pieces).  Every object is intersected exactly,
the nearest hit wins, so the head hides the eyes when it is turned away.  Shading is Lambertian with
an ambient term and a small specular catchlight on the eyes.  Rays are cast at ``supersample``^2 per
pixel, then the image is averaged down, blurred, and given Gaussian noise.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter

from gazebench.synth.scene import HEAD_FRACTION, REFERENCE_HALF_WIDTH, Scene, SubjectParams, rotation

_FLIP = np.diag([-1.0, -1.0, 1.0])  # canonical eye frame <-> camera frame
_INF = np.inf

SCLERA = np.array([0.93, 0.90, 0.86])
PUPIL = np.array([0.02, 0.02, 0.025])
EYE_SINK = 0.5  # eyeball centre behind the head surface, in eye radii
NECK_REACH = 1.7  # the ray window reaches this far below the head centre (head units)
SOCKET_DEPTH = 0.4  # how far behind the head surface the eyeball can still be seen, in eye radii


def camera_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Head-local -> camera frame rotation for a head pose in the canonical convention."""
    return _FLIP @ rotation(yaw, pitch, roll) @ _FLIP


def _quadric(ox, oy, oz, d, centre, axes):
    """Nearest intersection (t along +z) of orthographic rays with an axis-aligned ellipsoid; inf on a miss."""
    ax, ay, az = axes
    qx = (ox - centre[0]) / ax
    qy = (oy - centre[1]) / ay
    qz = (oz - centre[2]) / az
    ex, ey, ez = d[0] / ax, d[1] / ay, d[2] / az
    a = ex * ex + ey * ey + ez * ez
    b = qx * ex + qy * ey + qz * ez
    c = qx * qx + qy * qy + qz * qz - 1.0
    disc = b * b - a * c
    hit = disc > 0.0
    return np.where(hit, (-b - np.sqrt(np.where(hit, disc, 0.0))) / a, _INF)


def _shade(nx, ny, nz, light, ambient, diffuse):
    return ambient + diffuse * np.maximum(0.0, nx * light[0] + ny * light[1] + nz * light[2])


@functools.lru_cache(maxsize=16)
def background(seed: int, n: int) -> np.ndarray:
    """Background clutter of one sequence, ``[n, n, 3]`` float in [0, 1]: a gradient and random shapes.

    The camera stays put within a sequence, so every frame of it has the same background (the
    sequence's ``bg_seed``); only the head moves and the sensor noise is drawn anew per frame.
    Subjects are disjoint across splits, so a model cannot gain from recognising a background.
    Frames are rendered sequence by sequence, so each background is drawn once and reused (the
    array is read-only; :func:`_finish` composes the head onto a copy).
    """
    return _draw_background(int(seed), int(n))


def _draw_background(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 7])
    ys, xs = np.mgrid[0:n, 0:n].astype(np.float64)
    xs = (xs + 0.5) / n
    ys = (ys + 0.5) / n

    def colour():
        c = rng.uniform(0.0, 1.0, 3)
        return 0.65 * c + 0.35 * c.mean()

    c1, c2 = colour(), colour()
    ang = rng.uniform(0.0, 2.0 * np.pi)
    g = np.clip((xs - 0.5) * math.cos(ang) + (ys - 0.5) * math.sin(ang) + 0.5, 0.0, 1.0)[..., None]
    img = c1 * (1.0 - g) + c2 * g
    for _ in range(int(rng.integers(2, 9))):
        kind = int(rng.integers(3))
        col = colour()
        alpha = rng.uniform(0.4, 1.0)
        cx, cy = rng.uniform(-0.1, 1.1, 2)
        if kind == 0:  # disc
            r = rng.uniform(0.05, 0.35)
            mask = (xs - cx) ** 2 + (ys - cy) ** 2 < r * r
        elif kind == 1:  # rotated rectangle
            a = rng.uniform(0.0, np.pi)
            u = (xs - cx) * math.cos(a) + (ys - cy) * math.sin(a)
            v = -(xs - cx) * math.sin(a) + (ys - cy) * math.cos(a)
            mask = (np.abs(u) < rng.uniform(0.05, 0.4)) & (np.abs(v) < rng.uniform(0.03, 0.3))
        else:  # stripes
            a = rng.uniform(0.0, np.pi)
            u = xs * math.cos(a) + ys * math.sin(a)
            mask = np.sin(u * rng.uniform(10.0, 40.0) + rng.uniform(0.0, 6.3)) > rng.uniform(0.4, 0.9)
        img[mask] = img[mask] * (1.0 - alpha) + col * alpha
    img.flags.writeable = False
    return img


class _Frame:
    """Rays of one frame restricted to a window around the head, in head-local coordinates."""

    def __init__(self, row, subj: SubjectParams, size: int, ss: int, zoom: float):
        self.subj = subj
        self.n = n = size * ss
        fw = 2.0 * REFERENCE_HALF_WIDTH * float(row["distance"]) / HEAD_FRACTION * zoom
        px = fw / n
        hx, hy = float(row["offset_x"]) * fw, float(row["offset_y"]) * fw
        coords = (np.arange(n) + 0.5) * px - fw / 2.0
        ax, ay, az = subj.head_axes
        reach = 1.12 * max(ax, ay, az) * subj.hair_scale + 0.05

        # the window is aligned to whole output pixels (blocks of ss x ss rays)
        def lo(v: float) -> int:
            return int(np.clip(math.floor((v + fw / 2.0) / px / ss) * ss, 0, n))

        def hi(v: float) -> int:
            return int(np.clip(math.ceil((v + fw / 2.0) / px / ss) * ss, 0, n))

        self.ss = ss
        self.j0, self.j1 = lo(hx - reach), hi(hx + reach)
        self.i0, self.i1 = lo(hy - reach), hi(hy + NECK_REACH)
        # float32 rays: half the memory traffic, and ample precision for a few hundred pixels
        x = (coords[self.j0 : self.j1] - hx)[None, :].astype(np.float32)
        y = (coords[self.i0 : self.i1] - hy)[:, None].astype(np.float32)
        self.x, self.y = x, y  # camera-frame ray positions relative to the head centre
        r = camera_rotation(float(row["head_yaw"]), float(row["head_pitch"]), float(row["head_roll"]))
        self.r = r
        rf = r.astype(np.float32)
        self.ox = rf[0, 0] * x + rf[1, 0] * y
        self.oy = rf[0, 1] * x + rf[1, 1] * y
        self.oz = rf[0, 2] * x + rf[1, 2] * y
        self.d = rf[2, :].copy()  # ray direction (camera +z) in head-local coordinates
        light_c = np.array([row["light_x"], row["light_y"], row["light_z"]], dtype=np.float64)
        self.light_c = light_c / max(float(np.linalg.norm(light_c)), 1e-9)
        self.light = (r.T @ self.light_c).astype(np.float32)
        self.head_yaw = float(row["head_yaw"])
        self.ambient, self.diffuse = float(row["ambient"]), float(row["diffuse"])
        gaze_c = _FLIP @ np.array([row["gaze_x"], row["gaze_y"], row["gaze_z"]], dtype=np.float64)
        g = r.T @ gaze_c
        self.gaze_local = (g / max(np.linalg.norm(g), 1e-12)).astype(np.float32)
        shape = (self.i1 - self.i0, self.j1 - self.j0)
        self.shape = shape
        self.t = np.full(shape, _INF, dtype=np.float32)
        self.col = np.zeros(shape + (3,), dtype=np.float32)
        self.iris = np.zeros(shape, dtype=bool)
        self.pupil = np.zeros(shape, dtype=bool)

    def project(self, p_local) -> tuple[float, float]:
        """Camera-frame (x, y) of a head-local point, relative to the head centre."""
        c = self.r @ np.asarray(p_local, dtype=np.float64)
        return float(c[0]), float(c[1])

    def window(self, cx: float, cy: float, radius: float) -> tuple[slice, slice]:
        """Row/column slices of the head window covering a disc of the image plane."""
        xs, ys = self.x[0], self.y[:, 0]
        j0, j1 = np.searchsorted(xs, [cx - radius, cx + radius])
        i0, i1 = np.searchsorted(ys, [cy - radius, cy + radius])
        return slice(int(i0), int(i1)), slice(int(j0), int(j1))

    def put(self, sl, t, col):
        """Keep the nearer of the current surface and ``t`` (with colours ``col``) on window ``sl``."""
        cur = self.t[sl]
        nearer = t < cur
        cur[nearer] = t[nearer]
        self.col[sl][nearer] = col[nearer]
        return nearer


def _put_ellipsoid(f: _Frame, sl, centre, axes, albedo) -> None:
    """A uniformly coloured, Lambert-shaded ellipsoid on window ``sl``."""
    ox, oy, oz, d = f.ox[sl], f.oy[sl], f.oz[sl], f.d
    t = _quadric(ox, oy, oz, d, centre, axes)
    tt = np.where(np.isfinite(t), t, 0.0)
    qx = (ox + tt * d[0] - centre[0]) / axes[0] ** 2
    qy = (oy + tt * d[1] - centre[1]) / axes[1] ** 2
    qz = (oz + tt * d[2] - centre[2]) / axes[2] ** 2
    qn = np.sqrt(qx * qx + qy * qy + qz * qz) + 1e-12
    col = albedo * _shade(qx / qn, qy / qn, qz / qn, f.light, f.ambient, f.diffuse)[..., None]
    f.put(sl, t, col)


def _render_base(f: _Frame) -> None:
    s = f.subj
    ax, ay, az = s.head_axes
    ox, oy, oz, d, light = f.ox, f.oy, f.oz, f.d, f.light
    full = (slice(None), slice(None))
    skin = np.asarray(s.skin)
    hair = np.asarray(s.hair)

    # head
    t = _quadric(ox, oy, oz, d, (0.0, 0.0, 0.0), (ax, ay, az))
    tt = np.where(np.isfinite(t), t, 0.0)
    px, py, pz = ox + tt * d[0], oy + tt * d[1], oz + tt * d[2]
    nx, ny, nz = px / (ax * ax), py / (ay * ay), pz / (az * az)
    nn = np.sqrt(nx * nx + ny * ny + nz * nz) + 1e-12
    nx, ny, nz = nx / nn, ny / nn, nz / nn
    albedo = np.broadcast_to(skin, f.shape + (3,)).copy()
    front = pz < 0.0
    for k in (-1.0, 1.0):
        ex = k * s.eye_spacing
        wb = 1.15 * s.eye_radius
        dx = (px - ex) / wb
        ybrow = s.eye_height - s.brow_offset * s.eye_radius - 0.12 * s.eye_radius * (1.0 - dx * dx)
        brow = front & (np.abs(dx) < 1.0) & (np.abs(py - ybrow) < 0.2 * s.eye_radius * (1.0 - 0.5 * dx * dx))
        albedo[brow] = hair * 0.75 + skin * 0.1
    mw = 0.19
    mx = px / mw
    mouth = (
        front
        & (np.abs(mx) < 1.0)
        & (np.abs(py - s.mouth_height - 0.04 * mx * mx) < 0.045 * np.sqrt(np.clip(1.0 - mx * mx, 0.0, 1.0)) + 0.006)
    )
    albedo[mouth] = s.lips
    col = albedo * _shade(nx, ny, nz, light, f.ambient, f.diffuse)[..., None]
    f.put(full, t, col)

    # hair shell: opaque behind the hairline and down to the hair length
    hs = s.hair_scale
    hc = (0.0, -0.02, 0.04)
    ha = (ax * hs, ay * hs, az * hs)
    t = _quadric(ox, oy, oz, d, hc, ha)
    tt = np.where(np.isfinite(t), t, 0.0)
    ux = (ox + tt * d[0] - hc[0]) / ha[0]
    uy = (oy + tt * d[1] - hc[1]) / ha[1]
    uz = (oz + tt * d[2] - hc[2]) / ha[2]
    face = (uz < -0.28 + 0.1 * ux * ux) & (uy > -s.hairline + 0.25 * ux * ux)
    is_hair = np.isfinite(t) & ~face & (uy < s.hair_length)
    t = np.where(is_hair, t, _INF)
    strands = 0.9 + 0.1 * np.sin(41.0 * ux + 7.0 * uy + 2.0 * np.sin(9.0 * uz))
    col = hair * (strands * _shade(ux, uy, uz, light, f.ambient, f.diffuse))[..., None]
    f.put(full, t, col)

    # neck: turns with the head's yaw only (the torso does not nod or roll with the head); it
    # sits behind the head's centre, so from behind it shows where the back of the head is
    rn = camera_rotation(f.head_yaw, 0.0, 0.0)
    nox = rn[0, 0] * f.x + rn[1, 0] * f.y
    noy = rn[0, 1] * f.x + rn[1, 1] * f.y
    noz = rn[0, 2] * f.x + rn[1, 2] * f.y
    dn = rn[2, :]
    neck_c, neck_a = (0.0, 0.95 * ay, 0.12), (0.36, 0.75, 0.34)
    t = _quadric(nox, noy, noz, dn, neck_c, neck_a)
    tt = np.where(np.isfinite(t), t, 0.0)
    qx = (nox + tt * dn[0] - neck_c[0]) / neck_a[0] ** 2
    qz = (noz + tt * dn[2] - neck_c[2]) / neck_a[2] ** 2
    qn = np.sqrt(qx * qx + qz * qz) + 1e-12  # a vertical cylinder's normals
    ln = rn.T @ f.light_c
    col = (skin * 0.88) * (f.ambient + f.diffuse * np.maximum(0.0, (qx * ln[0] + qz * ln[2]) / qn))[..., None]
    f.put(full, t, col)

    # ears, sticking out of the hair at the sides
    for k in (-1.0, 1.0):
        ec = (k * ax * 1.0, s.eye_height + 0.14, 0.06)
        ea = (0.07, 0.17, 0.11)
        cx, cy = f.project(ec)
        sl = f.window(cx, cy, 0.2)
        if sl[0].stop > sl[0].start and sl[1].stop > sl[1].start:
            _put_ellipsoid(f, sl, ec, ea, skin * 0.93)

    # nose
    ey = s.eye_height
    ny0 = ey + 0.40
    zs = -az * math.sqrt(max(0.05, 1.0 - (ny0 / ay) ** 2))
    nc = (0.0, ny0, zs + 0.06)
    na = (0.085, 0.19, 0.15)
    cx, cy = f.project(nc)
    sl = f.window(cx, cy, 0.22)
    if sl[0].stop > sl[0].start and sl[1].stop > sl[1].start:
        _put_ellipsoid(f, sl, nc, na, skin * 0.97)

    _render_eyes(f)


def eye_centres(s: SubjectParams) -> list[tuple[float, float, float]]:
    """Head-local eyeball centres: image-left one first (for a head with zero pose)."""
    ax, ay, az = s.head_axes
    out = []
    for k in (-1.0, 1.0):
        ex, ey = k * s.eye_spacing, s.eye_height
        zs = -az * math.sqrt(max(0.05, 1.0 - (ex / ax) ** 2 - (ey / ay) ** 2))
        out.append((ex, ey, zs + EYE_SINK * s.eye_radius))
    return out


def _render_eyes(f: _Frame) -> None:
    """Eyes seen through almond-shaped holes in the head surface (the lid opening).

    A ray that meets the head inside a hole goes on to the eyeball, but only if it reaches it
    within ``SOCKET_DEPTH`` (the walls of the eye socket); otherwise it sees the dark socket.  So an
    eye can only be seen where the face around it faces the camera, and never from behind.  The
    upper edge of the hole (the upper lid) drops when the eye looks down and rises when it looks up.
    """
    s = f.subj
    ax, ay, az = s.head_axes
    re = s.eye_radius
    d, light = f.d, f.light
    g = f.gaze_local
    skin = np.asarray(s.skin)
    iris_col = np.asarray(s.iris)
    cos_iris, cos_pupil = math.cos(s.iris_angle), math.cos(s.pupil_angle)
    cos_limbus = math.cos(s.iris_angle - 0.12)
    # Blinn half vector between the light and the viewer (the viewer is at -d)
    half = light - d
    half = half / max(np.linalg.norm(half), 1e-12)
    w = 1.0 * re
    up = -s.lid_upper * re + 0.5 * re * g[1]
    lo = s.lid_lower * re + 0.2 * re * g[1]
    for c in eye_centres(s):
        cx, cy = f.project(c)
        sl = f.window(cx, cy, 1.1 * re + 0.02)
        if sl[0].stop <= sl[0].start or sl[1].stop <= sl[1].start:
            continue
        ox, oy, oz = f.ox[sl], f.oy[sl], f.oz[sl]
        th = _quadric(ox, oy, oz, d, (0.0, 0.0, 0.0), (ax, ay, az))
        visible = np.isfinite(th) & (th <= f.t[sl])  # the head itself is the nearest surface
        if not visible.any():
            continue
        tt = np.where(visible, th, 0.0)
        hx, hy, hz = ox + tt * d[0] - c[0], oy + tt * d[1] - c[1], oz + tt * d[2] - c[2]
        sq = np.clip(1.0 - (hx / w) ** 2, 0.0, 1.0) ** 0.6
        front = visible & (hz < 0.0) & (sq > 0.0)
        upper, lower = up * sq, lo * sq
        hole = front & (hy > upper) & (hy < lower)
        lash = front & (hy <= upper) & (hy > upper - 0.14 * re)
        crease = front & (hy <= upper - 0.14 * re) & (hy > upper - 0.4 * re)
        lower_lid = front & (hy >= lower) & (hy < lower + 0.08 * re)
        col = f.col[sl]
        col[crease] *= 0.86
        col[lower_lid] *= 0.92
        col[lash] = skin * 0.2 + 0.02
        if not hole.any():
            continue
        te = _quadric(ox, oy, oz, d, c, (re, re, re))
        see = hole & np.isfinite(te) & (np.where(hole, te, 0.0) - tt < SOCKET_DEPTH * re)
        tt = np.where(see, te, 0.0)
        nx, ny, nz = (ox + tt * d[0] - c[0]) / re, (oy + tt * d[1] - c[1]) / re, (oz + tt * d[2] - c[2]) / re
        cg = nx * g[0] + ny * g[1] + nz * g[2]
        pupil = see & (cg > cos_pupil)
        iris = see & (cg > cos_iris)
        albedo = np.broadcast_to(SCLERA, ox.shape + (3,)).copy()
        edge = np.clip((0.35 - cg) * 1.5, 0.0, 0.25)[..., None]  # sclera darkens towards the corners
        albedo = albedo * (1.0 - edge) + np.array([0.8, 0.55, 0.5]) * edge
        ring = (cg - cos_iris) / max(cos_pupil - cos_iris, 1e-6)  # 0 at the limbus, 1 at the pupil
        iris_shade = (0.75 + 0.45 * np.clip(ring, 0.0, 1.0))[..., None]
        albedo = np.where(iris[..., None], iris_col * iris_shade, albedo)
        albedo = np.where((iris & (cg < cos_limbus))[..., None], iris_col * 0.35, albedo)
        albedo = np.where(pupil[..., None], PUPIL, albedo)
        spec = np.maximum(0.0, nx * half[0] + ny * half[1] + nz * half[2]) ** 60 * 0.9
        eye_col = albedo * _shade(nx, ny, nz, light, f.ambient + 0.15, f.diffuse * 0.85)[..., None] + spec[..., None]
        col[see] = eye_col[see]
        col[hole & ~see] = skin * 0.25
        f.iris[sl] |= iris
        f.pupil[sl] |= pupil


def _render_glasses(f: _Frame, col: np.ndarray) -> np.ndarray:
    """The frame's colours with glasses drawn over them (same nearest-surface test)."""
    s = f.subj
    ax = s.head_axes[0]
    re = s.eye_radius
    ox, oy, oz, d, light = f.ox, f.oy, f.oz, f.d, f.light
    out = col.copy()
    frame_col = np.asarray(s.glasses_color)
    tint = np.asarray(s.lens_tint)
    ez = eye_centres(s)[0][2]
    zg = ez - re - 0.07
    rx, ry = s.glasses_size * re, s.glasses_size * re * 0.8
    th = 0.035
    ly = s.eye_height + 0.02
    yt = ly - 0.3 * ry
    xt = ax + 0.005
    e = s.glasses_shape
    bar = 0.022
    opaque_t = np.full(f.shape, _INF)
    opaque_shade = np.zeros(f.shape)
    if abs(d[2]) > 0.05:  # the lens plane is not seen edge-on
        tp = (zg - oz) / d[2]
        gx, gy = ox + tp * d[0], oy + tp * d[1]
        lens = np.zeros(f.shape, dtype=bool)
        rim = np.zeros(f.shape, dtype=bool)
        for k in (-1.0, 1.0):
            r = ((np.abs(gx - k * s.eye_spacing) / rx) ** e + (np.abs(gy - ly) / ry) ** e) ** (1.0 / e)
            lens |= r <= 1.0 - th / rx
            rim |= (r <= 1.0) & (r > 1.0 - th / rx)
        agx = np.abs(gx)
        bridge = (agx < s.eye_spacing - 0.9 * rx + 0.02) & (np.abs(gy - (ly - 0.35 * ry)) < bar)
        ends = (agx > s.eye_spacing + 0.9 * rx) & (agx < xt) & (np.abs(gy - yt) < bar)
        solid = (rim | bridge | ends) & (tp < f.t)
        opaque_t = np.where(solid, tp, opaque_t)
        opaque_shade = np.where(solid, f.ambient + f.diffuse * abs(light[2]), opaque_shade)
        see = lens & ~solid & (tp < f.t)
        if see.any():
            half = light - d
            half = half / max(float(np.linalg.norm(half)), 1e-12)
            spec = max(0.0, -float(half[2])) ** 30 * 0.35  # glint off the lens plane (normal -z)
            out[see] = out[see] * 0.8 + tint * 0.2 * (f.ambient + f.diffuse) + spec
    if abs(d[0]) > 0.05:  # temples, seen from the side
        for k in (-1.0, 1.0):
            tq = (k * xt - ox) / d[0]
            yq, zq = oy + tq * d[1], oz + tq * d[2]
            temple = (np.abs(yq - yt) < bar) & (zq > zg) & (zq < 0.0) & (tq < f.t) & (tq < opaque_t)
            opaque_t = np.where(temple, tq, opaque_t)
            opaque_shade = np.where(temple, f.ambient + f.diffuse * abs(light[0]), opaque_shade)
    solid = np.isfinite(opaque_t)
    out[solid] = frame_col * opaque_shade[solid][:, None]
    hit = np.isfinite(f.t) | solid
    return out, hit


def _finish(
    f: _Frame, col: np.ndarray, hit: np.ndarray, bg: np.ndarray, row, size: int, ss: int, image_size: int
) -> np.ndarray:
    """Average the rays down to pixels over the background, then exposure, blur and noise."""
    img = bg.copy()
    h, w = (f.i1 - f.i0) // ss, (f.j1 - f.j0) // ss
    if h > 0 and w > 0:
        fg = np.where(hit[..., None], col, 0.0).reshape(h, ss, w, ss, 3).mean(axis=(1, 3))
        cover = hit.reshape(h, ss, w, ss).mean(axis=(1, 3))[..., None]
        win = img[f.i0 // ss : f.i1 // ss, f.j0 // ss : f.j1 // ss]
        win *= 1.0 - cover
        win += fg
    img *= np.array([row["gain_r"], row["gain_g"], row["gain_b"]], dtype=np.float64)
    sigma = float(row["blur"]) * size / image_size
    if sigma > 0.05:
        img = gaussian_filter(img, sigma=(sigma, sigma, 0.0), mode="nearest", truncate=3.0)
    rng = np.random.default_rng([int(row["bg_seed"]), int(row["frame"]), size, 11])
    img = img + rng.normal(0.0, float(row["noise"]) / 255.0, img.shape)
    return np.clip(img * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8)


def _coverage(mask: np.ndarray, f: _Frame, size: int, ss: int) -> np.ndarray:
    full = np.zeros((f.n, f.n))
    full[f.i0 : f.i1, f.j0 : f.j1] = mask
    return full.reshape(size, ss, size, ss).mean(axis=(1, 3))


def render_row(
    row,
    subj: SubjectParams,
    image_size: int,
    variants: Sequence[bool] = (True,),
    size: int | None = None,
    zoom: float = 1.0,
    supersample: int = 2,
    masks: bool = False,
):
    """Render one frame (a mapping of scene columns) once per glasses variant.

    Returns a list of ``[size, size, 3]`` uint8 images; with ``masks=True`` also a dict of
    per-pixel coverage (0-1) of the visible ``iris`` (iris or pupil) and ``pupil``.
    """
    size = int(size or image_size)
    f = _Frame(row, subj, size, supersample, zoom)
    _render_base(f)
    base_hit = np.isfinite(f.t)
    bg = background(int(row["bg_seed"]), size)
    images: list[np.ndarray] = []
    plain = None
    for v in variants:
        if v and subj.glasses:
            col, hit = _render_glasses(f, f.col)
            images.append(_finish(f, col, hit, bg, row, size, supersample, image_size))
        else:
            if plain is None:
                plain = _finish(f, f.col, base_hit, bg, row, size, supersample, image_size)
            images.append(plain)
    if masks:
        return images, {
            "iris": _coverage(f.iris, f, size, supersample),
            "pupil": _coverage(f.pupil, f, size, supersample),
        }
    return images


def _rows(scene: Scene, rows) -> list[int]:
    if isinstance(rows, slice):
        return list(range(len(scene.frames)))[rows]
    return [int(r) for r in np.atleast_1d(np.asarray(rows))]


def render_frames(
    scene: Scene, rows: Sequence[int], glasses: bool = True, size: int | None = None, zoom: float = 1.0
) -> np.ndarray:
    """Render the frames at positions ``rows`` of ``scene.frames`` -> ``[n, H, W, 3]`` uint8 RGB.

    ``glasses=True`` is RT-GENE's "original" (wearers wear their glasses), ``False`` its "inpainted"
    (no glasses for anybody).  ``size`` overrides the preset's image size; ``zoom`` > 1 widens the
    field of view (the head looks smaller).
    """
    idx = _rows(scene, rows)
    size = int(size or scene.image_size)
    out = np.zeros((len(idx), size, size, 3), dtype=np.uint8)
    subjects = {s.id: s for s in scene.subjects}
    frames = scene.frames
    for i, r in enumerate(idx):
        row = frames.iloc[r]
        out[i] = render_row(
            row, subjects[row["subject"]], scene.image_size, (glasses,), size, zoom, scene.preset.supersample
        )[0]
    return out


def render_debug(scene: Scene, row: int, glasses: bool = True, size: int | None = None) -> dict[str, np.ndarray]:
    """One frame with masks for tests and inspection: ``image`` (uint8), ``iris`` and ``pupil`` coverage."""
    r = scene.frames.iloc[int(row)]
    (img,), m = render_row(
        r, scene.subject(r["subject"]), scene.image_size, (glasses,), size, 1.0, scene.preset.supersample, masks=True
    )
    return {"image": img, **m}
