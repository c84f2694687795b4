"""Where gazebench finds its own files (the checkout for editable installs, or the installed
copy of benchmarks.yaml under ``<prefix>/share/gazebench``), and how the names it is
given become folders under ``--results`` and ``--runs``.  Imports nothing heavy.

A suite name, a row label or a dataset name becomes a folder: :func:`folder_name` turns a label
into one, :func:`name_problem` says why a suite name cannot be one as written, and :func:`inside`
is the last guard where result and run paths are built: a path that leaves its root is refused.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from gazebench.core.errors import UserValueError

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # gazebench/ (this file is gazebench/core/paths.py)
SOURCE_ROOT = PACKAGE_DIR.parent  # the checkout, for editable installs

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class UnsafePathError(UserValueError):
    """A result or run path that would leave its root folder."""


def folder_name(label: str) -> str:
    """A row label as a folder name: runs of characters other than letters, digits, ``.``, ``_``
    and ``-`` become one ``-`` (``gaze360-lstm (published)`` -> ``gaze360-lstm-published``); a
    name of dots only (``.``, ``..``), which would name this folder or its parent, is ``unnamed``."""
    name = _UNSAFE.sub("-", label).strip("-")
    return name if name.strip(".") else "unnamed"


def name_problem(name: str) -> str | None:
    """Why ``name`` (a suite name, which becomes a folder under the results and runs roots) cannot
    be a folder name as written, with the fix; None when it can."""
    if _SAFE_NAME.fullmatch(name):
        return None
    suggestion = folder_name(name).lstrip("._-") or "my-suite"
    return (
        "a suite name becomes a folder under --results and --runs, so it may hold only letters, digits, "
        f"'.', '_' and '-' and must start with a letter or digit; rename it, e.g. {suggestion!r}"
    )


def inside(root: str | Path, *parts: str | Path, what: str = "result") -> Path:
    """``root / parts``, refused when it leaves ``root`` once ``..`` and absolute parts are
    resolved.  The check is on the names (symbolic links are not followed), so a results folder
    that is a link to another disk stays allowed; what is refused is a name that climbs out."""
    path = Path(root).joinpath(*parts)
    top = os.path.normpath(os.path.abspath(root))
    full = os.path.normpath(os.path.abspath(path))
    if full != top and not full.startswith(top.rstrip(os.sep) + os.sep):
        raise UnsafePathError(
            f"the {what} path {path} leaves its root folder {root}; a name in it "
            f"({', '.join(map(str, parts))}) climbs out: rename it with letters, digits, '.', "
            "'_' and '-' only"
        )
    return path
