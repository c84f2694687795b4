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

COMMANDS = ("run", "table", "ls", "synth", "check-data", "prepare", "bench", "compare")

EPILOG = """\
examples:
  gazebench synth --out data/synth --preset small        render SynthGaze
  gazebench run --dataset synthgaze --model static       train, select on val, test, write results/
  gazebench run --dataset rtgene --root /data/RT-GENE --model seqsclstmsym --fold all
  gazebench table                                        the leaderboard of results/
  gazebench ls models                                    what can be run
  gazebench ls datasets --plugin my_dataset.py           with a dataset adapter from outside the package
"""

PLUGIN_HELP = ("a Python file that registers datasets, models or losses (repeatable; a dataset's card "
               "may sit beside it as <name>.yaml); see docs/adding-a-dataset.md")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gazebench",
        description="Train and compare 3-D gaze estimators under fixed, honest protocols.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gazebench {__version__}")
    parser.add_argument("--plugin", dest="plugins_global", action="append", default=[], metavar="FILE",
                        help=PLUGIN_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"gazebench.commands.{name.replace('-', '_')}").add_parser(sub)
    # every command takes --plugin too (its own dest: a subcommand's namespace replaces the top level's)
    for command_parser in dict.fromkeys(sub.choices.values()):
        if "--plugin" in command_parser._option_string_actions:  # a command that declares it itself
            continue
        command_parser.add_argument("--plugin", dest="plugins", action="append", default=argparse.SUPPRESS,
                                    metavar="FILE", help=PLUGIN_HELP)
    return parser


def plugin_files(args: argparse.Namespace) -> list[str]:
    """The ``--plugin`` files given before and after the command name."""
    return list(getattr(args, "plugins_global", None) or []) + list(getattr(args, "plugins", None) or [])


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    warnings.simplefilter("default")
    try:
        if plugin_files(args):
            from gazebench.plugins import load_plugin_files

            load_plugin_files(plugin_files(args))
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
