"""Frames held on the device: the same numbers as frames decoded per batch, each frame read once,
and the rule that decides when they are held."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from gazebench.cli import main
from gazebench.core.errors import UserValueError
from gazebench.datasets import build_dataset
from gazebench.datasets.device_frames import AUTO_SHARE, DeviceFrames, hold_on_device
from gazebench.datasets.loading import FrameWindows
from gazebench.datasets.sources import ImageFiles
from gazebench.datasets.views import ViewSpec
from tests.helpers import TINY_RECIPE

SIZE = 32


def _run(root, out, monkeypatch, held: str, *extra: str) -> dict:
    monkeypatch.setenv("GAZEBENCH_DEVICE_FRAMES", held)
    assert (
        main(
            [
                "run",
                "--root",
                str(root),
                "--model",
                "seqlstm",
                "--backbone",
                "test_resnet",
                "--epochs",
                "1",
                "--set",
                "max_train_samples=32",
                "--results",
                str(out / "results"),
                "--runs",
                str(out / "runs"),
                "--no-table",
                "--quiet",
                "--deterministic",
                *TINY_RECIPE,
                *extra,
            ]
        )
        == 0
    )
    (path,) = list((out / "results").rglob("*.json"))
    return json.loads(path.read_text())


@pytest.mark.parametrize("augment", ["flip", "flip,resized_crop"])
def test_a_run_with_frames_held_on_the_device_gives_the_same_numbers(tiny_synth, tmp_path, monkeypatch, augment):
    """Seven-frame windows; with resized_crop the training split keeps reading through its source."""
    host = _run(tiny_synth, tmp_path / "host", monkeypatch, "off", "--set", f"augment={augment}")
    held = _run(tiny_synth, tmp_path / "held", monkeypatch, "on", "--set", f"augment={augment}")
    assert [h["train_loss"] for h in held["history"]] == [h["train_loss"] for h in host["history"]]
    assert [h["val_mean"] for h in held["history"]] == [h["val_mean"] for h in host["history"]]
    a, b = (pd.read_csv(r["artifacts"]["predictions"]) for r in (host, held))
    pd.testing.assert_frame_equal(a, b)
    assert held["dataset"]["frame_cache"]["on_device"] == "cpu" and "on_device" not in host["dataset"]["frame_cache"]


def test_each_frame_is_read_once_for_every_window_and_epoch(tiny_synth, monkeypatch):
    ds = build_dataset("synthgaze", tiny_synth)
    reads: list[int] = []
    source = ImageFiles(ds, SIZE)  # keeps nothing: every read here is a decode
    original = source.read
    monkeypatch.setattr(source, "read", lambda r: reads.append(r) or original(r))
    positions = ds.split_positions()["train"]
    windows = FrameWindows(ds, positions, ViewSpec.window(7), source)
    frames = DeviceFrames(source, windows.rows.ravel(), len(ds), torch.device("cpu"))
    assert sorted(reads) == sorted(set(windows.rows.ravel().tolist()))  # once each, padded windows included
    windows.hold_on(frames)
    for _epoch in range(2):
        for i in range(len(windows)):
            item = windows[i]
            assert "frames" not in item
            gathered = frames.gather(item["rows"][None])[0]
            expected = np.stack([original(int(r)) for r in windows.rows[i]]).transpose(0, 3, 1, 2)
            np.testing.assert_array_equal(gathered.numpy(), expected)  # [T, C, S, S] as the host path
    assert len(reads) == len(set(windows.rows.ravel().tolist()))


def test_when_frames_are_held(monkeypatch):
    cpu, gpu = torch.device("cpu"), torch.device("cuda", 0)
    monkeypatch.delenv("GAZEBENCH_DEVICE_FRAMES", raising=False)
    assert not hold_on_device(cpu, 100, SIZE)  # auto: never on a CPU (ImageFiles keeps decoded frames there)
    assert hold_on_device(cpu, 100, SIZE, mode="on") and not hold_on_device(gpu, 100, SIZE, mode="off")
    free = 10 * 2**30
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free, 80 * 2**30))
    fits = int(AUTO_SHARE * free) // (224 * 224 * 3)
    assert hold_on_device(gpu, fits, 224) and not hold_on_device(gpu, fits + 1, 224)
    monkeypatch.setenv("GAZEBENCH_DEVICE_FRAMES", "gpu")
    with pytest.raises(UserValueError, match=r"GAZEBENCH_DEVICE_FRAMES='gpu' is not one of auto, on, off"):
        hold_on_device(cpu, 100, SIZE)
