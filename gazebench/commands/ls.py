"""``gazebench ls datasets|models|losses``: what can be run, one line each."""

from __future__ import annotations

import argparse

from tabulate import tabulate


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ls", help="list registered datasets, models or losses")
    p.add_argument("what", choices=("datasets", "models", "losses"))
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import gazebench.datasets  # noqa: F401  (registers the adapters)
    import gazebench.losses  # noqa: F401
    import gazebench.models  # noqa: F401
    from gazebench.registry import DATASETS, LOSSES, MODELS

    registry = {"datasets": DATASETS, "models": MODELS, "losses": LOSSES}[args.what]
    rows = []
    for entry in registry:
        row = [entry.name, entry.description]
        if args.what == "datasets":
            from gazebench.datasets.cards import CardError, load_card

            try:
                card = load_card(entry.name)
                folds = card.protocol.get("folds")
                row.append(f"{len(folds)} folds" if folds else "fixed split")
                row.append(card.title)
            except CardError as exc:
                row += ["?", f"(card: {exc})"]
        elif args.what == "models":
            from gazebench.models import build_model

            try:
                row.append(build_model(entry.name, backbone="test_resnet").view.describe() if entry.name != "mean" else "1 frame")
            except TypeError:
                row.append(build_model(entry.name).view.describe())
        rows.append(row)
    headers = {"datasets": ["name", "description", "protocol", "card"], "models": ["name", "description", "input"],
               "losses": ["name", "description"]}[args.what]
    print(tabulate(rows, headers=headers, tablefmt="simple"))
    return 0
