"""Where a number came from: versions, device, git state, time."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

import gazebench
from gazebench.core.runtime import loaded_allocator

_REPO = Path(gazebench.__file__).resolve().parents[1]


def git_state(path: Path = _REPO) -> dict[str, Any]:
    """``{"sha": ..., "dirty": bool}`` of the checkout gazebench runs from (None outside git)."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return {"sha": None, "dirty": None}
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=path,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return {"sha": sha.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}


def environment(device: torch.device) -> dict[str, Any]:
    import timm

    env: dict[str, Any] = {
        "gazebench": gazebench.__version__,
        "torch": torch.__version__,
        "timm": timm.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "allocator": loaded_allocator(),
    }
    git = git_state()
    env["git_sha"], env["git_dirty"] = git["sha"], git["dirty"]
    return env


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
