"""Augmentations: the recipe's names, Gaze360's per-frame random resized crop, the label-exact flip."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torchvision.transforms.functional as TF

from gazebench.augment import (
    AUGMENTATIONS,
    CROP_RATIO,
    CROP_SCALE,
    check_augment,
    crop_resize,
    make_augment,
    random_flip,
    resized_crop,
    sample_boxes,
)
from gazebench.engine import StepContext
from gazebench.datasets.views import ViewSpec
from gazebench.options import OptionValueError


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def frames(b: int = 2, t: int = 3, size: int = 24, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (b, t, 3, size, size), generator=gen(seed), dtype=torch.uint8)


# --- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "none", "None", [], ()])
def test_none_means_no_augmentation(value) -> None:
    assert check_augment(value) == ()
    assert make_augment(value, gen()) is None


def test_names_in_every_spelling_come_back_in_one_order() -> None:
    assert check_augment("resized_crop,flip") == check_augment(["flip", "resized_crop"]) == AUGMENTATIONS
    assert check_augment(" flip ") == ("flip",) and check_augment(("flip", "flip")) == ("flip",)


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(OptionValueError, match="'flop'.*flip, resized_crop"):
        check_augment("flip,flop")


def test_importing_the_names_does_not_import_torch() -> None:
    code = "import sys, gazebench.augment as a; a.check_augment('flip'); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- boxes ----------------------------------------------------------------------------------------


def test_boxes_keep_within_the_scale_and_ratio_bounds_and_the_frame() -> None:
    size, n = 64, 4000
    top, left, h, w = sample_boxes(n, size, gen()).unbind(1)
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= size).all() and (left + w <= size).all()
    # sides are rounded to pixels: allow half a pixel on each side of the bounds
    area = (h * w).double() / size**2
    slack = 1.0 / size
    assert area.min() >= CROP_SCALE[0] - 2 * slack and area.max() <= CROP_SCALE[1] + 2 * slack
    ratio = w.double() / h.double()
    assert ratio.min() >= CROP_RATIO[0] * (1 - 2 * slack) and ratio.max() <= CROP_RATIO[1] * (1 + 2 * slack)
    # the draws spread over the ranges, and the position over the free room
    assert area.max() - area.min() > 0.15 and ratio.max() / ratio.min() > 1.4
    free = (size - w).double().clamp_min(1)
    assert 0.4 < (left.double() / free)[w < size].mean() < 0.6


def test_a_frame_with_no_fitting_draw_gets_the_centre_fallback() -> None:
    # a ratio range far from 1 at full area never fits a square frame: torchvision's fallback
    # is the largest centred box within the range
    top, left, h, w = sample_boxes(50, 40, gen(), scale=(1.0, 1.0), ratio=(2.0, 3.0)).unbind(1)
    assert (w == 40).all() and (h == 20).all() and (top == 10).all() and (left == 0).all()


def test_seeded_boxes_repeat_and_differ_between_seeds() -> None:
    assert torch.equal(sample_boxes(20, 32, gen(3)), sample_boxes(20, 32, gen(3)))
    assert not torch.equal(sample_boxes(20, 32, gen(3)), sample_boxes(20, 32, gen(4)))


# --- crop and resize ------------------------------------------------------------------------------


def test_crop_resize_matches_torchvisions_resized_crop() -> None:
    x = torch.rand(5, 3, 20, 20, generator=gen())
    boxes = torch.tensor([[0, 0, 20, 20], [2, 3, 16, 17], [0, 4, 18, 15], [5, 0, 15, 19], [1, 1, 17, 18]])
    got = crop_resize(x, boxes)
    for k, (top, left, h, w) in enumerate(boxes.tolist()):
        want = TF.resized_crop(x[k], top, left, h, w, [20, 20], antialias=False)
        torch.testing.assert_close(got[k], want, atol=1e-5, rtol=0)


def test_the_full_frame_box_is_the_identity() -> None:
    x = frames()
    assert torch.equal(resized_crop(x, gen(), scale=(1.0, 1.0), ratio=(1.0, 1.0)), x)
    f = x.float() / 255
    assert torch.equal(resized_crop(f, gen(), scale=(1.0, 1.0), ratio=(1.0, 1.0)), f)


def test_resized_crop_is_seeded_and_keeps_shape_and_dtype() -> None:
    x = frames()
    a, b = resized_crop(x, gen(1)), resized_crop(x, gen(1))
    assert torch.equal(a, b) and a.shape == x.shape and a.dtype == torch.uint8
    assert not torch.equal(a, resized_crop(x, gen(2)))
    assert resized_crop(x.float(), gen(1)).dtype == torch.float32


def test_frames_of_one_sample_get_independent_boxes() -> None:
    # the same frame repeated T times comes out different per frame: one box per frame
    one = frames(b=1, t=1, size=32)
    x = one.expand(2, 6, 3, 32, 32).contiguous()
    out = resized_crop(x, gen(5))
    distinct = {bytes(out[b, t].numpy()) for b in range(2) for t in range(6)}
    assert len(distinct) > 6


def test_make_augment_runs_the_crop_on_frames_through_the_step_context() -> None:
    aug = make_augment("resized_crop", gen(7))
    batch = {"frames": frames(b=2, t=1, size=16), "gaze": torch.zeros(2, 3)}
    ctx = StepContext(ViewSpec(), 16, torch.device("cpu"))
    plain, cropped = ctx.views(batch), ctx.views(batch, aug.frames)
    assert plain.shape == cropped.shape and not torch.equal(plain, cropped)
    views, target = aug.views_target(plain, batch["gaze"])  # no flip named: unchanged
    assert views is plain and target is batch["gaze"]


# --- flip -----------------------------------------------------------------------------------------


def test_flip_mirrors_every_view_of_a_sample_alike_and_negates_gaze_x() -> None:
    views = torch.rand(64, 3, 3, 4, 5, generator=gen())
    target = torch.nn.functional.normalize(torch.randn(64, 3, generator=gen(1)), dim=-1)
    out_v, out_t = random_flip(views, target, gen(2))
    flipped = (out_t[:, 0] != target[:, 0])
    assert 0 < flipped.sum() < 64
    torch.testing.assert_close(out_t[flipped], target[flipped] * torch.tensor([-1.0, 1.0, 1.0]))
    torch.testing.assert_close(out_t[~flipped], target[~flipped])
    assert torch.equal(out_v[flipped], views[flipped].flip(-1))
    assert torch.equal(out_v[~flipped], views[~flipped])
    # yaw changes sign, pitch stays
    yaw = torch.atan2(out_t[flipped, 0], -out_t[flipped, 2])
    assert torch.allclose(yaw, -torch.atan2(target[flipped, 0], -target[flipped, 2]))


def test_augment_flip_is_seeded() -> None:
    views, target = torch.rand(16, 1, 3, 4, 4), torch.randn(16, 3)
    a = make_augment(["flip"], gen(9)).views_target(views, target)
    b = make_augment(["flip"], gen(9)).views_target(views, target)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert make_augment(["flip"], gen(9)).frames(views) is views  # no crop named: frames unchanged

