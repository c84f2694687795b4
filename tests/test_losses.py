"""Losses against numbers worked out by hand; sin-cos decodes; missing-output errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gazebench.core.geometry import yawpitch_to_vector
from gazebench.losses import (
    LOSSES,
    MissingOutputError,
    bin_index,
    pinball,
    resolve_loss,
    sincos_regularised,
    sincos_target,
    trains_sigma,
)
from gazebench.models.binned import BinnedHead
from gazebench.models.heads import AngleHead, SinCosHead, decode_yaw, wrap_angle

T = dict(dtype=torch.float64)


def test_pinball_by_hand() -> None:
    # yaw: t=1, y=0.5, s=0.25 -> q_lo = 0.75 -> 0.1*0.75 = 0.075 ; q_hi = 0.25 -> 0.9*0.25 = 0.225
    # pitch: t=0, y=0, s=0.25 -> q_lo = 0.25 -> 0.025 ; q_hi = -0.25 -> (0.9-1)*(-0.25) = 0.025
    # mean_lo = 0.05, mean_hi = 0.125 -> 0.175
    pred = torch.tensor([[0.5, 0.0]], **T)
    target = torch.tensor([[1.0, 0.0]], **T)
    loss = pinball(pred, target, torch.tensor([0.25], **T))
    assert loss.item() == pytest.approx(0.175, abs=1e-12)


def test_pinball_with_zero_sigma() -> None:
    # sigma = 0: both quantile terms score the same residual r: 0.1*r + 0.9*r = |r| for r > 0
    pred = torch.tensor([[0.0], [0.0]], **T)
    target = torch.tensor([[2.0], [-2.0]], **T)
    # r=+2: 0.1*2 + 0.9*2 = 2 ; r=-2: 0.9*2 + 0.1*2 = 2  -> mean_lo = (0.2+1.8)/2, mean_hi = (1.8+0.2)/2
    assert pinball(pred, target, torch.zeros(2, **T)).item() == pytest.approx(2.0)


def test_regularised_sincos_by_hand() -> None:
    # target gaze straight at the camera: yaw 0, pitch 0 -> (sin, cos, sin p) = (0, 1, 0)
    # pred (0.6, 0.6, 0.0), sigma 0.1:
    #   s: q_lo = 0-(0.5) = -0.5 -> 0.45 ; q_hi = 0-0.7 = -0.7 -> 0.07
    #   c: q_lo = 1-0.5 = 0.5 -> 0.05    ; q_hi = 1-0.7 = 0.3 -> 0.27
    #   p: q_lo = 0.1 -> 0.01            ; q_hi = -0.1 -> 0.01
    #   pinball = (0.45+0.05+0.01)/3 + (0.07+0.27+0.01)/3 = 0.17 + 0.35/3
    #   circle = (sqrt(0.72) - 1)^2
    pinball_value = 0.17 + 0.35 / 3
    expected = 0.9 * pinball_value + 0.1 * (math.sqrt(0.72) - 1) ** 2
    pred = torch.tensor([[0.6, 0.6, 0.0]], **T)
    sigma = torch.tensor([0.1], **T)
    target = torch.tensor([[0.0, 0.0, -1.0]], **T)
    assert sincos_target(target)[0].tolist() == pytest.approx([0.0, 1.0, 0.0])
    assert sincos_regularised(pred, sincos_target(target), sigma).item() == pytest.approx(expected, abs=1e-12)
    out = {"sincos": pred, "sigma": sigma, "vector": target}
    assert LOSSES.get("sincos")(out, target).item() == pytest.approx(expected, abs=1e-12)


def test_sincos_pinball_is_the_pinball_part_alone() -> None:
    # the case above without the unit-circle term: the seed's PinBallLoss on its MSA models' outputs
    pred, sigma = torch.tensor([[0.6, 0.6, 0.0]], **T), torch.tensor([0.1], **T)
    target = torch.tensor([[0.0, 0.0, -1.0]], **T)
    out = {"sincos": pred, "sigma": sigma, "vector": target}
    assert LOSSES.get("sincos_pinball")(out, target).item() == pytest.approx(0.17 + 0.35 / 3, abs=1e-12)
    assert trains_sigma("sincos_pinball")


def test_registered_pinball_converts_the_target_vector() -> None:
    yp = torch.tensor([[0.3, -0.2]], **T)
    target = yawpitch_to_vector(torch.tensor([[0.5, 0.1]], **T))
    out = {"yaw_pitch": yp, "sigma": torch.tensor([0.05], **T), "vector": yawpitch_to_vector(yp)}
    # yaw: q_lo = 0.5-0.25 = 0.25 -> 0.025 ; q_hi = 0.15 -> 0.135
    # pitch: q_lo = 0.1-(-0.25) = 0.35 -> 0.035 ; q_hi = 0.25 -> 0.225
    expected = (0.025 + 0.035) / 2 + (0.135 + 0.225) / 2
    assert LOSSES.get("pinball")(out, target).item() == pytest.approx(expected, abs=1e-9)


def test_angle_losses_by_hand_and_yaw_wraps() -> None:
    target = yawpitch_to_vector(torch.tensor([[math.pi - 0.01, 0.0]], **T))
    pred = torch.tensor([[-math.pi + 0.01, 0.1]], **T)  # 0.02 rad away in yaw across the seam
    out = {"yaw_pitch": pred, "vector": yawpitch_to_vector(pred)}
    assert LOSSES.get("l1")(out, target).item() == pytest.approx((0.02 + 0.1) / 2, abs=1e-9)
    assert LOSSES.get("mse")(out, target).item() == pytest.approx((0.02**2 + 0.1**2) / 2, abs=1e-9)


def test_vector_losses() -> None:
    a = torch.tensor([[0.0, 0.0, -1.0]], **T)
    b = torch.tensor([[1.0, 0.0, -1.0]], **T) / math.sqrt(2)  # 45 degrees away
    assert LOSSES.get("angular")({"vector": b}, a).item() == pytest.approx(1 - math.cos(math.pi / 4))
    assert LOSSES.get("angle")({"vector": b}, a).item() == pytest.approx(math.pi / 4)
    assert LOSSES.get("angular")({"vector": a}, a).item() == pytest.approx(0.0)


@pytest.mark.parametrize(
    "loss, output_keys, missing",
    [
        ("pinball", ("vector", "yaw_pitch"), "sigma"),
        ("sincos", ("vector", "yaw_pitch", "sigma"), "sincos"),
        ("mse", ("vector",), "yaw_pitch"),
        ("angular", ("sigma",), "vector"),
        ("l2cs", ("vector", "yaw_pitch"), "yaw_logits"),
    ],
)
def test_missing_output_names_loss_and_key(loss: str, output_keys: tuple, missing: str) -> None:
    out = {k: torch.zeros(2, 3) for k in output_keys}
    with pytest.raises(MissingOutputError, match=rf"loss '{loss}' needs model output '{missing}'"):
        LOSSES.get(loss)(out, torch.tensor([[0.0, 0.0, -1.0]] * 2))


def test_angle_head_losses_reject_a_model_without_sincos() -> None:
    out = AngleHead(4)(torch.randn(2, 4))
    with pytest.raises(KeyError, match="sincos"):
        LOSSES.get("sincos")(out, out["vector"].detach())


# --- mse on sin-cos models, sigma, which loss a run trains with -----------------------------------


def test_mse_sincos_by_hand() -> None:
    # decoded (yaw, pitch) = (0.3, -0.1) against the target (0.2, 0.0): squared errors 0.01, 0.01
    # (sin yaw, cos yaw) = (0.6, 0.6): norm sqrt(0.72); penalty (sqrt(0.72) - 1)^2 at weight 0.1
    target = yawpitch_to_vector(torch.tensor([[0.2, 0.0]], **T))
    out = {
        "yaw_pitch": torch.tensor([[0.3, -0.1]], **T),
        "sincos": torch.tensor([[0.6, 0.6, -0.1]], **T),
        "sigma": torch.tensor([0.5], **T),
    }
    expected = (0.1**2 + 0.1**2) / 2 + 0.1 * (math.sqrt(0.72) - 1) ** 2
    assert LOSSES.get("mse_sincos")(out, target).item() == pytest.approx(expected, abs=1e-9)
    # the yaw difference is wrapped as in mse: +179 deg against -179 deg is 2 deg apart
    near_seam = {**out, "yaw_pitch": torch.tensor([[math.radians(179), 0.0]], **T)}
    far = yawpitch_to_vector(torch.tensor([[math.radians(-179), 0.0]], **T))
    assert LOSSES.get("mse_sincos")(near_seam, far).item() < math.radians(2) ** 2 / 2 + 0.01


def test_every_registered_loss_says_whether_it_trains_sigma() -> None:
    for entry in LOSSES:
        assert isinstance(getattr(entry.obj, "trains_sigma", None), bool), entry.name
    assert trains_sigma("pinball") and trains_sigma("sincos")
    assert not any(trains_sigma(n) for n in ("mse", "mse_sincos", "l1", "angular", "angle", "l2cs"))


@pytest.mark.parametrize("loss", ["pinball", "sincos", "mse", "mse_sincos", "l1", "angular", "angle"])
def test_sigma_gets_a_gradient_exactly_when_the_loss_trains_it(loss: str) -> None:
    torch.manual_seed(0)
    head = SinCosHead(4) if loss in ("sincos", "mse_sincos") else AngleHead(4)
    out = head(torch.randn(8, 4))
    LOSSES.get(loss)(out, torch.nn.functional.normalize(torch.randn(8, 3), dim=-1)).backward()
    sigma_row = head.fc.weight.grad[-1]  # the last output is sigma's
    assert bool(sigma_row.abs().sum() > 0) == trains_sigma(loss)


class _Model:
    def __init__(self, head, default_loss: str) -> None:
        self.head, self.default_loss = head, default_loss


def test_resolve_loss() -> None:
    sincos, angle = _Model(SinCosHead(4), "sincos"), _Model(AngleHead(4), "pinball")
    assert resolve_loss(None, sincos) == "sincos" and resolve_loss(None, angle) == "pinball"
    assert resolve_loss("mse", sincos) == "mse_sincos" and resolve_loss("mse", angle) == "mse"
    assert resolve_loss("l1", sincos) == "l1"
    # a sin-cos head trained with another default still takes mse as mse_sincos
    assert resolve_loss("mse", _Model(SinCosHead(4), "pinball")) == "mse_sincos"

    class Plugin:  # a model without a head: its default loss tells
        default_loss = "sincos"

    assert resolve_loss("mse", Plugin()) == "mse_sincos"
    with pytest.raises(KeyError, match="mse"):
        resolve_loss("mse2", angle)


# --- L2CS-Net ----------------------------------------------------------------------------------------


def _binned_output(yaw_logits, pitch_logits, edges) -> dict:
    """What the binned head outputs for these logits (float64), decoded by the softmax expectation."""
    decoded = [(torch.softmax(logits, -1) * edges).sum(-1) for logits in (yaw_logits, pitch_logits)]
    yaw_pitch = torch.deg2rad(torch.stack(decoded, -1))
    return {
        "yaw_logits": yaw_logits,
        "pitch_logits": pitch_logits,
        "yaw_pitch": yaw_pitch,
        "vector": yawpitch_to_vector(yaw_pitch),
        "bin_edges_deg": edges.expand(len(yaw_logits), -1),
    }


def test_l2cs_loss_by_hand() -> None:
    # 4 bins of 10 deg from -20: left edges -20, -10, 0, 10
    # yaw logits flat: softmax 1/4 each -> decoded (0+1+2+3)/4*10 - 20 = -5 deg; target 3 deg is in
    #   bin 2 ([0, 10)): CE = ln 4; squared error (-5 - 3)^2 = 64
    # pitch logits (0, ln 3, 0, 0): softmax (1/6, 1/2, 1/6, 1/6) -> E[i] = 4/3 -> decoded -20/3 deg;
    #   target -12 deg is in bin 0 ([-20, -10)): CE = -ln(1/6) = ln 6; squared error (16/3)^2
    edges = torch.tensor([-20.0, -10.0, 0.0, 10.0], **T)
    out = _binned_output(torch.zeros(1, 4, **T), torch.tensor([[0.0, math.log(3.0), 0.0, 0.0]], **T), edges)
    target = yawpitch_to_vector(torch.deg2rad(torch.tensor([[3.0, -12.0]], **T)))
    expected = math.log(4) + 64 + math.log(6) + (16 / 3) ** 2  # alpha = 1, degrees, yaw + pitch
    assert LOSSES.get("l2cs")(out, target).item() == pytest.approx(expected, abs=1e-9)


def test_l2cs_regression_term_is_not_wrapped() -> None:
    # as the original: the decode is an expectation over [-180, 180), so 168 deg against a target
    # of -175 deg is 343 deg off, not 17
    edges = -180.0 + 4.0 * torch.arange(90, **T)
    yaw_logits, pitch_logits = torch.full((1, 90), -1e4, **T), torch.full((1, 90), -1e4, **T)
    yaw_logits[0, 87] = 0.0  # 87 * 4 - 180 = 168 deg
    pitch_logits[0, 45] = 0.0  # 0 deg, the target pitch's own bin: CE 0
    out = _binned_output(yaw_logits, pitch_logits, edges)
    target = yawpitch_to_vector(torch.deg2rad(torch.tensor([[-175.0, 0.0]], **T)))
    expected = 1e4 + 343.0**2  # the target yaw's bin 1 has logit -1e4 against 0
    assert LOSSES.get("l2cs")(out, target).item() == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("edges", [np.arange(-180, 180, 4), np.arange(-42, 42, 3)])
def test_l2cs_bins_as_numpy_digitize(edges) -> None:
    # the repo's labels: np.digitize([pitch, yaw], range(-angle, angle, width)) - 1
    # (l2cs/datasets.py:72-73), inside the grid, on its edges and at its top
    deg = np.concatenate([edges, edges + 1e-3, edges - 1e-3, [edges[-1] + 3.999, 180.0]])
    deg = deg[deg >= edges[0]]
    ours = bin_index(torch.tensor(deg), torch.tensor(edges, dtype=torch.float64))
    np.testing.assert_array_equal(ours.numpy(), np.minimum(np.digitize(deg, edges) - 1, len(edges) - 1))
    assert bin_index(torch.tensor([edges[0] - 5.0]), torch.tensor(edges, dtype=torch.float64)).item() == 0


def test_l2cs_loss_through_the_head_reaches_both_classifiers() -> None:
    torch.manual_seed(0)
    head = BinnedHead(6)
    out = head(torch.randn(5, 6))
    LOSSES.get("l2cs")(out, torch.nn.functional.normalize(torch.randn(5, 3), dim=-1)).backward()
    assert head.fc_yaw.weight.grad.abs().sum() > 0 and head.fc_pitch.weight.grad.abs().sum() > 0


# --- sin-cos decodes ------------------------------------------------------------------------------

YAWS = [0.0, 0.3, -0.3, 1.2, -1.2, math.pi / 2, -math.pi / 2, 2.5, -2.5, math.pi - 1e-3, -math.pi + 1e-3, math.pi]


@pytest.mark.parametrize("method", ["atan2", "avg", "weighted"])
def test_decodes_recover_yaw_all_round(method: str) -> None:
    yaw = torch.tensor(YAWS, **T)
    decoded = decode_yaw(torch.sin(yaw), torch.cos(yaw), method)
    assert (decoded > -math.pi).all() and (decoded <= math.pi).all()
    err = wrap_angle(decoded - yaw).abs()
    assert err.max().item() < 1e-3, (method, err)


@pytest.mark.parametrize("method", ["avg", "weighted"])
def test_decodes_at_the_back_seam_stay_on_their_side(method: str) -> None:
    # +179.9 deg must not decode near 0 or -179.9 deg (the sign of sin picks the half-plane)
    for yaw in (math.pi - 0.002, -math.pi + 0.002):
        y = torch.tensor([yaw], **T)
        got = decode_yaw(torch.sin(y), torch.cos(y), method).item()
        assert math.copysign(1, got) == math.copysign(1, yaw) and abs(got - yaw) < 1e-3


def test_decodes_of_off_circle_predictions_agree_roughly() -> None:
    # a network's (s, c) need not be unit: all three decodes land near the same yaw
    yaw = torch.linspace(-3.0, 3.0, 25, **T)
    s, c = 0.9 * torch.sin(yaw), 0.95 * torch.cos(yaw)
    ref = decode_yaw(s, c, "atan2")
    for method in ("avg", "weighted"):
        assert wrap_angle(decode_yaw(s, c, method) - ref).abs().max().item() < 0.2


def test_weighted_decode_formula() -> None:
    # s = 0.5, c = 0.8 (off the circle): asin estimate a = asin(0.5) = pi/6, acos estimate b = acos(0.8)
    s, c = torch.tensor([0.5], **T), torch.tensor([0.8], **T)
    a, b = math.pi / 6, math.acos(0.8)
    avg = math.atan2(math.sin(a) + math.sin(b), math.cos(a) + math.cos(b))
    w = abs(math.cos(avg))
    assert decode_yaw(s, c, "avg").item() == pytest.approx(avg)
    assert decode_yaw(s, c, "weighted").item() == pytest.approx(w * a + (1 - w) * b)
    # the back half: s = 0.5, c = -0.8 -> a = pi - pi/6, b = acos(-0.8)
    a, b = math.pi - math.pi / 6, math.acos(-0.8)
    avg = math.atan2(math.sin(a) + math.sin(b), math.cos(a) + math.cos(b))
    w = abs(math.cos(avg))
    assert decode_yaw(s, -c, "weighted").item() == pytest.approx(w * a + (1 - w) * b)


def test_unknown_decode() -> None:
    with pytest.raises(ValueError, match="atan2"):
        SinCosHead(4, decode="mean")


def test_heads_ranges_and_gradients_at_saturation() -> None:
    head = SinCosHead(2, decode="weighted")
    with torch.no_grad():
        head.fc.weight.fill_(50.0)  # tanh saturates to exactly +-1 in float32
    x = torch.tensor([[1.0, 1.0], [-1.0, -1.0]], requires_grad=True)
    out = head(x)
    (out["yaw_pitch"].sum() + out["vector"].sum()).backward()
    assert torch.isfinite(x.grad).all()
    assert (out["sigma"] > 0).all()
