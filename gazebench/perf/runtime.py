"""Process settings that decide training speed on a CPU, and what to report about them.

Allocator.  glibc malloc makes the same forward pass run at different speeds depending on what ran
before (large tensors freed and re-allocated fragment its arenas); tcmalloc is steady and faster.
gazebench does not change the allocator of a process it is imported into.  ``gazebench bench``
re-executes itself with ``LD_PRELOAD=<libtcmalloc_minimal.so.4>`` when the library is installed
(Debian: ``apt-get install libtcmalloc-minimal4``) and not loaded yet; ``GAZEBENCH_TCMALLOC=off``
opts out.  For ``gazebench run`` and scripts, set ``LD_PRELOAD`` yourself (docs/performance.md);
result files record the allocator in ``environment.allocator``.

Threads.  On a CPU every core already works inside the model's OpenMP kernels; a DataLoader
worker (or any other process) that takes a core from an OpenMP thread makes the whole team spin
at the next barrier, and training slows several-fold.  Workers run with one torch thread
(PyTorch sets that in each worker); the training process takes the cores the workers leave
(:func:`configure_threads`), unless ``OMP_NUM_THREADS`` says otherwise.
"""

from __future__ import annotations

import glob
import os
import sys
from typing import Any

import torch

ENV_TCMALLOC = "GAZEBENCH_TCMALLOC"  # "off" / "0": never re-exec with tcmalloc
_REEXEC_MARK = "GAZEBENCH_REEXEC"  # set in the re-executed process: never loop
TCMALLOC_NAMES = ("libtcmalloc_minimal.so.4", "libtcmalloc.so.4")
LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib",
            "/lib/x86_64-linux-gnu", "/lib64")


def loaded_allocator() -> str:
    """``tcmalloc``, ``jemalloc`` or ``glibc``: what this process actually has mapped."""
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:  # not Linux: fall back to the environment
        maps = os.environ.get("LD_PRELOAD", "")
    if "tcmalloc" in maps:
        return "tcmalloc"
    if "jemalloc" in maps:
        return "jemalloc"
    return "glibc" if sys.platform.startswith("linux") else "system"


def find_tcmalloc() -> str | None:
    """Path of an installed tcmalloc shared library, or None."""
    prefix = os.environ.get("CONDA_PREFIX") or sys.prefix
    dirs = [os.path.join(prefix, "lib"), *LIB_DIRS]
    for name in TCMALLOC_NAMES:
        for d in dirs:
            hits = sorted(glob.glob(os.path.join(d, name)))
            if hits:
                return hits[0]
    return None


def tcmalloc_opt_out() -> bool:
    return os.environ.get(ENV_TCMALLOC, "").strip().lower() in ("0", "off", "no", "false")


def reexec_with_tcmalloc(module_argv: list[str]) -> None:
    """Replace this process with ``python -m gazebench <module_argv>`` under tcmalloc, when tcmalloc
    is installed, not loaded yet, not opted out of, and this is not already the re-executed process.
    Returns (doing nothing) otherwise."""
    if tcmalloc_opt_out() or os.environ.get(_REEXEC_MARK) or loaded_allocator() == "tcmalloc":
        return
    lib = find_tcmalloc()
    if lib is None:
        return
    env = dict(os.environ)
    env["LD_PRELOAD"] = lib + (":" + env["LD_PRELOAD"] if env.get("LD_PRELOAD") else "")
    env[_REEXEC_MARK] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "gazebench", *module_argv], env)


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def configure_threads(device: torch.device, num_workers: int) -> dict[str, Any]:
    """Thread settings for a training process on ``device`` feeding from ``num_workers`` workers.

    An explicit ``OMP_NUM_THREADS`` wins.  Otherwise, on a CPU, the training process takes the
    cores the workers leave free (at least one): ``cores - num_workers`` torch threads, so the
    OpenMP team never waits on a thread that a worker pushed off its core (measured on 2 cores:
    docs/performance.md).  On a GPU the process keeps PyTorch's default.  Returns what is in force."""
    if device.type == "cpu" and not os.environ.get("OMP_NUM_THREADS"):
        want = max(1, cpu_cores() - max(0, int(num_workers)))
        if torch.get_num_threads() != want:
            torch.set_num_threads(want)
    return thread_settings(num_workers)


def thread_settings(num_workers: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "cores": cpu_cores(),
        "torch_threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }
    if num_workers is not None:
        out["loader_workers"] = num_workers
        out["worker_torch_threads"] = 1 if num_workers > 0 else None
    return out


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def runtime_report(device: torch.device, num_workers: int | None = None) -> dict[str, Any]:
    """What a speed number depends on besides the code: allocator, threads, CPU, load."""
    out = {
        "allocator": loaded_allocator(),
        "tcmalloc_installed": find_tcmalloc() is not None,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
        "torch": torch.__version__,
        "load_average": load_average(),
    }
    out.update(thread_settings(num_workers))
    return out
