"""The rule that rebuilds a peer reference's weights from its key list (the reference README's rule,
tests/fixtures/reference/*/README.md and /work/shared/reference/README.md): draws in keys.tsv order
with ``numpy.random.default_rng(seed)`` (seed 0), then scale.tsv, then overrides.npz.

numpy and torch only, so the fixture makers under tools/ (which run the authors' code, with the
packages it pins) rebuild the same tensors as the tests.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch


def parse_shape(text: str) -> tuple[int, ...]:
    """keys.tsv's shape column: ``AxBxC`` or ``scalar``."""
    return () if text == "scalar" else tuple(int(n) for n in text.split("x"))


def format_shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) if shape else "scalar"


def draw(rng: np.random.Generator, key: str, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """One tensor of the rule."""
    if "int" in dtype:
        return np.zeros(shape, dtype=np.int64)
    if key.endswith("running_var") or (len(shape) == 1 and key.endswith("weight")):
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    if key.endswith("running_mean"):
        return rng.uniform(-0.2, 0.2, shape).astype(np.float32)
    if len(shape) == 1:
        return rng.uniform(-0.1, 0.1, shape).astype(np.float32)
    return (rng.standard_normal(shape) * math.sqrt(2 / np.prod(shape[1:]))).astype(np.float32)


def key_rows(folder: Path) -> list[tuple[str, tuple[int, ...], str]]:
    """keys.tsv: (key, shape, dtype) in file order."""
    rows = [line.split("\t") for line in (folder / "keys.tsv").read_text().splitlines()]
    return [(key, parse_shape(shape), dtype) for key, shape, dtype in rows]


def reference_weights(folder: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """The reference README's rule: draws in keys.tsv order, then scale.tsv, then overrides.npz."""
    rng = np.random.default_rng(seed)
    state = {key: torch.from_numpy(draw(rng, key, shape, dtype)) for key, shape, dtype in key_rows(folder)}
    if (folder / "scale.tsv").is_file():
        for line in (folder / "scale.tsv").read_text().splitlines():
            key, factor = line.split("\t")
            state[key] = state[key] * torch.tensor(np.float32(factor))
    if (folder / "overrides.npz").is_file():
        state.update({k: torch.from_numpy(v) for k, v in np.load(folder / "overrides.npz").items()})
    return state
