"""Per-view feature extractors: any timm model, run once over all views of a batch.

A :class:`Backbone` wraps ``timm.create_model(name, num_classes=0)`` (the classifier removed) and
projects its pooled features to ``feature_dim`` (:data:`PROJECTIONS`, option ``proj``; each named
model picks its default, see ``gazebench.models.zoo``):

``linear``            ``Linear(F, feature_dim), ReLU`` (the class default here).
``gaze360``           ``Linear(F, 1000), ReLU, Linear(1000, feature_dim)``, no activation after it:
                      the Gaze360 code (erkil1452/gaze360 @ cbeb8e4, ``code/resnet.py`` lines
                      111-112 and 151-152: ``fc2(ReLU(fc1(pooled)))``; ``code/model.py`` line 25
                      replaces ``fc2`` by ``Linear(1000, 256)``), and the seed's LSTM and MSA models
                      (ashesh-0/MultiZoomGaze @ 24494a1, ``code/backbones/resnet.py`` lines 110-112
                      and 150-151, ``code/backbones/interface.py`` lines 45-49 and 62-70).  ``fc1``
                      is a randomly initialised hidden layer, not ImageNet's logits:
                      ``resnet18(pretrained=True)`` loads torchvision's weights with ``strict=False``
                      (Gaze360 ``resnet.py`` line 226, the seed's line 244), and torchvision names
                      its classifier ``fc``, so ``fc1`` keeps its initialisation.
``gaze360-relu``      the same with a ReLU after the second layer: the seed's static models apply
                      ``ReLU`` to the backbone's output (``code/static_model.py`` line 20,
                      ``code/sinecosine_model/static_sinecosine_model.py`` line 45).
``none``              no projection: the pooled features go on as they are and ``feature_dim`` is
                      ignored (the per-view size is the backbone's own ``num_features``, 2048 on
                      resnet50).  L2CS-Net and the ETH-XGaze baseline put their heads straight on
                      the pooled ResNet-50 features (Ahmednull/L2CS-Net @ a4d8f7f,
                      ``l2cs/model.py`` lines 63-70; xucong-zhang/ETH-XGaze @ ef9bff0, ``model.py``
                      lines 14-19).

Weights: ``pretrained`` false / true / a timm tag, or ``weights_file``; resolved, found in the
cache or downloaded, and hashed by :mod:`gazebench.models.weights` (``Backbone.weights``).

Views ``[B, V, C, H, W]`` are flattened to ``[B*V, C, H, W]`` so the backbone runs once per batch
(BatchNorm sees every crop and frame of the batch together, as in the seed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

from gazebench.core.errors import UserValueError
from gazebench.core.options import ConfigError
from gazebench.core.registry import closest
from gazebench.models.weights import Weights, locate, parse_pretrained, sha256_file, timm_name


def create_timm(
    name: str, pretrained: bool | str = False, weights_file: str | Path | None = None, **timm_kwargs: Any
) -> tuple[nn.Module, Weights]:
    """A timm model without classifier, and the :class:`~gazebench.models.weights.Weights` it
    started from.

    ``weights_file`` loads that local checkpoint (tag ``file``); else ``pretrained`` (false / true
    / a tag, :func:`~gazebench.models.weights.timm_name`) picks timm's weights, found in the cache
    or downloaded (:func:`~gazebench.models.weights.locate`; offline and not cached: a one-line
    ConfigError).  Weights load through timm (``pretrained_cfg_overlay=dict(file=...)``), so a
    full ImageNet checkpoint with its classifier works too: timm drops the classifier keys
    because ``num_classes=0``.  ``timm_kwargs`` go to ``timm.create_model`` as they are (a ViT's
    ``drop_path_rate``: model unigaze's ``drop_path``).
    """
    if ":" not in name and not timm.is_model(name):  # "hf-hub:..." names resolve remotely
        raise UserValueError(f"unknown timm backbone {name!r}.{closest(name, timm.list_models())}")
    tagged = timm_name(name, pretrained) if ":" not in name else None
    if weights_file is not None:
        path = Path(weights_file).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"backbone weights_file {str(path)!r} does not exist (backbone {name!r})")
        net = _load(name, path, timm_kwargs)
        _check_loaded(net, path, name)
        return net, Weights("file", str(path), sha256_file(path))
    if tagged is None:
        net = timm.create_model(name, pretrained=bool(parse_pretrained(pretrained)), num_classes=0, **timm_kwargs)
        return net, Weights(name if parse_pretrained(pretrained) else "none")
    path = locate(tagged)
    return _load(tagged, path, timm_kwargs), Weights(tagged, str(path), sha256_file(path))


def _load(name: str, path: Path, timm_kwargs: dict[str, Any]) -> nn.Module:
    return timm.create_model(
        name, pretrained=True, num_classes=0, pretrained_cfg_overlay=dict(file=str(path)), **timm_kwargs
    )


def _check_loaded(net: nn.Module, path: Path, name: str) -> None:
    # timm loads non-strictly once the classifier is dropped: a file whose keys match nothing
    # (a wrapped or foreign checkpoint) would silently leave random weights.  Refuse that.
    from timm.models import load_state_dict

    keys = set(load_state_dict(str(path)))
    wanted = [k for k, _ in net.named_parameters()]
    missing = [k for k in wanted if k not in keys]
    if missing:
        raise ConfigError(
            f"weights_file {str(path)!r} does not fit backbone {name!r}: {len(missing)} of {len(wanted)} "
            f"parameters are missing from it (first: {missing[0]!r})"
        )


#: projection kinds: the option ``proj`` of every named model (see the module doc)
PROJECTIONS = ("linear", "gaze360", "gaze360-relu", "none")
#: the hidden width of the Gaze360 projection (``fc1``)
GAZE360_HIDDEN = 1000


def make_projection(kind: str, in_dim: int, out_dim: int) -> nn.Sequential:
    """The layers between pooled backbone features and ``out_dim`` features (:data:`PROJECTIONS`);
    ``none`` is an empty Sequential (the identity, no parameters; ``out_dim`` unused)."""
    if kind == "none":
        return nn.Sequential()
    if kind == "linear":
        return nn.Sequential(nn.Linear(in_dim, out_dim), nn.ReLU(inplace=True))
    if kind in ("gaze360", "gaze360-relu"):
        layers = [nn.Linear(in_dim, GAZE360_HIDDEN), nn.ReLU(inplace=True), nn.Linear(GAZE360_HIDDEN, out_dim)]
        return nn.Sequential(*layers, *([nn.ReLU(inplace=True)] if kind == "gaze360-relu" else []))
    raise UserValueError(f"proj must be one of {', '.join(PROJECTIONS)}; got {kind!r}")


class Backbone(nn.Module):
    """timm feature extractor + projection; maps views ``[B, V, C, H, W]`` to ``[B, V, feature_dim]``
    (with ``proj="none"``, ``feature_dim`` is the backbone's ``num_features``).

    Three entry points, so fusion can happen before or after pooling:
    :meth:`feature_maps` (``forward_features``, before pooling), :meth:`embed` (pool + project)
    and :meth:`forward` (both).
    """

    def __init__(
        self,
        name: str = "resnet18",
        pretrained: bool | str = False,
        weights_file: str | Path | None = None,
        feature_dim: int = 256,
        proj: str = "linear",
        **timm_kwargs: Any,
    ) -> None:
        super().__init__()
        self.name = name
        self.net, self.weights = create_timm(name, pretrained, weights_file, **timm_kwargs)
        self.feature_dim = int(self.net.num_features if proj == "none" else feature_dim)
        self.proj = make_projection(proj, self.net.num_features, self.feature_dim)

    def feature_maps(self, views: torch.Tensor) -> torch.Tensor:
        """``[B, V, C, H, W]`` -> unpooled features ``[B, V, ...]`` (``[B, V, C', h, w]`` for CNNs,
        ``[B, V, tokens, C']`` for vision transformers)."""
        if views.dim() != 5:
            raise ValueError(f"expected views [B, V, C, H, W]; got shape {tuple(views.shape)}")
        b, v = views.shape[:2]
        maps = self.net.forward_features(views.flatten(0, 1))
        return maps.unflatten(0, (b, v))

    def embed(self, maps: torch.Tensor) -> torch.Tensor:
        """Unpooled features ``[N, ...]`` -> ``[N, feature_dim]`` (the model's own pooling, then the
        projection)."""
        return self.proj(self.net.forward_head(maps, pre_logits=True))

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        maps = self.feature_maps(views)
        return self.embed(maps.flatten(0, 1)).unflatten(0, maps.shape[:2])
