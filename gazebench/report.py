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

Everything is inline (CSS included, no JavaScript): the file opens offline, and nothing in it
refers to anything outside it (:func:`external_references` checks this before it is written).
"""

from __future__ import annotations

import base64
import html
import json
import re
import shlex
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

import gazebench
from gazebench.atomic import atomic_write

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

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d232a;margin:0 auto;
 max-width:1220px;padding:18px 26px 60px;background:#fff}
h1{font-size:24px;margin:4px 0 6px}h2{font-size:19px;margin:30px 0 8px;border-bottom:2px solid #dde3ea;
 padding-bottom:3px}h3{font-size:16px;margin:20px 0 6px}
.meta,.legend p,.note{color:#4c5966;font-size:12.5px;margin:3px 0}
nav a{margin-right:14px}a{color:#1f5fa8;text-decoration:none}
table{border-collapse:collapse;margin:6px 0 8px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d4dbe3;padding:3px 8px;white-space:nowrap;vertical-align:top}
th{background:#eef2f6;font-weight:600}tbody tr:nth-child(even){background:#f8fafb}
table.small td,table.small th{font-size:12px;padding:2px 6px;white-space:normal}
code,pre{font:12px/1.35 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#f4f6f8;padding:6px 8px;overflow-x:auto;white-space:pre-wrap;margin:4px 0}
.analysis{border:1px solid #dde3ea;border-radius:6px;padding:4px 16px 10px;margin:14px 0}
figure{display:inline-block;margin:8px 14px 8px 0;vertical-align:top}
figure img{max-width:100%;max-height:560px;border:1px solid #e3e8ee}figcaption{font-size:12px;color:#4c5966}
.warn{color:#8a4b00}details summary{cursor:pointer;color:#1f5fa8}
"""


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
    from gazebench.results import check_predictions, load_results, read_record

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
    entries.sort(key=lambda e: (str(e.manifest.get("kind", "")), str(e.manifest.get("created_at", "")),
                                e.folder.name))
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


# --- small html pieces ----------------------------------------------------------------------------

def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def html_table(headers: list[str], rows: Iterable[list[str]], css: str = "") -> str:
    """A table from already-escaped cells."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>\n" for row in rows)
    cls = f' class="{css}"' if css else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table>"


def anchor(unit_id: Any) -> str:
    return "unit-" + re.sub(r"[^A-Za-z0-9_-]", "-", str(unit_id))


def unit_link(unit_id: Any, known: set[str], text: str | None = None) -> str:
    label = esc(text if text is not None else unit_id)
    return f'<a href="#{anchor(unit_id)}">{label}</a>' if str(unit_id) in known else label


def data_uri(path: Path) -> str:
    mime = IMAGE_TYPES[path.suffix.lower()]
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


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
    text = (f"{population.get('name', '?')}: {count:,} samples" if isinstance(count, int)
            else f"{population.get('name', '?')}: ? samples")
    text += f", sha256 {short_sha(population.get('sha256'))}"
    if population.get("complete"):
        return text + ", complete"
    return text + ", short of the protocol: " + ("; ".join(map(str, population.get("shortfall") or []))
                                                  or "no reason recorded")


def weights_text(weights: dict[str, Any] | None) -> str:
    weights = weights or {}
    text = str(weights.get("tag") or "none")
    if weights.get("file"):
        text += f" ({Path(str(weights['file'])).name})"
    return text + (f", sha256 {short_sha(weights['sha256'])}" if weights.get("sha256") else "")


# --- the leaderboard ------------------------------------------------------------------------------

def leaderboard_metrics(df: pd.DataFrame) -> list[str]:
    """``all.mean`` and each evaluation subset's mean that the records carry, in their order."""
    means = [c for c in df.columns if c.endswith(".mean") and not c.startswith("timings.") and df[c].notna().any()]
    return sorted(means, key=lambda c: c != "all.mean")


def leaderboard_section(df: pd.DataFrame, references: bool = True) -> str:
    """The leaderboards (all.mean and each subset's mean); ``references``: the published reference
    rows beside the cross-dataset columns they match (all.mean only)."""
    from gazebench.leaderboard import aggregate, published_references, render

    if df.empty:
        return '<h2 id="leaderboard">Leaderboard</h2>\n<p class="note">No results.</p>'
    parts = ['<h2 id="leaderboard">Leaderboard</h2>',
             '<p class="note">Columns: a dataset under one protocol (and card version, data options); rows: one '
             'configuration; cells: mean ± std over its runs (folds × seeds). The runs of each cell are listed '
             'under <a href="#cells">Where each number comes from</a>; each run\'s facts under '
             '<a href="#provenance">Provenance</a>.</p>']
    for metric in leaderboard_metrics(df):
        subset = metric.rpartition(".")[0]
        parts.append(f"<h3>{esc(metric)}: {esc(SUBSET_TEXT.get(subset, subset))}</h3>")
        text = render(aggregate(df, metric), "html", metric,
                      references=published_references(metric) if references else ())
        table, _, legend = text.partition("\n<p>")
        parts.append(table + ('\n<div class="legend"><p>' + legend + "</div>" if legend else ""))
    parts.append(cells_section(df))
    return "\n".join(parts)


def cells_section(df: pd.DataFrame) -> str:
    """Which runs make each leaderboard cell: row, column, configuration identity, the runs (fold
    and seed, linked to their provenance)."""
    from gazebench.leaderboard_rows import column_names, row_names

    rows, _ = row_names(df)
    frame = df.assign(row=rows, column=column_names(df))
    known = {str(u) for u in frame["unit_id"]}
    body = []
    for (row, column), runs in frame.groupby(["row", "column"], sort=True):
        runs = runs.sort_values(["fold", "seed"])
        links = ", ".join(unit_link(r.unit_id, known, f"fold {r.fold} seed {r.seed}") for r in runs.itertuples())
        body.append([esc(row), esc(column), "<code>" + esc(" ".join(sorted(set(runs["identity"])))) + "</code>",
                     str(len(runs)), links])
    return ('<h3 id="cells">Where each number comes from</h3>\n'
            + html_table(["row", "column", "identity", "runs", "fold, seed (provenance)"], body, "small"))


# --- analyses -------------------------------------------------------------------------------------

def analyses_section(entries: list[AnalysisEntry], results: Path, known: set[str]) -> str:
    head = '<h2 id="analyses">Analyses</h2>'
    if not entries:
        return (head + f'\n<p class="note">No analyses under {esc(results / "analysis")} '
                "(<code>gazebench analyze KIND</code> writes them there).</p>")
    return head + "\n" + "\n".join(analysis_block(entry, known) for entry in entries)


def analysis_block(entry: AnalysisEntry, known: set[str]) -> str:
    """One analysis: title, what made it, its notes, its table and its figures."""
    m = entry.manifest
    kind = str(m.get("kind") or entry.folder.name)
    parts = [f'<div class="analysis" id="analysis-{esc(entry.folder.name)}">',
             f"<h3>{esc(m.get('title') or kind)} <small>({esc(kind)})</small></h3>",
             analysis_meta(entry, known)]
    notes = m.get("notes") or []
    if notes:
        parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    parts.extend(figure(entry.folder, name) for name in m.get("figures") or [])
    parts.append(analysis_table(entry))
    parts.append("</div>")
    return "\n".join(p for p in parts if p)


def analysis_meta(entry: AnalysisEntry, known: set[str]) -> str:
    m = entry.manifest
    command = m.get("command")
    command = shlex.join(map(str, command)) if isinstance(command, list) else command
    units = m.get("unit_ids") or []
    names = m.get("run_names") if len(m.get("run_names") or []) == len(units) else units
    runs = (", ".join(unit_link(u, known, f"{n} ({u})" if n != u else None) for u, n in zip(units, names)) if units
            else ", ".join(esc(r) for r in m.get("runs") or []) or "—")
    options = m.get("options") or {}
    made = f"made {m.get('created_at') or 'at an unrecorded time'} · {environment_text(m.get('environment'))}"
    lines = [f"command: <code>{esc(command or 'not recorded')}</code>",
             f"runs: {runs}",
             "options: " + (esc(", ".join(f"{k}={v}" for k, v in options.items())) if options else "defaults"),
             f"{esc(made)} · {esc(entry.folder)}"]
    return "\n".join(f'<p class="meta">{line}</p>' for line in lines)


def analysis_table(entry: AnalysisEntry) -> str:
    """The analysis table (its CSV), numbers to 4 significant digits; a long table is folded
    away and cut at :data:`MAX_TABLE_ROWS` rows."""
    name = entry.manifest.get("table")
    if not name:
        return ""
    path = entry.folder / Path(str(name)).name
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        return f'<p class="warn">table {esc(path)} could not be read: {esc(exc)}</p>'
    n, more = len(table), len(table) - MAX_TABLE_ROWS
    rows = [[esc(cell_text(v)) for v in row] for row in table.head(MAX_TABLE_ROWS).itertuples(index=False)]
    text = html_table([esc(c) for c in table.columns], rows, "small")
    text += f'<p class="note">… {more:,} more rows in {esc(path)}</p>' if more > 0 else ""
    return (f"<details{' open' if n <= OPEN_TABLE_ROWS else ''}><summary>table: {n:,} rows ({esc(path.name)})"
            f"</summary>\n{text}</details>")


def cell_text(value: Any) -> str:
    if isinstance(value, float):
        return "" if pd.isna(value) else format(value, ".4g")
    return str(value)


def figure(folder: Path, name: Any) -> str:
    """A figure inlined as a data: URI (PNG, SVG or JPEG inside the analysis folder)."""
    path = folder / Path(str(name)).name
    if path.suffix.lower() not in IMAGE_TYPES:
        return f'<p class="warn">figure {esc(name)}: not an image type the page inlines</p>'
    try:
        uri = data_uri(path)
    except OSError as exc:
        return f'<p class="warn">figure {esc(path)} could not be read: {esc(exc.strerror or exc)}</p>'
    return (f'<figure><img src="{uri}" alt="{esc(path.name)}">'
            f"<figcaption>{esc(path.name)}</figcaption></figure>")


# --- provenance -----------------------------------------------------------------------------------

PROVENANCE_HEADERS = ["unit", "row", "dataset", "fold", "seed", "identity", "protocol", "test population",
                      "weights", "environment", "created", "details"]


def provenance_section(df: pd.DataFrame, records: dict[str, dict[str, Any]]) -> str:
    head = ('<h2 id="provenance">Provenance</h2>\n<p class="note">One line per run that counts in the tables. '
            "A record does not store the command line: its unit id (<code>gazebench run ... --dry-run</code> "
            "shows it as done) and its configuration identity (the hash of everything that changes the "
            "number) say what ran; the test population's SHA-256 is over its sorted sample ids.</p>")
    if df.empty:
        return head
    from gazebench.leaderboard_rows import row_names

    ordered = df.assign(row=row_names(df)[0]).sort_values(["dataset", "row", "fold", "seed", "path"], kind="stable")
    rows = [provenance_row(records[path], row) + [details(records[path], path)]
            for path, row in zip(ordered["path"], ordered["row"])]
    return head + "\n" + html_table(PROVENANCE_HEADERS, rows, "small")


def provenance_row(record: dict[str, Any], row: str) -> list[str]:
    """A run's facts; ``row``: the leaderboard row it counts in."""
    dataset = record.get("dataset") or {}
    unit = esc(record.get("unit_id"))
    return [
        f'<span id="{anchor(record.get("unit_id"))}"><code>{unit}</code></span>',
        esc(row),
        esc(f"{dataset.get('name')} (card v{dataset.get('card_version')})"),
        esc(record.get("fold")), esc(record.get("seed")),
        f"<code>{esc((record.get('identity') or {}).get('hash'))}</code>",
        esc((record.get("protocol") or {}).get("name")),
        esc(population_text(record.get("population") or {})),
        esc(weights_text(record.get("weights"))),
        esc(environment_text(record.get("environment"))),
        esc(record.get("created_at")),
    ]


def details(record: dict[str, Any], path: str) -> str:
    """The configuration, protocol source, selection and files of a run, folded away."""
    protocol, selection = record.get("protocol") or {}, record.get("selection") or {}
    facts = {
        "result": path,
        "benchmark": record.get("benchmark"),
        "protocol source": protocol.get("source"),
        "selection": f"{protocol.get('selection') or selection.get('rule')}; chosen epoch "
                     f"{selection.get('chosen_epoch')} of {selection.get('epochs_run')}",
        **{f"artifacts.{k}": v for k, v in (record.get("artifacts") or {}).items()},
    }
    lines = "\n".join(f"{k}: {v}" for k, v in facts.items() if v not in (None, ""))
    config = json.dumps((record.get("identity") or {}).get("config"), indent=1, sort_keys=True, default=str)
    return (f"<details><summary>configuration</summary><pre>{esc(lines)}</pre>"
            f"<pre>{esc(config)}</pre></details>")


# --- the page -------------------------------------------------------------------------------------

def header(data: ReportData, title: str, command: list[str] | None) -> str:
    made = datetime.now(timezone.utc).isoformat(timespec="seconds")
    n_runs = len(data.runs)
    parts = [f"<h1>{esc(title)}</h1>",
             f'<p class="meta">{n_runs} run{"s" if n_runs != 1 else ""} and {len(data.analyses)} '
             f"analys{'es' if len(data.analyses) != 1 else 'is'} under {esc(data.results)}; made {esc(made)} by "
             f"gazebench {esc(gazebench.__version__)}"
             + (f" with <code>{esc(shlex.join(command))}</code>" if command else "") + "</p>",
             '<nav><a href="#leaderboard">Leaderboard</a><a href="#cells">Cells</a>'
             '<a href="#analyses">Analyses</a><a href="#provenance">Provenance</a></nav>']
    if data.notes:
        parts.append('<details><summary class="warn">' + f"{len(data.notes)} note"
                     + ("s" if len(data.notes) != 1 else "") + " on files skipped or set aside</summary><ul>"
                     + "".join(f"<li>{esc(n)}</li>" for n in data.notes) + "</ul></details>")
    return "\n".join(parts)


def render_report(data: ReportData, title: str | None = None, command: list[str] | None = None,
                  references: bool = True) -> str:
    title = title or f"gazebench report: {data.results}"
    known = {str(u) for u in data.runs.get("unit_id", [])}
    body = [header(data, title, command), leaderboard_section(data.runs, references),
            analyses_section(data.analyses, data.results, known), provenance_section(data.runs, data.records)]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


_TAG = re.compile(r"<[A-Za-z][^>]*>")
_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.IGNORECASE | re.DOTALL)
_ATTRIBUTE = re.compile(r"""\b(?:src|href|srcset|action|formaction|poster|data|background)\s*=\s*["']?([^"'\s>]+)""",
                        re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(\s*["']?([^"')\s]+)|@import\s+["']?([^"';\s]+)""", re.IGNORECASE)


def external_references(text: str) -> list[str]:
    """Every reference in an HTML page's tags and style sheets that points outside the page:
    anything but a ``data:`` URI or a ``#fragment``.  (Text content is escaped, so it holds no tags.)"""
    tags = _TAG.findall(text)
    refs = [ref for tag in tags for ref in _ATTRIBUTE.findall(tag)]
    refs += [a or b for css in tags + _STYLE.findall(text) for a, b in _CSS_URL.findall(css)]
    return [r for r in refs if not (r.startswith("#") or r.lower().startswith("data:"))]


def write_report(results: str | Path, out: str | Path, title: str | None = None, benchmark: str | None = None,
                 command: list[str] | None = None, references: bool = True) -> tuple[Path, ReportData]:
    """Collect, render and write the page atomically; returns its path and what it was made from.
    ``references``: show the published reference rows beside the cross-dataset columns."""
    data = collect(results, benchmark)
    page = render_report(data, title, command, references)
    outside = external_references(page)
    if outside:  # the page must open offline; a reference out of it is a bug here, not the user's
        raise RuntimeError(f"the report would refer outside itself: {', '.join(outside[:5])}")
    return atomic_write(out, page), data
