"""The analysis kinds: every module of this package registers one or more kinds on import
(``@register_kind`` in :mod:`gazebench.analysis.base`), so a new kind is one module here."""

from __future__ import annotations

import importlib
import pkgutil

#: the kind modules, imported so that they register
MODULES = tuple(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
for _name in MODULES:
    importlib.import_module(f"{__name__}.{_name}")
