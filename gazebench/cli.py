"""The ``gazebench`` command: parse, then hand over to the planner, the leaderboard or a tool.

Each subcommand lives in ``gazebench/commands/<name>.py`` with ``add_parser(subparsers)`` and
``main(args) -> int``; flags shared by several commands come from ``commands/common.py``.

Parsing is two-step.  A *pre-parse* reads the global flags wherever they stand on the line
(``--plugin FILE``, repeatable, and ``--traceback``) and loads the plugins, so a plugin's datasets
and models exist before any command looks names up; then the full parser runs.  Building the
parser imports no torch, pandas or adapters: ``gazebench --help`` is instant, and each command
imports what it needs when it runs.

Errors: a :class:`~gazebench.core.errors.GazebenchError` (a mistake in the command or its files) or an
``OSError`` (a folder in the way, a full disk) is one line on stderr and exit status 2; anything
else is a bug, shown with its traceback and a line asking for a report, exit status 1.
``--traceback`` re-raises either.  Warnings print as ``gazebench: warning: <message>``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
import warnings

from gazebench import __version__
from gazebench.commands.common import global_flags
from gazebench.core.errors import GazebenchError

COMMANDS = (
    "run",
    "table",
    "ls",
    "synth",
    "check-data",
    "prepare",
    "bench",
    "compare",
    "reproduce",
    "predict",
    "analyze",
    "report",
    "status",
    "schema",
)

EPILOG = """\
examples:
  gazebench synth --out data/synth --preset small        render SynthGaze
  gazebench run --dataset synthgaze --model static       train, select on val, test, write results/
  gazebench run --dataset rtgene --root /data/RT-GENE --model seqsclstmsym --fold all
  gazebench table                                        the leaderboard of results/
  gazebench ls models                                    what can be run
  gazebench ls datasets --plugin my_dataset.py           with a dataset adapter from outside the package
  gazebench predict --run RUN.json clip.mp4 --out pred/  a trained model on your own video

global flags (before or after the command): --plugin FILE (repeatable), --traceback
"""

#: the exit status of a user error (as argparse's for a bad flag): the command could not do what was asked
USER_ERROR_EXIT = 2
#: the exit status of a bug (what Python gives an uncaught exception)
BUG_EXIT = 1
#: where a bug is reported
REPORT_TO = "the gazebench issue tracker"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gazebench",
        description="Train and compare 3-D gaze estimators under fixed, honest protocols.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[global_flags()],
    )
    parser.add_argument("--version", action="version", version=f"gazebench {__version__}")
    commands = _Commands(parser.add_subparsers(dest="command", metavar="COMMAND"))
    for name in COMMANDS:
        importlib.import_module(f"gazebench.commands.{name.replace('-', '_')}").add_parser(commands)
    return parser


class _Commands:
    """The subparsers action as the commands see it: every command's parser also takes the global
    flags (after the command name), whose values the pre-parse has already read."""

    def __init__(self, subparsers: argparse._SubParsersAction) -> None:
        self.subparsers = subparsers

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
        kwargs["parents"] = [*kwargs.get("parents", []), global_flags()]
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)  # worked examples keep their lines
        return self.subparsers.add_parser(name, **kwargs)


def preparse(argv: list[str]) -> argparse.Namespace:
    """The global flags, from anywhere on the line (the rest is left to the full parser)."""
    known, _ = global_flags().parse_known_args(argv)
    return known


def load_plugins(files: list[str]) -> None:
    if files:
        from gazebench.plugins import load_plugin_files

        load_plugin_files(files)


def message(exc: BaseException) -> str:
    """What the error says.  An error raised in a DataLoader worker arrives re-raised by torch with
    the worker's traceback in its text; the user sees the original one-line message, as they
    would with the data decoded in the training process."""
    text = str(exc)
    if "Original Traceback" in text:
        last = text.rstrip().splitlines()[-1]
        text = last.split(": ", 1)[1] if ": " in last else last
    return text


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    flags = preparse(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    warnings.simplefilter("default")
    if rank_prefix() and os.environ.get("RANK") != "0":  # torchrun: rank 0 reports; the others only fail loudly
        for name in ("quiet", "no_table"):
            if hasattr(args, name):
                setattr(args, name, True)
    if getattr(args, "trains", False) and not getattr(args, "dry_run", False):
        from gazebench.core.runtime import choose_openmp_wait

        choose_openmp_wait()  # before anything (a plugin too) starts torch's OpenMP: docs/performance.md
    formatwarning, warnings.formatwarning = warnings.formatwarning, format_warning
    try:
        load_plugins(flags.plugins)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `gazebench table | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except (GazebenchError, OSError) as exc:  # what the user can fix: one line (--traceback shows where)
        if flags.traceback:
            raise
        say(f"{rank_prefix()}gazebench {args.command}: {error_line(exc, args)}")
        return USER_ERROR_EXIT
    except Exception as exc:  # a bug in gazebench or a library: the traceback is what a report needs
        if flags.traceback:
            raise
        say(f"{rank_prefix()}gazebench {args.command}: {type(exc).__name__}: {message(exc)}")
        sys.stderr.write("".join(traceback.format_exception(exc)))
        say(
            f"{rank_prefix()}gazebench {args.command}: this is a bug in gazebench (or a library it uses), not a "
            f"mistake in the command; please report it to {REPORT_TO} with the command, `gazebench --version` "
            "and the traceback above"
        )
        return BUG_EXIT
    finally:
        warnings.formatwarning = formatwarning  # a caller in the same process (a test) keeps its own


def error_line(exc: BaseException, args: argparse.Namespace) -> str:
    """A user error as one line: the error's kind (a generic one has none) and its message; an
    ``OSError`` (a folder in the way, a full disk) also gets the command's hint, e.g. that
    ``run`` continues where it stopped."""
    kind = "" if type(exc).__module__ == "gazebench.core.errors" else f"{type(exc).__name__}: "
    plain_os_error = isinstance(exc, OSError) and not isinstance(exc, GazebenchError)
    hint = getattr(args, "os_error_hint", None) if plain_os_error else None
    return kind + message(exc) + (f"; {hint}" if hint else "")


def format_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    """A warning as the user reads it: ``gazebench: warning: <message>``, without Python's file,
    line number and source line (which say where the warning was raised, not what to do)."""
    return f"{rank_prefix()}gazebench: warning: {message}\n"


def say(line: str) -> None:
    """One line on stderr in one write: the ranks of a torchrun job share the stream, and a line
    written in pieces can be cut by another rank's."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def rank_prefix() -> str:
    """``[rank R] `` when torchrun started several processes (WORLD_SIZE > 1), else nothing: a
    failing rank says which it is (gazebench.train.distributed)."""
    try:
        world, rank = int(os.environ.get("WORLD_SIZE", "1")), os.environ.get("RANK", "?")
    except ValueError:
        return ""
    return f"[rank {rank}] " if world > 1 else ""


if __name__ == "__main__":
    raise SystemExit(main())
