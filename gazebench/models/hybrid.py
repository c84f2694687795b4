"""A CNN's feature map read as tokens by a transformer encoder: GazeTR-Hybrid (Cheng and Lu, ICPR 2022).

Source read: yihuacheng/GazeTR @ d7cf716 (``model.py`` and ``resnet.py``).  The parts, in order:

1. ResNet-18 up to ``layer4`` (``resnet.py`` lines 88-101 and 134-142: torchvision's layout, the
   names gazebench's timm ``resnet18`` uses too), then ``conv`` = ``Conv2d(512, maps, 1)``,
   ``BatchNorm2d(maps)``, ``ReLU`` (lines 104-108; ``maps = 32``, ``model.py`` line 71):
   :class:`HybridTransformer`'s ``backbone`` and ``reduce``.
2. The ``maps``-channel map flattened to ``h*w`` tokens, a learnt class token in front
   (``model.py`` lines 96, 107-112), a learnt position table ``nn.Embedding(h*w + 1, maps)`` read
   at positions ``0 .. h*w`` (lines 98, 114-116: 50 positions for the 7 x 7 map of a 224 px input,
   so the released weights need 224 px): :class:`TokenEncoder`.
3. Six post-norm encoder layers (lines 30-66): the position is added to the queries and keys,
   not to the values (line 58, as in DETR); ``nn.MultiheadAttention(maps, 8)``, then
   ``Linear(maps, 512)``, ReLU, ``Linear(512, maps)``; a residual and LayerNorm after each of the
   two; dropout 0.1 (eval: none).  A final ``LayerNorm(maps)`` (lines 91-94, 24-25):
   :class:`PositionalEncoderLayer`.  ``torch.nn.TransformerEncoderLayer`` adds no position to
   the queries and keys, so it is not used; the parameter names are the original's
   (``self_attn``, ``linear1``, ``linear2``, ``norm1``, ``norm2``).
4. The class token's output -> ``Linear(maps, 2)`` (``feed``, lines 100, 121-125): (yaw, pitch)
   in radians, gazebench's own angles (``gazebench.models.heads.YawPitchHead``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gazebench.datasets.views import ViewSpec
from gazebench.models.backbones import Backbone
from gazebench.models.base import GazeModel


class PositionalEncoderLayer(nn.Module):
    """One post-norm encoder layer whose queries and keys carry the position (GazeTR ``model.py``
    lines 30-66); tokens are ``[L, N, D]`` (sequence first, as ``nn.MultiheadAttention``'s default)."""

    def __init__(self, dim: int, heads: int, feedforward: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, heads, dropout=dropout)
        self.linear1 = nn.Linear(dim, feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(feedforward, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        keyed = tokens + position.unsqueeze(1)
        attended = self.self_attn(keyed, keyed, value=tokens, need_weights=False)[0]
        tokens = self.norm1(tokens + self.dropout1(attended))
        hidden = self.linear2(self.dropout(torch.relu(self.linear1(tokens))))
        return self.norm2(tokens + self.dropout2(hidden))


class TokenEncoder(nn.Module):
    """Feature map ``[N, C, h, w]`` -> the class token's encoding ``[N, C]``: ``h*w`` tokens after a
    learnt class token, a learnt position per token (``nn.Embedding(positions, C)``), ``layers``
    :class:`PositionalEncoderLayer` and a final LayerNorm."""

    def __init__(self, dim: int, heads: int, layers: int, feedforward: int, dropout: float, positions: int) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.pos_embedding = nn.Embedding(positions, dim)
        self.layers = nn.ModuleList(PositionalEncoderLayer(dim, heads, feedforward, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        tokens = maps.flatten(2).permute(2, 0, 1)  # [h*w, N, C]
        count = tokens.shape[0] + 1
        if count > self.pos_embedding.num_embeddings:
            raise ValueError(
                f"the feature map has {count - 1} cells but the position table holds "
                f"{self.pos_embedding.num_embeddings - 1}: feed the input size the model was built for"
            )
        tokens = torch.cat([self.cls_token.expand(1, tokens.shape[1], -1), tokens], 0)
        position = self.pos_embedding.weight[:count]
        for layer in self.layers:
            tokens = layer(tokens, position)
        return self.norm(tokens[0])


class HybridTransformer(GazeModel):
    """``backbone`` (a timm CNN, unpooled) -> ``reduce`` (1x1 conv, BatchNorm, ReLU to ``dim``
    channels) -> ``encoder`` (:class:`TokenEncoder`) -> ``head``; one view per sample."""

    def __init__(
        self, backbone: Backbone, encoder: TokenEncoder, head: nn.Module, dim: int, view: ViewSpec, default_loss: str
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.reduce = nn.Sequential(
            nn.Conv2d(backbone.net.num_features, dim, 1), nn.BatchNorm2d(dim), nn.ReLU(inplace=True)
        )
        self.encoder, self.head = encoder, head
        self.view = view
        self.default_loss = default_loss

    def forward(self, views: torch.Tensor) -> dict[str, torch.Tensor]:
        if views.dim() != 5 or views.shape[1] != 1:
            raise ValueError(f"model needs views [B, 1, C, H, W] (one view); got shape {tuple(views.shape)}")
        maps = self.backbone.feature_maps(views)[:, 0]
        return self.head(self.encoder(self.reduce(maps)))

    @property
    def weights(self) -> dict[str, Any]:
        """The backbone weights the model started from (as :class:`gazebench.models.zoo.ComposedModel`)."""
        return self.backbone.weights.as_dict()
