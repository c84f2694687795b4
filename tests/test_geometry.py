import math

import numpy as np
import pytest
import torch

from gazebench.core import geometry as G


@pytest.mark.parametrize(
    "vec, yaw, pitch",
    [
        ((1, 0, 0), math.pi / 2, 0.0),
        ((-1, 0, 0), -math.pi / 2, 0.0),
        ((0, 1 / math.sqrt(2), -1 / math.sqrt(2)), 0.0, math.pi / 4),
        ((0, 0, 1), math.pi, 0.0),
        ((0, 0, -1), 0.0, 0.0),
    ],
)
def test_spec_checks(vec, yaw, pitch):
    np.testing.assert_allclose(G.vector_to_yawpitch(np.array(vec, float)), [yaw, pitch], atol=1e-12)
    got = G.vector_to_yawpitch(torch.tensor(vec, dtype=torch.float64))
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(got.numpy(), [yaw, pitch], atol=1e-12)


def test_round_trip_whole_sphere():
    rng = np.random.default_rng(0)
    v = G.normalize(rng.normal(size=(10000, 3)))
    back = G.yawpitch_to_vector(G.vector_to_yawpitch(v))
    np.testing.assert_allclose(back, v, atol=1e-10)
    yp = G.vector_to_yawpitch(v)
    assert (yp[:, 0] > -math.pi).all() and (yp[:, 0] <= math.pi).all()
    assert (np.abs(yp[:, 1]) <= math.pi / 2).all()
    # and the other way round, for angles inside the principal range
    yp = np.stack([rng.uniform(-math.pi + 1e-6, math.pi, 1000), rng.uniform(-1.5, 1.5, 1000)], 1)
    np.testing.assert_allclose(G.vector_to_yawpitch(G.yawpitch_to_vector(yp)), yp, atol=1e-9)


def test_torch_and_numpy_agree():
    rng = np.random.default_rng(1)
    yp = rng.uniform(-1.5, 1.5, size=(50, 2))
    np.testing.assert_allclose(G.yawpitch_to_vector(torch.from_numpy(yp)).numpy(), G.yawpitch_to_vector(yp), atol=1e-12)


def test_angular_error_known_values_and_clamp():
    assert G.angular_error_deg(np.array([1.0, 0, 0]), np.array([0, 0, -1.0])) == pytest.approx(90.0)
    assert G.angular_error_deg(np.array([0, 0, -2.0]), np.array([0, 0, 1.0])) == pytest.approx(180.0)
    # identical vectors whose dot product rounds above 1 must give 0, not NaN
    v = G.normalize(np.array([0.1, 0.2, -0.97]))
    assert G.angular_error_deg(v, v * (1 + 1e-15)) == pytest.approx(0.0, abs=1e-5)
    t = G.angular_error_deg(torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]), torch.tensor([[1.0, 0, 0], [0, 0, -1.0]]))
    np.testing.assert_allclose(t.numpy(), [0.0, 90.0], atol=1e-3)


def test_subsets():
    v = G.yawpitch_to_vector(
        np.radians([[0, 0], [19, 5], [25, 0], [89, 0], [91, 0], [180, 0], [-100, 10], [0, 25], [-12, -15]])
    )
    m = G.subset_masks(v)
    assert m["front20"].tolist() == [True, True, False, False, False, False, False, True, True]
    assert m["front180"].tolist() == [True, True, True, True, False, False, False, True, True]
    assert m["back"].tolist() == [False, False, False, False, True, True, True, False, False]
    # within 20 deg of the camera axis: (19, 5) is 19.6 deg off it, (0, 25) has |yaw| 0 but is 25 deg
    # off, (-12, -15) is 19.1 deg off
    assert m["front20axis"].tolist() == [True, True, False, False, False, False, False, False, True]
    np.testing.assert_allclose(G.camera_axis_angle_deg(v[[0, 7, 5]]), [0.0, 25.0, 180.0], atol=1e-9)


def test_front20axis_lies_inside_front20():
    """tan|yaw| <= tan(angle to the axis), so a gaze within 20 deg of the axis has |yaw| <= 20 deg."""
    v = G.normalize(np.random.default_rng(3).normal(size=(20000, 3)))
    m = G.subset_masks(v)
    assert m["front20axis"].any() and not (m["front20axis"] & ~m["front20"]).any()
    assert (m["front20"] & ~m["front20axis"]).any()  # the two readings differ


def test_native_conversions_agree():
    yaw, pitch = 0.3, -0.2
    expected = G.yawpitch_to_vector(np.array([yaw, pitch]))
    np.testing.assert_allclose(G.from_yaw_pitch(np.array([yaw, pitch])), expected)
    np.testing.assert_allclose(G.from_pitch_yaw(np.array([pitch, yaw])), expected)
    np.testing.assert_allclose(G.from_gaze360(expected * 3.0), expected)
    cam = expected * np.array([-1, -1, 1])
    np.testing.assert_allclose(G.from_camera_frame(cam), expected)
    # mirroring the image negates yaw and keeps pitch
    np.testing.assert_allclose(G.vector_to_yawpitch(G.mirror(expected)), [-yaw, pitch])


def test_error_summary_over_samples():
    s = G.error_summary(np.array([1.0, 2.0, 3.0, 10.0]))
    assert s["mean"] == pytest.approx(4.0)
    assert s["median"] == pytest.approx(2.5)
    assert s["n"] == 4
    assert s["p90"] == pytest.approx(np.percentile([1, 2, 3, 10], 90))
