"""The batch memory check (gazebench.train.memory): a recipe whose batch cannot fit is refused in one
line before any frame is decoded; no test here allocates the memory it talks about."""

from __future__ import annotations

import types

import pytest

from gazebench.core.config import Recipe
from gazebench.train import memory
from gazebench.train.memory import BatchMemoryError, batch_bytes, check_batch_memory, host_available
from tests.helpers import SMALL_RUN, cli


def test_a_batch_holds_its_uint8_frames_and_float32_model_input():
    # 32 samples of a 7-frame window at 224 px: 32*3*224*224 = 4,816,896 px a frame, 7 frames as
    # uint8 and 7 views as float32
    assert batch_bytes(32, 7, 7, 224) == 4_816_896 * 7 + 4_816_896 * 7 * 4
    # one frame expanded into 3 zoom views (multi-zoom): 1 uint8 frame, 3 float32 views
    assert batch_bytes(2, 1, 3, 10) == 600 + 600 * 3 * 4


def test_available_memory_is_the_lower_of_meminfo_and_what_the_cgroup_still_allows(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24683772 kB\nMemFree:  100 kB\nMemAvailable:   2000000 kB\n")
    cgroup = tmp_path / "cgroup"
    assert host_available(meminfo, cgroup) == (2_048_000_000, f"MemAvailable in {meminfo}")
    cgroup.mkdir()
    (cgroup / "memory.max").write_text("max\n")
    assert host_available(meminfo, cgroup)[0] == 2_048_000_000  # no limit
    (cgroup / "memory.max").write_text("1000000000\n")
    (cgroup / "memory.current").write_text("900000000\n")
    (cgroup / "memory.stat").write_text("anon 800000000\ninactive_file 50000000\n")
    # 1e9 - 9e8 + the 5e7 of file cache the kernel reclaims first
    assert host_available(meminfo, cgroup) == (150_000_000, f"the limit of this process's cgroup ({cgroup})")


def _refusal(monkeypatch, available: int, **recipe) -> str:
    monkeypatch.setattr(memory, "available_memory", lambda device: (available, "test"))
    with pytest.raises(BatchMemoryError) as caught:
        check_batch_memory(Recipe.resolve(recipe), 7, 7, {"train": 1000, "val": 100, "test": 500}, "cpu")
    return str(caught.value)


def test_the_key_to_lower_is_the_one_that_cannot_fit(monkeypatch):
    one = batch_bytes(1, 7, 7, 224)
    assert "lower batch_size" in _refusal(monkeypatch, 10 * one, batch_size=32, eval_batch_size=4, image_size=224)
    assert "lower eval_batch_size" in _refusal(monkeypatch, 10 * one, batch_size=8, eval_batch_size=128, image_size=224)
    assert "lower image_size" in _refusal(monkeypatch, one // 2, batch_size=8, image_size=224)
    text = _refusal(monkeypatch, 10 * one, batch_size=32, eval_batch_size=4, image_size=224)
    assert f"at least {batch_bytes(32, 7, 7, 224) / 2**30:.2f} GiB" in text
    assert f"there are {10 * one / 2**30:.2f} GiB (test)" in text
    # a batch never holds more than its split: 10,000 asked, 1,000 training samples there
    monkeypatch.setattr(memory, "available_memory", lambda device: (batch_bytes(1000, 7, 7, 224), "test"))
    check_batch_memory(
        Recipe.resolve({"batch_size": 10_000, "eval_batch_size": 500, "image_size": 224}),
        7,
        7,
        {"train": 1000, "val": 100, "test": 500},
        "cpu",
    )
    # a fitted baseline has no training batch; unknown memory refuses nothing
    check_batch_memory(
        Recipe.resolve({"batch_size": 10_000, "eval_batch_size": 500, "image_size": 224}),
        7,
        7,
        {"train": 100_000, "val": 100, "test": 500},
        "cpu",
        trains=False,
    )
    monkeypatch.setattr(memory, "available_memory", lambda device: (None, "unknown"))
    check_batch_memory(Recipe.resolve({"batch_size": 10_000}), 7, 7, {"train": 100_000}, "cpu")


def test_cuda_counts_the_free_memory_of_the_device(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (123, 456))
    assert memory.available_memory(types.SimpleNamespace(type="cuda"))[0] == 123


def test_a_run_whose_batch_cannot_fit_stops_in_one_line_before_reading_a_frame(
    tiny_synth, tmp_path, monkeypatch, capsys
):
    """End to end, with the machine's real memory: 10^6 px frames (the bound raised on purpose)
    need terabytes a sample; nothing is decoded, nothing trained."""
    monkeypatch.setenv("GAZEBENCH_MAX_IMAGE_SIZE", "1000000")
    rc = cli(
        "run",
        "--root",
        tiny_synth,
        "--model",
        "static",
        "--results",
        tmp_path / "results",
        "--runs",
        tmp_path / "runs",
        *SMALL_RUN,
        "--set",
        "image_size=1000000",
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "BatchMemoryError: recipe batch_size=8, image_size=1000000: one batch needs at least" in err
    assert "lower image_size (--set image_size=...)" in err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "results").exists()
