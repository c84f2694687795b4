"""``gazebench ls datasets|models|losses|recipe|published|analyses``: what can be run and how it can be set, one line each."""

from __future__ import annotations

import argparse

EXAMPLES = """\
examples:
  gazebench ls datasets               registered adapters, their splits, protocols (default first) and cards
  gazebench ls datasets --options     with every adapter's options (--set KEY=VALUE)
  gazebench ls models                 registered models and the input each takes
  gazebench ls recipe                 recipe keys: default, allowed values, what they do
  gazebench ls published              the authors' released checkpoints gazebench loads (docs/published.md)
  gazebench ls published --fine-tune unigaze-b16-joint
                                      the --set flags of that checkpoint's authors' own fine-tuning recipe
  gazebench ls analyses               the kinds of `gazebench analyze` and their options (docs/analysis.md)
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ls",
        help="list registered datasets, models, losses, the recipe's keys, published checkpoints or analysis kinds",
        epilog=EXAMPLES,
    )
    p.add_argument("what", choices=("datasets", "models", "losses", "recipe", "published", "analyses"))
    p.add_argument("--options", action="store_true", help="with datasets: list each adapter's options")
    p.add_argument(
        "--fine-tune",
        metavar="NAME",
        help="with published: print the --set flags of NAME's card's "
        "fine_tune: section (its authors' recipe; where each value comes from goes to stderr)",
    )
    p.add_argument("--dataset", help="with --fine-tune: with that dataset's changes (the card's per_dataset:)")
    p.set_defaults(func=main)


def dataset_rows(with_options: bool) -> tuple[list[list[str]], list[str]]:
    from gazebench.core.registry import DATASETS
    from gazebench.datasets.cards import CardError, load_card
    from gazebench.declared import dataset_class

    dataset_class("synthgaze")  # registers the built-in adapters
    rows = []
    for entry in DATASETS:
        try:
            card = load_card(entry.name)
            folds = card.folds()
            others = [p for p in card.protocol_names() if p != card.default_protocol]
            rows.append(
                [
                    entry.name,
                    entry.description,
                    f"{len(folds)} folds" if len(folds) > 1 else "fixed split",
                    card.default_protocol + (f" (also: {', '.join(others)})" if others else ""),
                    card.title,
                ]
            )
        except CardError as exc:
            rows.append([entry.name, entry.description, "?", "?", f"(card: {exc})"])
        if with_options:
            from gazebench.core.options import describe_options

            for key, default, allowed, help in describe_options(entry.obj.declared_options):
                rows.append(["", f"  {key} = {default}: {allowed}", "", "", help])
    return rows, ["name", "description", "splits", "protocol (--protocol)", "card"]


def model_rows() -> tuple[list[list[str]], list[str]]:
    """The built-in models from their declarations (gazebench.model_catalog: no torch); a plugin's
    input is known by building it."""
    from gazebench.model_catalog import model_info, model_names

    rows = []
    for name in model_names():
        info = model_info(name)
        rows.append([info.name, info.description, info.input or plugin_input(name, info.keys)])
    return rows, ["name", "description", "input"]


def plugin_input(name: str, keys: tuple[str, ...]) -> str:
    from gazebench.models import build_model

    kwargs = {"backbone": "test_resnet"} if "backbone" in keys else {}
    return build_model(name, **kwargs).view.describe()


def loss_rows() -> tuple[list[list[str]], list[str]]:
    import gazebench.losses  # noqa: F401
    from gazebench.core.registry import LOSSES

    return [[e.name, e.description] for e in LOSSES], ["name", "description"]


def recipe_rows() -> tuple[list[list[str]], list[str]]:
    from gazebench.core.config import recipe_table

    return [list(r) for r in recipe_table()], ["key", "default", "allowed", "what it does"]


def published_rows() -> tuple[list[list[str]], list[str]]:
    from gazebench.published import load_catalogue

    rows = []
    for card in load_catalogue().values():
        options = ", ".join(f"{k}={v}" for k, v in card.options.items() if k in ("backbone", "head", "decode"))
        trained = "+".join(card.training_datasets) or "?"
        splits = "+".join(card.training.get("splits") or [])
        rows.append(
            [
                card.name,
                f"{card.model} ({options})",
                f"{trained} {splits}".strip(),
                card.published_short(),
                card.licence_short,
            ]
        )
    return rows, ["name", "model", "trained on", "published (deg)", "licence"]


def analysis_rows() -> tuple[list[list[str]], list[str]]:
    from gazebench.analysis import load_kinds

    rows = [
        [name, kind.description, ", ".join(f"{k}={opt.default!r}" for k, opt in kind.options.items())]
        for name, kind in sorted(load_kinds().items())
    ]
    return rows, ["kind", "what it computes", "options (--set KEY=VALUE)"]


def fine_tune_flags(name: str, dataset: str | None) -> int:
    """``ls published --fine-tune NAME``: the flags on stdout (shell-quoted, to paste after
    ``gazebench run``), the card's sources and differences on stderr."""
    import sys

    from gazebench.core.options import ConfigError
    from gazebench.published import load_catalogue, published_card

    card = published_card(name)
    if card.fine_tune is None:
        some = ", ".join(c.name for c in load_catalogue().values() if c.fine_tune is not None)
        raise ConfigError(
            f"{name}: its card states no fine-tuning recipe (no fine_tune: in {card.path.name}); "
            f"the cards with one: {some}"
        )
    print(card.fine_tune.set_flags(card.tag, dataset) + " --set weights_file=" + card.file)
    print(f"source: {card.fine_tune.source}\ndifferences: {card.fine_tune.differences}", file=sys.stderr)
    return 0


def main(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    if args.fine_tune or args.dataset:
        if args.what != "published" or not args.fine_tune:
            from gazebench.core.options import ConfigError

            raise ConfigError("--fine-tune NAME goes with ls published (and --dataset with --fine-tune)")
        return fine_tune_flags(args.fine_tune, args.dataset)
    if args.what == "datasets":
        rows, headers = dataset_rows(args.options)
    else:
        rows, headers = {
            "models": model_rows,
            "losses": loss_rows,
            "recipe": recipe_rows,
            "published": published_rows,
            "analyses": analysis_rows,
        }[args.what]()
    print(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))
    return 0
