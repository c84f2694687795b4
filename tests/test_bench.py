"""``gazebench bench`` and the speed-related switches (no timing is asserted: only that the
numbers exist, are consistent with each other, and that the settings they depend on are reported)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from gazebench.cli import main
from gazebench.core import runtime
from gazebench.core.registry import LOSSES
from gazebench.datasets import build_dataset
from gazebench.datasets.loading import FrameWindows
from gazebench.datasets.sources import ImageFiles
from gazebench.datasets.views import ViewSpec, make_views
from gazebench.models import build_model
from gazebench.train.engine import StepContext, compile_model, train_one_epoch, use_channels_last
from tools.perf.seedstyle import SeedStyleViews

SIZE = 32


def test_bench_reports_data_model_and_full_step(tiny_synth, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GAZEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    rc = main(
        [
            "bench",
            "--root",
            str(tiny_synth),
            "--model",
            "staticsclstmsym",
            "--backbone",
            "test_resnet",
            "--set",
            f"image_size={SIZE}",
            "--set",
            "batch_size=4",
            "--set",
            "num_workers=0",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--repeat",
            "1",
            "--source",
            "cache",
            "--json",
            "--threads",
            "1",
        ]
    )
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"]["state"] == "used"
    assert report["frames"]["path"].startswith(str(tmp_path / "cache"))  # prepared on demand
    (row,) = report["repeats"]
    assert row["model"] > 0 and row["full"] > 0 and row["data"] > 0  # all three paths were timed
    assert set(report["goals_met"]) == {"full_over_model", "data_over_model"}
    rt = report["runtime"]
    for key in ("allocator", "torch_threads", "loader_workers", "load_average_before", "device_name"):
        assert key in rt
    assert rt["allocator"] in ("glibc", "tcmalloc", "jemalloc", "system") and rt["loader_workers"] == 0
    assert report["model"]["views"] == 7 and report["recipe"]["image_size"] == SIZE


def test_bench_text_output_names_the_ratios(tiny_synth, capsys, monkeypatch):
    monkeypatch.setenv("GAZEBENCH_CACHE", "off")
    rc = main(
        [
            "bench",
            "--root",
            str(tiny_synth),
            "--model",
            "static",
            "--backbone",
            "test_resnet",
            "--set",
            f"image_size={SIZE}",
            "--set",
            "batch_size=4",
            "--set",
            "num_workers=auto",
            "--steps",
            "1",
            "--warmup",
            "0",
            "--repeat",
            "1",
            "--threads",
            "1",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "frames from images" in out and "c/b >= 0.95" in out and "a/b >= 3" in out and "allocator" in out
    assert "0 loader workers" in out  # num_workers=auto on a CPU: decode in the training process


def test_seed_style_pipeline_builds_the_same_views(tiny_synth):
    """The comparison is fair: the reference pipeline's input equals gazebench's up to resampling."""
    ds = build_dataset("synthgaze", tiny_synth)
    spec = ViewSpec((0,), (1.0, 0.78, 0.67))
    positions = ds.split_positions()["val"][:6]
    ours = make_views(
        torch.stack([FrameWindows(ds, positions, spec, ImageFiles(ds, SIZE))[i]["frames"] for i in range(6)]), spec
    )
    seed = torch.stack([SeedStyleViews(ds, positions, spec, ImageFiles(ds, SIZE))[i]["views"] for i in range(6)])
    assert seed.shape == ours.shape == (6, 3, 3, SIZE, SIZE)
    torch.testing.assert_close(seed[:, 0], ours[:, 0], atol=1e-5, rtol=0)  # no crop: identical
    assert (seed - ours).abs().mean() < 0.05  # crops: PIL vs torch bilinear, same geometry
    assert np.corrcoef(seed.flatten().numpy(), ours.flatten().numpy())[0, 1] > 0.99


def test_channels_last_auto_and_compile_switch():
    cpu = torch.device("cpu")
    assert use_channels_last("auto", cpu, 64) is False and use_channels_last("auto", cpu, 224) is True
    assert use_channels_last("auto", torch.device("cuda"), 32) is True
    assert use_channels_last(True, cpu, 32) is True and use_channels_last(False, cpu, 224) is False
    with pytest.raises(ValueError, match="auto"):
        use_channels_last("sometimes", cpu, 64)
    model = torch.nn.Linear(2, 2)
    assert compile_model(model, False) is model
    assert StepContext(ViewSpec(), 224, cpu, "bf16", "auto").channels_last is True


def test_non_finite_loss_still_stops_training(tiny_synth):
    ds = build_dataset("synthgaze", tiny_synth)
    model = build_model("static", backbone="test_resnet")
    frames = FrameWindows(ds, ds.split_positions()["train"][:8], model.view, ImageFiles(ds, SIZE))
    loader = torch.utils.data.DataLoader(frames, batch_size=4)
    ctx = StepContext(model.view, SIZE, torch.device("cpu"))
    nan_loss = lambda out, target: LOSSES.get("pinball")(out, target) * float("nan")  # noqa: E731
    with pytest.raises(FloatingPointError, match="nan"):
        train_one_epoch(model, loader, nan_loss, torch.optim.SGD(model.parameters(), lr=0.1), ctx)
    model = build_model("static", backbone="test_resnet")  # the NaN steps spoilt the first one's weights
    stats = train_one_epoch(model, loader, LOSSES.get("pinball"), torch.optim.SGD(model.parameters(), lr=1e-3), ctx)
    assert stats["samples"] == 8 and np.isfinite(stats["loss"]) and stats["seconds"] > 0


@pytest.mark.parametrize("cores, local_processes, workers", [(16, None, 15), (16, "4", 3), (8, "8", 1), (2, None, 1)])
def test_gpu_default_workers_scale_with_the_cores(monkeypatch, cores, local_processes, workers):
    """On a GPU, ``num_workers=auto`` gives the loader the process's share of the cores, less its own."""
    monkeypatch.setattr(runtime, "cpu_cores", lambda: cores)
    if local_processes is None:
        monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    else:
        monkeypatch.setenv("LOCAL_WORLD_SIZE", local_processes)  # torchrun's processes on this node
    assert runtime.resolve_num_workers("auto", "cuda") == workers
    assert runtime.resolve_num_workers("auto", "cpu") == 0 and runtime.resolve_num_workers(5, "cuda") == 5


def test_cpu_default_takes_every_core_and_decodes_inline(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        assert runtime.resolve_num_workers("auto", "cpu") == 0
        assert runtime.resolve_num_workers(3, "cpu") == 3
        assert runtime.configure_threads("cpu", 0)["torch_threads"] == runtime.cpu_cores()
        assert runtime.configure_threads("cpu", 1)["torch_threads"] == max(1, runtime.cpu_cores() - 1)
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        torch.set_num_threads(1)
        assert runtime.configure_threads("cpu", 0)["torch_threads"] == 1  # an explicit OMP_NUM_THREADS wins
    finally:
        torch.set_num_threads(before)
    assert runtime.loaded_allocator() in ("glibc", "tcmalloc", "jemalloc", "system")


def test_openmp_waits_briefly_and_yields_more_when_the_cores_are_busy(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch")  # as in a fresh `gazebench run`, before torch starts OpenMP
    monkeypatch.setattr(runtime, "other_busy_cores", lambda seconds=0.2: 0.0)
    env: dict[str, str] = {}
    assert runtime.choose_openmp_wait(env) == {"GOMP_SPINCOUNT": "1000"} == env
    monkeypatch.setattr(runtime, "other_busy_cores", lambda seconds=0.2: 1.7)
    env = {}
    assert runtime.choose_openmp_wait(env) == {"GOMP_SPINCOUNT": "300"} == env
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert runtime.choose_openmp_wait(env) == {} and "GOMP_SPINCOUNT" not in env  # the user's choice stays
    monkeypatch.undo()
    assert runtime.choose_openmp_wait({}) == {}  # torch already started OpenMP: too late to change anything


def test_other_busy_cores_reads_the_machine():
    busy = runtime.other_busy_cores(0.05)
    assert busy is None or 0.0 <= busy <= runtime.cpu_cores() + 0.5
