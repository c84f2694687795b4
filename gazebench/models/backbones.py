"""Per-view feature extractors: any timm model, run once over all views of a batch.

A :class:`Backbone` wraps ``timm.create_model(name, num_classes=0)`` (the classifier removed) and
projects its pooled features to ``feature_dim`` with one ``Linear + ReLU``.  The Gaze360 seed put
two layers there (ResNet-18's 512 -> ImageNet logits 1000 -> 256); the 1000-way layer only exists
to reuse the classifier, so here the pooled features go straight to ``feature_dim``.

Views ``[B, V, C, H, W]`` are flattened to ``[B*V, C, H, W]`` so the backbone runs once per batch
(BatchNorm sees every crop and frame of the batch together, as in the seed).
"""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from torch import nn

from gazebench.registry import closest


def create_timm(name: str, pretrained: bool = False, weights_file: str | Path | None = None) -> nn.Module:
    """A timm model without classifier.

    ``pretrained=True`` downloads the default ImageNet weights from the hub; ``weights_file``
    loads a local checkpoint instead (offline machines).  Weights resolve through timm itself
    (``pretrained_cfg_overlay=dict(file=...)``), so a full ImageNet checkpoint with its classifier
    works too: timm drops the classifier keys because ``num_classes=0``.
    """
    if ":" not in name and not timm.is_model(name):  # "hf-hub:..." names resolve remotely
        raise ValueError(f"unknown timm backbone {name!r}.{closest(name, timm.list_models())}")
    if weights_file is None:
        return timm.create_model(name, pretrained=pretrained, num_classes=0)
    path = Path(weights_file).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"backbone weights_file {str(path)!r} does not exist (backbone {name!r})")
    net = timm.create_model(name, pretrained=True, num_classes=0, pretrained_cfg_overlay=dict(file=str(path)))
    _check_loaded(net, path, name)
    return net


def _check_loaded(net: nn.Module, path: Path, name: str) -> None:
    # timm loads non-strictly once the classifier is dropped: a file whose keys match nothing
    # (a wrapped or foreign checkpoint) would silently leave random weights.  Refuse that.
    from timm.models import load_state_dict

    keys = set(load_state_dict(str(path)))
    wanted = [k for k, _ in net.named_parameters()]
    missing = [k for k in wanted if k not in keys]
    if missing:
        raise ValueError(
            f"weights_file {str(path)!r} does not fit backbone {name!r}: {len(missing)} of {len(wanted)} "
            f"parameters are missing from it (first: {missing[0]!r})"
        )


class Backbone(nn.Module):
    """timm feature extractor + projection; maps views ``[B, V, C, H, W]`` to ``[B, V, feature_dim]``.

    Three entry points, so fusion can happen before or after pooling:
    :meth:`feature_maps` (``forward_features``, before pooling), :meth:`embed` (pool + project)
    and :meth:`forward` (both).
    """

    def __init__(
        self,
        name: str = "resnet18",
        pretrained: bool = False,
        weights_file: str | Path | None = None,
        feature_dim: int = 256,
    ) -> None:
        super().__init__()
        self.name = name
        self.net = create_timm(name, pretrained, weights_file)
        self.feature_dim = int(feature_dim)
        self.proj = nn.Sequential(nn.Linear(self.net.num_features, self.feature_dim), nn.ReLU(inplace=True))

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
