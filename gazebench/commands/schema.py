"""``gazebench schema``: the JSON Schema of a result record (or of a predictions file's rows)."""

from __future__ import annotations

import argparse

EXAMPLES = """\
examples:
  gazebench schema > result.schema.json              what every results/.../fold-F_seed-S_<unit>.json holds
  gazebench schema --kind predictions                the columns of a run's predictions_test.csv, one row

The schema (JSON Schema draft 2020-12) is generated from gazebench's typed record
(gazebench/results/record_model.py) and shipped in the package as gazebench/schemas/<kind>.schema.json.
Every object in a record may hold keys the schema does not name: plugins and adapters add their own.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of result records (or predictions files)", epilog=EXAMPLES)
    p.add_argument(
        "--kind",
        choices=("result", "predictions"),
        default="result",
        help="result (default): a result record; predictions: one row of a predictions file",
    )
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from gazebench.results.record_model import schema_path

    print(schema_path(args.kind).read_text(), end="")
    return 0
