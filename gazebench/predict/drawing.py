"""The gaze arrow on an image: from the head box's centre along the gaze's image-plane projection.

Derivation (the convention of :mod:`gazebench.core.geometry`, SPEC section 1): the canonical gaze
``g = (x, y, z)`` lives in the Gaze360 eye frame, which is the camera frame (x to the image's
right, y down the image, z forward) with x and y negated (``geometry.from_camera_frame``).  The
Gaze360 release says the same in words: "the positive x-axis points to the left, positive y-axis
points up and positive z-axis points away from the camera, i.e. [-1,0,0] is a gaze looking to the
right ... from the camera's point of view" (erkil1452/gaze360 @ cbeb8e4, dataset/README.md,
line 46).  Dropping z (an orthographic view of the direction), the arrow in pixels is therefore

    d_column = -g_x,    d_row = -g_y          (rows count downwards)

so a gaze with yaw > 0 (x > 0) points to the image's **left** and one with pitch > 0 (y > 0)
points **up**.  SynthGaze's renderer uses the same frames (gazebench/synth/render.py: eye frame =
camera frame with x and y negated), and its test "a head turned to +yaw shows its eyes on the
image left" (tests/test_synth.py) checks the picture side of it.  The arrow's length is
:data:`ARROW_SCALE` of the box's longer side times the length of the projection, so a gaze
straight into the camera is a dot and one parallel to the image reaches the box's edge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from gazebench.predict.crops import Box

#: arrow length for a gaze parallel to the image plane, as a share of the box's longer side
ARROW_SCALE = 0.5
ARROW_COLOUR = (255, 214, 0)
BOX_COLOUR = (0, 200, 255)
OUTLINE = (0, 0, 0)


def arrow_tip(centre: Sequence[float], vector: Sequence[float], length: float) -> tuple[float, float]:
    """Where the arrow of unit gaze ``vector`` (canonical) ends, ``length`` px for a gaze parallel to
    the image plane: x (column) and y (row, downwards) in pixels."""
    g = np.asarray(vector, dtype=np.float64)
    g = g / max(float(np.linalg.norm(g)), 1e-12)
    return float(centre[0] - length * g[0]), float(centre[1] - length * g[1])


def _head(tip: tuple[float, float], tail: tuple[float, float], size: float) -> list[tuple[float, float]]:
    """The arrowhead triangle at ``tip`` pointing away from ``tail``."""
    angle = math.atan2(tip[1] - tail[1], tip[0] - tail[0])
    left, right = angle + math.radians(150), angle - math.radians(150)
    return [
        tip,
        (tip[0] + size * math.cos(left), tip[1] + size * math.sin(left)),
        (tip[0] + size * math.cos(right), tip[1] + size * math.sin(right)),
    ]


def draw_gaze(image: np.ndarray, box: Box, vector: Sequence[float], show_box: bool = True) -> np.ndarray:
    """A copy of ``uint8 [H, W, 3]`` ``image`` with the box and the gaze arrow drawn from its centre."""
    from PIL import Image, ImageDraw

    canvas = Image.fromarray(np.ascontiguousarray(image))
    draw = ImageDraw.Draw(canvas)
    side = max(box.w, box.h)
    width = max(2, round(side / 60))
    if show_box:
        draw.rectangle(box.pixels(), outline=BOX_COLOUR, width=max(1, width // 2))
    centre = box.centre
    tip = arrow_tip(centre, vector, ARROW_SCALE * side)
    if math.dist(centre, tip) >= 2 * width:
        draw.line([centre, tip], fill=OUTLINE, width=width + 2)
        draw.line([centre, tip], fill=ARROW_COLOUR, width=width)
        draw.polygon(_head(tip, centre, 4 * width), fill=ARROW_COLOUR, outline=OUTLINE)
    r = 1.5 * width
    draw.ellipse([centre[0] - r, centre[1] - r, centre[0] + r, centre[1] + r], fill=ARROW_COLOUR, outline=OUTLINE)
    return np.asarray(canvas)
