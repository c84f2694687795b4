"""Training and evaluation loops: tensors in, numbers out.  No argv, no paths, no JSON."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn

from gazebench.datasets.views import ViewSpec, make_views
from gazebench.geometry import angular_error_deg

LossFn = Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]

PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass
class StepContext:
    """How a batch of frames becomes model input, and where it runs."""

    spec: ViewSpec
    image_size: int
    device: torch.device
    precision: str = "fp32"
    channels_last: bool = False

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def views(self, batch: dict) -> torch.Tensor:
        frames = batch["frames"].to(self.device, non_blocking=True)  # uint8: a quarter of float's bytes
        views = make_views(frames, self.spec, self.image_size)
        if self.channels_last:
            b, v = views.shape[:2]
            views = views.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, (b, v))
        return views

    def target(self, batch: dict) -> torch.Tensor:
        return batch["gaze"].to(self.device, non_blocking=True).float()


def random_flip(views: torch.Tensor, target: torch.Tensor, generator: torch.Generator | None = None):
    """Mirror half of the samples horizontally (every view of a sample alike) and negate their
    gaze x, so yaw changes sign: a label-exact augmentation."""
    flip = torch.rand(views.shape[0], generator=generator) < 0.5
    if not flip.any():
        return views, target
    flip = flip.to(views.device)
    views = torch.where(flip.view(-1, 1, 1, 1, 1), views.flip(-1), views)
    sign = torch.tensor([-1.0, 1.0, 1.0], device=target.device)
    target = torch.where(flip.view(-1, 1), target * sign, target)
    return views, target


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _float_outputs(out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.float() for k, v in out.items()}


def train_one_epoch(
    model: nn.Module,
    loader: Iterable[dict],
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    ctx: StepContext,
    scaler: torch.amp.GradScaler | None = None,
    progress: Callable[[int], None] | None = None,
    augment: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> dict[str, float]:
    """One pass over ``loader``; returns mean loss (over samples), samples and seconds."""
    model.train()
    total_loss, seen = 0.0, 0
    start = time.perf_counter()
    for batch in loader:
        views, target = ctx.views(batch), ctx.target(batch)
        if augment is not None:
            views, target = augment(views, target)
        with ctx.autocast():
            out = model(views)
        loss = loss_fn(_float_outputs(out), target)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss.item()}; lower the learning rate or check the labels")
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        n = target.shape[0]
        total_loss += float(loss.detach()) * n
        seen += n
        if progress is not None:
            progress(n)
    seconds = time.perf_counter() - start
    return {"loss": total_loss / max(seen, 1), "samples": seen, "seconds": seconds}


@torch.inference_mode()
def predict(
    model: nn.Module,
    loader: Iterable[dict],
    ctx: StepContext,
    loss_fn: LossFn | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray | float]:
    """Predictions for every sample of ``loader``: ``index``, ``vector``, ``target``, ``error``
    (degrees), ``sigma`` (radians, NaN when the model has none), and the mean ``loss``."""
    model.eval()
    idx, vec, tgt, sig = [], [], [], []
    total_loss, seen = 0.0, 0
    start = time.perf_counter()
    for batch in loader:
        views, target = ctx.views(batch), ctx.target(batch)
        with ctx.autocast():
            out = _float_outputs(model(views))
        if loss_fn is not None:
            total_loss += float(loss_fn(out, target)) * target.shape[0]
        seen += target.shape[0]
        idx.append(batch["index"].numpy() if torch.is_tensor(batch["index"]) else np.asarray(batch["index"]))
        vec.append(out["vector"].cpu().numpy())
        tgt.append(target.cpu().numpy())
        s = out.get("sigma")
        sig.append(s.reshape(-1).cpu().numpy() if s is not None else np.full(target.shape[0], np.nan, np.float32))
        if progress is not None:
            progress(target.shape[0])
    seconds = time.perf_counter() - start
    vector = np.concatenate(vec).astype(np.float64) if vec else np.zeros((0, 3))
    target = np.concatenate(tgt).astype(np.float64) if tgt else np.zeros((0, 3))
    return {
        "index": np.concatenate(idx) if idx else np.zeros(0, np.int64),
        "vector": vector,
        "target": target,
        "error": angular_error_deg(vector, target) if len(vector) else np.zeros(0),
        "sigma": np.concatenate(sig) if sig else np.zeros(0),
        "loss": total_loss / max(seen, 1) if loss_fn is not None else float("nan"),
        "seconds": seconds,
    }
