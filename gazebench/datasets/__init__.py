"""Dataset adapters (one file each) and what they share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gazebench.datasets.base import (  # noqa: F401
    BadSample,
    DatasetError,
    DatasetNotFound,
    GazeDataset,
    LeakageError,
)
from gazebench.datasets.views import ViewSpec  # noqa: F401
from gazebench.registry import DATASETS

# built-in adapters register themselves on import
from gazebench.datasets import gaze360, mpiifacegaze, rtgene, synthgaze  # noqa: E402,F401


def build_dataset(name: str, root: str | Path | None = None, **options: Any) -> GazeDataset:
    """The adapter registered as ``name`` on ``root`` (default: the data root's ``name`` folder)."""
    return DATASETS.get(name)(root=root, **options)
