"""Datasets, models and losses from outside the package.

Two ways in, and a plugin registers exactly like a built-in (``@DATASETS.register("name")``,
``@MODELS.register(...)``, ``@LOSSES.register(...)``); a name that is taken raises, naming where
both registrations came from.

* **A folder or a file**: ``gazebench <command> --plugin path/to/mydata`` (a folder with an
  ``__init__.py``, imported as a package, so its modules import each other: ``from . import fake``)
  or ``--plugin path/to/mydata.py`` (repeatable, any command), or ``plugins: [mydata]`` in
  ``benchmarks.yaml`` (paths relative to that file).  Each is imported once per process (loading
  it again is a no-op).  A dataset's card is ``card.yaml`` in the folder of the file that defines
  its adapter (:func:`gazebench.datasets.cards.card_path`): a dataset folder holds its adapter,
  card, fake-data writer and tests, as a built-in's ``gazebench/datasets/<name>/`` does.
* **An installed package**: entry points in the groups ``gazebench.datasets``,
  ``gazebench.models`` and ``gazebench.losses`` of its metadata, e.g. in ``pyproject.toml``::

      [project.entry-points."gazebench.datasets"]
      mydata = "mypackage.mydata"            # a module whose import registers the adapter
      # or: mydata = "mypackage.mydata:MyData"  (registered under the entry point's name)

  They are loaded the first time a registry is listed or asked for a name it does not know
  (:meth:`gazebench.core.registry.Registry.load_plugins`); :func:`load_entry_points` loads them now.

A file plugin is imported under a private module name.  DataLoader workers started with the
``fork`` method (the Linux default) inherit it; with ``spawn``/``forkserver`` the workers cannot
import such a module by name, so ship the plugin as an installed package there.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from gazebench.core.registry import DATASETS, LOSSES, MODELS, PluginError, loading

__all__ = ["PluginError", "load_plugin_file", "load_plugin_files", "load_entry_points", "loaded_plugin_files"]

#: resolved file path -> the module it was imported as
_LOADED: dict[Path, ModuleType] = {}


def _module_name(path: Path) -> str:
    stem = re.sub(r"\W", "_", path.stem) or "plugin"
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    return f"gazebench_plugin_{stem}_{digest}"


def _import_builtins() -> None:
    """Built-ins register first, so a plugin that reuses a built-in name is the one that fails."""
    import gazebench.datasets  # noqa: F401
    import gazebench.losses  # noqa: F401
    import gazebench.models  # noqa: F401


def load_plugin_file(path: str | Path, base_dir: str | Path | None = None) -> ModuleType:
    """Import the Python file or package folder ``path`` (relative paths are taken from
    ``base_dir``, default the working directory) so that its registrations take effect; returns
    the module."""
    path = Path(path).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir).expanduser() / path
    path = path.resolve()
    if path in _LOADED:
        return _LOADED[path]
    package = path.is_dir()
    if package and not (path / "__init__.py").is_file():
        raise PluginError(f"plugin folder {path} has no __init__.py (the module that registers its adapter)")
    if not package and not path.is_file():
        raise PluginError(f"plugin file {path} does not exist")
    if not package and path.suffix != ".py":
        raise PluginError(f"plugin file {path} is not a Python file (.py) or a package folder")
    _import_builtins()
    name = _module_name(path)
    spec = (
        importlib.util.spec_from_file_location(name, path / "__init__.py", submodule_search_locations=[str(path)])
        if package
        else importlib.util.spec_from_file_location(name, path)
    )
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a loader
        raise PluginError(f"cannot import plugin file {path}")
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(name)
    sys.modules[name] = module  # classes defined there find their module (pickling, inspect)
    try:
        with loading(f"plugin file {path}"):
            spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - report any failure with the file it came from
        for loaded in [m for m in sys.modules if m.startswith(name + ".")]:
            del sys.modules[loaded]  # a package's modules imported before the failure
        if previous is not None:
            sys.modules[name] = previous
        else:
            sys.modules.pop(name, None)
        raise PluginError(f"cannot load plugin file {path}: {type(exc).__name__}: {exc}") from exc
    _LOADED[path] = module
    return module


def load_plugin_files(paths: Iterable[str | Path] | None, base_dir: str | Path | None = None) -> list[ModuleType]:
    """Load each plugin file in ``paths`` (relative ones from ``base_dir``): the ``--plugin``
    options of a command, or a benchmark file's ``plugins:`` list with ``base_dir`` = its folder."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    return [load_plugin_file(p, base_dir) for p in (paths or [])]


def load_entry_points() -> None:
    """Load the entry-point plugins of every registry now (normally done on first use)."""
    _import_builtins()
    for registry in (DATASETS, MODELS, LOSSES):
        registry.load_plugins()


def loaded_plugin_files() -> list[Path]:
    """The plugin files loaded in this process, in load order."""
    return list(_LOADED)
