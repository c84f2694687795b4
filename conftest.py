"""Shared fixtures of every test folder (``tests/`` and each dataset's ``gazebench/datasets/<name>/tests/``):
tiny generated data, rendered once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory) -> Path:
    """A SynthGaze tree (own layout, tiny preset, seed 0)."""
    from gazebench.synth import make_scene, write_layout

    root = tmp_path_factory.mktemp("synth") / "tiny"
    write_layout(make_scene("tiny", 0), root, layout="synthgaze", workers=1, progress=False)
    return root


@pytest.fixture()
def one_torch_thread():
    """Tiny models: one intra-op thread avoids oversubscription stalls when other work shares the cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
