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


SMALL_RUN = ["--epochs", "1", "--backbone", "test_resnet", "--set", "image_size=32", "--set", "batch_size=8",
             "--set", "num_workers=0", "--quiet", "--no-table"]


def run_cli(argv: list) -> int:
    """``gazebench <argv>`` in this process; errors propagate as exceptions (``main`` would turn
    them into exit code 1), so tests can assert their type and message."""
    from gazebench.cli import build_parser

    args = build_parser().parse_args([str(a) for a in argv])
    return int(args.func(args) or 0)


@pytest.fixture()
def one_torch_thread():
    """Tiny models: one intra-op thread avoids oversubscription stalls when other work shares the cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
