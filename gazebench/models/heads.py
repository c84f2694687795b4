"""Output heads: a fused feature ``[B, D]`` -> the GazeModel output dict.

Heads compute in float32 (also under autocast): acos/asin near +-1 need it.
Every head returns ``vector`` ``[B, 3]`` (unit, canonical frame) and ``yaw_pitch`` ``[B, 2]``
(radians); the angle and sin-cos heads add ``sigma`` ``[B]`` (radians, > 0), the sin-cos head
``sincos`` ``[B, 3]``; :class:`PitchYawHead` (ETH-XGaze) and the binned head
(``gazebench.models.binned``) predict no sigma.  ``kind`` names the head (``angle`` / ``sincos`` /
``pitchyaw`` / ``binned``): the losses read it (``gazebench.losses.resolve_loss``).

``sigma = sigma_scale * sigmoid(o)``, the scale per model as in the seed (ashesh-0/MultiZoomGaze
@ 24494a1): ``pi`` for the angle heads (``code/static_model.py`` line 31, ``code/model.py``
line 54; Gaze360's ``code/model.py`` line 48 too) and the sin-cos LSTM and MSA models
(``code/sinecosine_model/model.py`` lines 91-93, which the multi-crop model
``code/sinecosine_model/non_lstm_based_model.py`` inherits), but ``1`` for the static sin-cos model
(``code/sinecosine_model/static_sinecosine_model.py`` line 60: a plain ``Sigmoid()``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gazebench.core.errors import UserValueError
from gazebench.core.geometry import yawpitch_to_vector

DECODES = ("atan2", "avg", "weighted")
# keeps acos/asin away from +-1, where their gradients are infinite
_EPS = 1e-7
SIGMA_MIN = 1e-6


def _sigma(o: torch.Tensor, scale: float) -> torch.Tensor:
    # scale * sigmoid(o); the floor keeps the contract's sigma > 0 when sigmoid underflows to 0
    return (scale * torch.sigmoid(o)).clamp_min(SIGMA_MIN)


def _check_scale(sigma_scale: float) -> float:
    if not 0 < sigma_scale <= math.pi:
        raise UserValueError(f"sigma_scale must be in (0, pi]; got {sigma_scale!r}")
    return float(sigma_scale)


def outputs(yaw: torch.Tensor, pitch: torch.Tensor, sigma: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The outputs every head returns: ``vector``, ``yaw_pitch`` and, when it predicts one, ``sigma``."""
    yaw_pitch = torch.stack([yaw, pitch], dim=-1)
    out = {"vector": yawpitch_to_vector(yaw_pitch), "yaw_pitch": yaw_pitch}
    return out if sigma is None else {**out, "sigma": sigma}


def wrap_angle(a: torch.Tensor) -> torch.Tensor:
    """Radians -> (-pi, pi]."""
    return a - 2 * math.pi * torch.ceil((a - math.pi) / (2 * math.pi))


def _sign(x: torch.Tensor) -> torch.Tensor:
    # +1 at 0, so both estimates pick the same half-plane when sin yaw is exactly 0
    return torch.where(x < 0, -torch.ones_like(x), torch.ones_like(x))


def yaw_from_cos(s: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``acos(c)`` in [0, pi], signed by ``s``: yaw in [-pi, pi]; accurate near |yaw| = 90 deg."""
    return _sign(s) * torch.acos(c.clamp(-1 + _EPS, 1 - _EPS))


def yaw_from_sin(s: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``asin(s)`` in [-pi/2, pi/2], mirrored to the back half (``sign(s)*pi - asin(s)``) when
    ``c < 0``: yaw in [-pi, pi]; accurate near yaw 0 and 180 deg."""
    a = torch.asin(s.clamp(-1 + _EPS, 1 - _EPS))
    return torch.where(c < 0, _sign(s) * math.pi - a, a)


def decode_yaw(s: torch.Tensor, c: torch.Tensor, method: str = "atan2") -> torch.Tensor:
    """Yaw from predicted (sin yaw, cos yaw), which need not lie on the unit circle.

    ``atan2``:    ``atan2(s, c)``.
    ``avg``:      the circular mean ``atan2(sin a + sin b, cos a + cos b)`` of
                  a = :func:`yaw_from_sin` and b = :func:`yaw_from_cos`.
    ``weighted``: ``w = |cos(avg)|``, ``yaw = w * a + (1 - w) * b``: trust the asin estimate near
                  0 / 180 deg and the acos estimate near +-90 deg, where each is well conditioned.
                  Both estimates share the sign of ``s``, so ``|a - b| <= pi`` and the blend is
                  computed as ``b + w * wrap(a - b)``, which is the same number but stays correct
                  across the +-180 deg seam.
    Result in (-pi, pi].
    """
    if method == "atan2":
        return torch.atan2(s, c)
    if method not in DECODES:
        raise ValueError(f"unknown sin-cos decode {method!r}; choose one of {DECODES}")
    a, b = yaw_from_sin(s, c), yaw_from_cos(s, c)
    avg = torch.atan2(torch.sin(a) + torch.sin(b), torch.cos(a) + torch.cos(b))
    if method == "avg":
        return avg
    w = torch.cos(avg).abs()
    return wrap_angle(b + w * wrap_angle(a - b))


class AngleHead(nn.Module):
    """Gaze360's head: ``yaw = pi*tanh(o0)``, ``pitch = pi/2*tanh(o1)``, ``sigma = pi*sigmoid(o2)``."""

    kind = "angle"

    def __init__(self, in_dim: int, sigma_scale: float = math.pi) -> None:
        super().__init__()
        self.sigma_scale = _check_scale(sigma_scale)
        self.fc = nn.Linear(in_dim, 3)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        o = self.fc(x).float()  # angles in float32 even under autocast
        yaw = math.pi * torch.tanh(o[:, 0])
        pitch = (math.pi / 2) * torch.tanh(o[:, 1])
        return outputs(yaw, pitch, _sigma(o[:, 2], self.sigma_scale))


class SinCosHead(nn.Module):
    """``tanh`` on three outputs -> (sin yaw, cos yaw, sin pitch), ``sigma = sigma_scale*sigmoid(o3)``
    (pi by default; 1 for the static sin-cos model, as the seed); yaw decoded by
    :func:`decode_yaw`, ``pitch = asin(sin pitch)``."""

    kind = "sincos"

    def __init__(self, in_dim: int, decode: str = "atan2", sigma_scale: float = math.pi) -> None:
        super().__init__()
        if decode not in DECODES:
            raise UserValueError(f"unknown sin-cos decode {decode!r}; choose one of {DECODES}")
        self.decode = decode
        self.sigma_scale = _check_scale(sigma_scale)
        self.fc = nn.Linear(in_dim, 4)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        o = self.fc(x).float()  # angles in float32 even under autocast
        sincos = torch.tanh(o[:, :3])
        yaw = decode_yaw(sincos[:, 0], sincos[:, 1], self.decode)
        pitch = torch.asin(sincos[:, 2].clamp(-1 + _EPS, 1 - _EPS))
        out = outputs(yaw, pitch, _sigma(o[:, 3], self.sigma_scale))
        out["sincos"] = sincos
        return out


class PitchYawHead(nn.Module):
    """The ETH-XGaze baseline's head: ``Linear(in_dim, 2)`` = (pitch, yaw) in radians, no activation.

    xucong-zhang/ETH-XGaze @ ef9bff0, ``model.py`` lines 10-12 and 14-19 (``gaze_fc``), regressed
    onto the labels as they are (``trainer.py`` line 128).  Its labels are (pitch, yaw) =
    ``(arcsin(-g_y), arctan2(-g_x, -g_z))`` in the normalised OpenCV camera frame
    (``normalization_example.py`` lines 313-315), which is Gaze360's direction convention
    (yaw = atan2(x, -z), pitch = asin(y) with +x to the image's left and +y up): the head only swaps
    the order into gazebench's (yaw, pitch).  No sigma; no range limit (a prediction beyond the
    usual ranges still gives a unit ``vector``).
    """

    kind = "pitchyaw"

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_dim, 2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        o = self.fc(x).float()
        return outputs(o[:, 1], o[:, 0])


class YawPitchHead(nn.Module):
    """``Linear(in_dim, 2)`` = (yaw, pitch) in radians, gazebench's own angles, no activation, no
    sigma: GazeTR-Hybrid's ``feed`` (yihuacheng/GazeTR @ d7cf716, ``model.py`` lines 100 and 125),
    regressed with an L1 loss (line 102) onto GazeHub's ``2DGaze`` label (``reader/reader.py``
    lines 125-126), which is ``GazeTo2d`` = (yaw, pitch) = (arctan2(-x, -z), arcsin(-y)) of the
    camera-frame gaze (``gazebench.datasets.gazehub``); GazeTR's ``gtools.gazeto3d`` (lines 3-9)
    inverts it to the camera frame, i.e. gazebench's :func:`~gazebench.core.geometry.yawpitch_to_vector`
    with x and y negated."""

    kind = "yawpitch"

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_dim, 2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        o = self.fc(x).float()
        return outputs(o[:, 0], o[:, 1])
