"""One decode per frame, and the HDF5 frame cache: round trip, fingerprint, atomic writes, runs."""

from __future__ import annotations

import json
import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader, default_collate

from gazebench.cache import (
    CacheError,
    StaleCacheWarning,
    build_cache,
    cache_path,
    describe_cache,
    fingerprint,
    read_fingerprint,
)
from gazebench.cli import main
from gazebench.datasets import build_dataset
from gazebench.datasets.loading import FrameWindows, collate_frames
from gazebench.datasets.sources import H5Frames, ImageFiles, open_frame_source
from gazebench.datasets.views import ViewSpec, make_views
from gazebench.models.zoo import SYMMETRIC_PX
from tests.helpers import TINY_RECIPE

SIZE = 32


def count_decodes(dataset, monkeypatch) -> list[int]:
    """Record every ``read_image`` call on ``dataset`` (the one place a file is decoded)."""
    calls: list[int] = []
    original = dataset.read_image

    def counted(position: int) -> np.ndarray:
        calls.append(int(position))
        return original(position)

    monkeypatch.setattr(dataset, "read_image", counted)
    return calls


@pytest.fixture
def synth_copy(tiny_synth, tmp_path) -> Path:
    """A private copy of the tiny SynthGaze tree (tests here change labels and write caches)."""
    root = tmp_path / "synth"
    shutil.copytree(tiny_synth, root)
    return root


# --- one decode per frame ------------------------------------------------------------------------


def test_seven_zoom_crops_cost_one_decode_per_sample(tiny_synth, monkeypatch):
    ds = build_dataset("synthgaze", tiny_synth)
    calls = count_decodes(ds, monkeypatch)
    spec = ViewSpec((0,), tuple(px / 224 for px in SYMMETRIC_PX))
    positions = ds.split_positions()["train"][:20]
    frames = FrameWindows(ds, positions, spec, ImageFiles(ds, SIZE))
    loader = DataLoader(frames, batch_size=8, num_workers=0)
    n = 0
    for batch in loader:
        views = make_views(batch["frames"], spec, SIZE)
        assert views.shape[1:] == (7, 3, SIZE, SIZE)
        n += views.shape[0]
    assert n == len(positions) == len(calls)  # seven crops, one decode each sample
    assert sorted(calls) == sorted(int(p) for p in positions)


def test_frame_windows_decode_each_frame_of_a_window_once(tiny_synth, monkeypatch):
    ds = build_dataset("synthgaze", tiny_synth)
    spec = ViewSpec.window(7)
    positions = ds.split_positions()["train"]
    frames = FrameWindows(ds, positions, spec, ImageFiles(ds, SIZE))
    assert not frames.complete.all()  # tiny sequences have 9 frames: edge windows are padded
    for i in range(len(frames)):
        calls = count_decodes(ds, monkeypatch)
        item = frames[i]
        assert item["frames"].shape == (7, 3, SIZE, SIZE)
        assert len(calls) == len(set(calls)) == len(set(frames.rows[i].tolist()))  # never a frame twice
        monkeypatch.undo()


def test_windows_of_one_batch_share_their_decodes(tiny_synth, monkeypatch):
    """Consecutive centre frames share six of their seven frames: a batch decodes each frame once,
    and gives the samples one by one would."""
    ds = build_dataset("synthgaze", tiny_synth)
    positions = ds.split_positions()["test"]
    frames = FrameWindows(ds, positions, ViewSpec.window(7), ImageFiles(ds, SIZE))
    calls = count_decodes(ds, monkeypatch)
    loader = DataLoader(frames, batch_size=8, num_workers=0, collate_fn=collate_frames)
    for k, batch in enumerate(loader):
        rows = frames.rows[k * 8 : (k + 1) * 8]
        assert len(calls) == len(set(rows.ravel().tolist())) < rows.size  # each distinct frame once
        alone = default_collate([frames[int(i)] for i in range(k * 8, k * 8 + len(rows))])
        assert torch.equal(batch["frames"], alone["frames"]) and torch.equal(batch["gaze"], alone["gaze"])
        calls.clear()


def test_kept_frames_are_decoded_once_per_process_and_equal_direct_reads(tiny_synth, monkeypatch):
    """Without a cache file a run keeps what it decoded: epoch two decodes nothing, and reads the same pixels."""
    ds = build_dataset("synthgaze", tiny_synth)
    monkeypatch.delenv("GAZEBENCH_KEEP_FRAMES_MB", raising=False)
    kept = open_frame_source(ds, SIZE)  # the tiny tree fits the default budget
    assert isinstance(kept, ImageFiles) and kept.keep and kept.describe()["kept_in_memory"] is True
    direct = ImageFiles(build_dataset("synthgaze", tiny_synth), SIZE)
    positions = ds.split_positions()["train"]
    calls = count_decodes(ds, monkeypatch)
    first = [kept.read(p) for p in positions]
    assert sorted(calls) == sorted(int(p) for p in positions)
    first[0][:] = 0  # a caller writing into its frame changes no later read
    for p in positions:  # the second epoch
        np.testing.assert_array_equal(kept.read(p), direct.read(p))
    assert len(calls) == len(positions)


def test_a_loader_worker_keeps_nothing(tiny_synth, monkeypatch):
    """N workers keeping their own copies would take N times the budget: in a worker every read decodes."""
    import torch.utils.data

    ds = build_dataset("synthgaze", tiny_synth)
    monkeypatch.delenv("GAZEBENCH_KEEP_FRAMES_MB", raising=False)
    source = open_frame_source(ds, SIZE)
    assert source.keep
    monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: object())  # as inside a worker
    calls = count_decodes(ds, monkeypatch)
    for _ in range(2):
        source.read(0)
    assert calls == [0, 0] and source._kept is None


@pytest.mark.parametrize("budget, kept", [("0", False), ("0.001", False), ("64", True)])
def test_keeping_frames_follows_the_memory_budget(tiny_synth, monkeypatch, budget, kept):
    ds = build_dataset("synthgaze", tiny_synth)  # well under 64 MiB at 32 px, over 1 KiB
    monkeypatch.setenv("GAZEBENCH_KEEP_FRAMES_MB", budget)
    source = open_frame_source(ds, SIZE)
    assert source.keep is kept and source.describe()["kept_in_memory"] is kept


def test_a_bad_memory_budget_is_one_line(tiny_synth, monkeypatch):
    monkeypatch.setenv("GAZEBENCH_KEEP_FRAMES_MB", "lots")
    with pytest.raises(CacheError, match=r"GAZEBENCH_KEEP_FRAMES_MB='lots' is not a number of MiB"):
        open_frame_source(build_dataset("synthgaze", tiny_synth), SIZE)


# --- the cache --------------------------------------------------------------------------------


def test_cache_round_trip_equals_direct_loading(synth_copy, monkeypatch):
    direct = build_dataset("synthgaze", synth_copy)
    cached = build_dataset("synthgaze", synth_copy)
    path, what = build_cache(cached, SIZE, progress=False)
    assert what == "built" and path == cache_path(cached, SIZE)
    assert path.parent == synth_copy / ".gazebench-cache" and path.name.startswith(f"synthgaze-{SIZE}px-")
    source = open_frame_source(cached, SIZE)
    assert isinstance(source, H5Frames)
    build = describe_cache(path)["fingerprint_id"]
    assert source.describe() == {"state": "used", "path": str(path), "fingerprint": build}
    images = ImageFiles(direct, SIZE)
    calls = count_decodes(cached, monkeypatch)
    for r in range(len(direct)):
        np.testing.assert_array_equal(source.read(r), images.read(r))
    assert calls == []  # every frame came from the cache

    spec = ViewSpec.window(3, (1.0, 0.8, 0.6))
    positions = direct.split_positions()["test"]
    a, b = FrameWindows(direct, positions, spec, images), FrameWindows(cached, positions, spec, source)
    for i in range(len(a)):
        assert torch.equal(a[i]["frames"], b[i]["frames"])
        assert torch.equal(a[i]["gaze"], b[i]["gaze"])
    assert calls == []
    # another size is not served from this cache: it decodes
    other = open_frame_source(cached, SIZE + 8)
    assert other.describe()["state"] == "missing" and other.read(0).shape == (SIZE + 8, SIZE + 8, 3) and calls == [0]

    import h5py

    with h5py.File(path, "r") as f:  # labels and index stored alongside, row-aligned
        assert f["frames"].shape == (len(direct), SIZE, SIZE, 3) and f["frames"].dtype == np.uint8
        assert f["frames"].chunks == (1, SIZE, SIZE, 3) and f["frames"].compression is None
        np.testing.assert_allclose(f["gaze"][:], direct.gaze())
        assert [s.decode() for s in f["id"][:5]] == direct.index["id"].head(5).tolist()
        assert json.loads(f.attrs["fingerprint"]) == fingerprint(direct, SIZE)


def test_cache_is_opened_lazily_in_each_worker(synth_copy):
    ds = build_dataset("synthgaze", synth_copy)
    build_cache(ds, SIZE, progress=False)
    cache = open_frame_source(ds, SIZE)
    assert not cache.file.is_open  # choosing the source reads the fingerprint and closes the file again
    clone = pickle.loads(pickle.dumps(cache))
    assert not clone.file.is_open and clone.read(3).shape == (SIZE, SIZE, 3)
    clone.close()

    positions = ds.split_positions()["train"][:12]
    frames = FrameWindows(ds, positions, ViewSpec(), cache)
    loader = DataLoader(frames, batch_size=4, num_workers=1, persistent_workers=True)
    got = torch.cat([b["frames"] for b in loader])
    assert not cache.file.is_open  # only the worker opened it
    want = torch.stack([frames[i]["frames"] for i in range(len(frames))])  # now this process opens its own
    assert torch.equal(got, want) and cache.file.is_open
    cache.close()


def test_stale_cache_is_never_used_and_prepare_rebuilds_it(synth_copy, capsys):
    ds = build_dataset("synthgaze", synth_copy)
    path, _ = build_cache(ds, SIZE, progress=False)
    labels = pd.read_csv(synth_copy / "labels.csv", dtype=str)
    labels = labels.iloc[:-1]  # the source changed: one frame fewer
    labels.to_csv(synth_copy / "labels.csv", index=False)

    changed = build_dataset("synthgaze", synth_copy)
    with pytest.warns(StaleCacheWarning, match="gazebench prepare --dataset synthgaze"):
        source = open_frame_source(changed, SIZE)
    assert isinstance(source, ImageFiles) and source.cache.state == "stale"
    assert "index_sha256" in source.cache.message and "frames" in source.cache.message
    with pytest.raises(CacheError, match="stale"):
        open_frame_source(changed, SIZE, mode="require")

    assert main(["prepare", "--root", str(synth_copy), "--size", str(SIZE), "--check"]) == 1
    assert "stale" in capsys.readouterr().out
    assert main(["prepare", "--root", str(synth_copy), "--size", str(SIZE), "--quiet", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["outcome"] == "rebuilt" and info["frames"] == len(changed)
    assert read_fingerprint(path) == fingerprint(changed, SIZE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert open_frame_source(changed, SIZE).cache.used


def test_each_variant_and_size_has_its_own_cache(synth_copy, monkeypatch):
    original = build_dataset("synthgaze", synth_copy)
    inpainted = build_dataset("synthgaze", synth_copy, variant="inpainted")
    assert cache_path(original, SIZE) != cache_path(inpainted, SIZE) != cache_path(original, 48)
    build_cache(original, SIZE, progress=False)
    assert open_frame_source(inpainted, SIZE).cache.state == "missing"
    assert open_frame_source(original, 48).cache.state == "missing"
    with pytest.raises(CacheError, match="gazebench prepare .*--set variant=inpainted"):
        open_frame_source(inpainted, SIZE, mode="require")
    monkeypatch.setenv("GAZEBENCH_CACHE", "off")
    assert open_frame_source(original, SIZE).describe() == {
        "state": "off",
        "path": None,
        "fingerprint": None,
        "kept_in_memory": True,
    }
    # a cache folder elsewhere holds the same file name scheme
    other = synth_copy.parent / "elsewhere"
    path, _ = build_cache(original, SIZE, cache_dir=other, progress=False)
    assert path.parent == other and open_frame_source(original, SIZE, cache_dir=other).cache.state == "off"
    monkeypatch.delenv("GAZEBENCH_CACHE")
    assert open_frame_source(original, SIZE, cache_dir=other).cache.used


def test_a_failed_build_leaves_no_file(synth_copy, monkeypatch):
    ds = build_dataset("synthgaze", synth_copy)
    original = ds.read_resized

    def failing(position: int, size: int) -> np.ndarray:
        if position == 40:
            raise OSError("disk on fire")
        return original(position, size)

    monkeypatch.setattr(ds, "read_resized", failing)
    with pytest.raises(OSError, match="disk on fire"):
        build_cache(ds, SIZE, progress=False, block=16)
    folder = synth_copy / ".gazebench-cache"
    assert not cache_path(ds, SIZE).exists() and list(folder.iterdir()) == []


def test_run_uses_a_prepared_cache_and_records_it(synth_copy, tmp_path, capsys):
    assert main(["prepare", "--root", str(synth_copy), "--size", str(SIZE), "--quiet"]) == 0
    assert main(["prepare", "--root", str(synth_copy), "--size", str(SIZE)]) == 0
    assert "up to date" in capsys.readouterr().err
    results = tmp_path / "results"
    capsys.readouterr()
    rc = main(
        [
            "run",
            "--root",
            str(synth_copy),
            "--model",
            "mean",
            "--epochs",
            "0",
            "--results",
            str(results),
            "--runs",
            str(tmp_path / "runs"),
            "--no-table",
            *TINY_RECIPE,
        ]
    )
    assert rc == 0
    record = json.loads(next(results.rglob("*.json")).read_text())
    cache = record["dataset"]["frame_cache"]
    assert cache["state"] == "used" and cache["path"].endswith(".h5")
    # which build of the cache was read: its fingerprint, recorded and said
    assert cache["fingerprint"] == describe_cache(cache["path"])["fingerprint_id"]
    assert (
        f"frames: from the prepared cache {cache['path']} (cache fingerprint {cache['fingerprint']})"
        in capsys.readouterr().err
    )
