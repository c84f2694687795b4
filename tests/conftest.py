"""Shared fixtures: tiny generated data, rendered once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

# small and fast for every end-to-end run in the suite
TINY_RECIPE = ["--set", "image_size=32", "--set", "batch_size=16", "--set", "num_workers=0"]


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory) -> Path:
    """A SynthGaze tree (own layout, tiny preset, seed 0)."""
    from gazebench.synth import make_scene, write_layout

    root = tmp_path_factory.mktemp("synth") / "tiny"
    write_layout(make_scene("tiny", 0), root, layout="synthgaze", workers=1, progress=False)
    return root
