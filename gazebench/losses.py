"""Training losses: plain functions, and the same registered by name for configs.

A registered loss is ``fn(output, target) -> scalar`` where ``output`` is a model's output dict
(``vector``, ``sigma``, ``yaw_pitch``, ``sincos``; see ``gazebench.models.base``) and ``target``
the canonical unit gaze ``[B, 3]``; each loss converts the target to what it compares.

Registered: ``pinball`` (yaw, pitch + sigma; Gaze360), ``sincos`` (regularised sin-cos pinball),
``sincos_pinball`` (plain pinball on the sin-cos triple: the seed's MSA models),
``mse`` / ``l1`` (yaw, pitch; the yaw difference is wrapped to [-pi, pi) so a back-view gaze at
+179 deg vs -179 deg counts as 2 deg), ``mse_sincos`` (``mse`` for sin-cos models, with their
unit-circle regulariser), ``angular`` (mean ``1 - cos`` of the angle between vectors: smooth
everywhere, unlike the angle itself), ``angle`` (mean angle in radians) and ``l2cs`` (L2CS-Net's
cross-entropy over angle bins plus the MSE of the decoded angles, in degrees).

Every registered loss carries ``trains_sigma``: whether it gives the model's sigma a gradient
(:func:`trains_sigma` reads it; a plugin loss without the attribute counts as False).
:func:`resolve_loss` is the one place that picks the loss a run trains with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from gazebench.core.errors import GazebenchError
from gazebench.core.geometry import normalize, vector_to_yawpitch
from gazebench.core.registry import LOSSES

#: L2CS-Net's weight of the regression term, ``alpha`` (Ahmednull/L2CS-Net @ a4d8f7f, ``train.py``
#: lines 58-60: ``--alpha`` defaults to 1; the README's training commands pass ``--alpha 1``)
L2CS_ALPHA = 1.0
#: the unit-circle regulariser's weight in the seed's sin-cos loss: ``(1 - 0.9)``
#: (ashesh-0/MultiZoomGaze @ 24494a1, code/sinecosine_model/mixed_loss.py lines 104-117)
SINCOS_REG_WEIGHT = 0.1
#: the losses on a sin-cos head's (sin yaw, cos yaw, sin pitch)
SINCOS_LOSSES = ("sincos", "sincos_pinball")


class MissingOutputError(GazebenchError, KeyError):
    """A loss needs a model output the model does not produce."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


# --- functional ---------------------------------------------------------------------------------


def pinball(
    pred: torch.Tensor, target: torch.Tensor, sigma: torch.Tensor, taus: Sequence[float] = (0.1, 0.9)
) -> torch.Tensor:
    """Gaze360's pinball loss: ``pred +- sigma`` regress the ``taus`` quantiles of the target.

    ``q_lo = t - (pred - sigma)``, ``q_hi = t - (pred + sigma)``; each is scored by the quantile
    loss ``max(tau*q, (tau-1)*q)`` at its own tau, averaged over every element, and the two means
    are summed (as the seed does).  ``pred``/``target`` ``[B, K]``; ``sigma`` ``[B]`` is shared by
    the K components (or ``[B, K]``).
    """
    tau_lo, tau_hi = taus
    if sigma.dim() == pred.dim() - 1:
        sigma = sigma.unsqueeze(-1)
    q_lo = target - (pred - sigma)
    q_hi = target - (pred + sigma)
    loss_lo = torch.maximum(tau_lo * q_lo, (tau_lo - 1) * q_lo).mean()
    loss_hi = torch.maximum(tau_hi * q_hi, (tau_hi - 1) * q_hi).mean()
    return loss_lo + loss_hi


def unit_circle_penalty(sin_cos: torch.Tensor) -> torch.Tensor:
    """``mean((||(s, c)||_2 - 1)^2)`` over rows of ``[B, 2]``: keeps (sin yaw, cos yaw) on the circle."""
    return ((sin_cos.norm(dim=-1) - 1.0) ** 2).mean()


def sincos_regularised(
    pred: torch.Tensor, target: torch.Tensor, sigma: torch.Tensor, weight: float = SINCOS_REG_WEIGHT
) -> torch.Tensor:
    """``(1 - weight) * pinball(pred, target, sigma) + weight * unit_circle_penalty(pred[:, :2])``
    on (sin yaw, cos yaw, sin pitch) ``[B, 3]``; weight 0.1 as the seed (``mixed_loss.py`` lines
    104-117)."""
    return (1.0 - weight) * pinball(pred, target, sigma) + weight * unit_circle_penalty(pred[:, :2])


def sincos_target(vector: torch.Tensor) -> torch.Tensor:
    """Canonical gaze ``[B, 3]`` -> (sin yaw, cos yaw, sin pitch) ``[B, 3]``."""
    yaw, pitch = vector_to_yawpitch(vector).unbind(-1)
    return torch.stack([torch.sin(yaw), torch.cos(yaw), torch.sin(pitch)], dim=-1)


def angle_difference(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(yaw, pitch) differences with the yaw part wrapped to [-pi, pi)."""
    d = pred - target
    yaw = torch.remainder(d[..., 0] + math.pi, 2 * math.pi) - math.pi
    return torch.stack([yaw, d[..., 1]], dim=-1)


def cosine_distance(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample ``1 - cos(angle)`` between gaze vectors (need not be unit)."""
    return 1.0 - (normalize(pred) * normalize(target)).sum(-1)


def bin_index(deg: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """The bin of each angle: ``k`` with ``edges[k] <= deg < edges[k + 1]``, i.e.
    ``np.digitize(deg, edges) - 1`` as L2CS-Net bins its labels (``l2cs/datasets.py`` lines 72-73);
    angles from the last edge on fall in the last bin, as there, and angles below the first edge
    (which that code would make -1, an invalid class) in the first."""
    return (torch.bucketize(deg.contiguous(), edges.to(deg.dtype), right=True) - 1).clamp(0, len(edges) - 1)


def binned_angle_loss(
    logits: torch.Tensor,
    decoded_deg: torch.Tensor,
    target_deg: torch.Tensor,
    edges: torch.Tensor,
    alpha: float = L2CS_ALPHA,
) -> torch.Tensor:
    """L2CS-Net's loss for one angle: ``CE(logits, bin of the target) + alpha * MSE(decoded, target)``,
    both means over the batch, angles in degrees (``train.py`` lines 175-176 and 209-229)."""
    ce = F.cross_entropy(logits, bin_index(target_deg, edges))
    return ce + alpha * F.mse_loss(decoded_deg, target_deg)


# --- registered: fn(output dict, target vector [B, 3]) -> scalar ---------------------------------


def _need(output: dict[str, torch.Tensor], loss: str, *keys: str) -> list[torch.Tensor]:
    missing = [k for k in keys if k not in output]
    if missing:
        raise MissingOutputError(
            f"loss {loss!r} needs model output {', '.join(repr(k) for k in missing)}, which this model "
            f"does not produce (it outputs {', '.join(sorted(output))}); choose another loss"
        )
    return [output[k] for k in keys]


def _target_angles(target: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return vector_to_yawpitch(target.to(like.dtype))


def register(name: str, sigma: bool):
    """``@LOSSES.register(name)``, marking the function with ``trains_sigma = sigma``."""

    def decorator(fn):
        fn.trains_sigma = sigma
        return LOSSES.register(name)(fn)

    return decorator


@register("pinball", sigma=True)
def pinball_loss(output: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """Pinball (tau 0.1/0.9) on yaw and pitch with the predicted sigma (Gaze360)."""
    yaw_pitch, sigma = _need(output, "pinball", "yaw_pitch", "sigma")
    return pinball(yaw_pitch, _target_angles(target, yaw_pitch), sigma)


@register("sincos", sigma=True)
def sincos_loss(output: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """Regularised sin-cos pinball: 0.9 pinball on (sin yaw, cos yaw, sin pitch) + 0.1 unit-circle penalty."""
    sincos, sigma = _need(output, "sincos", "sincos", "sigma")
    return sincos_regularised(sincos, sincos_target(target.to(sincos.dtype)), sigma)


@register("sincos_pinball", sigma=True)
def sincos_pinball_loss(output: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """Plain pinball (tau 0.1/0.9) on (sin yaw, cos yaw, sin pitch) with the predicted sigma, no
    unit-circle term: how the seed trains its released MSA and MSA+Seq models
    (``NonLstmSinCosModel``, ashesh-0/MultiZoomGaze @ 24494a1, ``code/run.py`` lines 583-584:
    ``PinBallLoss``, ``code/core/loss.py`` lines 6-27, on the model's tanh outputs and the
    sin-cos target); its regularised ``NonLstmSinCosRegModel`` (lines 585-586) is ``sincos``."""
    sincos, sigma = _need(output, "sincos_pinball", "sincos", "sigma")
    return pinball(sincos, sincos_target(target.to(sincos.dtype)), sigma)


def _angle_mse(yaw_pitch: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (angle_difference(yaw_pitch, _target_angles(target, yaw_pitch)) ** 2).mean()


@register("mse", sigma=False)
def mse_loss(output: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """Mean squared error on (yaw, pitch) in radians, yaw difference wrapped."""
    (yaw_pitch,) = _need(output, "mse", "yaw_pitch")
    return _angle_mse(yaw_pitch, target)


@register("mse_sincos", sigma=False)
def mse_sincos_loss(output: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """MSE on a sin-cos model's decoded (yaw, pitch) + 0.1 unit-circle penalty on (sin yaw, cos yaw).

    What ``mse`` means for a sin-cos model (:func:`resolve_loss`).  The RT-GENE recipe's loss is
    MSE: the seed trains its 2-output angle models there with ``torch.nn.MSELoss()``
    (ashesh-0/MultiZoomGaze @ 24494a1, ``code/RTGENE/rt_run.py`` lines 203 and 228).  The seed
    never trained a sin-cos model on RT-GENE, so this loss is gazebench's own choice, not a
    reproduction: the same MSE as ``mse`` (yaw difference wrapped) on the angles the model's head
    decodes, plus the model's own regulariser at the seed's weight
    (``code/sinecosine_model/mixed_loss.py`` lines 104-117) to keep the pair on the unit circle.
    The uncertainty sigma gets no gradient (``trains_sigma`` is False).
    """
    yaw_pitch, sincos = _need(output, "mse_sincos", "yaw_pitch", "sincos")
    return _angle_mse(yaw_pitch, target) + SINCOS_REG_WEIGHT * unit_circle_penalty(sincos[:, :2])


@register("l1", sigma=False)
def l1_loss(output: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error on (yaw, pitch) in radians, yaw difference wrapped."""
    (yaw_pitch,) = _need(output, "l1", "yaw_pitch")
    return angle_difference(yaw_pitch, _target_angles(target, yaw_pitch)).abs().mean()


@register("angular", sigma=False)
def angular_loss(output: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """Cosine loss on gaze vectors: mean(1 - cos(angle)), smooth even at zero error."""
    (vector,) = _need(output, "angular", "vector")
    return cosine_distance(vector, target.to(vector.dtype)).mean()


@register("angle", sigma=False)
def angle_loss(output: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """Mean angle in radians between gaze vectors (the metric itself; clamped away from acos' poles)."""
    (vector,) = _need(output, "angle", "vector")
    cos = (normalize(vector) * normalize(target.to(vector.dtype))).sum(-1)
    return torch.acos(cos.clamp(-1 + 1e-6, 1 - 1e-6)).mean()


@register("l2cs", sigma=False)
def l2cs_loss(output: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """L2CS-Net: per angle, cross-entropy over its bins + 1 x MSE of the decoded angle (degrees); yaw + pitch.

    Ahmednull/L2CS-Net @ a4d8f7f, ``train.py`` lines 175-176 (``nn.CrossEntropyLoss``,
    ``nn.MSELoss``, both means), 196-229 (per head: CE on the label's bin, plus ``alpha`` times the
    MSE between the softmax-expectation decode and the continuous label) and 234-237 (the two
    heads' losses back-propagated together, i.e. their sum); ``alpha`` = 1 (lines 58-60).  Units
    are degrees: the labels are converted from radians (``l2cs/datasets.py`` lines 58-59) and the
    decode is ``sum softmax * idx * 4 - 180`` (``train.py`` lines 214-220), so an error of 10 deg
    costs 100 in the regression term.  The target's bin is ``np.digitize`` on the left edges
    (``l2cs/datasets.py`` lines 72-73): bin ``k`` is trained as ``[angle_min + k w,
    angle_min + (k + 1) w)`` (``[4k - 180, 4k - 176)`` deg for Gaze360's 90 bins) while the decode
    maps bin ``k`` to its left edge ``angle_min + k w`` (:mod:`gazebench.models.binned`).  As in
    the original, the yaw difference is not wrapped: the decode is an expectation over
    ``[angle_min, angle_min + bins w)``, not an angle on the circle.

    Needs ``yaw_logits``, ``pitch_logits``, ``yaw_pitch`` (the decoded angles, radians) and
    ``bin_edges_deg`` (the left edges; the binned head outputs them).  Yaw is the first head, pitch
    the second, whatever the original code's variable names say.  Trains no sigma.
    """
    yaw_logits, pitch_logits, yaw_pitch, edges = _need(
        output, "l2cs", "yaw_logits", "pitch_logits", "yaw_pitch", "bin_edges_deg"
    )
    decoded = torch.rad2deg(yaw_pitch)
    wanted = torch.rad2deg(_target_angles(target, yaw_pitch))
    return sum(
        binned_angle_loss(logits, decoded[:, i], wanted[:, i], edges[0])
        for i, logits in enumerate((yaw_logits, pitch_logits))
    )


# --- which loss a run trains with ---------------------------------------------------------------


def trains_sigma(name: str) -> bool:
    """Whether registered loss ``name`` gives the model's sigma a gradient (False when unmarked)."""
    return bool(getattr(LOSSES.get(name), "trains_sigma", False))


def loss_for_head(name: str, sincos_head: bool) -> str:
    """``mse`` on a model with a sin-cos head is ``mse_sincos``; any other name stays."""
    return "mse_sincos" if sincos_head and name == "mse" else name


def has_sincos_head(model: Any) -> bool:
    """Whether ``model`` predicts (sin yaw, cos yaw, sin pitch): its head says so (``kind``), or,
    for a model without one, its default loss is a sin-cos loss."""
    kind = getattr(getattr(model, "head", None), "kind", None)
    return kind == "sincos" if kind is not None else getattr(model, "default_loss", None) in SINCOS_LOSSES


def resolve_loss(recipe_loss: str | None, model: Any) -> str:
    """The registered loss a run trains ``model`` with: the recipe's ``loss`` when set, else the
    model's default; ``mse`` on a sin-cos model becomes ``mse_sincos`` (MSE on its decoded angles
    plus its own regulariser, see :func:`mse_sincos_loss`).  An unknown name raises
    :class:`~gazebench.core.registry.RegistryError` listing the losses."""
    name = loss_for_head(recipe_loss or model.default_loss, has_sincos_head(model))
    LOSSES.get(name)
    return name
