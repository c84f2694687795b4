"""What the tests share besides fixtures: the small-run flags and two ways to call the command."""

from __future__ import annotations

# small and fast for every end-to-end run in the suite
TINY_RECIPE = ["--set", "image_size=32", "--set", "batch_size=16", "--set", "num_workers=0"]

# the real datasets' protocols start from ImageNet weights (pretrained=tv_in1k), which tests never
# download: trained models on their trees start from scratch
NO_WEIGHTS = ["--set", "pretrained=false"]

SMALL_RUN = [
    "--epochs",
    "1",
    "--backbone",
    "test_resnet",
    "--set",
    "image_size=32",
    "--set",
    "batch_size=8",
    "--set",
    "num_workers=0",
    "--quiet",
    "--no-table",
    *NO_WEIGHTS,
]


def cli(*argv) -> int:
    """``gazebench <argv>`` as a user runs it: the exit code, and a user error as one line on stderr."""
    from gazebench.cli import main

    return main([str(a) for a in argv])


def run_cli(argv: list) -> int:
    """``gazebench <argv>`` in this process; errors propagate as exceptions (``main`` would turn
    them into exit code 1), so tests can assert their type and message."""
    from gazebench.cli import build_parser

    args = build_parser().parse_args([str(a) for a in argv])
    return int(args.func(args) or 0)


def use_cards(monkeypatch, folder) -> None:
    """Cards from ``folder`` (``<name>.yaml``) in place of the datasets' own, for one test: a
    fixture's cards, or a real card edited to provoke an error.  Datasets without a card there keep
    their own (:func:`gazebench.datasets.cards.card_path`)."""
    from pathlib import Path

    from gazebench.datasets import cards

    real = cards.card_path

    def card_path(name: str, adapter=None) -> Path:
        mine = Path(folder) / f"{name}.yaml"
        return mine if mine.is_file() else real(name, adapter)

    monkeypatch.setattr(cards, "card_path", card_path)
