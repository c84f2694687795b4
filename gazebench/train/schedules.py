"""The learning rate of every parameter group at every step: the recipe's schedule and its
layer-wise decay.

Two schedules (recipe ``lr_schedule``):

``epochs``    one rate per epoch, :meth:`gazebench.core.config.Recipe.epoch_lr` (``lr``, a linear
              ``warmup``, ``lr_step`` decay), set before the epoch's first batch.
``onecycle``  torch's ``OneCycleLR`` with its defaults over ``epochs x steps_per_epoch`` steps,
              ``max_lr = lr``, set before every batch: :func:`onecycle`.  UniGaze trains so
              (ut-vision/UniGaze @ 9c240fb: ``unigaze/README.md`` lines 107 and 129 pick
              ``configs/schedulers/OneCycleLR.yaml``, whose ``div_factor: 25.0`` and
              ``final_div_factor: 10000.0``, lines 6-7, are torch's defaults; ``trainers/simple_trainer.py``
              lines 233-240 give ``max_lr`` = the optimiser's lr, ``epochs`` and ``steps_per_epoch`` =
              ``len(train_loader)``, and line 392 steps it after every batch).  torch's other defaults
              hold there too: ``pct_start`` 0.3, cosine annealing and ``cycle_momentum``, which on Adam
              cycles beta1 from 0.95 down to 0.85 and back.

Both are pure functions of (epoch, step), so a fit resumed from ``last.pt`` continues the schedule.

Layer-wise decay (recipe ``layer_decay``, :func:`param_groups`): MAE's and BEiT's fine-tuning rule
(UniGaze's copy of MAE, ``MAE/util/lr_decay.py`` lines 15-76): with L transformer blocks, block i
(0-based) trains at ``lr * d^(L - i)``, the patch embedding, class token and position table at
``lr * d^(L + 1)``, everything above the blocks (final norm, head) at ``lr``.  Each group carries
its factor as ``lr_scale``.  MAE's function also exempts 1-D parameters from weight decay; gazebench
keeps the recipe's one ``weight_decay`` for every group.  UniGaze's gaze training does not use it:
its optimiser takes ``model.parameters()`` as one group (``simple_trainer.py`` lines 221-223), and
no file of the repository imports ``lr_decay.py``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from gazebench.core.options import ConfigError

#: torch.optim.lr_scheduler.OneCycleLR's defaults (pct_start, div_factor, final_div_factor,
#: base_momentum, max_momentum), which UniGaze's OneCycleLR.yaml keeps
ONECYCLE_PCT_START, ONECYCLE_DIV, ONECYCLE_FINAL_DIV = 0.3, 25.0, 1e4
ONECYCLE_BASE_MOMENTUM, ONECYCLE_MAX_MOMENTUM = 0.85, 0.95


def _cos(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def onecycle(step: int, total: int) -> tuple[float, float]:
    """``(lr / max_lr, beta1)`` at ``step`` (0-based) of ``total`` under torch's OneCycleLR with its
    defaults: cosine from ``1/25`` up to 1 over the first 30 % of the steps (beta1 0.95 down to
    0.85), then down to ``1/25/1e4`` (beta1 back to 0.95).  A step past the end keeps the last
    value (torch raises there; a batch dropped by ``on_bad_sample=skip`` must not)."""
    step = min(step, total - 1)
    up_end, down_end = ONECYCLE_PCT_START * total - 1, total - 1
    low = 1 / ONECYCLE_DIV
    if step <= up_end:
        pct = step / up_end if up_end > 0 else 1.0
        return _cos(low, 1.0, pct), _cos(ONECYCLE_MAX_MOMENTUM, ONECYCLE_BASE_MOMENTUM, pct)
    pct = (step - up_end) / (down_end - up_end)
    return _cos(1.0, low / ONECYCLE_FINAL_DIV, pct), _cos(ONECYCLE_BASE_MOMENTUM, ONECYCLE_MAX_MOMENTUM, pct)


def step_rate(recipe: Any, epoch: int, step: int, steps_per_epoch: int) -> tuple[float, float | None]:
    """``(lr, beta1 or None)`` of batch ``step`` (0-based) of epoch ``epoch`` (1-based) for a
    group of ``lr_scale`` 1."""
    if recipe.lr_schedule == "onecycle":
        factor, beta1 = onecycle((epoch - 1) * steps_per_epoch + step, recipe.epochs * steps_per_epoch)
        return recipe.lr * factor, beta1
    return recipe.epoch_lr(epoch), None


def set_rate(optimizer: Any, recipe: Any, epoch: int, step: int, steps_per_epoch: int) -> float:
    """Set every group's lr (times its ``lr_scale``) and, under ``onecycle``, its beta1 (SGD: its
    momentum) for that batch; returns the rate of a group of scale 1."""
    lr, beta1 = step_rate(recipe, epoch, step, steps_per_epoch)
    for group in optimizer.param_groups:
        group["lr"] = lr * group["lr_scale"] if "lr_scale" in group else lr
        if beta1 is not None and "betas" in group:
            group["betas"] = (beta1, group["betas"][1])
        elif beta1 is not None and "momentum" in group:
            group["momentum"] = beta1
    return lr


#: a parameter inside transformer block N (timm's ViTs: ``blocks.N.``)
_BLOCK = re.compile(r"(?:^|\.)blocks\.(\d+)\.")
#: the embedding parameters BEiT/MAE put below the first block (``get_layer_id_for_vit``)
_EMBEDDING = re.compile(r"(?:^|\.)(?:cls_token|pos_embed|reg_token|dist_token)$|(?:^|\.)patch_embed\.")


def layer_ids(names: Iterable[str], model_name: str = "the model") -> tuple[dict[str, int], int]:
    """Each parameter's layer (0: embeddings, i + 1: block i, L + 1: above the blocks) and L + 1."""
    names = list(names)
    blocks = {int(m.group(1)) for n in names if (m := _BLOCK.search(n))}
    if not blocks:
        raise ConfigError(
            f"recipe layer_decay: {model_name} has no transformer blocks (parameters named "
            "...blocks.N...): layer-wise decay is for ViT backbones (e.g. model unigaze); "
            "set layer_decay=none"
        )
    top = max(blocks) + 2
    ids = {}
    for n in names:
        m = _BLOCK.search(n)
        ids[n] = int(m.group(1)) + 1 if m else 0 if _EMBEDDING.search(n) else top
    return ids, top


def param_groups(model: Any, layer_decay: float | None) -> list[Any]:
    """The optimiser's parameters: a plain list (one group) without layer decay, else one group
    per layer with its ``lr_scale`` (see the module doc), lowest layer first."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if layer_decay is None:
        return [p for _, p in named]
    ids, top = layer_ids((n for n, _ in named), repr(getattr(model, "name", type(model).__name__)))
    groups: dict[int, dict[str, Any]] = {}
    for n, p in named:
        layer = ids[n]
        groups.setdefault(layer, {"params": [], "lr_scale": float(layer_decay) ** (top - layer), "layer": layer})
        groups[layer]["params"].append(p)
    return [groups[k] for k in sorted(groups)]
