"""``gazebench bench``: where a training step's time goes, measured in one process.

For one model and recipe it measures, ``repeat`` times interleaved (so a change in machine load
hits every measurement alike), each after ``warmup`` untimed batches:

  (a) data      samples/s the DataLoader delivers (workers, decode or cache reads, collate)
  (b) model     samples/s of the training step alone on ready tensors (forward, loss, backward,
                optimiser; autocast and channels_last as the recipe says)
  (c) full      samples/s of ``engine.train_one_epoch`` fed by the loader, as a run trains
  (v) views     ms per batch of the zoom crops, normalisation and flip (``StepContext.views``)
  (s) seed      samples/s of the reference pipeline (PIL decode and crop-resize per view,
                :mod:`gazebench.perf.seedstyle`): its data path alone, and the full step it feeds

and reports medians of the per-repeat ratios c/b (goal >= 0.95), a/b (goal >= 3), s/c, and the
views' share of a step (goal <= 5 %), with the allocator, threads and load average.
"""

from __future__ import annotations

import itertools
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch.utils.data import RandomSampler

GOALS = {"full_over_model": 0.95, "data_over_model": 3.0, "views_share": 0.05}
SOURCES = ("auto", "cache", "images", "both")


@dataclass
class BenchSpec:
    dataset: str = "synthgaze"
    model: str = "static"
    root: str | None = None
    data_options: dict[str, Any] = field(default_factory=dict)
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)
    steps: int = 20
    warmup: int = 5
    repeat: int = 3
    source: str = "auto"
    seed_style: bool = True
    threads: int | None = None
    cache_dir: str | None = None
    seed: int = 0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None and np.isfinite(x)]
    return float(statistics.median(xs)) if xs else None


class _Infinite:
    """A loader over a sampler that never ends; ``next_batches(k)`` pulls k batches."""

    def __init__(self, loader) -> None:
        self.loader = loader
        self.it: Iterator[dict] = iter(loader)

    def take(self, k: int) -> Iterator[dict]:
        return itertools.islice(self.it, k)


def _frames_source(spec: BenchSpec, which: str, size: int, log: Callable[[str], None]):
    """A fresh adapter whose frames come from ``which`` (cache / images / auto) and its label."""
    from gazebench.cache import CacheError, attach_cache, build_cache
    from gazebench.datasets import build_dataset

    dataset = build_dataset(spec.dataset, spec.root, **spec.data_options)
    if which == "images":
        attach_cache(dataset, size, mode="off")
        return dataset, "images"
    if which == "cache":
        status = attach_cache(dataset, size, mode="auto", cache_dir=spec.cache_dir)
        if not status.used:
            log(f"bench: no current {size} px frame cache for {dataset.name}; preparing it first")
            build_cache(dataset, size, spec.cache_dir, progress=False)
            status = attach_cache(dataset, size, mode="require", cache_dir=spec.cache_dir)
        if not status.used:  # pragma: no cover - require raises first
            raise CacheError("frame cache unavailable")
        return dataset, "cache"
    status = attach_cache(dataset, size, cache_dir=spec.cache_dir)
    return dataset, "cache" if status.used else "images"


def run_bench(spec: BenchSpec, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Measure (a), (b), (c), views and seed-style for ``spec``; the report as a dict (see module doc).
    The process's torch thread count is restored afterwards."""
    threads = torch.get_num_threads()
    try:
        return _run_bench(spec, log)
    finally:
        torch.set_num_threads(threads)


def _run_bench(spec: BenchSpec, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    import gazebench.models  # noqa: F401  (registers the models)
    from gazebench.config import resolve_recipe
    from gazebench.datasets.loading import FrameWindows
    from gazebench.engine import StepContext, compile_model, random_flip, resolve_device, train_one_epoch, train_step
    from gazebench.models import build_model
    from gazebench.perf.runtime import configure_threads, load_average, runtime_report
    from gazebench.perf.seedstyle import SeedStyleViews
    from gazebench.registry import LOSSES
    from gazebench.runner import make_loader, make_optimizer, seed_everything

    log = log or (lambda msg: print(msg, file=sys.stderr))
    if spec.source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}; got {spec.source!r}")
    if spec.steps < 1 or spec.repeat < 1 or spec.warmup < 0:
        raise ValueError("steps and repeat must be >= 1, warmup >= 0")
    seed_everything(spec.seed)
    which = ["cache", "images"] if spec.source == "both" else [spec.source]
    from gazebench.datasets import build_dataset

    probe = build_dataset(spec.dataset, spec.root, **spec.data_options)
    recipe = resolve_recipe(probe.card.get("recipe") or {}, spec.recipe)
    size, batch_size, workers = recipe["image_size"], recipe["batch_size"], recipe["num_workers"]
    device = resolve_device(recipe["device"])
    configure_threads(device, workers)
    if spec.threads:
        torch.set_num_threads(spec.threads)
    load_before = load_average()

    model = build_model(spec.model, **spec.model_kwargs)
    if not model.trainable:
        raise ValueError(f"model {spec.model!r} is not trained by gradient steps; nothing to benchmark")
    positions = probe.split_positions()["train"]
    model.fit_prior(probe.gaze(positions))
    loss_fn = LOSSES.get(recipe["loss"] or model.default_loss)
    ctx = StepContext(model.view, size, device, recipe["precision"], recipe["channels_last"])
    model.to(device)
    if ctx.channels_last:
        model.to(memory_format=torch.channels_last)
    step_model = compile_model(model, recipe["compile"])
    optimizer = make_optimizer(model, recipe)
    scaler = torch.amp.GradScaler(device.type) if recipe["precision"] == "fp16" else None
    flip_gen = torch.Generator().manual_seed(spec.seed)
    augment = (lambda v, t: random_flip(v, t, flip_gen)) if recipe["augment_flip"] else None

    def loader_for(ds) -> _Infinite:
        gen = torch.Generator().manual_seed(spec.seed)
        sampler = RandomSampler(ds, replacement=True, num_samples=10**9, generator=gen)
        return _Infinite(make_loader(ds, recipe, train=True, generator=gen, sampler=sampler))

    sources: dict[str, dict[str, Any]] = {}
    for w in which:
        ds, label = _frames_source(spec, w, size, log)
        frames = FrameWindows(ds, positions, model.view, size)
        sources[label] = {"loader": loader_for(frames), "cache": str(ds.frame_cache.path) if ds.frame_cache else None}
    seed_loader = loader_for(SeedStyleViews(probe, positions, model.view, size)) if spec.seed_style else None
    # prefetched batches come free: drain the queue past them before any timing
    warm = spec.warmup + (workers * 4 if workers else 0)

    # ready tensors for (b) and (v): a few real batches kept in memory
    main = next(iter(sources.values()))["loader"]
    raw = [b for b in main.take(max(2, min(4, spec.steps)))]
    ready = []
    for b in raw:
        v, t = ctx.views(b), ctx.target(b)
        ready.append((v, t))

    def time_model(n: int) -> float:
        step_model.train()
        for i in range(spec.warmup):
            v, t = ready[i % len(ready)]
            train_step(step_model, v, t, loss_fn, optimizer, ctx, scaler)
        _sync(device)
        seen, t0 = 0, time.perf_counter()
        for i in range(n):
            v, t = ready[i % len(ready)]
            loss = train_step(step_model, v, t, loss_fn, optimizer, ctx, scaler)
            seen += t.shape[0]
        float(loss)
        _sync(device)
        return seen / (time.perf_counter() - t0)

    def time_data(src: _Infinite, n: int) -> float:
        for _ in src.take(warm):
            pass
        seen, t0 = 0, time.perf_counter()
        for b in src.take(n):
            seen += b["gaze"].shape[0]
        return seen / (time.perf_counter() - t0)

    def time_full(src: _Infinite, n: int) -> tuple[float, float]:
        train_one_epoch(step_model, src.take(warm), loss_fn, optimizer, ctx, scaler, augment=augment)
        _sync(device)
        t0 = time.perf_counter()
        stats = train_one_epoch(step_model, src.take(n), loss_fn, optimizer, ctx, scaler, augment=augment)
        _sync(device)
        outside = time.perf_counter() - t0
        return stats["samples"] / stats["seconds"], stats["samples"] / outside

    def time_views(n: int) -> float:
        for i in range(spec.warmup):
            v, t = ctx.views(raw[i % len(raw)]), ctx.target(raw[i % len(raw)])
        _sync(device)
        t0 = time.perf_counter()
        for i in range(n):
            b = raw[i % len(raw)]
            v, t = ctx.views(b), ctx.target(b)
            if augment is not None:
                v, t = augment(v, t)
        _sync(device)
        return (time.perf_counter() - t0) / n * 1000.0

    def time_seed(src: _Infinite, n: int) -> float:
        step_model.train()

        def run(k: int) -> int:
            seen = 0
            for b in src.take(k):
                v = b["views"].to(device, non_blocking=True)
                if ctx.channels_last:
                    v = v.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, v.shape[:2])
                t = b["gaze"].to(device, non_blocking=True).float()
                if augment is not None:
                    v, t = augment(v, t)
                loss = train_step(step_model, v, t, loss_fn, optimizer, ctx, scaler)
                seen += t.shape[0]
            float(loss)
            _sync(device)
            return seen

        run(warm)
        t0 = time.perf_counter()
        seen = run(n)
        return seen / (time.perf_counter() - t0)

    # one untimed round first: kernel selection, worker start-up and allocator growth happen once
    n_warm = max(1, spec.warmup)
    for src in sources.values():
        time_data(src["loader"], n_warm)
    time_model(n_warm)
    for src in sources.values():
        time_full(src["loader"], n_warm)
    time_views(n_warm)
    if seed_loader is not None:
        time_seed(seed_loader, n_warm)

    rows: list[dict[str, Any]] = []
    for r in range(spec.repeat):
        row: dict[str, Any] = {"repeat": r}
        for label, src in sources.items():
            row[f"data[{label}]"] = time_data(src["loader"], spec.steps)
        row["model"] = time_model(spec.steps)
        for label, src in sources.items():
            inside, outside = time_full(src["loader"], spec.steps)
            row[f"full[{label}]"], row[f"full_outside_clock[{label}]"] = inside, outside
        row["views_ms"] = time_views(spec.steps)
        if seed_loader is not None:
            row["seed_data"] = time_data(seed_loader, spec.steps)
            row["seed"] = time_seed(seed_loader, spec.steps)
        rows.append(row)
        log("bench: repeat {}/{}: ".format(r + 1, spec.repeat) + ", ".join(
            f"{k} {v:.1f}" for k, v in row.items() if k != "repeat" and not k.startswith("full_outside")))

    def ratio(num: str, den: str) -> float | None:
        return _median([row[num] / row[den] for row in rows if row.get(den)])

    per_source = {}
    for label, src in sources.items():
        full = f"full[{label}]"
        share = _median([row["views_ms"] / (1000.0 * batch_size / row[full]) for row in rows])
        per_source[label] = {
            "cache_file": src["cache"],
            "data_samples_per_s": _median([row[f"data[{label}]"] for row in rows]),
            "full_samples_per_s": _median([row[full] for row in rows]),
            "full_samples_per_s_outside_clock": _median([row[f"full_outside_clock[{label}]"] for row in rows]),
            "full_over_model": ratio(full, "model"),
            "data_over_model": ratio(f"data[{label}]", "model"),
            "views_share": share,
            "seed_over_full": ratio("seed", full) if seed_loader is not None else None,
        }
        per_source[label]["goals_met"] = {
            "full_over_model": (per_source[label]["full_over_model"] or 0) >= GOALS["full_over_model"],
            "data_over_model": (per_source[label]["data_over_model"] or 0) >= GOALS["data_over_model"],
            "views_share": (share if share is not None else 1) <= GOALS["views_share"],
        }
    report = {
        "bench": {k: v for k, v in asdict(spec).items()},
        "recipe": {k: recipe[k] for k in ("image_size", "batch_size", "num_workers", "precision", "channels_last",
                                          "compile", "optimizer", "augment_flip")},
        "channels_last_in_effect": ctx.channels_last,
        "model": {"name": spec.model, "view": model.view.describe(), "views": model.view.num_views,
                  "backbone": getattr(model, "options", {}).get("backbone")},
        "runtime": {**runtime_report(device, workers), "load_average_before": load_before,
                    "load_average_after": load_average()},
        "model_samples_per_s": _median([row["model"] for row in rows]),
        "views_ms_per_batch": _median([row["views_ms"] for row in rows]),
        "seed_style_samples_per_s": _median([row["seed"] for row in rows]) if seed_loader is not None else None,
        "seed_style_data_samples_per_s": _median([row["seed_data"] for row in rows]) if seed_loader is not None else None,
        "sources": per_source,
        "goals": GOALS,
        "repeats": rows,
    }
    report["runtime"].pop("load_average", None)
    return report


def render(report: dict[str, Any]) -> str:
    """The report as a short text table."""
    rt, rc = report["runtime"], report["recipe"]
    model_rate = report["model_samples_per_s"]
    lines = [
        f"gazebench bench: {report['model']['name']} ({report['model']['view']}, backbone {report['model']['backbone']}) "
        f"on {report['bench']['dataset']}, {rc['image_size']} px, batch {rc['batch_size']}, {rc['precision']}, "
        f"channels_last {'on' if report['channels_last_in_effect'] else 'off'}, compile {'on' if rc['compile'] else 'off'}",
        f"  {rt['device']} ({rt['device_name']}), {rt['torch_threads']} torch threads, {rc['num_workers']} loader "
        f"workers, allocator {rt['allocator']}, load average {rt['load_average_before']} -> {rt['load_average_after']}",
        f"  medians of {report['bench']['repeat']} interleaved repeats x {report['bench']['steps']} batches "
        f"(after {report['bench']['warmup']} warm-up batches)",
        "",
        f"  {'measurement':34s} {'samples/s':>10s} {'ratio':>8s}  goal",
        f"  {'(b) model step alone':34s} {model_rate:10.1f} {1.0:8.2f}",
    ]
    for label, s in report["sources"].items():
        ok = s["goals_met"]
        mark = lambda good: "met" if good else "MISSED"  # noqa: E731
        lines += [
            f"  {'(a) data path, frames from ' + label:34s} {s['data_samples_per_s']:10.1f} {s['data_over_model']:8.2f}"
            f"  a/b >= {GOALS['data_over_model']:g}: {mark(ok['data_over_model'])}",
            f"  {'(c) full step, frames from ' + label:34s} {s['full_samples_per_s']:10.1f} {s['full_over_model']:8.2f}"
            f"  c/b >= {GOALS['full_over_model']:g}: {mark(ok['full_over_model'])}",
            f"  {'    zoom crops + normalise + flip':34s} {report['views_ms_per_batch']:7.2f} ms/batch = "
            f"{100 * s['views_share']:.2f} % of a step  (<= {100 * GOALS['views_share']:g} %: {mark(ok['views_share'])})",
        ]
        if s["seed_over_full"] is not None:
            lines.append(f"  {'(s) seed-style data path':34s} {report['seed_style_data_samples_per_s']:10.1f} "
                         f"{report['seed_style_data_samples_per_s'] / s['data_samples_per_s']:8.2f}  (vs this data path)")
            lines.append(f"  {'(s) seed-style full step':34s} {report['seed_style_samples_per_s']:10.1f} "
                         f"{s['seed_over_full']:8.2f}  (s/c: the reference pipeline vs this one)")
    return "\n".join(lines)
