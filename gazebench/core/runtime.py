"""Process settings that decide training speed on a CPU (threads, waiting, loader workers,
allocator), and what a result or ``gazebench bench`` reports about them.

Threads and workers.  PyTorch's CPU kernels run on an OpenMP team of one thread per core.  The
recipe's ``num_workers`` is ``auto`` by default: on a CPU that is no loader worker at all --
frames are decoded in the training process between steps (0.1-0.2 ms a frame at 64 px, against
3-6 ms of model per sample) -- and the training process keeps one torch thread per core, as a
bare PyTorch loop does.  An explicit ``num_workers=N`` on a CPU leaves the workers their cores:
``cores - N`` torch threads (at least one).  On a GPU, ``auto`` gives the loader every core of
this process's share of the machine but one (the cores it may run on, divided among the
processes torchrun starts on the node, ``$LOCAL_WORLD_SIZE``), at least one: decoding and
augmenting 224 px frames for a GPU step takes many cores (one H200 training ``static`` at
224 px, batch 80, drew 1.3-1.5x its model step from four workers: docs/performance.md), and the
process keeps PyTorch's default threads.  An explicit ``OMP_NUM_THREADS`` always wins.

Waiting.  The threads of a team meet at a barrier after every parallel region, and GNU OpenMP
lets a thread that arrives first spin for a long time (300 000 rounds) before it sleeps.  When
another job takes a core from the thread it waits for, the spinning burns the core that thread
needs and a training step slows 5-20x.  ``gazebench run`` and ``bench`` therefore set
``GOMP_SPINCOUNT`` before torch starts OpenMP (:func:`choose_openmp_wait`): 1 000 rounds on a
quiet machine (as fast as the default there; a job that starts later slows this one to about
0.4x, not 0.05x) and 300 when other processes already keep the cores busy (about 0.55x of the
quiet speed beside one other training job).  Thread counts never change during a run, so the
numbers of a run do not depend on the machine's load.  Measured: docs/performance.md.

Allocator.  glibc malloc makes the same forward pass run at different speeds depending on what ran
before; tcmalloc is steady and faster.  gazebench never changes the allocator of its process:
preload it yourself (``LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4``,
docs/performance.md).  :func:`loaded_allocator` says which one is mapped; results record it.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import MutableMapping
from typing import Any

#: GNU OpenMP spin rounds before a waiting thread sleeps: on a quiet machine, and on a busy one
SPIN_QUIET, SPIN_BUSY = "1000", "300"
#: other processes keeping this many cores busy make the machine busy
BUSY_CORES = 0.5
#: the settings a user may have made that :func:`choose_openmp_wait` leaves alone
WAIT_SETTINGS = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")


def cpu_cores() -> int:
    """The cores this process may run on (its affinity), else the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def loaded_allocator() -> str:
    """``tcmalloc``, ``jemalloc`` or ``glibc`` (``system`` off Linux): the allocator this process
    actually has mapped, whether preloaded or linked."""
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:  # not Linux: all we can see is what was asked for
        maps = os.environ.get("LD_PRELOAD", "")
    if "tcmalloc" in maps:
        return "tcmalloc"
    if "jemalloc" in maps:
        return "jemalloc"
    return "glibc" if sys.platform.startswith("linux") else "system"


def _cpu_sample() -> tuple[float, int, int]:
    """(wall clock, busy jiffies of the machine, jiffies of this process) from /proc (Linux)."""
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    with open("/proc/self/stat") as f:
        mine = f.read().rsplit(")", 1)[1].split()
    idle = cpu[3] + (cpu[4] if len(cpu) > 4 else 0)  # idle + iowait
    return time.perf_counter(), sum(cpu[:8]) - idle, int(mine[11]) + int(mine[12])


def other_busy_cores(seconds: float = 0.2) -> float | None:
    """How many cores processes other than this one keep busy, measured over ``seconds``
    (None where /proc cannot say)."""
    try:
        t0, busy0, mine0 = _cpu_sample()
        time.sleep(seconds)
        t1, busy1, mine1 = _cpu_sample()
    except (OSError, ValueError, IndexError):
        return None
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    return max(0.0, (busy1 - busy0 - (mine1 - mine0)) / hz / max(t1 - t0, 1e-6))


def choose_openmp_wait(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Set ``GOMP_SPINCOUNT`` before torch starts OpenMP (see the module doc): :data:`SPIN_BUSY`
    when other processes keep at least :data:`BUSY_CORES` cores busy now, else
    :data:`SPIN_QUIET`.  Does nothing once torch is imported, or when the user set
    ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY``.  Returns what it set."""
    if "torch" in sys.modules or any(k in environ for k in WAIT_SETTINGS):
        return {}
    busy = other_busy_cores()
    chosen = {"GOMP_SPINCOUNT": SPIN_BUSY if busy is not None and busy >= BUSY_CORES else SPIN_QUIET}
    environ.update(chosen)
    return chosen


def resolve_num_workers(value: int | str, device_type: str) -> int:
    """The recipe's ``num_workers`` as a number.  ``auto``: none on a CPU (decode between steps);
    on a GPU, this process's share of the cores less one (see the module doc)."""
    if value != "auto":
        return int(value)
    if device_type == "cpu":
        return 0
    try:
        processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        processes = 1
    return max(1, cpu_cores() // processes - 1)


def configure_threads(device_type: str, num_workers: int) -> dict[str, Any]:
    """Torch threads for a training process on ``device_type`` fed by ``num_workers`` workers (see
    the module doc); returns :func:`thread_settings`.  ``OMP_NUM_THREADS`` wins; on a GPU nothing
    changes."""
    import torch

    if device_type == "cpu" and not os.environ.get("OMP_NUM_THREADS"):
        want = max(1, cpu_cores() - max(0, int(num_workers)))
        if torch.get_num_threads() != want:
            torch.set_num_threads(want)
    return thread_settings(num_workers)


def thread_settings(num_workers: int | None = None) -> dict[str, Any]:
    import torch

    out: dict[str, Any] = {
        "cores": cpu_cores(),
        "torch_threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT"),
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
    return platform.processor() or platform.machine()


def device_name(device: Any) -> str:
    import torch

    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()


def runtime_report(device: Any, num_workers: int | None = None) -> dict[str, Any]:
    """What a speed number depends on besides the code: allocator, threads, CPU, load."""
    import torch

    out = {
        "allocator": loaded_allocator(),
        "device": str(device),
        "device_name": device_name(device),
        "torch": torch.__version__,
        "load_average": load_average(),
    }
    out.update(thread_settings(num_workers))
    return out
