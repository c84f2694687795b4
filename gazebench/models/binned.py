"""The binned head of L2CS-Net (Abdelrahman et al. 2022): one classifier over angle bins per angle.

Source: github.com/Ahmednull/L2CS-Net @ a4d8f7f.  ``l2cs/model.py`` lines 22-23 and 68-70: two
``Linear(F, bins)`` on the pooled ResNet features, ``fc_yaw_gaze`` first and ``fc_pitch_gaze``
second, returned in that order.  The repository's train, test and demo code unpack that pair as
``pitch, yaw`` (``train.py`` line 207, ``test.py`` line 150, ``l2cs/pipeline.py`` line 122), but it
pairs the first output with column 0 of GazeHub's Gaze360 labels, which is yaw
(``l2cs/datasets.py`` lines 54-59): the module names are right, the variable names are swapped.
gazebench names each head by what it predicts: ``fc_yaw`` (first) is yaw, ``fc_pitch`` (second) is
pitch, both in the Gaze360 convention (yaw = atan2(x, -z), pitch = asin(y)), i.e. gazebench's own.

Decode, as the repository decodes (``l2cs/pipeline.py`` lines 123-131, ``test.py`` lines 158-166,
``train.py`` lines 214-220): the softmax expectation of the bin index, scaled to degrees,
``deg = sum_i softmax(logits)_i * i * bin_width + angle_min`` (``* 4 - 180`` for Gaze360's 90
bins), so bin ``k`` stands for its *left edge* ``angle_min + k * bin_width``.  Training labels
bin ``k`` as ``[angle_min + k * w, angle_min + (k + 1) * w)`` (``np.digitize``:
``l2cs/datasets.py`` lines 72-73), so a sharp prediction of bin k decodes half a bin below the
bin's centre; gazebench keeps that, as it reproduces the released numbers.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gazebench.core.errors import UserValueError
from gazebench.models.heads import outputs


def expectation_deg(logits: torch.Tensor, bin_width: float, angle_min: float) -> torch.Tensor:
    """``[B, bins]`` logits -> ``[B]`` degrees: ``sum_i softmax_i * i * bin_width + angle_min``
    (the repository's order of operations, so float32 results agree with its own)."""
    index = torch.arange(logits.shape[-1], dtype=logits.dtype, device=logits.device)
    return (torch.softmax(logits, dim=-1) * index).sum(-1) * bin_width + angle_min


def bin_edges_deg(bins: int, bin_width: float, angle_min: float) -> torch.Tensor:
    """The left edges ``angle_min + k * bin_width`` of the ``bins`` bins, degrees."""
    return angle_min + bin_width * torch.arange(bins, dtype=torch.float64)


class BinnedHead(nn.Module):
    """Two ``Linear(in_dim, bins)`` classifiers, ``fc_yaw`` then ``fc_pitch``; angles decoded by
    :func:`expectation_deg`.

    Outputs: ``vector``, ``yaw_pitch`` (radians, the decoded angles; pitch is decoded over the same
    grid as yaw, as the original, so a pathological softmax can put it beyond +-90 deg, which
    ``vector`` then reads as the mirrored direction), ``yaw_logits``, ``pitch_logits``
    ``[B, bins]``, and ``bin_edges_deg`` ``[B, bins]`` (the left edges, one row per sample, a
    broadcast view: what the ``l2cs`` loss bins the target with).  No sigma.
    """

    kind = "binned"

    def __init__(self, in_dim: int, bins: int = 90, bin_width: float = 4.0, angle_min: float = -180.0) -> None:
        super().__init__()
        if int(bins) != bins or bins < 2:
            raise UserValueError(f"bins must be an integer >= 2; got {bins!r}")
        if not bin_width > 0:
            raise UserValueError(f"bin_width must be > 0 degrees; got {bin_width!r}")
        self.bins, self.bin_width, self.angle_min = int(bins), float(bin_width), float(angle_min)
        self.fc_yaw = nn.Linear(in_dim, self.bins)
        self.fc_pitch = nn.Linear(in_dim, self.bins)
        self.register_buffer(
            "edges", bin_edges_deg(self.bins, self.bin_width, self.angle_min).float(), persistent=False
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        yaw_logits, pitch_logits = self.fc_yaw(x).float(), self.fc_pitch(x).float()  # float32 under autocast
        yaw, pitch = (
            expectation_deg(o, self.bin_width, self.angle_min) * math.pi / 180.0 for o in (yaw_logits, pitch_logits)
        )
        out = outputs(yaw, pitch)
        out.update(
            yaw_logits=yaw_logits, pitch_logits=pitch_logits, bin_edges_deg=self.edges.expand(x.shape[0], self.bins)
        )
        return out
