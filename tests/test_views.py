"""Zoom crops on tensors agree with the seed's PIL pipeline; view specs fit the models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import gazebench.models  # noqa: F401  (registers the models)
from gazebench.core.registry import MODELS
from gazebench.datasets.views import IMAGENET_MEAN, IMAGENET_STD, ViewSpec, crop_pixels, make_views, zoom
from gazebench.models import build_model, model_kwargs

# |tensor - PIL| in grey levels (0..255).  Both are bilinear with half-pixel centres (and both
# antialias when shrinking), so the residue is PIL's fixed-point arithmetic and its rounding to
# uint8: measured mean ~0.3, max 1.0 at 64 and 224 px.
MEAN_TOLERANCE = 0.5
MAX_TOLERANCE = 1.5


def smooth_image(size: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB image ``[size, size, 3]`` uint8 (coarse noise upsampled bicubically)."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    return np.asarray(coarse.resize((size, size), Image.BICUBIC))


def pil_zoom(img: np.ndarray, rel: float, out_size: int) -> np.ndarray:
    """The seed pipeline: centre-crop a square of side round(rel*S), resize with BILINEAR."""
    size = img.shape[0]
    side = crop_pixels(size, rel)
    left = top = (size - side) // 2
    pil = Image.fromarray(img).crop((left, top, left + side, top + side))
    return np.asarray(pil.resize((out_size, out_size), Image.BILINEAR), dtype=np.float64)


def as_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img.copy()).permute(2, 0, 1).float()  # [3, S, S], 0..255


@pytest.mark.parametrize("size", [64, 224])
@pytest.mark.parametrize("rel", [1.0, 200 / 224, 175 / 224, 150 / 224, 0.5])
def test_zoom_matches_pil(size: int, rel: float) -> None:
    img = smooth_image(size, seed=size)
    ours = zoom(as_tensor(img), rel).permute(1, 2, 0).numpy()
    diff = np.abs(ours - pil_zoom(img, rel, size))
    assert diff.mean() < MEAN_TOLERANCE, diff.mean()
    assert diff.max() < MAX_TOLERANCE, diff.max()


@pytest.mark.parametrize("rel, out_size", [(1.0, 64), (0.8, 112), (175 / 224, 96)])
def test_zoom_to_a_smaller_output_matches_pil_antialiasing(rel: float, out_size: int) -> None:
    img = smooth_image(224, seed=1)
    ours = zoom(as_tensor(img), rel, out_size).permute(1, 2, 0).numpy()
    diff = np.abs(ours - pil_zoom(img, rel, out_size))
    assert ours.shape == (out_size, out_size, 3)
    assert diff.mean() < MEAN_TOLERANCE, diff.mean()
    assert diff.max() < MAX_TOLERANCE, diff.max()


def test_zoom_magnifies_the_centre() -> None:
    # a centred square of side 32 in a 64 image fills the whole view at rel = 0.5
    img = torch.zeros(1, 64, 64)
    img[:, 16:48, 16:48] = 1.0
    assert zoom(img, 0.5).min() == 1.0
    assert zoom(img, 1.0).mean() == pytest.approx(0.25)


def frames_batch(b: int, t: int, size: int = 32) -> torch.Tensor:
    return torch.randint(0, 256, (b, t, 3, size, size), dtype=torch.uint8)


def test_make_views_multi_zoom_of_one_frame() -> None:
    frames = frames_batch(2, 1)
    spec = ViewSpec((0,), (1.0, 0.75, 0.5))
    views = make_views(frames, spec, normalize=False)
    assert views.shape == (2, 3, 3, 32, 32)
    x = frames.float() / 255
    torch.testing.assert_close(views[:, 0], x[:, 0])
    for i, c in enumerate(spec.crops):
        torch.testing.assert_close(views[:, i], zoom(x[:, 0], c))


def test_make_views_per_frame_crops() -> None:
    frames = frames_batch(2, 5)
    spec = ViewSpec.window(5, (1.0, 0.8, 0.6, 0.8, 1.0))
    views = make_views(frames, spec, normalize=False)
    assert views.shape == (2, 5, 3, 32, 32)
    x = frames.float() / 255
    for i, c in enumerate(spec.crops):
        torch.testing.assert_close(views[:, i], zoom(x[:, i], c))


def test_make_views_normalises_and_resizes() -> None:
    frames = frames_batch(1, 1, size=64)
    views = make_views(frames, ViewSpec(), out_size=32)
    assert views.shape == (1, 1, 3, 32, 32)
    raw = make_views(frames, ViewSpec(), out_size=32, normalize=False)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1)
    torch.testing.assert_close(views, (raw - mean) / std)


def test_make_views_rejects_the_wrong_number_of_frames() -> None:
    with pytest.raises(ValueError, match="needs 7 frames"):
        make_views(frames_batch(1, 1), ViewSpec.window(7))


def test_view_spec_counts() -> None:
    assert ViewSpec().num_views == 1
    assert ViewSpec((0,), (1.0, 0.8, 0.6, 0.4)).num_views == 4
    assert ViewSpec.window(7).num_views == 7 and ViewSpec.window(7).needs_sequences
    assert ViewSpec.window(7, (1.0,) * 7).num_views == 7
    with pytest.raises(ValueError, match="one crop per frame"):
        ViewSpec.window(7, (1.0, 0.5))


@pytest.mark.parametrize("name", MODELS.names())
def test_model_view_fits_make_views(name: str) -> None:
    kwargs = {k: v for k, v in dict(backbone="test_resnet").items() if k in model_kwargs(name)}
    model = build_model(name, **kwargs).eval()
    spec = model.view
    views = make_views(frames_batch(2, spec.num_frames), spec)
    assert views.shape == (2, spec.num_views, 3, 32, 32)
    with torch.no_grad():
        assert model(views)["vector"].shape == (2, 3)
