"""Augmentations: the recipe's names, Gaze360's per-frame random resized crop on the frame as read, the
label-exact flip."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image

from gazebench.core.config import AUGMENTATIONS, check_augment
from gazebench.core.options import OptionValueError
from gazebench.datasets.loading import FrameWindows
from gazebench.datasets.sources import ImageFiles
from gazebench.datasets.views import ViewSpec
from gazebench.train.augment import (
    CROP_RATIO,
    CROP_SCALE,
    SourceCrop,
    crop_to_size,
    draw_box,
    make_augment,
    random_flip,
    source_crop,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def frames(b: int = 2, t: int = 3, size: int = 24, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (b, t, 3, size, size), generator=gen(seed), dtype=torch.uint8)


# --- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "none", "None", [], ()])
def test_none_means_no_augmentation(value) -> None:
    assert check_augment(value) == ()
    assert make_augment(value, gen()) is None and source_crop(value, 0) is None


def test_names_in_every_spelling_come_back_in_one_order() -> None:
    assert check_augment("resized_crop,flip") == check_augment(["flip", "resized_crop"]) == AUGMENTATIONS
    assert check_augment(" flip ") == ("flip",) and check_augment(("flip", "flip")) == ("flip",)


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(OptionValueError, match="'flop'.*flip, resized_crop"):
        check_augment("flip,flop")


def test_importing_the_names_does_not_import_torch() -> None:
    code = "import sys, gazebench.train.augment, gazebench.core.config as a; a.check_augment('flip'); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- boxes, on the frame as read ------------------------------------------------------------------


def boxes(height: int, width: int, n: int, seed: int = 0, **kw) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([draw_box(height, width, rng, **kw) for _ in range(n)])


@pytest.mark.parametrize("height,width", [(64, 64), (100, 70), (90, 76)])
def test_boxes_keep_within_the_scale_and_ratio_bounds_of_the_frames_own_pixels(height, width) -> None:
    top, left, h, w = boxes(height, width, 3000).T
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= height).all() and (left + w <= width).all()
    # sides are rounded to pixels: allow a pixel's worth of slack on the bounds
    slack = 2.0 / min(height, width)
    area = h * w / (height * width)
    assert area.min() >= CROP_SCALE[0] - 2 * slack and area.max() <= CROP_SCALE[1] + 2 * slack
    ratio = w / h  # in source pixels: the aspect Gaze360's loader draws, whatever the frame's shape
    assert ratio.min() >= CROP_RATIO[0] * (1 - 2 * slack) and ratio.max() <= CROP_RATIO[1] * (1 + 2 * slack)
    free = np.maximum(width - w, 1)
    assert 0.4 < (left / free)[w < width].mean() < 0.6


def test_a_frame_with_no_fitting_draw_gets_torchvisions_centre_fallback() -> None:
    # full area, a ratio range far from the frame's: no draw fits; the largest centred box within the range
    top, left, h, w = boxes(40, 40, 5, scale=(1.0, 1.0), ratio=(2.0, 3.0)).T
    assert (w == 40).all() and (h == 20).all() and (top == 10).all() and (left == 0).all()
    # a tall frame whose own aspect lies within the range keeps the whole frame
    assert (boxes(40, 36, 5, scale=(1.0, 1.0), ratio=(0.5, 2.0)) == [0, 0, 40, 36]).all()
    # a 120 x 60 frame (aspect 1/2) fits no box of area >= 0.8 and aspect >= 3/4: the centred 60 x 80
    assert (boxes(120, 60, 5) == [20, 0, 80, 60]).all()


def test_crop_to_size_is_torchvisions_resized_crop_on_the_pil_frame() -> None:
    image = np.random.default_rng(0).integers(0, 256, (90, 76, 3), dtype=np.uint8)
    for box in [(0, 0, 90, 76), (5, 3, 70, 66), (10, 0, 80, 60)]:
        want = np.asarray(TF.resized_crop(Image.fromarray(image), *box, [32, 32]))
        assert np.array_equal(crop_to_size(image, box, 32), want)


def test_source_crops_are_drawn_from_seed_epoch_sample_and_slot_alone() -> None:
    crop = SourceCrop(3)
    assert crop.box((90, 76), 1, 17, 0) == SourceCrop(3).box((90, 76), 1, 17, 0)
    draws = {crop.box((90, 76), e, p, k) for e in (1, 2) for p in (17, 18) for k in (0, 1)}
    assert len(draws) == 8 and SourceCrop(4).box((90, 76), 1, 17, 0) not in draws


class _Frames:
    """A dataset stand-in whose frames encode their own coordinates: red = row, green = column."""

    name, has_sequences = "stand-in", False

    def __init__(self, height: int, width: int) -> None:
        rows, cols = np.mgrid[0:height, 0:width]
        self.image = np.stack([rows * 255 // (height - 1), cols * 255 // (width - 1), np.zeros_like(rows)], -1)
        self.image = self.image.astype(np.uint8)

    def read_image(self, position: int) -> np.ndarray:
        return self.image

    def read_resized(self, position: int, size: int) -> np.ndarray:
        return crop_to_size(self.image, (0, 0, *self.image.shape[:2]), size)

    def gaze(self, positions) -> np.ndarray:
        return np.tile([0.0, 0.0, -1.0], (len(positions), 1))


def test_the_training_split_crops_the_frame_as_read_before_resizing() -> None:
    """Gaze360's loader draws the RandomResizedCrop on the frame from disk, then resizes the box
    (code/data_loader.py lines 86-88, run.py line 63): on a 100 x 70 frame the box's aspect is at
    least 3/4 in the frame's own pixels (and at most 70/80, area >= 0.8 with w <= 70); a box drawn
    on the frame resized to a square would have 0.7 x its aspect there, down to 0.525."""
    ds, size, crop = _Frames(100, 70), 32, SourceCrop(0)
    windows = FrameWindows(ds, np.arange(40), ViewSpec(), ImageFiles(ds, size), crop=crop)
    windows.set_epoch(2)
    measured = []
    for i in range(40):
        frame = windows[i]["frames"][0].permute(1, 2, 0).numpy()
        box = crop.box((100, 70), 2, i, 0)
        assert np.array_equal(frame, crop_to_size(ds.image, box, size))
        # the pixels' own coordinates show where the box lay in the source frame
        rows = frame[..., 0].astype(float) * 99 / 255
        cols = frame[..., 1].astype(float) * 69 / 255
        measured.append((cols.max() - cols.min() + 1) / (rows.max() - rows.min() + 1))
    measured = np.array(measured)
    assert measured.min() > 0.72 and measured.max() < 0.9
    plain = FrameWindows(ds, np.arange(3), ViewSpec(), ImageFiles(ds, size))
    assert np.array_equal(plain[0]["frames"][0].permute(1, 2, 0).numpy(), ds.read_resized(0, size))


def test_every_frame_of_a_window_gets_its_own_box_and_each_epoch_new_ones() -> None:
    ds, crop = _Frames(90, 76), SourceCrop(1)
    windows = FrameWindows(ds, np.arange(2), ViewSpec(), ImageFiles(ds, 24), crop=crop)
    windows.rows = np.zeros((2, 5), dtype=np.int64)  # a window repeating one frame five times
    windows.set_epoch(1)
    first = windows[0]["frames"]
    assert len({bytes(f.numpy()) for f in first}) > 1
    windows.set_epoch(2)
    assert not torch.equal(windows[0]["frames"], first)
    windows.set_epoch(1)
    assert torch.equal(windows[0]["frames"], first)


def test_make_augment_leaves_the_crop_to_the_data_path() -> None:
    assert make_augment("resized_crop", gen(7)) is None and source_crop("resized_crop", 5) == SourceCrop(5)
    assert make_augment("resized_crop,flip", gen(7)).names == ("flip", "resized_crop")


# --- flip -----------------------------------------------------------------------------------------


def test_flip_mirrors_every_view_of_a_sample_alike_and_negates_gaze_x() -> None:
    views = torch.rand(64, 3, 3, 4, 5, generator=gen())
    target = torch.nn.functional.normalize(torch.randn(64, 3, generator=gen(1)), dim=-1)
    out_v, out_t = random_flip(views, target, gen(2))
    flipped = out_t[:, 0] != target[:, 0]
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


def test_a_run_with_resized_crop_crops_its_training_frames_only(tiny_synth, tmp_path) -> None:
    from gazebench.plan import planning
    from gazebench.train.assemble import build_setup

    suite = planning.single_run_suite("synthgaze", ["static"], [4], root=str(tiny_synth))
    (spec,) = planning.expand(
        suite,
        {
            "augment": "resized_crop",
            "backbone": "test_resnet",
            "image_size": 16,
            "batch_size": 16,
            "num_workers": 1,
            "max_train_samples": 32,
        },
    )
    setup = build_setup(planning.plan_unit(spec, tmp_path / "r", tmp_path / "runs"))
    assert setup.sets["train"].crop == SourceCrop(4)
    assert setup.sets["val"].crop is None and setup.sets["test"].crop is None
    # a persistent worker process reads the epoch the main process sets before each pass
    train = setup.sets["train"]
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(train, [0]), batch_size=1, num_workers=1, persistent_workers=True
    )
    seen = []
    for epoch in (1, 2):
        train.set_epoch(epoch)
        (batch,) = list(loader)
        seen.append(batch["frames"][0])
        assert torch.equal(batch["frames"][0], train[0]["frames"])
    assert not torch.equal(seen[0], seen[1])
