"""Declared options: a default, a check that turns a given value into a valid one, and help text.

Dataset adapters declare their options as ``{name: Option(...)}``; the recipe's fields carry the
same checks (:mod:`gazebench.core.config`).  A check takes the value as given (from YAML, ``--set`` or
Python) and returns it normalised, or raises :class:`OptionValueError` saying what is allowed;
:func:`resolve_options` names the owner and the key around that message.

Nothing here imports torch: ``gazebench ls`` and ``--help`` read these declarations.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gazebench.core.errors import GazebenchError
from gazebench.core.registry import closest


class ConfigError(GazebenchError, ValueError):
    """A bad setting: an unknown key, or a value outside what the key allows."""


class OptionValueError(GazebenchError, ValueError):
    """Raised by a check: the message says what the value should be (``"must be one of a, b"``)."""


Check = Callable[[Any], Any]


@dataclass(frozen=True)
class Option:
    """One declared option: ``default`` (already valid), ``check`` (value -> normalised value, or
    :class:`OptionValueError`), ``help`` (one line for ``ls`` and error messages)."""

    default: Any
    check: Check
    help: str = ""

    def describe(self) -> str:
        return getattr(self.check, "describe", "any value")


def _described(fn: Check, text: str) -> Check:
    fn.describe = text  # type: ignore[attr-defined]
    return fn


def one_of(*choices: Any) -> Check:
    """A value equal to one of ``choices`` (compared as given; ``1`` and ``"1"`` differ)."""

    def check(value: Any) -> Any:
        for choice in choices:
            if value == choice and type(value) is not bool or value is choice:
                return choice
        raise OptionValueError(f"must be one of {', '.join(map(str, choices))}")

    return _described(check, "one of " + ", ".join(map(str, choices)))


def names_of(*choices: str, what: str) -> Check:
    """A set of names among ``choices``: a list/tuple or ``"a,b"``; ``none`` / ``""`` / None / false
    for none.  Returns them in ``choices`` order, each once; an unknown one names the choices."""
    nothing = ("", "none", "null", "false")

    def check(value: Any) -> tuple[str, ...]:
        if value is None or value is False or (isinstance(value, str) and value.strip().lower() in nothing):
            return ()
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise OptionValueError(f"must be none or a comma list of {', '.join(choices)}")
        names = {str(v).strip().lower() for v in items} - {""}
        unknown = sorted(names - set(choices))
        if unknown:
            raise OptionValueError(
                f"has unknown {what} {', '.join(map(repr, unknown))}; "
                f"choose from {', '.join(choices)} (a comma list), or none"
            )
        return tuple(n for n in choices if n in names)

    return _described(check, "none or a comma list of " + ", ".join(choices))


def _real(value: Any, need: str) -> float:
    """``value`` as a finite float (``"0.5"`` from the command line too), else the ``need`` message."""
    if isinstance(value, bool):
        raise OptionValueError(f"must be {need}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise OptionValueError(f"must be {need}") from None
    if not math.isfinite(number):
        raise OptionValueError(f"must be {need}")
    return number


def number_in(low: float, high: float) -> Check:
    """A real number in ``[low, high]``, returned as float."""
    need = f"a number in [{low:g}, {high:g}]"

    def check(value: Any) -> float:
        number = _real(value, need)
        if not low <= number <= high:
            raise OptionValueError(f"must be {need}")
        return number

    return _described(check, need)


def number_above(low: float, inclusive: bool = False) -> Check:
    """A real number > ``low`` (``>= low`` when ``inclusive``), returned as float."""
    need = f"a number >= {low:g}" if inclusive else ("a positive number" if low == 0 else f"a number > {low:g}")

    def check(value: Any) -> float:
        number = _real(value, need)
        if number < low or (number == low and not inclusive):
            raise OptionValueError(f"must be {need}")
        return number

    return _described(check, need)


def integer(minimum: int | None = None, allow_none: bool = False) -> Check:
    """A whole number (``3``; not ``3.5``, ``True`` or ``"abc"``) of at least ``minimum``."""
    need = "an integer" + (f" >= {minimum}" if minimum is not None else "") + (" or none" if allow_none else "")

    def check(value: Any) -> int | None:
        if value is None and allow_none:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionValueError(f"must be {need}")
        if minimum is not None and value < minimum:
            raise OptionValueError(f"must be {need}")
        return int(value)

    return _described(check, need)


def boolean() -> Check:
    def check(value: Any) -> bool:
        if isinstance(value, bool):
            return value
        raise OptionValueError("must be true or false")

    return _described(check, "true or false")


def any_value(text: str = "any value") -> Check:
    return _described(lambda value: value, text)


def word_or_integer(*words: str, minimum: int = 1) -> Check:
    """One of ``words`` as given, or a whole number of at least ``minimum`` (``3``, or ``"3"``
    from Python), returned as int: e.g. a sample count that may also be ``card`` or ``any``."""
    need = f"one of {', '.join(words)}, an integer >= {minimum}"

    def check(value: Any) -> Any:
        if isinstance(value, str) and value in words:
            return value
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum:
            return int(value)
        raise OptionValueError(f"must be {need}")

    return _described(check, need)


def check_value(owner: str, key: str, option: Option, value: Any) -> Any:
    """``option.check(value)``, with a failure reported as ``"<owner> <key>=<value>: <why>"``."""
    try:
        return option.check(value)
    except OptionValueError as exc:
        hint = f" ({option.help})" if option.help else ""
        raise ConfigError(f"{owner} {key}={value!r}: {exc}{hint}") from None


def resolve_options(owner: str, declared: dict[str, Option], given: dict[str, Any]) -> dict[str, Any]:
    """Every declared option's value: its default, or the checked given value.  ``None`` means
    "the default"; an undeclared key is an error naming the closest declared ones."""
    resolved = {key: opt.default for key, opt in declared.items()}
    for key, value in (given or {}).items():
        if key not in declared:
            raise ConfigError(
                f"{owner} has no option {key!r}.{closest(key, list(declared))} Options: {', '.join(declared) or 'none'}"
            )
        if value is None:
            continue
        resolved[key] = check_value(owner, key, declared[key], value)
    return resolved


def describe_options(declared: dict[str, Option]) -> list[tuple[str, str, str, str]]:
    """``(key, default, allowed, help)`` rows for ``gazebench ls``."""
    return [(key, repr(opt.default), opt.describe(), opt.help) for key, opt in declared.items()]


def csv_flag(values: list[str] | str | None) -> list[str] | None:
    """A comma-separated (and possibly repeated) flag -> list, or None when not given."""
    if not values:
        return None
    items = [values] if isinstance(values, str) else values
    return [v.strip() for item in items for v in item.split(",") if v.strip()]
