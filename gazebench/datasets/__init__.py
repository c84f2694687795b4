"""Dataset adapters (one folder each, ``gazebench/datasets/<name>/``) and what they share.

Every subpackage of this package is a dataset and is imported here, so its adapter registers
itself: an in-tree dataset is one folder -- adapter, parsers, its card ``card.yaml``, layout writer,
fake-data writer ``fake.py`` and ``tests/`` -- and nothing outside it names it.  Datasets from
elsewhere come in as plugins (:mod:`gazebench.plugins`), a folder of the same shape or one file.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

from gazebench.core.registry import DATASETS
from gazebench.datasets.base import (  # noqa: F401
    BadSample,
    DatasetError,
    DatasetNotFound,
    GazeDataset,
    LeakageError,
)

#: the in-tree datasets: this package's subpackages, each registering its adapter on import
BUILTIN = tuple(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg)
for _name in BUILTIN:
    importlib.import_module(f"{__name__}.{_name}")


def build_dataset(name: str, root: str | Path | None = None, **options: Any) -> GazeDataset:
    """The adapter registered as ``name`` on ``root`` (default: the data root's ``name`` folder)."""
    return DATASETS.get(name)(root=root, **options)
