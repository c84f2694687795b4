"""A module imported on its first attribute access, for heavy libraries that a module uses only in
its functions.

``pd = LazyModule("pandas")`` at the top of a dataset adapter lets ``gazebench ls``, ``status`` and
``run --dry-run`` import every adapter (so each registers itself) without paying for pandas
(about half a second); the first ``pd.read_csv(...)`` imports it for real.  The proxy never enters
``sys.modules``, so code that imports the library normally is unaffected; two threads that reach the
first use at once import it once (the import system's own module lock).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for the module ``name`` until an attribute is first read, then forwards to it."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:  # only called for names the proxy itself lacks
        if attr in ("_name", "_module"):  # not set yet (a copy being made): no recursion
            raise AttributeError(attr)
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<lazy module {self._name!r}, {state}>"
