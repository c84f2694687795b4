"""Training and evaluation loops: tensors in, numbers out.  No argv, no paths, no JSON."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gazebench.core.errors import UserRuntimeError, UserValueError
from gazebench.core.geometry import angular_error_deg
from gazebench.datasets.device_frames import DeviceFrames
from gazebench.datasets.views import ViewSpec, make_views
from gazebench.train.augment import Augment

LossFn = Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]

PRECISIONS = ("fp32", "tf32", "bf16", "fp16")


def configure_matmul_precision(precision: str) -> None:
    """On CUDA, ``fp32`` means IEEE float32 in convolutions and matrix products too: PyTorch lets
    cuDNN use TF32 (10-bit mantissa) for convolutions by default, which moved a published
    checkpoint's outputs by up to 0.26 rad on an H200 (docs/performance.md).  ``tf32`` allows it
    for both, for speed; bf16/fp16 autocast leave float32 islands strict."""
    allow = precision == "tf32"
    torch.backends.cudnn.allow_tf32 = allow
    torch.backends.cuda.matmul.allow_tf32 = allow


#: below this input size channels_last makes CPU convolutions slower (measured: docs/performance.md)
CHANNELS_LAST_MIN_CPU_SIZE = 112


def use_channels_last(setting: bool | str, device: torch.device, image_size: int) -> bool:
    """The recipe's ``channels_last`` (True / False / "auto") for this device and input size.

    ``auto``: always on CUDA (tensor-core convolutions want NHWC); on CPU only from
    :data:`CHANNELS_LAST_MIN_CPU_SIZE` px up, where oneDNN's NHWC kernels win."""
    if isinstance(setting, str):
        if setting.strip().lower() != "auto":
            raise UserValueError(f"channels_last must be true, false or auto; got {setting!r}")
        return device.type == "cuda" or image_size >= CHANNELS_LAST_MIN_CPU_SIZE
    return bool(setting)


def compile_model(model: nn.Module, enabled: bool) -> nn.Module:
    """``torch.compile(model)`` when enabled (the recipe's ``compile``), else the model itself.

    The compiled wrapper shares the model's parameters, so optimisers and checkpoints keep using
    the plain model; only the forward passes go through the wrapper."""
    if not enabled:
        return model
    if not hasattr(torch, "compile"):
        raise UserRuntimeError("recipe compile=true needs torch.compile (PyTorch 2.0 or later)")
    return torch.compile(model)


@dataclass
class StepContext:
    """How a batch of frames becomes model input, and where it runs."""

    spec: ViewSpec
    image_size: int
    device: torch.device
    precision: str = "fp32"
    channels_last: bool = False
    #: the frames held on the device (gazebench.datasets.device_frames), for batches that carry ``rows``
    frames_on_device: DeviceFrames | None = None

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise UserValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {self.precision!r}")
        self.channels_last = use_channels_last(self.channels_last, self.device, self.image_size)
        if self.device.type == "cuda":
            configure_matmul_precision(self.precision)

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision for the forward pass: bf16 or fp16 autocast on the unit's device, CPU
        (bf16: AMX/AVX-512 BF16 kernels) or CUDA; fp16 trains with a GradScaler on either."""
        if self.precision in ("fp32", "tf32"):
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    @property
    def sync_every(self) -> int:
        """Read the loss back every this many steps: reading waits for the device to finish, so on
        a GPU it is done rarely to keep the queue of kernels full (free on CPU)."""
        return 1 if self.device.type == "cpu" else 25

    def views(self, batch: dict) -> torch.Tensor:
        """The batch's model input on the device."""
        if "rows" in batch:  # the frames are on the device already: pick them
            frames = self.frames_on_device.gather(batch["rows"])
        else:
            frames = batch["frames"].to(self.device, non_blocking=True)  # uint8: a quarter of float's bytes
        views = make_views(frames, self.spec, self.image_size)
        if self.channels_last:
            b, v = views.shape[:2]
            views = views.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, (b, v))
        return views

    def target(self, batch: dict) -> torch.Tensor:
        return batch["gaze"].to(self.device, non_blocking=True).float()


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when a device is visible, else the CPU.  A named CUDA device that is not
    there is a one-line user error here, not torch's driver message at the first tensor moved."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise UserValueError(f"device={name}: not a device torch knows ({exc}); use device=cpu, cuda or auto") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UserRuntimeError(
                f"device={name}: no CUDA device is visible here (torch.cuda.is_available() is "
                "False); use device=cpu, or device=auto to take a GPU when there is one"
            )
        if device.index is not None and device.index >= count:
            raise UserRuntimeError(f"device={name}: this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
    return device


def _float_outputs(out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.float() for k, v in out.items()}


def train_step(
    model: nn.Module,
    views: torch.Tensor,
    target: torch.Tensor,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    ctx: StepContext,
    scaler: torch.amp.GradScaler | None = None,
    weight: float = 1.0,
) -> torch.Tensor:
    """One optimisation step on ready model input; returns the loss (detached, not read back).
    ``weight`` scales what is differentiated (a torchrun rank's share of the global batch mean:
    :mod:`gazebench.train.distributed`), not the loss returned."""
    with ctx.autocast():
        out = model(views)
    loss = loss_fn(_float_outputs(out), target)
    optimizer.zero_grad(set_to_none=True)
    objective = loss * weight if weight != 1.0 else loss
    if scaler is not None:
        scaler.scale(objective).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        objective.backward()
        optimizer.step()
    return loss.detach()


def _sum_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64


def _read_losses(pending: list[torch.Tensor]) -> float:
    """Sum of the per-batch loss sums in ``pending`` (one device sync); raise on a non-finite loss."""
    total = torch.stack(pending).sum()
    pending.clear()
    value = float(total)
    if not np.isfinite(value):
        raise FloatingPointError(f"training loss became {value}; lower the learning rate or check the labels")
    return value


def train_one_epoch(
    model: nn.Module,
    loader: Iterable[dict],
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    ctx: StepContext,
    scaler: torch.amp.GradScaler | None = None,
    progress: Callable[[int], None] | None = None,
    augment: Augment | None = None,
    before_step: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """One pass over ``loader``; returns mean loss (over samples), samples and seconds.
    ``before_step(i)`` runs before the i-th (0-based) optimisation step (a per-step learning rate:
    :func:`gazebench.train.schedules.set_rate`).
    ``augment`` (:func:`gazebench.train.augment.make_augment`) works on the views and targets once they
    are made (``resized_crop`` happened in the data path).  A batch with ``"shard": (start, total, weight)``
    is one torchrun rank's slice of a global batch (:func:`gazebench.train.distributed.label_shards`):
    the augmentation draws for the whole global batch and keeps the slice's, and the step's
    gradient is weighted so that DDP's average over the ranks is the global batch mean's.

    ``seconds`` is wall time from asking the loader for the first batch to the end of the last
    step (the device synchronised), so ``samples / seconds`` is what an outside clock sees."""
    model.train()
    total_loss, seen = 0.0, 0
    pending: list[torch.Tensor] = []
    start = time.perf_counter()
    for step, batch in enumerate(loader):
        shard, aug, weight = batch.get("shard"), augment, 1.0
        if shard is not None:
            weight = shard[2]
            aug = dataclasses.replace(augment, part=shard[:2]) if augment is not None else None
        views = ctx.views(batch)
        target = ctx.target(batch)
        if aug is not None:
            views, target = aug.views_target(views, target)
        if before_step is not None:
            before_step(step)
        loss = train_step(model, views, target, loss_fn, optimizer, ctx, scaler, weight)
        n = target.shape[0]
        pending.append(loss.to(_sum_dtype(loss.device)) * n)
        seen += n
        if len(pending) >= ctx.sync_every:
            total_loss += _read_losses(pending)
        if progress is not None:
            progress(n)
    if pending:
        total_loss += _read_losses(pending)
    seconds = time.perf_counter() - start
    return {"loss": total_loss / max(seen, 1), "samples": seen, "seconds": seconds}


@torch.inference_mode()
def predict_batches(
    model: nn.Module,
    loader: Iterable[dict],
    ctx: StepContext,
    loss_fn: LossFn | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray | float]:
    """Predictions for every sample of ``loader``: ``index``, ``vector``, ``target``, ``error``
    (degrees), ``sigma`` (radians, NaN when the model has none), and the mean ``loss``."""
    model.eval()
    # outputs stay on the device until the end: reading each batch back would stall a GPU per batch
    idx, vec, tgt, sig, losses = [], [], [], [], []
    seen = 0
    start = time.perf_counter()
    for batch in loader:
        views, target = ctx.views(batch), ctx.target(batch)
        with ctx.autocast():
            out = _float_outputs(model(views))
        n = target.shape[0]
        if loss_fn is not None:
            losses.append(loss_fn(out, target).to(_sum_dtype(target.device)) * n)
        seen += n
        idx.append(batch["index"].numpy() if torch.is_tensor(batch["index"]) else np.asarray(batch["index"]))
        vec.append(out["vector"])
        tgt.append(batch["gaze"])
        s = out.get("sigma")
        sig.append(s.reshape(-1) if s is not None else torch.full((n,), float("nan"), device=target.device))
        if progress is not None:
            progress(n)
    vec = [torch.cat(vec).cpu().numpy()] if vec else []
    sig = [torch.cat(sig).float().cpu().numpy()] if sig else []
    tgt = [torch.cat(tgt).float().numpy()] if tgt else []
    total_loss = float(torch.stack(losses).sum()) if losses else 0.0
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
