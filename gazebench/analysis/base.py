"""What an analysis is, the registry of analysis kinds, and how an analysis is written to disk.

An analysis kind is a function ``(runs: list[RunRef], options: dict) -> Analysis`` registered with
a one-line description and its declared options (:class:`gazebench.core.options.Option`)::

    from gazebench.analysis.base import Analysis, register_kind
    from gazebench.core.options import Option, integer

    @register_kind("bins", "error by gaze-yaw and pitch bins", options={
        "yaw_bin": Option(20, integer(1), "yaw bin width in degrees"),
    })
    def bins(runs, options):
        ...
        return Analysis(kind="bins", title="...", table=df, figures=[("yaw.png", fig)], notes=[])

``KINDS`` maps each name to its :class:`Kind`; calling a Kind (``KINDS["bins"](runs, {"yaw_bin": 30})``)
checks the given options against the declared ones (defaults filled in, an unknown key or a bad
value is one :class:`~gazebench.core.options.ConfigError`), runs the function and stamps the kind and
the resolved options on the returned :class:`Analysis`.  :func:`get_kind` finds a kind by name
(importing every module of :mod:`gazebench.analysis.kinds` first, so a module there registers
itself by being there).

Rules for a kind module: import only light modules (this one, :mod:`gazebench.core.options`) at its
top and everything heavy (pandas, matplotlib, torch) inside its functions, because
``gazebench analyze --help`` imports every kind to list them; make figures with :func:`new_figure`
(a bare Agg figure: no pyplot state, nothing shown) and label them with :func:`label_axes`;
never retrain.

:func:`write_analysis` writes ``table.csv``, ``table.json``, each figure as PNG (dpi 120) and the
manifest ``analysis.json`` into one folder, each file atomically (:mod:`gazebench.core.atomic`); the
default folder is :func:`default_out_dir` (``<results>/analysis/<kind>-<hash>``).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gazebench.core.options import ConfigError, Option, OptionValueError, resolve_options

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from gazebench.analysis.runs import RunRef

DPI = 120
TABLE_CSV, TABLE_JSON, MANIFEST = "table.csv", "table.json", "analysis.json"
#: what the manifest's environment leaves out when no model ran (the facts of a device)
DEVICE_KEYS = ("device", "device_name", "torch_threads", "allocator")


@dataclass
class Analysis:
    """The result of one analysis kind over some runs.

    ``table``: one DataFrame (written as CSV and JSON, printed); ``figures``: ``(file name, Figure)``
    pairs (``"yaw.png"``); ``notes``: sentences a reader must see (a run left out and why);
    ``options``: the resolved options (filled in by :class:`Kind`); ``device``: the device a kind
    that runs a model used (None: none ran); ``extra``: more JSON-able facts for the manifest."""

    kind: str
    title: str
    table: pd.DataFrame
    figures: list[tuple[str, Figure]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    device: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


KindFunction = Callable[[list["RunRef"], dict[str, Any]], Analysis]


@dataclass(frozen=True)
class Kind:
    """A registered analysis kind: its function, one-line description and declared options."""

    name: str
    function: KindFunction
    description: str
    options: dict[str, Option]

    def resolve(self, given: dict[str, Any] | None) -> dict[str, Any]:
        """The declared options with ``given`` (``--set`` values) checked and filled in."""
        return resolve_options(f"analysis {self.name!r}", self.options, given or {})

    def __call__(self, runs: list[RunRef], options: dict[str, Any] | None = None) -> Analysis:
        resolved = self.resolve(options)
        analysis = self.function(runs, resolved)
        analysis.kind, analysis.options = self.name, resolved
        return analysis


#: every registered analysis kind by name (filled by importing gazebench.analysis.kinds)
KINDS: dict[str, Kind] = {}


def register_kind(
    name: str, description: str, options: dict[str, Option] | None = None
) -> Callable[[KindFunction], KindFunction]:
    """Decorator registering ``function(runs, options) -> Analysis`` as analysis kind ``name``."""

    def add(function: KindFunction) -> KindFunction:
        if name in KINDS and KINDS[name].function is not function:
            raise ValueError(f"analysis kind {name!r} is registered twice")
        KINDS[name] = Kind(name, function, description, dict(options or {}))
        return function

    return add


def load_kinds() -> dict[str, Kind]:
    """Every kind: the modules of :mod:`gazebench.analysis.kinds` are imported (they register)."""
    import gazebench.analysis.kinds  # noqa: F401

    return KINDS


def get_kind(name: str) -> Kind:
    from gazebench.core.registry import closest

    kinds = load_kinds()
    if name not in kinds:
        raise ConfigError(f"no analysis kind {name!r}.{closest(name, list(kinds))} Kinds: {', '.join(sorted(kinds))}")
    return kinds[name]


def kinds_help() -> str:
    """The kinds, one line each with their options, for ``gazebench analyze --help``."""
    lines = ["kinds (options via --set KEY=VALUE):"]
    for name, kind in sorted(load_kinds().items()):
        lines.append(f"  {name:<14}{kind.description}")
        for key, opt in kind.options.items():
            lines.append(f"  {'':<16}{key}={opt.default!r}: {opt.help}")
    return "\n".join(lines)


# --- option checks the kinds share -------------------------------------------------------------


def numbers(kind: type = int, minimum: float | None = None, maximum: float | None = None) -> Callable[[Any], list]:
    """A non-empty list of numbers (``[1, 3, 5]``, ``1,3,5`` or one number from ``--set``), each
    a ``kind`` (int or float) in ``[minimum, maximum]``; returned as a list."""
    bounds = "" if minimum is None else f" >= {minimum:g}"
    bounds += "" if maximum is None else f" <= {maximum:g}"
    need = f"a list of {'integers' if kind is int else 'numbers'}{bounds} (e.g. 1,3,5)"

    def check(value: Any) -> list:
        items = value.split(",") if isinstance(value, str) else value if isinstance(value, (list, tuple)) else [value]
        try:
            out = [_number(v, kind) for v in items]
        except (TypeError, ValueError):
            raise OptionValueError(f"must be {need}") from None
        if not out or any((minimum is not None and v < minimum) or (maximum is not None and v > maximum) for v in out):
            raise OptionValueError(f"must be {need}")
        return out

    check.describe = need  # type: ignore[attr-defined]
    return check


def _number(value: Any, kind: type) -> float | int:
    if isinstance(value, bool):
        raise TypeError
    number = float(value.strip()) if isinstance(value, str) else float(value)
    if kind is int:
        if number != int(number):
            raise ValueError
        return int(number)
    return number


# --- figures -----------------------------------------------------------------------------------


def new_figure(width: float = 6.4, height: float = 4.8, **subplot: Any) -> tuple[Figure, Any]:
    """A bare Agg figure and its one axes (``polar=True`` etc. go to ``add_subplot``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1, **subplot)


def label_axes(ax: Any, xlabel: str, ylabel: str, title: str | None = None, legend: bool = True) -> None:
    """The house style of a line plot: axis labels, an optional title, a light grid, a small legend."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize="small")


def new_grid(rows: int, cols: int, width: float, height: float) -> tuple[Figure, Any]:
    """A bare Agg figure with a ``rows`` x ``cols`` array of axes (always 2-D)."""
    fig, first = new_figure(width, height)
    fig.delaxes(first)
    return fig, fig.subplots(rows, cols, squeeze=False)


def png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


# --- writing -----------------------------------------------------------------------------------


def analysis_hash(runs: list[RunRef], options: dict[str, Any]) -> str:
    """First 8 hex digits of the SHA-1 of the sorted unit ids and the options."""
    key = json.dumps({"units": sorted(str(r.unit_id) for r in runs), "options": options}, sort_keys=True, default=str)
    return hashlib.sha1(key.encode()).hexdigest()[:8]


def default_out_dir(results: str | Path, kind: str, runs: list[RunRef], options: dict[str, Any]) -> Path:
    """``<results>/analysis/<kind>-<analysis_hash>``: the same runs and options, the same folder."""
    from gazebench.results.store import ANALYSIS_DIR

    return Path(results) / ANALYSIS_DIR / f"{kind}-{analysis_hash(runs, options)}"


def write_analysis(analysis: Analysis, runs: list[RunRef], out_dir: str | Path, command: list[str]) -> Path:
    """Write the table (CSV and JSON), each figure (PNG) and the manifest ``analysis.json`` into
    ``out_dir``; returns the manifest's path.  Each file is written atomically, the manifest last."""
    from gazebench.compare import rounded
    from gazebench.core.atomic import atomic_write
    from gazebench.core.provenance import now_iso

    out = Path(out_dir)
    atomic_write(out / TABLE_CSV, analysis.table.to_csv(index=False, float_format="%.6g"))
    records = rounded(json.loads(analysis.table.to_json(orient="records", double_precision=15)))
    atomic_write(out / TABLE_JSON, json.dumps(records, indent=1, ensure_ascii=False) + "\n")
    names = []
    for name, fig in analysis.figures:
        names.append(name if name.endswith(".png") else f"{name}.png")
        atomic_write(out / names[-1], png_bytes(fig))
    manifest = {
        "kind": analysis.kind,
        "title": analysis.title,
        "runs": [str(r.path) for r in runs],
        "unit_ids": [r.unit_id for r in runs],
        "run_names": [r.name for r in runs],
        "options": analysis.options,
        "table": TABLE_CSV,
        "table_json": TABLE_JSON,
        "figures": names,
        "notes": list(analysis.notes),
        "command": list(command),
        "created_at": now_iso(),
        "environment": analysis_environment(analysis.device),
        **({"extra": analysis.extra} if analysis.extra else {}),
    }
    return atomic_write(out / MANIFEST, json.dumps(rounded(manifest), indent=2, ensure_ascii=False, default=str) + "\n")


def analysis_environment(device: str | None) -> dict[str, Any]:
    """gazebench's provenance facts; the device's only when a model ran on one."""
    import torch

    from gazebench.core.provenance import environment

    env = environment(torch.device(device or "cpu"))
    if device is None:
        env = {k: v for k, v in env.items() if k not in DEVICE_KEYS}
    return env
