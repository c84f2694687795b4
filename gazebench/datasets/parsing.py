"""What the adapters' label-file parsers share: reading lines, numbers, and reporting ``file:line``.

The parsers themselves sit in each dataset's folder (``gazebench/datasets/rtgene/parsing.py``,
``gazebench/datasets/gaze360/parsing.py``) and follow the rules below.

Every parser takes ``problems``: ``None`` (strict: the first bad line raises
:class:`~gazebench.datasets.base.DatasetError` naming ``path:line``, the line's text and what was
expected) or a list that collects :class:`~gazebench.datasets.base.Problem` entries while the bad
lines are skipped (``gazebench check-data`` reads this way, to list every problem at once).

Files are read as UTF-8 (a byte-order mark is dropped) with universal newlines, so ``\\r\\n``
line endings parse like ``\\n``.  Blank lines are skipped; nothing else is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from gazebench.datasets.base import DatasetError, Problem

# -- problems -------------------------------------------------------------------------------------


def report(problems: list[Problem] | None, kind: str, where: str, message: str) -> None:
    """Strict (``problems is None``): raise; lenient: record and let the caller skip the entry."""
    if problems is None:
        raise DatasetError(f"{where}: {message}")
    problems.append(Problem(kind, where, message))


def where(path: str | Path, line: int) -> str:
    return f"{path}:{line}"


def shorten(text: str, limit: int = 120) -> str:
    text = text.rstrip("\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_lines(path: str | Path, problems: list[Problem] | None = None) -> Iterator[tuple[int, str]]:
    """``(line_number, text)`` of the non-blank lines of a text file (1-based numbers, CRLF-safe).

    An unreadable or non-UTF-8 file raises (strict) or is reported as ``unreadable_file``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        report(problems, "unreadable_file", str(path), f"cannot read the file: {exc}")
        return
    # str.splitlines also splits on \x0b, \x1c, ... which never belong to these formats: keep to \n
    for number, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
        if line.strip():
            yield number, line


def parse_float(token: str) -> float:
    """A decimal number as written in the label files (``nan`` / ``inf`` parse; the caller rejects them)."""
    return float(token)
