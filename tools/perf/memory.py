"""Peak memory of a whole ``gazebench run`` (process and its DataLoader workers), for datasets of
different sizes: a run's peak must not grow with the dataset.

    python tools/perf/memory.py --root small=data/synth-small --root default=data/synth-default \\
        --model static --set image_size=64 --epochs 1

Each run is a fresh ``python -m gazebench run`` process, ``--repeat`` times per root (medians).  Its memory is sampled every
``--interval`` seconds as the sum of PSS (proportional set size: pages shared between the
process and its forked workers are counted once) over the process tree, from
``/proc/<pid>/smaps_rollup`` (Linux).  Printed: peak PSS per root, and each root's peak over the
first root's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def _tree(pid: int) -> list[int]:
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def _proc_kib(pid: int, file: str, field: str) -> int:
    """The ``field:`` line (in KiB) of ``/proc/<pid>/<file>``; 0 when the process is gone."""
    try:
        with open(f"/proc/{pid}/{file}") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kib(pid: int) -> int:
    return _proc_kib(pid, "smaps_rollup", "Pss")


def _rss_kib(pid: int) -> int:
    return _proc_kib(pid, "status", "VmRSS")


def measure(cmd: list[str], interval: float = 0.05, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd``; peak tree PSS, peak main-process RSS and most processes seen, while it runs."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = {"pss_kib": 0, "main_rss_kib": 0, "processes": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            tree = _tree(proc.pid)
            peak["pss_kib"] = max(peak["pss_kib"], sum(_pss_kib(p) for p in tree))
            peak["main_rss_kib"] = max(peak["main_rss_kib"], _rss_kib(proc.pid))
            peak["processes"] = max(peak["processes"], len(tree))
            done.wait(interval)

    t0 = time.perf_counter()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{output[-3000:]}")
    return {
        "peak_pss_mib": peak["pss_kib"] / 1024,
        "peak_main_rss_mib": peak["main_rss_kib"] / 1024,
        "max_processes": peak["processes"],
        "seconds": time.perf_counter() - t0,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python tools/perf/memory.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--root",
        action="append",
        required=True,
        metavar="LABEL=DIR",
        help="a dataset root to run on (repeatable; the first is the reference)",
    )
    p.add_argument("--dataset", default="synthgaze")
    p.add_argument("--model", default="static")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--interval", type=float, default=0.05, help="sampling interval in seconds")
    p.add_argument("--repeat", type=int, default=3, help="runs per root; medians are reported (default 3)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    out: dict[str, Any] = {"model": args.model, "sets": args.sets, "epochs": args.epochs, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="gazebench-memory-") as tmp:
        for item in args.root:
            label, _, root = item.partition("=")
            if not root:
                label, root = Path(item).name, item
            cmd = [
                sys.executable,
                "-m",
                "gazebench",
                "run",
                "--dataset",
                args.dataset,
                "--root",
                root,
                "--model",
                args.model,
                "--epochs",
                str(args.epochs),
                "--results",
                f"{tmp}/{label}/results",
                "--runs",
                f"{tmp}/{label}/runs",
                "--overwrite",
                "always",
                "--quiet",
                "--no-table",
            ]
            for s in args.sets:
                cmd += ["--set", s]
            trials = [measure(cmd, args.interval) for _ in range(args.repeat)]
            res = {k: statistics.median(t[k] for t in trials) for k in trials[0]}
            res["peak_pss_mib_each"] = [round(t["peak_pss_mib"], 1) for t in trials]
            record = json.loads(next(Path(f"{tmp}/{label}/results").rglob("*.json")).read_text())
            res["samples"] = record["dataset"]["samples"]
            res["frame_cache"] = record["dataset"].get("frame_cache")
            res["allocator"] = record["environment"].get("allocator")
            out["runs"][label] = res
            print(
                f"{label}: peak PSS {res['peak_pss_mib']:.0f} MiB (main RSS {res['peak_main_rss_mib']:.0f} MiB, "
                f"{res['max_processes']} processes), samples {res['samples']}, {res['seconds']:.0f} s",
                file=sys.stderr,
            )
    labels = list(out["runs"])
    ref = out["runs"][labels[0]]["peak_pss_mib"]
    out["ratio_to_first"] = {k: v["peak_pss_mib"] / ref for k, v in out["runs"].items()}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for k in labels:
            print(f"{k:>12s}: peak PSS {out['runs'][k]['peak_pss_mib']:8.1f} MiB  x{out['ratio_to_first'][k]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
