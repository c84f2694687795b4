"""The ``gazebench`` command: parse, then hand over to the runner, the leaderboard or a tool.

Each subcommand lives in ``gazebench/commands/<name>.py`` with ``add_parser(subparsers)`` and
``main(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from gazebench import __version__

COMMANDS = ("run", "table", "ls", "synth", "check-data")

EPILOG = """\
examples:
  gazebench synth --out data/synth --preset small        render SynthGaze
  gazebench run --dataset synthgaze --model static       train, select on val, test, write results/
  gazebench run --dataset rtgene --root /data/RT-GENE --model seqsclstmsym --fold all
  gazebench table                                        the leaderboard of results/
  gazebench ls models                                    what can be run
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gazebench",
        description="Train and compare 3-D gaze estimators under fixed, honest protocols.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gazebench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"gazebench.commands.{name.replace('-', '_')}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    warnings.simplefilter("default")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, KeyError, FileNotFoundError, RuntimeError, TypeError) as exc:
        if getattr(args, "traceback", False):
            raise
        name = type(exc).__name__
        print(f"gazebench {args.command}: {name}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
