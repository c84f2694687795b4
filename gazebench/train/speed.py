"""Is the model fed?  Where a training step's time goes, measured on a :class:`~gazebench.train.assemble.Setup`.

For the set-up of one unit, ``repeat`` times interleaved (so a change in machine load hits every
measurement alike), each after ``warmup`` untimed batches:

  (a) data   samples/s the training DataLoader delivers (workers, decode or cache reads, collate)
  (b) model  samples/s of the training step alone on ready tensors (forward, loss, backward,
             optimiser; autocast and channels_last as the recipe says)
  (c) full   samples/s of ``engine.train_one_epoch`` fed by the loader, as a run trains

and the medians of the per-repeat ratios c/b (goal >= 0.95) and a/b (goal >= 3), with the
allocator, threads and load average.  For a joint unit (several training datasets,
:mod:`gazebench.datasets.joint`) :func:`compare_data_paths` also times each member's data path
alone, interleaved with the joint's, and reports joint / slowest member (goal >= 1: the composite
costs nothing per sample).  ``gazebench bench`` prints this; tools/perf/bench.py adds
the zoom-crop cost, the reference pipeline and cache-vs-images comparisons.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import RandomSampler

from gazebench.core.errors import UserValueError
from gazebench.core.runtime import load_average, runtime_report
from gazebench.datasets.loading import FrameWindows
from gazebench.train.assemble import Setup, make_loader, make_optimizer, make_scaler
from gazebench.train.augment import make_augment
from gazebench.train.engine import train_one_epoch, train_step

GOALS = {"full_over_model": 0.95, "data_over_model": 3.0}
#: a joint run's data path against its slowest member's alone (samples/s ratio)
JOINT_GOAL = 1.0


def median(xs: list[float | None]) -> float | None:
    xs = [x for x in xs if x is not None and np.isfinite(x)]
    return float(statistics.median(xs)) if xs else None


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Endless:
    """Batches of a loader over a sampler that never ends; ``take(k)`` yields the next k."""

    def __init__(self, setup: Setup, frames: FrameWindows | None = None) -> None:
        gen = torch.Generator().manual_seed(setup.seed)
        frames = frames if frames is not None else setup.sets["train"]
        sampler = RandomSampler(frames, replacement=True, num_samples=10**9, generator=gen)
        self.it: Iterator[dict] = iter(make_loader(frames, setup.recipe, setup.num_workers, True, gen, sampler))

    def take(self, k: int) -> Iterator[dict]:
        return itertools.islice(self.it, k)


class StepTimer:
    """The three measurements on one set-up (one model and optimiser shared by all of them)."""

    def __init__(self, setup: Setup, warmup: int) -> None:
        if not setup.model.trainable:
            raise UserValueError(
                f"model {setup.unit.spec.model!r} is not trained by gradient steps; nothing to benchmark"
            )
        self.setup, self.warmup = setup, warmup
        self.optimizer, self.scaler = make_optimizer(setup.model, setup.recipe), make_scaler(setup)
        self.augment = make_augment(setup.recipe.augment, torch.Generator().manual_seed(setup.seed))
        # prefetched batches come free: drain the queue past them before any timing
        self.drain = warmup + (setup.num_workers * 4 if setup.num_workers else 0)
        self.raw = list(Endless(setup).take(4))  # a few real batches, kept in memory
        self.ready = [(setup.ctx.views(b), setup.ctx.target(b)) for b in self.raw]

    def step(self, views: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        s = self.setup
        return train_step(s.step_model, views, target, s.loss_fn, self.optimizer, s.ctx, self.scaler)

    def model(self, n: int) -> float:
        """(b): samples/s of the training step on ready tensors."""
        self.setup.step_model.train()
        for i in range(self.warmup):
            self.step(*self.ready[i % len(self.ready)])
        sync(self.setup.device)
        seen, t0 = 0, time.perf_counter()
        for i in range(n):
            views, target = self.ready[i % len(self.ready)]
            loss = self.step(views, target)
            seen += target.shape[0]
        float(loss)
        sync(self.setup.device)
        return seen / (time.perf_counter() - t0)

    def data(self, src: Endless, n: int) -> float:
        """(a): samples/s the loader delivers."""
        for _ in src.take(self.drain):
            pass
        seen, t0 = 0, time.perf_counter()
        for b in src.take(n):
            seen += b["gaze"].shape[0]
        return seen / (time.perf_counter() - t0)

    def full(self, src: Endless, n: int) -> tuple[float, float]:
        """(c): samples/s of ``train_one_epoch`` by its own clock and by an outside one."""
        s = self.setup
        train_one_epoch(
            s.step_model, src.take(self.drain), s.loss_fn, self.optimizer, s.ctx, self.scaler, augment=self.augment
        )
        sync(s.device)
        t0 = time.perf_counter()
        stats = train_one_epoch(
            s.step_model, src.take(n), s.loss_fn, self.optimizer, s.ctx, self.scaler, augment=self.augment
        )
        sync(s.device)
        return stats["samples"] / stats["seconds"], stats["samples"] / (time.perf_counter() - t0)


def measure(
    setup: Setup, steps: int = 20, warmup: int = 5, repeat: int = 3, log: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """(a), (b), (c) and their ratios for ``setup`` (see the module doc), as a dict."""
    if steps < 1 or repeat < 1 or warmup < 0:
        raise UserValueError("steps and repeat must be >= 1, warmup >= 0")
    load_before = load_average()
    timer, src = StepTimer(setup, warmup), Endless(setup)
    # one untimed round first: kernel selection, worker start-up and allocator growth happen once
    timer.data(src, max(1, warmup))
    timer.model(max(1, warmup))
    timer.full(src, max(1, warmup))
    rows = []
    for r in range(repeat):
        row = {"repeat": r, "data": timer.data(src, steps), "model": timer.model(steps)}
        row["full"], row["full_outside_clock"] = timer.full(src, steps)
        rows.append(row)
        if log:
            log(
                f"bench: repeat {r + 1}/{repeat}: "
                + ", ".join(f"{k} {v:.1f}" for k, v in rows[-1].items() if k != "repeat")
            )
    report = summarise(setup, rows)
    report["bench"] = {"steps": steps, "warmup": warmup, "repeat": repeat}
    report["runtime"].update(load_average_before=load_before, load_average_after=load_average())
    return report


def compare_data_paths(
    joint: Setup, members: dict[str, Setup], steps: int = 20, warmup: int = 5, repeat: int = 3
) -> dict[str, Any]:
    """(a) of a joint set-up and of each member's own set-up (the same model, recipe and frames),
    interleaved ``repeat`` times in this process: samples/s of each (medians), and the median of the
    per-repeat ratios joint / slowest member (``joint_over_slowest``; goal :data:`JOINT_GOAL`)."""
    setups = {"joint": joint, **members}
    timers = {k: StepTimer(s, warmup) for k, s in setups.items()}
    srcs = {k: Endless(s) for k, s in setups.items()}
    for k in setups:  # untimed round: worker start-up, first decodes
        timers[k].data(srcs[k], max(1, warmup))
    rows = []
    load_before = load_average()
    for _ in range(repeat):
        row = {k: timers[k].data(srcs[k], steps) for k in setups}
        row["joint_over_slowest"] = row["joint"] / min(row[k] for k in members)
        rows.append(row)
    return {
        "data_samples_per_s": {k: median([r[k] for r in rows]) for k in setups},
        "joint_over_slowest": median([r["joint_over_slowest"] for r in rows]),
        "goal": JOINT_GOAL,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "repeats": rows,
    }


def render_comparison(report: dict[str, Any]) -> str:
    rates = report["data_samples_per_s"]
    lines = ["", "  data path, joint vs each training dataset alone (same model, recipe, frames; interleaved):"]
    lines += [f"  {'(a) ' + k:24s} {v:10.1f}" for k, v in rates.items()]
    ok = (report["joint_over_slowest"] or 0) >= report["goal"]
    lines.append(
        f"  {'joint / slowest member':24s} {report['joint_over_slowest']:10.2f}  goal >= {report['goal']:g}: "
        f"{'met' if ok else 'MISSED'} (load average {report['load_average_before']} -> "
        f"{report['load_average_after']})"
    )
    return "\n".join(lines)


def summarise(setup: Setup, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the repeats, the ratios and goals, and what the numbers depend on."""

    def ratio(num: str, den: str) -> float | None:
        return median([row[num] / row[den] for row in rows if row.get(den)])

    recipe, model = setup.recipe, setup.model
    ratios = {"full_over_model": ratio("full", "model"), "data_over_model": ratio("data", "model")}
    runtime = runtime_report(setup.device, setup.num_workers)
    runtime.pop("load_average", None)
    return {
        "recipe": {
            k: getattr(recipe, k)
            for k in (
                "image_size",
                "batch_size",
                "num_workers",
                "precision",
                "channels_last",
                "compile",
                "optimizer",
                "augment",
            )
        },
        "channels_last_in_effect": setup.ctx.channels_last,
        "model": {
            "name": setup.unit.spec.model,
            "view": model.view.describe(),
            "views": model.view.num_views,
            "backbone": getattr(model, "options", {}).get("backbone"),
        },
        "frames": setup.source.describe(),
        "runtime": runtime,
        **{
            f"{k}_samples_per_s": median([row[k] for row in rows])
            for k in ("data", "model", "full", "full_outside_clock")
        },
        **ratios,
        "goals": GOALS,
        "goals_met": {k: (ratios[k] or 0) >= GOALS[k] for k in GOALS},
        "repeats": rows,
    }


def render(report: dict[str, Any]) -> str:
    """The report as a short text table."""
    rt, rc, m, ok = report["runtime"], report["recipe"], report["model"], report["goals_met"]
    frames = "cache" if report["frames"]["state"] == "used" else "images"
    if report["frames"].get("on_device"):
        frames += f", held on {report['frames']['on_device']}"
    mark = {True: "met", False: "MISSED"}
    return "\n".join(
        [
            f"gazebench bench: {m['name']} ({m['view']}, backbone {m['backbone']}), {rc['image_size']} px, batch "
            f"{rc['batch_size']}, {rc['precision']}, channels_last {report['channels_last_in_effect']}, frames from {frames}",
            f"  {rt['device']} ({rt['device_name']}), {rt['torch_threads']} torch threads, {rt['loader_workers']} loader "
            f"workers, allocator {rt['allocator']}, load average {rt['load_average_before']} -> {rt['load_average_after']}",
            f"  medians of {report['bench']['repeat']} interleaved repeats x {report['bench']['steps']} batches "
            f"(after {report['bench']['warmup']} warm-up batches)",
            "",
            f"  {'measurement':24s} {'samples/s':>10s} {'ratio':>8s}  goal",
            f"  {'(b) model step alone':24s} {report['model_samples_per_s']:10.1f} {1.0:8.2f}",
            f"  {'(a) data path':24s} {report['data_samples_per_s']:10.1f} {report['data_over_model']:8.2f}"
            f"  a/b >= {GOALS['data_over_model']:g}: {mark[ok['data_over_model']]}",
            f"  {'(c) full step':24s} {report['full_samples_per_s']:10.1f} {report['full_over_model']:8.2f}"
            f"  c/b >= {GOALS['full_over_model']:g}: {mark[ok['full_over_model']]}",
        ]
    )
