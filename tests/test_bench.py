"""``gazebench bench`` and the speed-related switches (no timing is asserted: only that the
numbers exist, are consistent with each other, and that the settings they depend on are reported)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gazebench.cli import main
from gazebench.datasets import build_dataset
from gazebench.datasets.loading import FrameWindows
from gazebench.datasets.views import ViewSpec, make_views
from gazebench.engine import StepContext, compile_model, train_one_epoch, use_channels_last
from gazebench.models import build_model
from gazebench.perf import runtime
from gazebench.perf.seedstyle import SeedStyleViews
from gazebench.registry import LOSSES

SIZE = 32


def test_bench_reports_data_model_and_full_step(tiny_synth, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GAZEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    rc = main(["bench", "--root", str(tiny_synth), "--model", "staticsclstmsym", "--backbone", "test_resnet",
               "--set", f"image_size={SIZE}", "--set", "batch_size=4", "--set", "num_workers=0",
               "--steps", "2", "--warmup", "1", "--repeat", "1", "--source", "both", "--allocator", "system", "--json",
               "--threads", "1"])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["sources"]) == {"cache", "images"}
    assert report["sources"]["cache"]["cache_file"].startswith(str(tmp_path / "cache"))  # prepared on demand
    (row,) = report["repeats"]
    assert report["model_samples_per_s"] == pytest.approx(row["model"]) and row["model"] > 0
    for label, s in report["sources"].items():
        assert s["full_over_model"] == pytest.approx(row[f"full[{label}]"] / row["model"])
        assert s["data_over_model"] == pytest.approx(row[f"data[{label}]"] / row["model"])
        assert s["seed_over_full"] == pytest.approx(row["seed"] / row[f"full[{label}]"])
        assert 0 < s["views_share"] and set(s["goals_met"]) == {"full_over_model", "data_over_model", "views_share"}
    rt = report["runtime"]
    for key in ("allocator", "torch_threads", "loader_workers", "load_average_before", "device_name"):
        assert key in rt
    assert rt["allocator"] in ("glibc", "tcmalloc", "jemalloc", "system") and rt["loader_workers"] == 0
    assert report["model"]["views"] == 7 and report["recipe"]["image_size"] == SIZE


def test_bench_text_output_names_the_ratios(tiny_synth, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GAZEBENCH_CACHE", "off")
    rc = main(["bench", "--root", str(tiny_synth), "--model", "static", "--backbone", "test_resnet",
               "--set", f"image_size={SIZE}", "--set", "batch_size=4", "--set", "num_workers=0", "--steps", "1",
               "--warmup", "0", "--repeat", "1", "--no-seed-style", "--allocator", "system", "--threads", "1"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "frames from images" in out and "c/b >= 0.95" in out and "a/b >= 3" in out and "allocator" in out
    assert "seed-style" not in out


def test_seed_style_pipeline_builds_the_same_views(tiny_synth):
    """The comparison is fair: the reference pipeline's input equals gazebench's up to resampling."""
    ds = build_dataset("synthgaze", tiny_synth)
    spec = ViewSpec((0,), (1.0, 0.78, 0.67))
    positions = ds.split_positions()["val"][:6]
    ours = make_views(torch.stack([FrameWindows(ds, positions, spec, SIZE)[i]["frames"] for i in range(6)]), spec)
    seed = torch.stack([SeedStyleViews(ds, positions, spec, SIZE)[i]["views"] for i in range(6)])
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
    frames = FrameWindows(ds, ds.split_positions()["train"][:8], model.view, SIZE)
    loader = torch.utils.data.DataLoader(frames, batch_size=4)
    ctx = StepContext(model.view, SIZE, torch.device("cpu"))
    nan_loss = lambda out, target: LOSSES.get("pinball")(out, target) * float("nan")  # noqa: E731
    with pytest.raises(FloatingPointError, match="nan"):
        train_one_epoch(model, loader, nan_loss, torch.optim.SGD(model.parameters(), lr=0.1), ctx)
    model = build_model("static", backbone="test_resnet")  # the NaN steps spoilt the first one's weights
    stats = train_one_epoch(model, loader, LOSSES.get("pinball"), torch.optim.SGD(model.parameters(), lr=1e-3), ctx)
    assert stats["samples"] == 8 and np.isfinite(stats["loss"]) and stats["seconds"] > 0


def test_allocator_reexec_respects_the_opt_out(monkeypatch):
    calls = []
    monkeypatch.setattr(runtime.os, "execve", lambda *a: calls.append(a))
    monkeypatch.setattr(runtime, "find_tcmalloc", lambda: "/usr/lib/libtcmalloc_minimal.so.4")
    monkeypatch.setattr(runtime, "loaded_allocator", lambda: "glibc")
    monkeypatch.setenv("GAZEBENCH_TCMALLOC", "off")
    runtime.reexec_with_tcmalloc(["bench"])
    assert calls == []
    monkeypatch.delenv("GAZEBENCH_TCMALLOC")
    monkeypatch.setenv("GAZEBENCH_REEXEC", "1")  # already the re-executed process: never loop
    runtime.reexec_with_tcmalloc(["bench"])
    assert calls == []
    monkeypatch.delenv("GAZEBENCH_REEXEC")
    runtime.reexec_with_tcmalloc(["bench", "--model", "static"])
    (exe, argv, env), = calls
    assert argv[1:] == ["-m", "gazebench", "bench", "--model", "static"]
    assert env["LD_PRELOAD"].startswith("/usr/lib/libtcmalloc_minimal.so.4") and env["GAZEBENCH_REEXEC"] == "1"
    assert runtime.loaded_allocator.__name__  # the real detector stays importable
