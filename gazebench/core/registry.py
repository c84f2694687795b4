"""One generic name -> factory registry, used for datasets, models and losses."""

from __future__ import annotations

import contextlib
import difflib
import importlib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from gazebench.core.errors import GazebenchError

T = TypeVar("T")


class RegistryError(GazebenchError, KeyError):
    """An unknown or duplicate registry name."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class PluginError(GazebenchError, RuntimeError):
    """A plugin (a ``--plugin`` file or an entry point) that cannot be loaded."""


#: what is being loaded right now (a plugin file, an entry point); appended to the origin of
#: everything registered meanwhile, so a name clash says where both registrations came from
_LOADING: list[str] = []


@contextlib.contextmanager
def loading(source: str) -> Iterator[None]:
    """Mark registrations made inside the block as coming from ``source``."""
    _LOADING.append(source)
    try:
        yield
    finally:
        _LOADING.pop()


@dataclass
class Entry(Generic[T]):
    name: str
    obj: T
    description: str
    origin: str
    aliases: tuple[str, ...] = ()


def _first_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _origin(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or "?"
    try:
        path = inspect.getsourcefile(obj)
    except TypeError:
        path = None
    origin = f"{module} ({path})" if path else module
    return f"{origin} [{_LOADING[-1]}]" if _LOADING else origin


def _same_definition(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are one definition (file and qualified name) imported as two modules."""
    try:
        paths = [inspect.getsourcefile(x) for x in (a, b)]
    except TypeError:
        return False
    return (
        bool(paths[0])
        and paths[0] == paths[1]
        and getattr(a, "__module__", None) != getattr(b, "__module__", None)
        and getattr(a, "__qualname__", 1) == getattr(b, "__qualname__", 2)
    )


@dataclass
class Registry(Generic[T]):
    """Names -> objects. ``@REG.register("name", "alias")`` registers; duplicates raise;
    unknown names answer with close matches and the full list."""

    kind: str
    entry_point_group: str | None = None
    #: the module whose import registers the built-in entries, imported when a name is first not
    #: found (so a lower layer can look a name up without importing the layer that registers it)
    builtins: str | None = None
    _entries: dict[str, Entry[T]] = field(default_factory=dict)
    _aliases: dict[str, str] = field(default_factory=dict)
    _plugins_loaded: bool = False

    def register(self, name: str, *aliases: str, description: str | None = None) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            self.add(name, obj, *aliases, description=description)
            return obj

        return decorator

    def add(self, name: str, obj: T, *aliases: str, description: str | None = None) -> None:
        origin = _origin(obj)
        for key in (name, *aliases):
            existing = self._lookup(key)
            if existing is not None and _same_definition(existing.obj, obj):
                return  # one file imported under two module names (a plugin folder that pytest imports too)
            if existing is not None:
                raise RegistryError(
                    f"{self.kind} {key!r} is already registered by {existing.origin}; "
                    f"cannot register it again from {origin}"
                )
        entry = Entry(name, obj, description or _first_line(obj), origin, tuple(aliases))
        self._entries[name] = entry
        for alias in aliases:
            self._aliases[alias] = name

    def _lookup(self, key: str) -> Entry[T] | None:
        key = self._aliases.get(key, key)
        return self._entries.get(key)

    def load_plugins(self) -> None:
        """Register everything advertised under this registry's entry-point group (once).

        An entry point names a module (``name = package.module``: importing it runs its
        ``@register`` decorators) or an object (``name = package.module:Adapter``: registered
        under the entry point's name unless importing its module registered it already)."""
        if self._plugins_loaded or not self.entry_point_group:
            return
        self._plugins_loaded = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.entry_point_group):
            dist = getattr(ep, "dist", None)
            source = f"entry point {ep.name} = {ep.value} in group {self.entry_point_group}" + (
                f", distribution {dist.name} {dist.version}" if dist is not None else ""
            )
            try:
                with loading(source):
                    obj = ep.load()
                    if not inspect.ismodule(obj) and not any(e.obj is obj for e in self._entries.values()):
                        self.add(ep.name, obj)
            except Exception as exc:  # noqa: BLE001 - any import failure is reported with its source
                raise PluginError(f"cannot load {self.kind} plugin ({source}): {type(exc).__name__}: {exc}") from exc

    def entry(self, name: str) -> Entry[T]:
        found = self._lookup(name)
        if found is None and self.builtins:
            importlib.import_module(self.builtins)
            found = self._lookup(name)
        if found is None:
            self.load_plugins()
            found = self._lookup(name)
        if found is None:
            known = sorted(self._entries) + sorted(self._aliases)
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise RegistryError(
                f"unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {', '.join(sorted(self._entries))}"
            )
        return found

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def canonical(self, name: str) -> str:
        """The registered name ``name`` stands for (an alias's own name); ``name`` when unknown."""
        found = self._lookup(name)
        if found is None:
            self.load_plugins()
            found = self._lookup(name)
        return found.name if found is not None else name

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._lookup(name) is not None

    def names(self) -> list[str]:
        self.load_plugins()
        return sorted(self._entries)

    def __iter__(self) -> Iterator[Entry[T]]:
        self.load_plugins()
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)


def closest(name: str, choices: list[str]) -> str:
    """A " Did you mean ...?" hint for ``name`` among ``choices`` (empty when nothing is close)."""
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


DATASETS: Registry = Registry("dataset", "gazebench.datasets")
MODELS: Registry = Registry("model", "gazebench.models", builtins="gazebench.models")
LOSSES: Registry = Registry("loss", "gazebench.losses")
