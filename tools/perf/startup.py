"""How long the planning and listing commands take to start and finish (issue 24: under 1 s, no torch).

    python tools/perf/startup.py [--repeat 5] [--results DIR]

Each command is a fresh ``python -m gazebench ...`` process (the same interpreter, its output thrown
away), run ``--repeat`` times; printed: the median, lowest and highest wall time of each, and
whether the command imported torch or timm (read from ``-X importtime`` in one extra run), with
the machine's load (``os.getloadavg``) before and after.  ``status`` and ``table`` read
``--results`` (default: an empty temporary folder).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def commands(results: str) -> list[list[str]]:
    return [
        ["ls", "models"],
        ["ls", "datasets"],
        ["run", "--dataset", "synthgaze", "--model", "static,seqsclstmsym", "--dry-run", "--results", results],
        ["status", "--dataset", "synthgaze", "--model", "static,seqsclstmsym", "--results", results],
        ["table", "--results", results],
    ]


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "gazebench", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )
    return time.perf_counter() - start


def heavy_imports(argv: list[str]) -> list[str]:
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gazebench", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    ).stderr
    names = {line.rsplit("|", 1)[-1].strip() for line in err.splitlines() if line.startswith("import time:")}
    return sorted(names & {"torch", "timm"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--results", default=None, help="a results folder for status and table (default: empty)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as empty:
        results = args.results or empty
        print(f"load before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
        for argv in commands(results):
            times = sorted(wall(argv) for _ in range(args.repeat))
            heavy = heavy_imports(argv)
            name = " ".join(argv[:2]) if argv[0] == "ls" else argv[0]
            print(
                f"gazebench {name:<12} median {statistics.median(times):.2f} s"
                f"  (min {times[0]:.2f}, max {times[-1]:.2f}; {args.repeat} runs)  imports "
                f"{', '.join(heavy) if heavy else 'no torch/timm'}"
            )
        print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
