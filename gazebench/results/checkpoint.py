"""Checkpoints: written atomically after every epoch, read back with ``weights_only=True``.

A checkpoint holds only tensors and plain Python values (no pickled objects), so loading one
from an untrusted source cannot run code.  :func:`read_checkpoint` is the one reader of every
checkpoint and weights file (resume, best.pt, the authors' published files): a file holding pickled
code, or not a torch file at all, is one ConfigError line naming it, never a traceback.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gazebench.core.atomic import atomic_path
from gazebench.core.errors import UserValueError
from gazebench.core.options import ConfigError

#: the global a weights-only load refused; torch words it "Unsupported global: GLOBAL os.system" or
#: "Trying to load unsupported GLOBAL posix.system whose module posix is blocked" by version and module
_GLOBAL = re.compile(r"unsupported (?:global: )?GLOBAL ([\w.]+)", re.IGNORECASE)


def read_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Any:
    """``torch.load(path, map_location=device, weights_only=True)``; a file that is not a plain
    checkpoint (not a torch file at all, or one holding pickled code) is one ConfigError line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"weights file {str(path)!r} does not exist")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many kinds for a foreign file; all end here
        code = _GLOBAL.search(str(err))
        if code:
            raise ConfigError(
                f"{path}: holds pickled code or objects ({code.group(1)}), not only tensors; "
                "gazebench reads checkpoints with torch.load(weights_only=True) and never "
                "runs code from a file"
            ) from err
        raise ConfigError(
            f"{path}: is not a PyTorch checkpoint (torch.load failed: {type(err).__name__}"
            f"{': ' + _first_line(err) if _first_line(err) else ''})"
        ) from err


def read_safetensors(path: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file (a flat name -> tensor table that holds no code, as
    Hugging Face hosts weights); a file that is not one is one ConfigError line."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"weights file {str(path)!r} does not exist")
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError) as err:
        raise ConfigError(
            f"{path}: is not a safetensors file (safetensors failed: {type(err).__name__}"
            f"{': ' + _first_line(err) if _first_line(err) else ''})"
        ) from err


def _first_line(err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0][:120] if lines else ""


@dataclass
class FitState:
    """Everything about a fit that is not a module or an optimiser."""

    epoch: int = 0
    best_value: float | None = None
    best_epoch: int = 0
    best_model: dict[str, torch.Tensor] | None = None
    stop_value: float | None = None
    bad_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` through :func:`gazebench.core.atomic.atomic_path` (fsynced, mode from the umask).

    torch writes into a Python file object, not a path: given a path, its C++ writer reports a
    full disk as a RuntimeError that names neither the file nor the cause ("[enforce fail at
    inline_container.cc:...] . unexpected pos ...", "basic_ios::clear: iostream error"); through
    a file object the failure is the ``OSError`` itself (ENOSPC), which :func:`atomic_path` turns
    into a :class:`~gazebench.core.atomic.WriteError` naming ``path`` and the fix.  The previous file
    at ``path`` stays whole."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "gauss": float(np_state[4]),
        },
        "python": [list(random.getstate()[1]), random.getstate()[2]],
        "python_version": random.getstate()[0],
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    random.setstate((state["python_version"], tuple(state["python"][0]), state["python"][1]))


def save(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scaler: Any, state: FitState) -> None:
    atomic_save(
        {
            "format": "gazebench-checkpoint-1",
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None,
            "fit": {k: v for k, v in state.__dict__.items()},
            "rng": _rng_state(),
        },
        path,
    )


def load_into(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scaler: Any) -> FitState | None:
    """Restore a fit from ``path``; None when there is no checkpoint to resume from."""
    path = Path(path)
    if not path.exists():
        return None
    ckpt = read_checkpoint(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != "gazebench-checkpoint-1":
        raise UserValueError(f"{path}: not a gazebench checkpoint")
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    if scaler is not None and ckpt.get("scaler"):
        scaler.load_state_dict(ckpt["scaler"])
    _set_rng_state(ckpt["rng"])
    return FitState(**ckpt["fit"])


def save_weights(path: Path, model: torch.nn.Module) -> None:
    atomic_save(model.state_dict(), path)


def load_weights(path: Path, model: torch.nn.Module) -> None:
    model.load_state_dict(read_checkpoint(path))
