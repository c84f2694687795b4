"""The recipe (how a model is trained) and the routing of ``--set key=value``.

A run is configured by three things: the :class:`Recipe` (how to train), the *model* options
(what the registered factory accepts) and the *data* options (what the adapter declares).
:func:`route_settings` sends each ``--set`` key to the one that knows it; an unknown key is one
error naming the closest known keys, the same wherever it is given.

Layers of the recipe, later wins: the defaults below < the dataset card's ``recipe:`` < the
suite's ``recipe:`` < the suite's dataset entry ``recipe:`` < ``--set``.  ``gazebench ls recipe``
prints the table of fields, defaults, allowed values and help.

Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from gazebench.core.options import (
    ConfigError,
    Option,
    OptionValueError,
    boolean,
    check_value,
    integer,
    names_of,
    number_above,
    one_of,
)
from gazebench.core.registry import closest

__all__ = ["ConfigError", "Recipe", "RECIPE_OPTIONS", "parse_value", "parse_sets", "route_settings", "Routed"]


#: the names a recipe's ``augment`` takes, each in words (what a dry run and a record print)
AUGMENTATION_TEXT = {
    "flip": "horizontal flip of half the samples, gaze x negated",
    "resized_crop": "RandomResizedCrop per frame on the frame as read (area 0.8-1, aspect 3/4-4/3), resized to image_size",
}
AUGMENTATIONS = tuple(AUGMENTATION_TEXT)
#: a recipe's ``augment`` -> the names, in :data:`AUGMENTATIONS` order, each once (a list, ``"flip,resized_crop"``,
#: or none)
check_augment = names_of(*AUGMENTATIONS, what="augmentation")


def _betas(value: Any) -> tuple[float, float]:
    try:
        b1, b2 = (float(v) for v in value)
    except (TypeError, ValueError):
        raise OptionValueError("must be two numbers in [0, 1), e.g. [0.9, 0.999]") from None
    if not (0 <= b1 < 1 and 0 <= b2 < 1):
        raise OptionValueError("must be two numbers in [0, 1), e.g. [0.9, 0.999]")
    return (b1, b2)


_betas.describe = "two numbers in [0, 1)"  # type: ignore[attr-defined]


def _channels_last(value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    raise OptionValueError("must be true, false or auto")


_channels_last.describe = "true, false or auto"  # type: ignore[attr-defined]


def _device(value: Any) -> str:
    if isinstance(value, str) and value.split(":")[0] in ("auto", "cpu", "cuda", "mps"):
        return value
    raise OptionValueError("must be auto, cpu, cuda, cuda:N or mps")


_device.describe = "auto, cpu, cuda, cuda:N or mps"  # type: ignore[attr-defined]


def _loss(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise OptionValueError("must be a registered loss name (gazebench ls losses) or none")


_loss.describe = "a loss name (gazebench ls losses) or none"  # type: ignore[attr-defined]


def _lr_step(value: Any) -> tuple[int, float] | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
        return None
    wrong = OptionValueError(
        "must be none or [EPOCHS, GAMMA] with an integer EPOCHS >= 1 and 0 < GAMMA <= 1, e.g. [10, 0.1]"
    )
    parts = value.strip("[]() ").split(",") if isinstance(value, str) else value
    try:
        every, gamma = (float(str(v).strip()) for v in parts)
    except (TypeError, ValueError):
        raise wrong from None
    if every != int(every) or every < 1 or not 0 < gamma <= 1:
        raise wrong
    return (int(every), gamma)


_lr_step.describe = "none or [epochs, gamma]"  # type: ignore[attr-defined]


def _num_workers(value: Any) -> int | str:
    if value == "auto":
        return "auto"
    try:
        return integer(0)(value)
    except OptionValueError:
        raise OptionValueError("must be auto or an integer >= 0") from None


_num_workers.describe = "auto or an integer >= 0"  # type: ignore[attr-defined]


def _init(value: Any) -> str:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "scratch")):
        return "none"
    if isinstance(value, str) and value.startswith(PUBLISHED_PREFIX) and len(value) > len(PUBLISHED_PREFIX):
        return value
    raise OptionValueError(f"must be none or {PUBLISHED_PREFIX}NAME (gazebench ls published)")


_init.describe = "none or published:NAME"  # type: ignore[attr-defined]


def _layer_decay(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not 0 < number <= 1:
        raise OptionValueError("must be none or a number in (0, 1], e.g. 0.75")
    return value if isinstance(value, (int, float)) else number


_layer_decay.describe = "none or a number in (0, 1]"  # type: ignore[attr-defined]

#: ``lr_schedule`` values: ``epochs`` (lr, warmup and lr_step, set once per epoch) or ``onecycle``
#: (torch's OneCycleLR, set before every step; gazebench.train.schedules)
LR_SCHEDULES = ("epochs", "onecycle")

#: the largest ``image_size`` allowed without ``GAZEBENCH_MAX_IMAGE_SIZE``: the largest frame any
#: supported dataset stores, MPIIFaceGaze's normalised release at 448 x 448 px
#: (gazebench/datasets/mpiifacegaze/card.yaml, ``layout``: ``Data/data (3000, 3, 448, 448)``; ETH-XGaze is read
#: in its 224 px release, gazebench/datasets/ethxgaze/card.yaml); every shipped protocol trains at 224
#: (the cards' ``recipe: image_size: 224``).  Beyond it a frame is only upsampled (no new
#: information) at 3 x size^2 bytes a frame: --set image_size=100000 (30 GB a frame) once grew to
#: 24 GB and was killed without a word.
MAX_IMAGE_SIZE = 448
MAX_IMAGE_SIZE_ENV = "GAZEBENCH_MAX_IMAGE_SIZE"


def max_image_size() -> int:
    """:data:`MAX_IMAGE_SIZE`, or ``$GAZEBENCH_MAX_IMAGE_SIZE`` where someone really needs more."""
    text = os.environ.get(MAX_IMAGE_SIZE_ENV, "").strip()
    if not text:
        return MAX_IMAGE_SIZE
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{MAX_IMAGE_SIZE_ENV}={text!r}: must be a whole number of pixels, e.g. 1024")
    return int(text)


def _image_size(value: Any) -> int:
    size = integer(1)(value)
    limit = max_image_size()
    if size > limit:
        raise OptionValueError(
            f"must be at most {limit} px: the largest frame of any supported dataset is {MAX_IMAGE_SIZE} px "
            f"(MPIIFaceGaze), and a larger size only upsamples, at 3 x size^2 bytes a frame; if you really need "
            f"it, export {MAX_IMAGE_SIZE_ENV}={size}"
        )
    return size


_image_size.describe = (  # type: ignore[attr-defined]
    f"an integer from 1 to {MAX_IMAGE_SIZE} (${MAX_IMAGE_SIZE_ENV} raises it)"
)

#: experiment trackers a run can write to (gazebench.train.tracking); tensorboard is the default
LOGGERS = ("tensorboard", "wandb", "mlflow")
#: recipe fields that neither the unit id nor the configuration identity hashes: where a run's
#: curves go changes nothing it computes, so another logger finds (and resumes) the same unit
NOT_IN_UNIT_ID = ("logger",)
#: recipe fields that :meth:`Recipe.as_dict` leaves out while they hold their default, so that what
#: a result records, its unit id (gazebench.plan.planning) and its configuration identity
#: (gazebench.results.identity) stay those of the results made before these fields existed: a run that
#: sets none of them is the same run as before and finds (and resumes) its old unit; a run that
#: sets one is another unit.  Any later field that changes what a run computes joins this list.
OMITTED_AT_DEFAULT = ("warmup", "lr_schedule", "layer_decay")


#: ``tensorboard``, ``tensorboard,wandb``, a list, or none -> the names in :data:`LOGGERS` order
_loggers = names_of(*LOGGERS, what="logger")
#: ``init=published:NAME``: start from a published checkpoint (gazebench.published)
PUBLISHED_PREFIX = "published:"


def _number(check):
    """A number check that keeps ints as given (so recorded recipes and unit ids do not change)."""

    def wrapped(value: Any) -> Any:
        number = check(value)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else number

    wrapped.describe = check.describe  # type: ignore[attr-defined]
    return wrapped


def _opt(default: Any, check, help: str) -> Any:
    return field(default=default, metadata={"option": Option(default, check, help)})


@dataclass(frozen=True)
class Recipe:
    """How a model is trained, selected and evaluated.  Every field is checked on construction
    through :meth:`resolve`; the record stores :meth:`as_dict`."""

    epochs: int = _opt(8, integer(0), "passes over the training set (0: fit-only baselines)")
    batch_size: int = _opt(32, integer(1), "training batch size")
    eval_batch_size: int = _opt(128, integer(1), "batch size for validation and test")
    optimizer: str = _opt("adam", one_of("adam", "adamw", "sgd"), "optimiser (sgd: momentum 0.9)")
    lr: float = _opt(1e-3, _number(number_above(0)), "learning rate")
    lr_step: tuple[int, float] | None = _opt(
        None,
        _lr_step,
        "step decay: [N, gamma] multiplies lr by gamma every N epochs (torch's "
        "StepLR stepped after each epoch: epoch e trains at lr * gamma^((e-1)//N)); "
        "none: constant lr",
    )
    warmup: int = _opt(
        0,
        integer(0),
        "linear warm-up over the first N epochs: epoch e <= N trains at lr * e / N (GazeTR's "
        "GradualWarmupScheduler, multiplier 1), and lr_step counts its epochs from N + 1; 0: none",
    )
    lr_schedule: str = _opt(
        "epochs",
        one_of(*LR_SCHEDULES),
        "epochs: lr (with warmup and lr_step) set once per epoch; onecycle: torch's OneCycleLR "
        "over all steps, set before each batch, max_lr = lr, its defaults (pct_start 0.3, "
        "cosine, div_factor 25, final_div_factor 1e4, beta1 cycled 0.95-0.85-0.95), as "
        "UniGaze trains (no warmup or lr_step with it)",
    )
    layer_decay: float | None = _opt(
        None,
        _layer_decay,
        "ViT layer-wise lr decay d (MAE/BEiT fine-tuning): block i of L trains at "
        "lr * d^(L-i), the patch embedding, class token and positions at lr * d^(L+1), "
        "the final norm and the head at lr; none: one lr for all",
    )
    betas: tuple[float, float] = _opt((0.9, 0.999), _betas, "Adam/AdamW betas")
    weight_decay: float = _opt(0.0, _number(number_above(0, inclusive=True)), "weight decay")
    image_size: int = _opt(64, _image_size, "frames are resized to this many px (square) before zoom crops")
    num_workers: int | str = _opt(
        "auto",
        _num_workers,
        "DataLoader worker processes (0: decode in the training process; auto: 0 on a "
        "CPU, 1 on a GPU; docs/performance.md)",
    )
    loss: str | None = _opt(None, _loss, "loss name; none: the model's default loss")
    patience: int | None = _opt(
        None, integer(1, allow_none=True), "early stop after this many epochs without improvement (none: never)"
    )
    early_stop_on: str = _opt("val_loss", one_of("val_loss", "val_angular"), "what early stopping watches")
    select: str = _opt(
        "val_angular",
        one_of("val_angular", "val_loss", "last"),
        "checkpoint rule: best validation mean angular error, best validation loss, or the last epoch",
    )
    precision: str = _opt(
        "fp32",
        one_of("fp32", "tf32", "bf16", "fp16"),
        "forward-pass precision: fp32 (IEEE, also on CUDA), tf32 (CUDA's TF32 convolutions and "
        "matrix products; on CPU the same as fp32), bf16 or fp16 autocast on CPU or CUDA (fp16 trains with "
        "a GradScaler)",
    )
    device: str = _opt("auto", _device, "where to train (auto: CUDA when available)")
    channels_last: bool | str = _opt(
        "auto", _channels_last, "NHWC memory format (auto: CUDA, or CPU from 112 px; docs/performance.md)"
    )
    compile: bool = _opt(False, boolean(), "torch.compile the model's forward passes")
    max_train_samples: int | None = _opt(
        None, integer(1, allow_none=True), "training samples drawn per epoch, a random subset each epoch (none: all)"
    )
    augment: tuple[str, ...] = _opt(
        (),
        check_augment,
        "training augmentations (a protocol names them): flip (mirror, gaze x negated), "
        "resized_crop (Gaze360's RandomResizedCrop, area 0.8-1, per frame, on the frame as read); none",
    )
    init: str = _opt(
        "none",
        _init,
        "start from a published checkpoint: published:NAME with weights_file=FILE (gazebench ls "
        "published); with epochs=0 the checkpoint is only evaluated (gazebench reproduce)",
    )
    on_bad_sample: str = _opt(
        "error", one_of("error", "skip"), "an unreadable image stops the run (error) or is left out and recorded (skip)"
    )
    logger: tuple[str, ...] = _opt(
        ("tensorboard",),
        _loggers,
        "per-epoch curves: tensorboard (<run dir>/tensorboard/), wandb, mlflow (extras: "
        'pip install "gazebench[wandb]"), a comma list, or none; not in the unit id '
        "(docs/tracking.md)",
    )

    def __post_init__(self) -> None:
        if self.lr_schedule == "onecycle" and (self.warmup or self.lr_step is not None):
            raise ConfigError(
                "recipe lr_schedule=onecycle warms up and anneals by itself: leave warmup=0 and "
                "lr_step=none (or use lr_schedule=epochs)"
            )

    @classmethod
    def options(cls) -> dict[str, Option]:
        """``{field: Option}``: default, check and help of every field, in declaration order."""
        return {f.name: f.metadata["option"] for f in dataclasses.fields(cls)}

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def resolve(cls, *layers: dict[str, Any] | None) -> Recipe:
        """The defaults updated by each layer in turn; every value checked, an unknown key an
        error naming the closest field."""
        options = cls.options()
        values: dict[str, Any] = {}
        for layer in layers:
            for key, value in (layer or {}).items():
                if key not in options:
                    raise ConfigError(
                        f"unknown recipe key {key!r}.{closest(key, list(options))} (gazebench ls recipe lists them)"
                    )
                values[key] = check_value("recipe", key, options[key], value)
        return cls(**values)

    def selection(self) -> str:
        """The checkpoint rule (and early stop), in words: what a record and a dry run state."""
        if self.published is not None and self.epochs == 0:
            return f"published checkpoint {self.published}, as released (no training)"
        rule = {
            "last": f"the last of {self.epochs} epochs (no selection on held-out data)",
            "val_angular": "the epoch with the lowest validation mean angular error",
            "val_loss": "the epoch with the lowest validation loss",
        }[self.select]
        if self.patience is not None and self.select != "last":
            rule += f"; stop after {self.patience} epochs without a better {self.early_stop_on.replace('_', ' ')}"
        return rule

    @property
    def published(self) -> str | None:
        """The published checkpoint a model starts from (``init=published:NAME``), or None."""
        return self.init[len(PUBLISHED_PREFIX) :] if self.init.startswith(PUBLISHED_PREFIX) else None

    def epoch_lr(self, epoch: int) -> float:
        """The learning rate epoch ``epoch`` (1-based) trains at under ``lr_schedule=epochs``: during
        a ``warmup`` of N epochs ``lr * epoch / N``; then ``lr``, times ``gamma`` for every ``N``
        epochs of ``lr_step`` after the warm-up (as torch's StepLR stepped after each epoch).

        The warm-up is GazeTR's (yihuacheng/GazeTR @ d7cf716, ``trainer/total.py`` lines 73-85 and
        99-101, ``trainer/leave.py`` lines 74-86 and 99-101): ildoonet's GradualWarmupScheduler with
        ``multiplier=1`` around a StepLR, stepped once before training and after every epoch, which
        gives epoch e <= N the lr ``lr * e / N`` and hands over to the StepLR, whose count starts at
        the first epoch after the warm-up."""
        if epoch <= self.warmup:
            return self.lr * epoch / self.warmup
        if self.lr_step is None:
            return self.lr
        every, gamma = self.lr_step
        return self.lr * gamma ** ((epoch - self.warmup - 1) // every)

    def augmentation(self) -> str:
        """The training augmentations in words ("none" when there are none)."""
        if not self.augment:
            return "none (no flip, no crop)"
        parts = [AUGMENTATION_TEXT[a] for a in self.augment]
        return "; ".join(parts + ([] if "flip" in self.augment else ["no flip"]))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: what a result records and what the unit id hashes (less :data:`NOT_IN_UNIT_ID`);
        the fields of :data:`OMITTED_AT_DEFAULT` only when they differ from their default."""
        out = dataclasses.asdict(self)
        for key in OMITTED_AT_DEFAULT:
            if out[key] == RECIPE_DEFAULTS[key]:
                del out[key]
        out["betas"] = list(self.betas)
        out["lr_step"] = list(self.lr_step) if self.lr_step is not None else None
        out["augment"] = list(self.augment)
        out["logger"] = list(self.logger)
        return out


#: field -> Option, for ``gazebench ls recipe`` and routing
RECIPE_OPTIONS: dict[str, Option] = Recipe.options()
RECIPE_DEFAULTS: dict[str, Any] = {key: opt.default for key, opt in RECIPE_OPTIONS.items()}


# --- --set --------------------------------------------------------------------------------------


def parse_value(text: str) -> Any:
    """``--set`` values are YAML scalars/lists: ``3`` -> int, ``1e-4`` -> float, ``[1, 2]`` -> list,
    ``true`` -> bool, ``none`` -> None; anything else stays a string (``1.0,0.78``)."""
    if text.strip().lower() in ("none", "null"):
        return None
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:  # YAML 1.1 reads "1e-4" as a string
            return float(value)
        except ValueError:
            return value
    return value


def parse_sets(items: Iterable[str] | None) -> dict[str, Any]:
    """``["key=value", ...]`` -> ``{key: typed value}``; a later repeat of a key wins."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value; got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = parse_value(value)
    return out


@dataclass
class Routed:
    """``--set`` values split by who takes them."""

    recipe: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


def _scope_takes(key: str, model_keys: Iterable[str], data_keys: Iterable[str]) -> str | None:
    """Where a (possibly qualified: ``recipe.lr``, ``model.crops``, ``data.variant``) key goes."""
    scope, _, bare = key.rpartition(".")
    if scope in ("", "recipe") and bare in RECIPE_OPTIONS:
        return "recipe"
    if scope in ("", "model") and bare in model_keys:
        return "model"
    if scope in ("", "data") and bare in data_keys:
        return "data"
    return None


def unknown_setting(key: str, model_keys: Iterable[str], data_keys: Iterable[str]) -> ConfigError:
    """The one error for a ``--set`` key that nothing takes."""
    model_keys, data_keys = sorted(set(model_keys)), sorted(set(data_keys))
    bare = key.rpartition(".")[2]
    known = list(RECIPE_OPTIONS) + model_keys + data_keys
    return ConfigError(
        f"unknown setting {key!r}.{closest(bare, known)} Recipe keys: {', '.join(RECIPE_OPTIONS)}; "
        f"model options: {', '.join(model_keys) or 'none'}; data options: {', '.join(data_keys) or 'none'}"
    )


def route_settings(
    settings: dict[str, Any], model_keys: Iterable[str], data_keys: Iterable[str], strict: bool = True
) -> Routed:
    """Split ``settings`` into recipe, model and data values.  Keys may be qualified
    (``model.crops``); bare keys go to the first that knows them: recipe, model, data.  A key
    that none takes raises (``strict``) or is left out (a suite's unit whose model lacks it)."""
    model_keys, data_keys = list(model_keys), list(data_keys)
    routed = Routed()
    for key, value in settings.items():
        where = _scope_takes(key, model_keys, data_keys)
        if where is None:
            if strict:
                raise unknown_setting(key, model_keys, data_keys)
            continue
        getattr(routed, where)[key.rpartition(".")[2]] = value
    return routed


def takes(key: str, model_keys: Iterable[str], data_keys: Iterable[str]) -> bool:
    """Whether a unit with these model and data options takes ``--set key``."""
    return _scope_takes(key, list(model_keys), list(data_keys)) is not None


def recipe_table() -> list[tuple[str, str, str, str]]:
    """``(field, default, allowed, help)`` rows for ``gazebench ls recipe``."""
    rows = []
    for key, opt in RECIPE_OPTIONS.items():
        default = (",".join(map(str, opt.default)) or "none") if isinstance(opt.default, tuple) else opt.default
        rows.append(
            (
                key,
                "none" if default is None else str(default).lower() if isinstance(default, bool) else str(default),
                opt.describe(),
                opt.help,
            )
        )
    return rows
