"""Will one batch fit in memory?  Checked before any loader is built or any frame decoded.

A setting that cannot fit -- a huge ``image_size`` (with ``GAZEBENCH_MAX_IMAGE_SIZE`` raised),
a ``batch_size`` or ``eval_batch_size`` of thousands at 224 px -- once grew for minutes until the
kernel killed the process without a word.  :func:`check_batch_memory` refuses it up front in one
line: the estimate, the memory available, and the recipe key to lower.

The estimate is a *lower bound*: what one batch holds before the model runs -- its frames as
decoded (``uint8 [B, T, 3, S, S]``, :mod:`gazebench.datasets.loading`) and the model input made
from them (``float32 [B, V, 3, S, S]``, :func:`gazebench.datasets.views.make_views`).  The
activations the backbone keeps for the backward pass, which depend on the model and are often
larger, are not counted: a batch refused here cannot fit; one let through may still not.

Available memory: on CUDA the device's free memory (``torch.cuda.mem_get_info``); elsewhere the
host's ``MemAvailable`` (``/proc/meminfo``), lowered to what the process's cgroup (v2 or v1)
still allows, counting its reclaimable file cache as free; ``os.sysconf`` where there is no ``/proc``.  Where
nothing can be read, nothing is refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gazebench.core.errors import UserRuntimeError

MEMINFO = Path("/proc/meminfo")
CGROUP = Path("/sys/fs/cgroup")
GIB = 2**30


class BatchMemoryError(UserRuntimeError):
    """One batch of the recipe needs more memory than there is."""


def batch_bytes(batch: int, frames: int, views: int, size: int) -> int:
    """Bytes one batch holds at least: ``batch`` samples of ``frames`` uint8 RGB frames of
    ``size`` x ``size`` px, and the float32 model input of ``views`` views made from them."""
    pixels = batch * 3 * size * size
    return pixels * frames + pixels * views * 4


def host_available(meminfo: Path = MEMINFO, cgroup: Path = CGROUP) -> tuple[int | None, str]:
    """``(bytes, where they were read)`` of host memory available to this process; None unknown."""
    found: list[tuple[int, str]] = []
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append((int(line.split()[1]) * 1024, f"MemAvailable in {meminfo}"))
    except (OSError, ValueError, IndexError):
        pass
    left = _cgroup_left(cgroup)
    if left is not None:
        found.append((left, f"the limit of this process's cgroup ({cgroup})"))
    if not found:
        try:
            found.append((os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "os.sysconf"))
        except (ValueError, OSError, AttributeError):
            return None, "unknown"
    return min(found)


#: (folder under the cgroup root, limit, usage, reclaimable key of memory.stat): cgroup v2, then v1
_CGROUP_FILES = (
    ("", "memory.max", "memory.current", "inactive_file"),
    ("memory", "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"),
)


def _cgroup_left(root: Path) -> int | None:
    """What this process's cgroup may still take: its limit less its usage, plus its inactive
    file cache (which the kernel reclaims before it kills); None where there is no limit.  The
    process's own cgroup folder when it is visible, else the root (a container's view)."""
    try:
        own = {
            kind: path.lstrip("/")
            for _, kind, path in (line.split(":", 2) for line in Path("/proc/self/cgroup").read_text().splitlines())
        }
    except (OSError, ValueError):
        own = {}
    for sub, limit_file, usage_file, reclaimable in _CGROUP_FILES:
        base = root / sub
        rel = own.get("" if not sub else sub, "")
        folder = base / rel if (base / rel / limit_file).exists() else base
        try:
            limit = (folder / limit_file).read_text().strip()
        except OSError:
            continue
        try:
            if limit == "max":
                return None
            usage = int((folder / usage_file).read_text())
            stat = dict(line.split()[:2] for line in (folder / "memory.stat").read_text().splitlines() if line.strip())
            return max(0, int(limit) - usage + int(stat.get(reclaimable, 0)))
        except (OSError, ValueError):
            return None
    return None


def available_memory(device: Any) -> tuple[int | None, str]:
    """``(bytes, what)`` free where the model input lives: the CUDA device, else the host."""
    if getattr(device, "type", str(device)) == "cuda":
        import torch

        try:
            free, _ = torch.cuda.mem_get_info(device)
        except (RuntimeError, AssertionError):
            return None, "unknown"
        return free, f"free on {device} (torch.cuda.mem_get_info)"
    return host_available()


def check_batch_memory(
    recipe: Any, frames: int, views: int, sizes: dict[str, int], device: Any, trains: bool = True, world_size: int = 1
) -> None:
    """Refuse a recipe whose training or evaluation batch cannot fit (see the module docstring).
    ``sizes``: samples per split; a batch never holds more than its split (or
    ``max_train_samples``); under torchrun each process holds its share of a training batch."""
    available, where = available_memory(device)
    if available is None:
        return
    train_n = min(sizes.get("train", 0), recipe.max_train_samples or sizes.get("train", 0))
    batches = [("eval_batch_size", recipe.eval_batch_size, max(sizes.get("val", 0), sizes.get("test", 0)))]
    if trains:
        batches.insert(0, ("batch_size", -(-recipe.batch_size // world_size), train_n))
    for key, size, n in batches:
        batch = max(1, min(size, n))
        need = batch_bytes(batch, frames, views, recipe.image_size)
        if need <= available:
            continue
        lower = "image_size" if batch_bytes(1, frames, views, recipe.image_size) > available else key
        raise BatchMemoryError(
            f"recipe {key}={size}, image_size={recipe.image_size}: one batch needs at least {need / GIB:.2f} GiB "
            f"({batch} samples x {frames} frame(s) x 3 x {recipe.image_size}^2 px as uint8, plus {views} view(s) "
            f"as float32 model input; activations not counted) and there are {available / GIB:.2f} GiB ({where}); "
            f"lower {lower} (--set {lower}=...)"
        )
