"""The named models: each is backbone -> fusion -> head, composed in a few lines.

Every factory accepts the common options (:class:`Common`: ``backbone``, ``pretrained``,
``weights_file``, ``feature_dim``, ``proj``, ``loss``) plus its own, all as keywords, so
``build_model(name, **kwargs)`` and the CLI's ``--set key=value`` can reach them.  Values given as
strings (from a command line) are converted to the type of the option's default.

Paper defaults per model, as the originals: ``proj=gaze360-relu`` for ``static`` and ``staticsc``
(the seed's static models put a ReLU after the backbone's ``fc2``: ashesh-0/MultiZoomGaze @ 24494a1,
``code/static_model.py`` line 20, ``code/sinecosine_model/static_sinecosine_model.py`` line 45),
``proj=gaze360`` for the LSTM and MSA models (``fc2`` feeds the LSTM / head directly: Gaze360
``code/model.py`` lines 35-39, the seed's ``code/model.py`` lines 35-37,
``code/sinecosine_model/model.py`` lines 75-79, ``code/backbones/interface.py`` lines 62-70); the
sigma scale of the static sin-cos head is 1, every other head's pi (``gazebench.models.heads``).
``l2cs`` and ``xgaze`` default to ``backbone=resnet50`` and ``proj=none``: their heads sit on the
pooled ResNet-50 features (Ahmednull/L2CS-Net @ a4d8f7f, ``l2cs/model.py`` lines 53-70;
xucong-zhang/ETH-XGaze @ ef9bff0, ``model.py`` lines 5-19).  ``unigaze`` is the same head on a timm
ViT's class token (``vit_base_patch16_224``; ut-vision/UniGaze @ 9c240fb,
``unigaze_easy/src/unigaze/models/mae_gaze.py`` lines 33-92), and ``gazetr`` GazeTR-Hybrid's ResNet-18
feature map read by a transformer encoder (:mod:`gazebench.models.hybrid`).  ``msa`` / ``msaseq`` take
``head=sincos`` (MSA, MSA+Seq) or ``head=angle`` (MultiZoomGaze's MSA+raw, :func:`msa_head`).

Parameter names are stable, because published checkpoints are mapped onto them:
``backbone.net.*`` (timm's names; for the ResNets they equal torchvision's), ``backbone.proj.*``,
``fusion.*`` and ``head.*`` (``head.fc`` for one linear layer, ``head.fc_yaw`` / ``head.fc_pitch``
for the binned head).

Crop lists are relative sizes (see ``gazebench.datasets.views``); the defaults below are the seed's
pixel lists of 224.  ``crops`` also accepts ``"1.0,0.78"``, pixels ``"224,200"``, a single number,
or ``"none"``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from gazebench.core.config import parse_value
from gazebench.core.errors import GazebenchError, UserValueError
from gazebench.core.options import ConfigError
from gazebench.core.registry import LOSSES, MODELS
from gazebench.datasets.views import ViewSpec, parse_floats
from gazebench.losses import loss_for_head  # importing also registers the loss names models default to
from gazebench.model_catalog import angle_head_decodes_nothing
from gazebench.models.backbones import Backbone
from gazebench.models.base import GazeModel, check_model_options
from gazebench.models.binned import BinnedHead
from gazebench.models.fusion import Fusion, LSTMFusion, SingleView, SpatialMaxFusion
from gazebench.models.heads import AngleHead, PitchYawHead, SinCosHead, YawPitchHead
from gazebench.models.hybrid import HybridTransformer, TokenEncoder
from gazebench.models.weights import parse_pretrained

MONOTONE_PX = (224, 212, 199, 187, 174, 162, 150)
SYMMETRIC_PX = (224, 200, 175, 150, 175, 200, 224)
MSA_PX = (224, 200, 175, 150)
#: the static sin-cos model's sigma is a plain sigmoid (ashesh-0/MultiZoomGaze @ 24494a1,
#: code/sinecosine_model/static_sinecosine_model.py line 60); every other head scales it by pi
STATIC_SINCOS_SIGMA_SCALE = 1.0


class ComposedModel(GazeModel):
    """``backbone`` (per view) -> ``fusion`` (over views) -> ``head``.

    A fusion with ``on_maps`` runs on the backbone's unpooled feature maps, and the fused map is
    then pooled and projected; any other fusion runs on the pooled, projected per-view features.
    """

    def __init__(self, backbone: Backbone, fusion: Fusion, head: nn.Module, view: ViewSpec, default_loss: str) -> None:
        super().__init__()
        self.backbone, self.fusion, self.head = backbone, fusion, head
        self.view = view
        self.default_loss = default_loss

    def forward(self, views: torch.Tensor) -> dict[str, torch.Tensor]:
        if views.dim() != 5 or views.shape[1] != self.view.num_views:
            raise ValueError(
                f"model needs views [B, {self.view.num_views}, C, H, W] ({self.view.describe()}); "
                f"got shape {tuple(views.shape)}"
            )
        maps = self.backbone.feature_maps(views)
        if self.fusion.on_maps:
            feature = self.backbone.embed(self.fusion(maps))
        else:
            per_view = self.backbone.embed(maps.flatten(0, 1)).unflatten(0, maps.shape[:2])
            feature = self.fusion(per_view)
        return self.head(feature)

    @property
    def weights(self) -> dict[str, Any]:
        """The backbone weights the model started from: ``{"tag", "file", "sha256"}``
        (:class:`gazebench.models.weights.Weights`)."""
        return self.backbone.weights.as_dict()


@dataclasses.dataclass(frozen=True)
class Common:
    """Options every named model accepts.

    backbone:     any timm model name (``num_classes=0``); tests use ``test_resnet``.
    pretrained:   false, true (timm's default tag) or a timm tag (``tv_in1k``: torchvision's V1
                  ImageNet weights, the originals'); from the cache, else the hub
                  (``gazebench.models.weights``).
    weights_file: a local backbone checkpoint instead (offline machines); wins over pretrained.
    feature_dim:  per-view feature size after the projection (ignored with proj=none).
    proj:         the projection to feature_dim: linear | gaze360 | gaze360-relu | none
                  (backbones.PROJECTIONS); each model sets its paper default (see the module doc).
    loss:         overrides the model's default loss (a registered loss name; ``mse`` on a sin-cos
                  head is ``mse_sincos``, see ``gazebench.losses.resolve_loss``).
    """

    backbone: str = "resnet18"
    pretrained: bool | str = False
    weights_file: str | None = None
    feature_dim: int = 256
    proj: str = "linear"
    loss: str | None = None

    def __post_init__(self) -> None:
        if self.loss:
            LOSSES.get(self.loss)  # an unknown name fails here, with suggestions, before any weights load

    @functools.cached_property
    def built_backbone(self) -> Backbone:
        """The backbone these options describe, built once (a factory reads its width first)."""
        return self.build_backbone()

    def build_backbone(self, **timm_kwargs: Any) -> Backbone:
        """The backbone with ``timm_kwargs`` for ``timm.create_model`` (a factory's own backbone
        options, e.g. unigaze's ``drop_path``); :attr:`built_backbone` is the one without any."""
        return Backbone(self.backbone, self.pretrained, self.weights_file, self.feature_dim, self.proj, **timm_kwargs)

    @property
    def dim(self) -> int:
        """The per-view feature size the fusion and head receive: ``feature_dim``, or with
        ``proj=none`` the backbone's own width (``num_features``)."""
        return self.built_backbone.feature_dim

    def compose(
        self, view: ViewSpec, fusion: Fusion, head: nn.Module, default_loss: str, backbone: Backbone | None = None
    ) -> ComposedModel:
        """The model of ``backbone`` (default: :attr:`built_backbone`), ``fusion`` and ``head``."""
        loss = loss_for_head(self.loss or default_loss, getattr(head, "kind", None) == "sincos")
        LOSSES.get(loss)
        return ComposedModel(backbone or self.built_backbone, fusion, head, view, loss)

    def recorded(self, model: ComposedModel) -> dict[str, Any]:
        """The options as used: ``pretrained`` as the tag actually loaded (``True`` and
        ``"a1_in1k"`` on resnet18 record alike), ``feature_dim`` as the backbone's output size
        (the backbone's width with ``proj=none``), the loss the model trains with."""
        options = {**dataclasses.asdict(self), "feature_dim": model.backbone.feature_dim}
        tag = model.weights["tag"]
        if tag not in ("none", "file") and "." in tag:
            options["pretrained"] = tag.split(".", 1)[1]
        elif tag == "none":
            options["pretrained"] = False
        return {**options, "loss": model.default_loss}


_COMMON = [
    inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default) for f in dataclasses.fields(Common)
]


def _coerce(value: Any, default: Any) -> Any:
    """A string given for a typed option (bool/int/float default) is read as ``--set`` reads
    values (:func:`gazebench.core.config.parse_value`) and must then fit the default's type."""
    if not isinstance(value, str) or not isinstance(default, (bool, int, float)):
        return value
    parsed = parse_value(value)
    if isinstance(default, bool):
        if isinstance(parsed, bool) or parsed in (0, 1):
            return bool(parsed)
        raise UserValueError(f"expected a boolean, got {value!r}")
    if isinstance(parsed, (int, float)) and not isinstance(parsed, bool):
        return type(default)(parsed)
    raise UserValueError(f"expected a number, got {value!r}")


#: options read by their own parser instead of the default's type (``pretrained``: a bool or a tag)
_PARSERS: dict[str, Callable[[Any], Any]] = {"pretrained": parse_pretrained}


def _read(key: str, value: Any, default: Any) -> Any:
    return _PARSERS[key](value) if key in _PARSERS else _coerce(value, default)


def named_model(
    name: str, *aliases: str, **common_defaults: Any
) -> Callable[[Callable[..., GazeModel]], Callable[..., GazeModel]]:
    """Register ``factory(common: Common, **own_options)`` as model ``name``.

    The registered function takes the common options and the factory's own as keywords, and its
    signature lists both (``build_model`` checks kwargs against it; ``gazebench ls`` shows it).
    ``common_defaults`` replace :class:`Common`'s defaults for this model (e.g. ``proj``).
    """
    common_params = [p.replace(default=common_defaults.pop(p.name, p.default)) for p in _COMMON]
    if common_defaults:
        raise TypeError(f"model {name!r}: {', '.join(common_defaults)} are not common options")

    def decorator(factory: Callable[..., GazeModel]) -> Callable[..., GazeModel]:
        own = list(inspect.signature(factory).parameters.values())[1:]
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + common_params
        defaults = {p.name: p.default for p in params}

        @functools.wraps(factory)
        def build(**kwargs: Any) -> GazeModel:
            check_model_options(name, kwargs)
            try:
                options = {k: _read(k, kwargs.get(k, d), d) for k, d in defaults.items()}
                common = Common(**{p.name: options.pop(p.name) for p in _COMMON})
                model = factory(common, **options)
            except ConfigError as err:
                raise ConfigError(f"model {name!r}: {err}") from err
            except ValueError as err:  # a user's value stays a user error; any other is a bug's, traceback kept
                kind = UserValueError if isinstance(err, GazebenchError) else ValueError
                raise kind(f"model {name!r}: {err}") from err
            model.name = name
            if "crops" in options:
                options["crops"] = model.view.crops  # relative sizes, as used
            model.options = {**options, **common.recorded(model)}
            return model

        build.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        MODELS.add(name, build, *aliases)
        return build

    return decorator


def parse_crops(value: str | float | Sequence[float] | None) -> tuple[float, ...] | None:
    """``crops`` option -> relative sizes or None (``None``, ``""`` and ``"none"`` mean no crop)."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
        return None
    if isinstance(value, (int, float)):
        value = [value]
    return parse_floats(value) or None


def one_view(crops: Any) -> ViewSpec:
    """One frame, at most one zoom crop."""
    crops = parse_crops(crops)
    if crops is not None and len(crops) > 1:
        raise UserValueError(
            f"a single-view model takes at most one crop; got {len(crops)} ({crops}). "
            "Several zoom crops of one frame need a fusion: staticsclstm, staticsclstmsym or msa"
        )
    return ViewSpec((0,), crops)


def zoom_views(crops: Any) -> ViewSpec:
    """One frame expanded into one view per zoom crop (``"none"``: the frame as it is, one view)."""
    return ViewSpec((0,), parse_crops(crops))


def frame_window(frames: int, crops: Any) -> ViewSpec:
    """A centred window of ``frames`` frames; with crops, frame i is zoomed by crop i."""
    crops = parse_crops(crops)
    if crops is not None and len(crops) != frames:
        raise UserValueError(f"frames={frames} needs {frames} crops (one per frame), got {len(crops)}: set crops too")
    return ViewSpec.window(frames, crops)


#: the MSA models' heads (option ``head``) and the loss each trains with by default
MSA_HEADS = ("sincos", "angle")


def msa_head(kind: str, dim: int, decode: str) -> tuple[nn.Module, str]:
    """(head, default loss) for ``msa`` / ``msaseq``, each with its original's loss
    (ashesh-0/MultiZoomGaze @ 24494a1): ``sincos``, MSA and MSA+Seq, the released
    ``NonLstmSinCosModel`` (README.md lines 26-34), trained with plain ``PinBallLoss`` on the sin-cos
    outputs (``code/run.py`` lines 583-584): ``sincos_pinball``, not the regularised ``sincos`` of
    ``NonLstmSinCosRegModel`` (lines 585-586); or ``angle``, MSA+raw: Gaze360's angle head with
    sigma = pi*sigmoid, pinball loss (``code/non_lstm_based_model.py`` lines 10-35, i.e.
    ``Linear(256, 3)`` after the same spatial max and tail, decoded by ``code/model.py`` lines
    41-57; ``code/run.py`` lines 590-631 train it with ``PinBallLoss``)."""
    if kind == "sincos":
        return SinCosHead(dim, decode), "sincos_pinball"
    if kind == "angle":
        if decode != "atan2":
            raise ConfigError(f"decode={decode} reads a sin-cos head; head=angle predicts the angles themselves")
        return AngleHead(dim), "pinball"
    raise ConfigError(f"head must be one of {', '.join(MSA_HEADS)}; got {kind!r}")


def lstm(c: Common, hidden: int, layers: int, bidirectional: bool, take: str) -> LSTMFusion:
    return LSTMFusion(c.dim, hidden, layers, bidirectional, take)


# --- the named models ---------------------------------------------------------------------------


@named_model("static", proj="gaze360-relu")
def static(c: Common, crops: Any = None) -> GazeModel:
    """Gaze360 static: one frame, angle head with sigma, pinball loss."""
    return c.compose(one_view(crops), SingleView(c.dim), AngleHead(c.dim), "pinball")


@named_model("staticsc", proj="gaze360-relu")
def staticsc(c: Common, crops: Any = None, decode: str = "atan2") -> GazeModel:
    """One frame (optional single zoom crop; seed: crops=175), sin-cos head, regularised sin-cos loss."""
    head = SinCosHead(c.dim, decode, sigma_scale=STATIC_SINCOS_SIGMA_SCALE)
    return c.compose(one_view(crops), SingleView(c.dim), head, "sincos")


@named_model("staticsclstm", proj="gaze360")
def staticsclstm(
    c: Common,
    crops: Any = MONOTONE_PX,
    lstm_hidden: int = 256,
    lstm_layers: int = 2,
    bidirectional: bool = False,
    take: str = "last",
    decode: str = "atan2",
) -> GazeModel:
    """7 zoom crops of one frame (224 -> 150), LSTM read at the last crop, sin-cos head."""
    fusion = lstm(c, lstm_hidden, lstm_layers, bidirectional, take)
    return c.compose(zoom_views(crops), fusion, SinCosHead(fusion.out_dim, decode), "sincos")


@named_model("staticsclstmsym", proj="gaze360")
def staticsclstmsym(
    c: Common,
    crops: Any = SYMMETRIC_PX,
    lstm_hidden: int = 256,
    lstm_layers: int = 2,
    bidirectional: bool = True,
    take: str = "middle",
    decode: str = "atan2",
) -> GazeModel:
    """7 zoom crops of one frame (224,200,175,150,175,200,224), BiLSTM read at the middle, sin-cos head."""
    fusion = lstm(c, lstm_hidden, lstm_layers, bidirectional, take)
    return c.compose(zoom_views(crops), fusion, SinCosHead(fusion.out_dim, decode), "sincos")


@named_model("seqlstm", proj="gaze360")
def seqlstm(
    c: Common,
    frames: int = 7,
    crops: Any = None,
    lstm_hidden: int = 256,
    lstm_layers: int = 2,
    bidirectional: bool = True,
    take: str = "middle",
) -> GazeModel:
    """Gaze360 LSTM: 7 frames, bidirectional 2-layer LSTM read at the labelled frame, pinball."""
    fusion = lstm(c, lstm_hidden, lstm_layers, bidirectional, take)
    return c.compose(frame_window(frames, crops), fusion, AngleHead(fusion.out_dim), "pinball")


@named_model("seqsclstm", proj="gaze360")
def seqsclstm(
    c: Common,
    frames: int = 7,
    crops: Any = MONOTONE_PX,
    lstm_hidden: int = 256,
    lstm_layers: int = 2,
    bidirectional: bool = False,
    take: str = "last",
    decode: str = "atan2",
) -> GazeModel:
    """7 frames, frame i zoomed by the monotone list's i-th size, LSTM read at the last step, sin-cos."""
    fusion = lstm(c, lstm_hidden, lstm_layers, bidirectional, take)
    return c.compose(frame_window(frames, crops), fusion, SinCosHead(fusion.out_dim, decode), "sincos")


@named_model("seqsclstmsym", proj="gaze360")
def seqsclstmsym(
    c: Common,
    frames: int = 7,
    crops: Any = SYMMETRIC_PX,
    lstm_hidden: int = 256,
    lstm_layers: int = 2,
    bidirectional: bool = True,
    take: str = "middle",
    decode: str = "atan2",
) -> GazeModel:
    """7 frames, frame i zoomed by the symmetric list's i-th size, BiLSTM read at the middle, sin-cos."""
    fusion = lstm(c, lstm_hidden, lstm_layers, bidirectional, take)
    return c.compose(frame_window(frames, crops), fusion, SinCosHead(fusion.out_dim, decode), "sincos")


@named_model("msa", proj="gaze360")
def msa(c: Common, crops: Any = MSA_PX, decode: str = "atan2", head: str = "sincos") -> GazeModel:
    """MSA: zoom crops 224,200,175,150 of one frame, max of their feature maps; sin-cos, plain
    sin-cos pinball (head=angle: MSA+raw, pinball)."""
    fusion = SpatialMaxFusion(c.dim)
    return c.compose(zoom_views(crops), fusion, *msa_head(head, fusion.out_dim, decode))


@named_model("msaseq", proj="gaze360")
def msaseq(
    c: Common,
    frames: int = 7,
    crops: Any = SYMMETRIC_PX,
    decode: str = "atan2",
    head: str = "sincos",
) -> GazeModel:
    """MSA over 7 frames zoomed by the symmetric list: max of the frames' feature maps, sin-cos (or head=angle)."""
    fusion = SpatialMaxFusion(c.dim)
    return c.compose(frame_window(frames, crops), fusion, *msa_head(head, fusion.out_dim, decode))


msa.options_without_effect = msaseq.options_without_effect = angle_head_decodes_nothing  # type: ignore[attr-defined]


@named_model("l2cs", backbone="resnet50", proj="none")
def l2cs(
    c: Common,
    crops: Any = None,
    bins: int = 90,
    bin_width: float = 4.0,
    angle_min: float = -180.0,
) -> GazeModel:
    """L2CS-Net: pooled ResNet-50 features, two binned heads (yaw, pitch), cross-entropy + MSE."""
    head = BinnedHead(c.dim, bins, bin_width, angle_min)
    return c.compose(one_view(crops), SingleView(c.dim), head, "l2cs")


@named_model("xgaze", backbone="resnet50", proj="none")
def xgaze(c: Common, crops: Any = None) -> GazeModel:
    """ETH-XGaze baseline: pooled ResNet-50 features, Linear -> (pitch, yaw) radians, L1 loss."""
    return c.compose(one_view(crops), SingleView(c.dim), PitchYawHead(c.dim), "l1")


@named_model("unigaze", backbone="vit_base_patch16_224", proj="none")
def unigaze(c: Common, crops: Any = None, drop_path: float = 0.0) -> GazeModel:
    """UniGaze: a ViT's normalised class token, Linear -> (pitch, yaw) radians, L1 loss.

    ``drop_path``: the ViT's stochastic depth (timm's ``drop_path_rate``: block i of D skips its
    residual branches with probability ``drop_path * i / (D - 1)``, in training only).  UniGaze
    trains with 0.1 (ut-vision/UniGaze @ 9c240fb, ``unigaze/configs/model/mae_b_16_gaze.yaml`` and
    ``mae_h_14_gaze.yaml`` line 10, ``mae_l_16_gaze.yaml`` line 8; ``unigaze/models/vit/mae_gaze.py``
    lines 20-29 pass it to the MAE ViT, timm 0.3.2's VisionTransformer, whose rule the installed
    timm is taken to share: not read at 0.3.2); the default 0 builds timm's ViT as before (nothing
    changes in evaluation, where drop path is off)."""
    # ut-vision/UniGaze @ 9c240fb: MAE_Gaze (unigaze_easy/src/unigaze/models/mae_gaze.py lines 33-55,
    # 86-92) with global_pool=False reads norm(x)[:, 0] (models/mae.py lines 407-426), which is what
    # timm's ViT gives with its default global_pool='token' (Backbone.embed); gaze_fc = Linear(D, 2)
    # regressed with an L1 loss (unigaze/configs/loss/l1_loss.yaml) onto ETH-XGaze's (pitch, yaw).
    if not 0 <= drop_path < 1:
        raise UserValueError(f"drop_path must be in [0, 1); got {drop_path}")
    backbone = c.build_backbone(**({"drop_path_rate": drop_path} if drop_path else {}))
    dim = backbone.feature_dim
    return c.compose(one_view(crops), SingleView(dim), PitchYawHead(dim), "l1", backbone=backbone)


#: GazeTR-Hybrid's sizes (yihuacheng/GazeTR @ d7cf716, model.py lines 71-76): 32 channels, 8 heads,
#: 6 layers, 512 hidden units, dropout 0.1; 7 x 7 + 1 positions (line 73, 98)
GAZETR_POSITIONS = 7 * 7 + 1


@named_model("gazetr", backbone="resnet18", proj="none")
def gazetr(
    c: Common,
    crops: Any = None,
    maps: int = 32,
    heads: int = 8,
    layers: int = 6,
    feedforward: int = 512,
    dropout: float = 0.1,
    positions: int = GAZETR_POSITIONS,
) -> GazeModel:
    """GazeTR-Hybrid: ResNet-18 map -> 1x1 conv to 32 channels -> transformer on its tokens -> (yaw, pitch), L1 loss.

    The 7x7 map's 49 tokens after a class token, a learnt position table, 6 post-norm layers; the
    class token -> Linear -> (yaw, pitch) radians (:mod:`gazebench.models.hybrid`)."""
    encoder = TokenEncoder(maps, heads, layers, feedforward, dropout, positions)
    loss = loss_for_head(c.loss or "l1", False)
    return HybridTransformer(c.built_backbone, encoder, YawPitchHead(maps), maps, one_view(crops), loss)
