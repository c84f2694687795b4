"""Fusion over the V views of a sample (zoom crops or frames; the same modules serve both).

Most fusions take per-view features ``[B, V, D]`` and return one feature ``[B, out_dim]``.
:class:`SpatialMaxFusion` (``on_maps = True``) instead takes the backbone's unpooled feature maps
``[B, V, ...]`` and returns one map ``[B, ...]``; the backbone pools and projects it afterwards.
"""

from __future__ import annotations

import torch
from torch import nn

from gazebench.core.errors import UserValueError

TAKES = ("middle", "last")


class Fusion(nn.Module):
    """Base class: ``out_dim`` is the size of the fused feature; ``on_maps`` says whether the
    input is per-view feature vectors (False) or unpooled feature maps (True)."""

    on_maps: bool = False

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.out_dim = int(dim)


class SingleView(Fusion):
    """No fusion: the model sees exactly one view."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != 1:
            raise ValueError(f"this model takes one view per sample; got {x.shape[1]} views")
        return x[:, 0]


class MeanFusion(Fusion):
    """Average of the per-view features."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1)


class MaxFusion(Fusion):
    """Element-wise maximum of the per-view features."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=1)


class SpatialMaxFusion(Fusion):
    """Element-wise maximum over views of the *unpooled* feature maps ("MSA"): every position and
    channel keeps its strongest response over the zoom crops (or frames) before global pooling."""

    on_maps = True

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return maps.amax(dim=1)


class LSTMFusion(Fusion):
    """An LSTM over the views in order; the output at one step is the fused feature.

    ``take="middle"`` reads step ``V // 2`` (the labelled frame of a centred window, or the centre
    of a symmetric crop list); ``take="last"`` reads step ``V - 1``.  With ``bidirectional=True``
    the output is the concatenation of both directions (``2 * hidden``); at the last step the
    backward direction has seen only that one view, which is why the symmetric models read the
    middle.
    """

    def __init__(
        self,
        dim: int,
        hidden: int = 256,
        layers: int = 2,
        bidirectional: bool = False,
        take: str = "last",
    ) -> None:
        if take not in TAKES:
            raise UserValueError(f"LSTMFusion take must be one of {TAKES}; got {take!r}")
        super().__init__(hidden * (2 if bidirectional else 1))
        self.take = take
        self.lstm = nn.LSTM(dim, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        step = x.shape[1] // 2 if self.take == "middle" else x.shape[1] - 1
        return out[:, step]
