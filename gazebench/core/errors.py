"""The project's error type for mistakes a user can fix.

Every error gazebench raises because of what it was given — a bad flag, a missing or malformed
file, a setting outside what is allowed, a dataset that is not where it was said to be — derives
from :class:`GazebenchError`.  The CLI prints such an error as its one-line message and exits 2;
any other exception is a bug in gazebench or a library and keeps its traceback.

The concrete classes keep their historical builtin base as well (``ConfigError`` is also a
``ValueError``, ``DatasetError`` a ``RuntimeError``, ...) so that code catching the builtin type keeps
working; the CLI decides by :class:`GazebenchError` alone.

Nothing here imports anything: every layer may raise these.
"""

from __future__ import annotations


class GazebenchError(Exception):
    """A user mistake: the message says what was wrong, where (file, line, key) and how to fix it."""


class UserValueError(GazebenchError, ValueError):
    """A value the user gave is not allowed (a flag, a --set value, a file's content)."""


class UserRuntimeError(GazebenchError, RuntimeError):
    """An operation cannot be done as asked (a state of files or data the user can change)."""


class UserTypeError(GazebenchError, TypeError):
    """A value of the wrong kind for where the user put it (e.g. an option a model does not take)."""


class UserKeyError(GazebenchError, KeyError):
    """A name the user gave is not known (a metric, a preset)."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""
