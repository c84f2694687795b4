"""gazebench's training loop at its defaults against a bare timm loop, quiet and shared.

    python tools/perf/vs_bare.py --root data/synth-small --arrival
    python tools/perf/vs_bare.py --root data/synth-small --arrival --competitor gazebench
    python tools/perf/vs_bare.py --root data/synth-small --set num_workers=0 --env GOMP_SPINCOUNT=300

In one run, on this machine:

  quiet   (a) a bare timm loop: ResNet-18 (``timm.create_model("resnet18", num_classes=3)``), 64 px,
              batch 32, random tensors, Adam, L1 loss, PyTorch's default threads and settings;
          (b) ``gazebench run --model static`` at its defaults on SynthGaze (64 px, batch 32: the
              recipe's defaults) for ``--epochs`` epochs: training samples/s of the epochs after
              the first (the first includes start-up), from the result's ``history``;
  shared  the same two, each while one competing training job runs: the bare loop again (PyTorch
          defaults: one OpenMP thread per core, spinning at barriers), started by this script
          ``--settle`` seconds before and stopped after; ``--competitor gazebench`` competes with a
          second ``gazebench run`` with the same ``--set`` values (started on the quiet machine)
          instead;
  arriving  (``--arrival``) gazebench started on the quiet machine and the competitor started
          after its first epoch: samples/s of the epochs from the third on.

Every figure comes with the 1-minute load average before and after it.  Printed: the table and
the two ratios the defaults are held to: quiet (b)/(a) >= 0.9 and shared (b) / quiet (b) >= 0.5.
Each command is a fresh process, so environment variables (``--env``) apply before torch starts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GOALS = {"quiet_over_bare": 0.9, "shared_over_quiet": 0.5}


def bare_loop(seconds: float, warmup: int = 5) -> float:
    """Samples/s of the bare loop for ``seconds`` (forever when 0) after ``warmup`` steps."""
    import timm
    import torch

    torch.manual_seed(0)
    model = timm.create_model("resnet18", num_classes=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.randn(32, 3, 64, 64), torch.randn(32, 3)

    def step() -> float:
        loss = torch.nn.functional.l1_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    for _ in range(warmup):
        step()
    seen, t0 = 0, time.perf_counter()
    while seconds <= 0 or time.perf_counter() - t0 < seconds:
        step()
        seen += 32
    return seen / (time.perf_counter() - t0)


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _env(extra: list[str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(item.split("=", 1) for item in extra)
    return env


def _bare_cmd(seconds: float) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--bare-loop", str(seconds)]


def _gazebench_cmd(args: argparse.Namespace, out: Path) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "gazebench",
        "run",
        "--dataset",
        "synthgaze",
        "--root",
        args.root,
        "--model",
        "static",
        "--epochs",
        str(args.epochs),
        "--results",
        str(out / "results"),
        "--runs",
        str(out / "runs"),
        "--overwrite",
        "always",
        "--quiet",
        "--no-table",
        "--set",
        f"max_train_samples={args.samples_per_epoch}",
    ]
    for s in args.sets:
        cmd += ["--set", s]
    return cmd


def measure_bare(args: argparse.Namespace) -> dict[str, Any]:
    before = _load()
    out = subprocess.run(_bare_cmd(args.seconds), env=dict(os.environ), capture_output=True, text=True, check=True)
    return {"samples_per_s": float(out.stdout.strip().splitlines()[-1]), "load": [before, _load()]}


def _gazebench_record(args: argparse.Namespace, out: Path, epochs: int, after_first_epoch=None) -> dict[str, Any]:
    """Run ``gazebench run`` into ``out``; calls ``after_first_epoch()`` once epoch 1's checkpoint
    exists.  Returns the result record."""
    cmd = _gazebench_cmd(argparse.Namespace(**{**vars(args), "epochs": epochs}), out)
    proc = subprocess.Popen(cmd, env=_env(args.env), stdout=subprocess.DEVNULL)
    while after_first_epoch is not None and proc.poll() is None:
        if (out / "runs").exists() and any((out / "runs").rglob("last.pt")):
            after_first_epoch()
            break
        time.sleep(0.05)
    if proc.wait() != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed")
    (path,) = list((out / "results").rglob("*.json"))
    return json.loads(path.read_text())


def _figure(record: dict[str, Any], skip: int, before: float) -> dict[str, Any]:
    """Training samples/s of the epochs after the first ``skip``, and what the run used."""
    later = record["history"][skip:]
    return {
        "samples_per_s": sum(h["train_samples"] for h in later) / sum(h["train_seconds"] for h in later),
        "load": [before, _load()],
        "torch_threads": record["environment"].get("torch_threads"),
        "num_workers": record["recipe"]["num_workers"],
        "per_epoch": [round(h["train_samples"] / h["train_seconds"], 1) for h in record["history"]],
    }


def measure_gazebench(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    before = _load()
    return _figure(_gazebench_record(args, tmp, args.epochs), 1, before)


def _competitor(args: argparse.Namespace, tmp: Path) -> subprocess.Popen:
    if args.competitor == "gazebench":
        cmd = _gazebench_cmd(argparse.Namespace(**{**vars(args), "epochs": 1000}), tmp / "competitor")
    else:
        cmd = _bare_cmd(0)
    return subprocess.Popen(cmd, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def with_competitor(args: argparse.Namespace, tmp: Path, what) -> dict[str, Any]:
    """``what()`` while one competing training job runs (started ``--settle`` s before)."""
    competitor = _competitor(args, tmp)
    try:
        time.sleep(args.settle)
        return what()
    finally:
        competitor.kill()
        competitor.wait()


def measure_arrival(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """gazebench started on the quiet machine, the competitor started after its first epoch:
    samples/s of the epochs from the third on (the competitor takes a few seconds to start)."""
    started: list[subprocess.Popen] = []
    before = _load()
    try:
        record = _gazebench_record(
            args, tmp / "arrival", args.epochs + 1, lambda: started.append(_competitor(args, tmp))
        )
    finally:
        for competitor in started:
            competitor.kill()
            competitor.wait()
    return _figure(record, 2, before)


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gazebench-vs-bare-") as tmp_name:
        tmp = Path(tmp_name)
        quiet = {"bare": measure_bare(args), "gazebench": measure_gazebench(args, tmp / "quiet")}
        shared = {
            "bare": with_competitor(args, tmp, lambda: measure_bare(args)),
            "gazebench": with_competitor(args, tmp, lambda: measure_gazebench(args, tmp / "shared")),
            "gazebench_arriving": measure_arrival(args, tmp) if args.arrival else None,
        }
    q, s = quiet["gazebench"]["samples_per_s"], shared["gazebench"]["samples_per_s"]
    ratios = {"quiet_over_bare": q / quiet["bare"]["samples_per_s"], "shared_over_quiet": s / q}
    if shared["gazebench_arriving"]:
        ratios["arriving_over_quiet"] = shared["gazebench_arriving"]["samples_per_s"] / q
    return {
        "cores": os.cpu_count(),
        "competitor": args.competitor,
        "sets": args.sets,
        "env": args.env,
        "quiet": quiet,
        "shared": shared,
        "ratios": ratios,
        "goals_met": {k: ratios[k] >= GOALS[k] for k in GOALS},
    }


def render(report: dict[str, Any]) -> str:
    lines = [
        f"{report['cores']} cores; gazebench --set {report['sets'] or '(defaults)'}, env {report['env'] or '(none)'}; "
        f"competitor: {report['competitor']}",
        f"  {'':8s} {'loop':18s} {'samples/s':>10s}  load avg (before -> after)",
    ]
    for machine, loop in (
        ("quiet", "bare"),
        ("quiet", "gazebench"),
        ("shared", "bare"),
        ("shared", "gazebench"),
        ("shared", "gazebench_arriving"),
    ):
        m = report[machine][loop]
        if m is None:
            continue
        extra = (
            f"  threads {m['torch_threads']}, workers {m['num_workers']}, epochs {m['per_epoch']}"
            if "gazebench" in loop
            else ""
        )
        lines.append(f"  {machine:8s} {loop:18s} {m['samples_per_s']:10.1f}  {m['load'][0]} -> {m['load'][1]}{extra}")
    r, ok = report["ratios"], report["goals_met"]
    lines.append(
        f"  quiet gazebench / bare = {r['quiet_over_bare']:.3f} (goal >= {GOALS['quiet_over_bare']}: "
        f"{'met' if ok['quiet_over_bare'] else 'MISSED'})"
    )
    lines.append(
        f"  shared / quiet gazebench = {r['shared_over_quiet']:.3f} (goal >= {GOALS['shared_over_quiet']}: "
        f"{'met' if ok['shared_over_quiet'] else 'MISSED'})"
    )
    if "arriving_over_quiet" in r:
        lines.append(
            f"  competitor arriving after epoch 1: {r['arriving_over_quiet']:.3f} x quiet (no goal; "
            f"a collapse would read 0.05-0.1)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", help="a SynthGaze root (gazebench synth --out DIR --preset small)")
    p.add_argument("--epochs", type=int, default=3, help="gazebench epochs; the first is not counted (default 3)")
    p.add_argument(
        "--samples-per-epoch",
        type=int,
        default=640,
        help="gazebench's max_train_samples: a random subset of this size each epoch (default 640)",
    )
    p.add_argument("--seconds", type=float, default=8, help="timed seconds of the bare loop (default 8)")
    p.add_argument("--settle", type=float, default=6, help="seconds the competitor runs before a measurement")
    p.add_argument("--competitor", choices=("bare", "gazebench"), default="bare")
    p.add_argument(
        "--arrival",
        action="store_true",
        help="also: the competitor starts after gazebench's first epoch (gazebench_arriving)",
    )
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="passed to gazebench run (default: none, i.e. its defaults)",
    )
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="environment of the measured gazebench runs (not the bare loop's, not the competitor's)",
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--bare-loop", type=float, metavar="SECONDS", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.bare_loop is not None:
        print(f"{bare_loop(args.bare_loop):.3f}")
        return 0
    if not args.root:
        p.error("--root is required")
    report = run(args)
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
