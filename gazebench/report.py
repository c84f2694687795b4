"""One self-contained HTML page of a results folder, for sharing: ``gazebench report``.

The page holds, in order:

- the leaderboard (:mod:`gazebench.leaderboard`'s html form: configuration rows, dataset (protocol)
  columns, † marks and footnotes) for ``all.mean`` and for each evaluation subset the records
  carry (``front180.mean``, ``back.mean``, ...), and which runs make each cell;
- every analysis found under ``<results>/analysis/*/analysis.json`` (written by ``gazebench
  analyze``): its notes, its table and its figures, inlined as ``data:`` URIs, with the command,
  options, runs and environment that made it;
- the provenance of every run: unit id, configuration identity, protocol, test population (size,
  SHA-256 prefix, complete or what it lacks), weights, environment (versions, git, device), time.

This module reads and shapes what the page shows; ``gazebench/templates/report.html`` (Jinja2,
autoescaped) lays it out.  Everything is inline (CSS included, no JavaScript): the file opens
offline, and nothing in it refers to anything outside it (:func:`external_references` checks this
before it is written).
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

import gazebench
from gazebench.core.atomic import atomic_write

#: what each evaluation subset's leaderboard is over (others are shown by name)
SUBSET_TEXT = {
    "all": "every test sample",
    "front180": "gaze towards the camera's half-space (g_z ≤ 0)",
    "front20": "near-frontal gaze (|yaw| ≤ 20°)",
    "back": "gaze away from the camera (g_z > 0)",
}
#: rows of an analysis table shown in the page (the whole table is in its table.csv)
MAX_TABLE_ROWS = 200
#: tables up to this many rows are shown open; longer ones are folded (a click opens them)
OPEN_TABLE_ROWS = 30
IMAGE_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


@dataclass
class AnalysisEntry:
    """One ``analysis.json`` and the folder it sits in."""

    folder: Path
    manifest: dict[str, Any]


@dataclass
class ReportData:
    """What the page is made from: the runs that count (deduplicated load_results rows), their
    records by path, the analyses, and notes on what was skipped or set aside."""

    results: Path
    runs: pd.DataFrame
    records: dict[str, dict[str, Any]]
    analyses: list[AnalysisEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- reading --------------------------------------------------------------------------------------


def load_runs(results: Path, benchmark: str | None = None) -> tuple[pd.DataFrame, dict[str, dict], list[str]]:
    """The records under ``results`` (one run per unit: duplicates set aside as the leaderboard
    does), their raw records by path, and notes on files skipped or set aside."""
    from gazebench.leaderboard import dedupe
    from gazebench.results.store import check_predictions, load_results, read_record

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = load_results(results)
    notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]  # what load_results says
    if not df.empty and benchmark is not None:
        df = df[df["benchmark"] == benchmark]
    df, duplicates = dedupe(df)
    df = check_predictions(df, results)  # a record its predictions file contradicts is marked in the tables
    records = {path: read_record(Path(path)) for path in df.get("path", [])}
    return df, records, notes + duplicates


def read_analyses(results: Path) -> tuple[list[AnalysisEntry], list[str]]:
    """Every ``<results>/analysis/*/analysis.json`` that reads as a JSON object, by kind and time;
    and a note for each that does not."""
    entries, notes = [], []
    for path in sorted((results / "analysis").glob("*/analysis.json")):
        try:
            manifest = json.loads(path.read_text())
            if not isinstance(manifest, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            notes.append(f"skipping analysis {path}: {exc}")
            continue
        entries.append(AnalysisEntry(path.parent, manifest))
    entries.sort(key=lambda e: (str(e.manifest.get("kind", "")), str(e.manifest.get("created_at", "")), e.folder.name))
    return entries, notes


def collect(results: str | Path, benchmark: str | None = None) -> ReportData:
    """The runs, analyses and notes of ``results``; with ``benchmark``, that suite's runs and the
    analyses that read any of them."""
    results = Path(results)
    df, records, notes = load_runs(results, benchmark)
    analyses, more = read_analyses(results)
    if benchmark is not None:
        kept = {str(r.get("unit_id")) for r in records.values()}
        analyses = [a for a in analyses if kept & {str(u) for u in a.manifest.get("unit_ids") or []}]
    return ReportData(results, df, records, analyses, notes + more)


# --- what the page shows (gazebench/templates/report.html lays it out) ------------------------------


def anchor(unit_id: Any) -> str:
    return "unit-" + re.sub(r"[^A-Za-z0-9_-]", "-", str(unit_id))


def short_sha(value: Any, n: int = 8) -> str:
    return str(value)[:n] if value else "—"


def environment_text(env: dict[str, Any] | None) -> str:
    """``gazebench 0.1.0 · torch 2.4.0 · cuda:0 (NVIDIA H200) · git 7fdebdf087 (dirty)``."""
    env = env or {}
    parts = [f"{k} {env[k]}" for k in ("gazebench", "torch") if env.get(k)]
    if env.get("device"):
        name = env.get("device_name")
        parts.append(str(env["device"]) + (f" ({name})" if name and name != env["device"] else ""))
    if "git_sha" in env:
        dirty = {True: " (dirty)", False: ""}.get(env.get("git_dirty"), " (dirty: unknown)")
        parts.append(f"git {short_sha(env['git_sha'], 10)}{dirty}" if env["git_sha"] else "git: not a checkout")
    return " · ".join(parts) or "not recorded"


def population_text(population: dict[str, Any]) -> str:
    """``synthgaze/test: 1,440 samples, sha256 86de29a8, complete`` (or what it lacks)."""
    count = population.get("count")
    text = (
        f"{population.get('name', '?')}: {count:,} samples"
        if isinstance(count, int)
        else f"{population.get('name', '?')}: ? samples"
    )
    text += f", sha256 {short_sha(population.get('sha256'))}"
    if population.get("complete"):
        return text + ", complete"
    return (
        text
        + ", short of the protocol: "
        + ("; ".join(map(str, population.get("shortfall") or [])) or "no reason recorded")
    )


def weights_text(weights: dict[str, Any] | None) -> str:
    weights = weights or {}
    text = str(weights.get("tag") or "none")
    if weights.get("file"):
        text += f" ({Path(str(weights['file'])).name})"
    return text + (f", sha256 {short_sha(weights['sha256'])}" if weights.get("sha256") else "")


def leaderboard_metrics(df: pd.DataFrame) -> list[str]:
    """``all.mean`` and each evaluation subset's mean that the records carry, in their order."""
    means = [c for c in df.columns if c.endswith(".mean") and not c.startswith("timings.") and df[c].notna().any()]
    return sorted(means, key=lambda c: c != "all.mean")


def leaderboards(df: pd.DataFrame, references: bool = True) -> list[dict[str, Any]]:
    """One leaderboard (:mod:`gazebench.leaderboard`'s html: its table and legend) per metric of
    :func:`leaderboard_metrics`; ``references``: the published reference rows beside the
    cross-dataset columns they match (all.mean only)."""
    from markupsafe import Markup

    from gazebench.leaderboard import aggregate, published_references, render

    boards = []
    for metric in leaderboard_metrics(df):
        subset = metric.rpartition(".")[0]
        text = render(
            aggregate(df, metric), "html", metric, references=published_references(metric) if references else ()
        )
        table, _, legend = text.partition("\n<p>")
        boards.append(
            {
                "metric": metric,
                "subset": SUBSET_TEXT.get(subset, subset),
                "table": Markup(table),
                "legend": Markup(legend),
            }
        )
    return boards


def cells(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Which runs make each leaderboard cell: row, column, configuration identities, the runs."""
    from gazebench.leaderboard_rows import column_names, row_names

    frame = df.assign(row=row_names(df)[0], column=column_names(df))
    return [
        {
            "row": row,
            "column": column,
            "identities": sorted(set(runs["identity"])),
            "runs": list(runs.sort_values(["fold", "seed"]).itertuples()),
        }
        for (row, column), runs in frame.groupby(["row", "column"], sort=True)
    ]


def analysis_view(entry: AnalysisEntry) -> dict[str, Any]:
    """One analysis: title, what made it, its notes, its figures and its table."""
    m = entry.manifest
    kind = str(m.get("kind") or entry.folder.name)
    command = m.get("command")
    units = m.get("unit_ids") or []
    names = m.get("run_names") or []
    return {
        "folder": entry.folder,
        "kind": kind,
        "title": m.get("title") or kind,
        "command": shlex.join(map(str, command)) if isinstance(command, list) else command,
        "units": list(zip(units, names if len(names) == len(units) else units)),
        "runs": m.get("runs") or [],
        "options": m.get("options") or {},
        "created_at": m.get("created_at"),
        "environment": environment_text(m.get("environment")),
        "notes": m.get("notes") or [],
        "figures": [figure(entry.folder, n) for n in m.get("figures") or []],
        "table": analysis_table(entry),
    }


def analysis_table(entry: AnalysisEntry) -> dict[str, Any]:
    """The analysis table (its CSV), numbers to 4 significant digits, cut at :data:`MAX_TABLE_ROWS`
    rows and shown open up to :data:`OPEN_TABLE_ROWS`; empty without one."""
    name = entry.manifest.get("table")
    if not name:
        return {}
    path = entry.folder / Path(str(name)).name
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        return {"problem": f"table {path} could not be read: {exc}"}
    rows = [[cell_text(v) for v in row] for row in table.head(MAX_TABLE_ROWS).itertuples(index=False)]
    return {
        "path": path,
        "columns": list(table.columns),
        "rows": rows,
        "n": len(table),
        "more": len(table) - MAX_TABLE_ROWS,
        "open": len(table) <= OPEN_TABLE_ROWS,
    }


def cell_text(value: Any) -> str:
    if isinstance(value, float):
        return "" if pd.isna(value) else format(value, ".4g")
    return str(value)


def figure(folder: Path, name: Any) -> dict[str, str]:
    """A figure inlined as a data: URI (PNG, SVG or JPEG inside the analysis folder), or why not."""
    path = folder / Path(str(name)).name
    if path.suffix.lower() not in IMAGE_TYPES:
        return {"problem": f"figure {name}: not an image type the page inlines"}
    try:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError as exc:
        return {"problem": f"figure {path} could not be read: {exc.strerror or exc}"}
    return {"name": path.name, "uri": f"data:{IMAGE_TYPES[path.suffix.lower()]};base64,{data}"}


def provenance(df: pd.DataFrame, records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per run: its facts, and (folded in the page) its configuration, protocol source,
    selection and files; by dataset, leaderboard row, fold and seed."""
    if df.empty:
        return []
    from gazebench.leaderboard_rows import row_names

    ordered = df.assign(row=row_names(df)[0]).sort_values(["dataset", "row", "fold", "seed", "path"], kind="stable")
    return [provenance_row(records[path], row, path) for path, row in zip(ordered["path"], ordered["row"])]


def provenance_row(record: dict[str, Any], row: str, path: str) -> dict[str, Any]:
    dataset, protocol = record.get("dataset") or {}, record.get("protocol") or {}
    selection, identity = record.get("selection") or {}, record.get("identity") or {}
    facts = {
        "result": path,
        "benchmark": record.get("benchmark"),
        "protocol source": protocol.get("source"),
        "selection": f"{protocol.get('selection') or selection.get('rule')}; chosen epoch "
        f"{selection.get('chosen_epoch')} of {selection.get('epochs_run')}",
        **{f"artifacts.{k}": v for k, v in (record.get("artifacts") or {}).items()},
    }
    return {
        "unit_id": record.get("unit_id"),
        "row": row,
        "dataset": f"{dataset.get('name')} (card v{dataset.get('card_version')})",
        "fold": record.get("fold"),
        "seed": record.get("seed"),
        "identity": identity.get("hash"),
        "protocol": protocol.get("name"),
        "population": population_text(record.get("population") or {}),
        "weights": weights_text(record.get("weights")),
        "environment": environment_text(record.get("environment")),
        "created_at": record.get("created_at"),
        "facts": "\n".join(f"{k}: {v}" for k, v in facts.items() if v not in (None, "")),
        "config": json.dumps(identity.get("config"), indent=1, sort_keys=True, default=str),
    }


# --- the page -------------------------------------------------------------------------------------


def render_report(
    data: ReportData, title: str | None = None, command: list[str] | None = None, references: bool = True
) -> str:
    """The page: gazebench/templates/report.html filled with what :func:`collect` read."""
    from jinja2 import Environment, PackageLoader

    env = Environment(
        loader=PackageLoader("gazebench", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=lambda v: "" if v is None else v,
    )
    env.filters["anchor"] = anchor
    df = data.runs
    return env.get_template("report.html").render(
        title=title or f"gazebench report: {data.results}",
        results=data.results,
        notes=data.notes,
        made=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        version=gazebench.__version__,
        command=shlex.join(command) if command else None,
        n_runs=len(df),
        known={str(u) for u in df.get("unit_id", [])},
        leaderboards=[] if df.empty else leaderboards(df, references),
        cells=[] if df.empty else cells(df),
        analyses=[analysis_view(a) for a in data.analyses],
        provenance=provenance(df, data.records),
    )


_TAG = re.compile(r"<[A-Za-z][^>]*>")
_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.IGNORECASE | re.DOTALL)
_ATTRIBUTE = re.compile(
    r"""\b(?:src|href|srcset|action|formaction|poster|data|background)\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE
)
_CSS_URL = re.compile(r"""url\(\s*["']?([^"')\s]+)|@import\s+["']?([^"';\s]+)""", re.IGNORECASE)


def external_references(text: str) -> list[str]:
    """Every reference in an HTML page's tags and style sheets that points outside the page:
    anything but a ``data:`` URI or a ``#fragment``.  (Text content is escaped, so it holds no tags.)"""
    tags = _TAG.findall(text)
    refs = [ref for tag in tags for ref in _ATTRIBUTE.findall(tag)]
    refs += [a or b for css in tags + _STYLE.findall(text) for a, b in _CSS_URL.findall(css)]
    return [r for r in refs if not (r.startswith("#") or r.lower().startswith("data:"))]


def write_report(
    results: str | Path,
    out: str | Path,
    title: str | None = None,
    benchmark: str | None = None,
    command: list[str] | None = None,
    references: bool = True,
) -> tuple[Path, ReportData]:
    """Collect, render and write the page atomically; returns its path and what it was made from.
    ``references``: show the published reference rows beside the cross-dataset columns."""
    data = collect(results, benchmark)
    page = render_report(data, title, command, references)
    outside = external_references(page)
    if outside:  # the page must open offline; a reference out of it is a bug here, not the user's
        raise RuntimeError(f"the report would refer outside itself: {', '.join(outside[:5])}")
    return atomic_write(out, page), data
