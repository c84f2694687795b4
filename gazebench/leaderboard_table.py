"""The leaderboard laid out and rendered from the cells of :func:`gazebench.leaderboard.aggregate`.

A cell is *clean* when it is complete (the protocol's folds, equal seeds), its population is in
order and its records agree with their predictions files.  Only clean cells can be bold, and the
Mean column (tables with more than one column) averages a row's cells only when every one of them
is clean.  A cell that is not clean carries ``[k]`` (folds or seeds), ``†[k]`` (test population)
and/or ``‡[k]`` (a record whose metric its predictions file does not give), explained by footnote k.  Rows are
sorted best first: rows with a Mean by their Mean, then the others.

*Reference rows* are published numbers (:mod:`gazebench.published.references`) shown beside a
cross-dataset column whose training datasets and test dataset they match, below the measured rows
after a separator row, named ``ref: METHOD — SOURCE [Rk]`` after their source's note ``[Rk]`` (paper,
table, URL, populations, backbone, adaptation).  They are never bold, never in the Mean, never in the
best-cell choice or the ordering of the measured rows; in the CSV and JSON forms they are records
with ``mark: ref`` and a ``reference`` field (the CSV has that column only when the table has
reference rows).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from gazebench.core.errors import UserValueError

if TYPE_CHECKING:
    from gazebench.published.references import Reference

FORMATS = ("github", "latex", "csv", "html", "json")
#: metrics where a larger value is better (everything else is an error: smaller is better)
HIGHER_IS_BETTER = ("sigma_error_pearson", "sigma_error_spearman")
#: one record per cell in the csv and json forms
LONG_COLUMNS = [
    "row",
    "label",
    "column",
    "dataset",
    "card_version",
    "protocol",
    "identity",
    "metric",
    "mean",
    "std",
    "n",
    "folds",
    "seeds",
    "complete",
    "missing",
    "populations",
    "population_complete",
    "population_note",
    "record_note",
    "mark",
]
DAGGER = "†"
#: a cell with a record whose metric disagrees with its predictions file (gazebench.results.store.check_predictions)
DOUBLE_DAGGER = "‡"
#: the start of a published reference row's name, and its mark in the long forms
REFERENCE = "ref"
#: the model-column text of the row that separates the measured rows from the reference rows
REFERENCE_SEPARATOR = "published, not measured here:"


def higher_is_better(metric: str) -> bool:
    return metric.rpartition(".")[2] in HIGHER_IS_BETTER


def record_ok(cell: dict[str, Any]) -> bool:
    return bool(cell.get("record_ok", True))  # cells of frames that were not checked count as agreeing


def clean(cell: dict[str, Any]) -> bool:
    return bool(cell["complete"]) and bool(cell["population_ok"]) and record_ok(cell)


def cell_marks(cell: dict[str, Any]) -> str:
    """The symbols of a cell's footnotes that are not plain ``[k]``: ``†`` and/or ``‡``."""
    return (DAGGER if not cell["population_ok"] else "") + (DOUBLE_DAGGER if not record_ok(cell) else "")


@dataclass
class Table:
    """The leaderboard laid out: ``rows`` of (row name, {column: cell}), the Mean per row (rows
    clean in every column only), best values, numbered footnotes ``(symbol, text)`` and each
    marked cell's footnote marks ``(symbol, number)``; symbol: "" (folds or seeds), ``†`` or ``‡``."""

    metric: str
    columns: list[str]
    rows: list[tuple[str, dict[str, dict[str, Any]]]]
    row_mean: dict[str, float]
    best: dict[str, float]
    footnotes: list[tuple[str, str]] = field(default_factory=list)
    marks: dict[tuple[str, str], list[tuple[str, int]]] = field(default_factory=dict)
    #: published reference rows: (row name, {column: Reference}), after the measured rows
    reference_rows: list[tuple[str, dict[str, Reference]]] = field(default_factory=list)
    #: the source notes [R1], [R2], ... the reference rows name
    reference_notes: list[str] = field(default_factory=list)

    @property
    def has_mean(self) -> bool:
        return len(self.columns) > 1

    @property
    def has_dagger(self) -> bool:
        return any(symbol == DAGGER for symbol, _ in self.footnotes)

    @property
    def has_double_dagger(self) -> bool:
        return any(symbol == DOUBLE_DAGGER for symbol, _ in self.footnotes)


def layout(agg: pd.DataFrame, metric: str = "all.mean", references: Sequence[Reference] = ()) -> Table:
    """The table of ``agg``'s cells; ``references``: published numbers, shown as reference rows beside
    the cross-dataset columns they match (they change nothing of the measured rows)."""
    hib = higher_is_better(metric)
    sign = -1.0 if hib else 1.0
    columns = sorted(agg["column"].unique(), key=lambda c: (c.split(" (")[0], c)) if len(agg) else []
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for rec in agg.to_dict("records"):
        cells.setdefault(rec["row"], {})[rec["column"]] = rec
    row_mean = {
        row: float(np.mean([c[col]["mean"] for col in columns]))
        for row, c in cells.items()
        if all(col in c and clean(c[col]) for col in columns)
    }

    def order(row: str) -> tuple[int, float, str]:
        if row in row_mean:
            return (0, sign * row_mean[row], row)
        present = [cells[row][c]["mean"] for c in columns if c in cells[row]]
        return (1, sign * float(np.mean(present)), row)

    rows = sorted(cells, key=order)
    best = {}
    for col in columns:
        values = [cells[r][col]["mean"] for r in rows if col in cells[r] and clean(cells[r][col])]
        if values:
            best[col] = max(values) if hib else min(values)
    if row_mean and len(columns) > 1:
        best["Mean"] = max(row_mean.values()) if hib else min(row_mean.values())
    table = Table(metric, columns, [(r, cells[r]) for r in rows], row_mean, best)
    for r in rows:
        for col in columns:
            if col in cells[r]:
                _footnote(table, r, col, cells[r][col])
    _add_references(table, agg, references)
    return table


def _add_references(table: Table, agg: pd.DataFrame, references: Sequence[Reference]) -> None:
    """The reference rows of the columns trained on some datasets and tested on another (a cell's
    ``training`` and ``dataset``) that a published number matches; in the reference files' order,
    one note per source."""
    keys: dict[str, tuple[tuple[str, ...], str]] = {}
    for rec in agg.to_dict("records") if references else []:
        keys.setdefault(rec["column"], (tuple(rec.get("training") or ()), str(rec["dataset"])))
    grouped: dict[tuple[str, str], dict[str, Reference]] = {}
    for ref in references:
        for col in table.columns:
            training, test = keys.get(col, ((), ""))
            if training and ref.matches(training, test):
                grouped.setdefault((ref.source, ref.method), {})[col] = ref
    sources: dict[str, list[Reference]] = {}
    for (source, _), by_column in grouped.items():
        sources.setdefault(source, []).extend(by_column.values())
    number = {source: i for i, source in enumerate(sources, 1)}
    table.reference_notes = [_reference_note(refs) for refs in sources.values()]
    table.reference_rows = [
        (f"{REFERENCE}: {method} — {next(iter(cells.values())).short} [R{number[source]}]", cells)
        for (source, method), cells in grouped.items()
    ]


def _reference_note(refs: list[Reference]) -> str:
    """One source's note: paper, table, URL, the populations of the numbers shown, and each row's
    backbone and adaptation."""
    first = refs[0]
    methods = list(dict.fromkeys(r.method for r in refs))

    def populations(texts: dict[str, list[str]]) -> str:
        return "; ".join(
            text + ("" if len(rows) == len(methods) else f" ({', '.join(rows)})") for text, rows in texts.items()
        )

    trained: dict[str, list[str]] = {}
    tested: dict[str, list[str]] = {}
    for r in refs:
        for texts, text in ((trained, r.training_population), (tested, f"{r.test}: {r.test_population}")):
            if r.method not in texts.setdefault(text, []):
                texts[text].append(r.method)
    rows = "; ".join(
        f"{r.method}: backbone {r.backbone}, adaptation {r.adaptation}" for r in {r.method: r for r in refs}.values()
    )
    return (
        f"{first.short}: {first.paper} ({first.venue}); {first.table}; {first.url}. "
        f"Trained on {populations(trained)}. Tested on {populations(tested)}. Rows: {rows}."
    )


def _footnote(table: Table, row: str, col: str, cell: dict[str, Any]) -> None:
    notes = []
    if not cell["complete"]:
        notes.append(("", f"{row}, {col}: {cell['missing']}; averaged over the runs it has."))
    if not cell["population_ok"]:
        notes.append((DAGGER, f"{row}, {col}: {cell['population_note']}."))
    if not record_ok(cell):
        notes.append((DOUBLE_DAGGER, f"{row}, {col}: {cell['record_note']}."))
    for symbol, text in notes:
        table.footnotes.append((symbol, text))
        table.marks.setdefault((row, col), []).append((symbol, len(table.footnotes)))


def _is_best(value: float, best: float | None) -> bool:
    return best is not None and abs(value - best) <= 1e-9 * max(1.0, abs(best))


def _number_text(cell: dict[str, Any]) -> str:
    if cell["n"] > 1 and not math.isnan(cell["std"]):
        return f"{cell['mean']:.2f} ± {cell['std']:.2f} (n={cell['n']})"
    return f"{cell['mean']:.2f} (n={cell['n']})"


_STYLES = {
    "github": {
        "bold": "**{}**",
        "escape": lambda s: s.replace("|", "\\|"),
        "pm": "±",
        "none": "—",
        "fmt": "github",
        "marks": {DAGGER: DAGGER, DOUBLE_DAGGER: DOUBLE_DAGGER},
    },
    "html": {
        "bold": "<b>{}</b>",
        "escape": html.escape,
        "pm": "±",
        "none": "—",
        "fmt": "unsafehtml",
        "marks": {DAGGER: DAGGER, DOUBLE_DAGGER: DOUBLE_DAGGER},
    },
    "latex": {
        "bold": "\\textbf{{{}}}",
        "escape": lambda s: _latex_escape(s),
        "pm": "$\\pm$",
        "none": "--",
        "fmt": "latex_raw",
        "marks": {DAGGER: "\\textdagger{}", DOUBLE_DAGGER: "\\textdaggerdbl{}"},
    },
}


#: the non-ASCII characters of gazebench's own column names and cells ("gaze360 → rtgene", "±", "—") as
#: LaTeX commands: LaTeX's default fonts have no "→" and stop with "Unicode character not set up"
_LATEX_SYMBOLS = {
    "→": "$\\rightarrow$",
    "±": "$\\pm$",
    "×": "$\\times$",
    "°": "$^\\circ$",
    "†": "\\textdagger{}",
    "—": "---",
    "–": "--",
    "…": "\\ldots{}",
    "≤": "$\\leq$",
    "≥": "$\\geq$",
}


def _latex_escape(text: str) -> str:
    out = text.replace("\\", "\\textbackslash{}")
    for ch in "&%$#_{}":
        out = out.replace(ch, "\\" + ch)
    out = out.replace("~", "\\textasciitilde{}").replace("^", "\\textasciicircum{}")
    for ch, command in _LATEX_SYMBOLS.items():
        out = out.replace(ch, command)
    return out


def _legend(table: Table) -> list[str]:
    hib = higher_is_better(table.metric)
    what = "higher is better" if hib else "angular error in degrees, lower is better"
    lines = [
        f"{table.metric} ({what}): mean ± std over runs (folds × seeds) of one configuration, n = runs. "
        "Bold: best unmarked cell per column."
        + (" Mean: average over the columns, only for rows unmarked in every column." if table.has_mean else "")
        + " Sorted best first."
        + (
            f" {DAGGER}: runs that fell short of the protocol's full population (the note says how), or seeds "
            "of one fold tested on different populations; never bold, never in the Mean."
            if table.has_dagger
            else ""
        )
        + (
            f" {DOUBLE_DAGGER}: a record whose all.mean its predictions file does not give (edited by hand, or "
            "the file of another run; the note names both files); never bold, never in the Mean."
            if table.has_double_dagger
            else ""
        )
    ]
    lines += [f"{symbol}[{i}] {note}" for i, (symbol, note) in enumerate(table.footnotes, 1)]
    if table.reference_rows:
        lines.append(
            f"{REFERENCE}: published numbers, not measured by gazebench: the source's own {table.metric} on "
            "the populations its note [Rk] states (which may differ from the column's); never bold, never "
            "in the Mean, the best cell or the ordering of the measured rows."
        )
        lines += [f"[R{i}] {note}" for i, note in enumerate(table.reference_notes, 1)]
    return lines


def _cell_text(table: Table, row: str, col: str, cell: dict[str, Any] | None, style: dict[str, Any]) -> str:
    if cell is None:
        return style["none"]
    text = style["escape"](_number_text(cell)).replace("±", style["pm"])
    if clean(cell) and _is_best(cell["mean"], table.best.get(col)):
        text = style["bold"].format(text)
    marks = table.marks.get((row, col), [])
    return text + "".join(f" {style['marks'].get(symbol, '')}[{n}]" for symbol, n in marks)


def _mean_text(table: Table, row: str, style: dict[str, Any]) -> str:
    if row not in table.row_mean:
        return style["none"]
    text = f"{table.row_mean[row]:.2f}"
    return style["bold"].format(text) if _is_best(table.row_mean[row], table.best.get("Mean")) else text


def _render_table(table: Table, fmt: str) -> str:
    style = _STYLES[fmt]
    headers = ["model"] + [style["escape"](c) for c in table.columns] + (["Mean"] if table.has_mean else [])
    body = [
        [style["escape"](row)]
        + [_cell_text(table, row, col, cells.get(col), style) for col in table.columns]
        + ([_mean_text(table, row, style)] if table.has_mean else [])
        for row, cells in table.rows
    ]
    if table.reference_rows:
        body.append([style["escape"](REFERENCE_SEPARATOR)] + [""] * (len(headers) - 1))
        body += [
            [style["escape"](row)]
            + [style["escape"](cells[col].text) if col in cells else style["none"] for col in table.columns]
            + ([style["none"]] if table.has_mean else [])
            for row, cells in table.reference_rows
        ]
    colalign = ["left"] + ["right"] * (len(headers) - 1)
    text = tabulate(body, headers=headers, tablefmt=style["fmt"], disable_numparse=True, colalign=colalign)
    legend = _legend(table)
    if fmt == "html":
        return text + "\n" + "\n".join(f"<p>{html.escape(line)}</p>" for line in legend)
    if fmt == "latex":
        return text + "\n" + "\n".join(f"% {line}" for line in legend)
    return text + "\n\n" + "\n".join(legend)


def long_form(
    agg: pd.DataFrame, metric: str = "all.mean", references: Sequence[Reference] = ()
) -> list[dict[str, Any]]:
    """The cells in table order (best row first) as plain records, for CSV and JSON; then the
    reference rows' numbers (``mark: ref``, with a ``reference`` field citing the source)."""
    table = layout(agg, metric, references)
    out = []
    for row, cells in table.rows:
        for col in table.columns:
            if col in cells:
                c = cells[col]
                out.append(
                    {
                        "row": row,
                        "label": c["label"],
                        "column": col,
                        "dataset": c["dataset"],
                        "card_version": c["card_version"],
                        "protocol": c["protocol"],
                        "identity": c["identity"],
                        "metric": metric,
                        "mean": round(c["mean"], 6),
                        "std": None if math.isnan(c["std"]) else round(c["std"], 6),
                        "n": c["n"],
                        "folds": list(c["folds"]),
                        "seeds": list(c["seeds"]),
                        "complete": bool(c["complete"]),
                        "missing": c["missing"],
                        "populations": list(c["populations"]),
                        "population_complete": bool(c["population_ok"]),
                        "population_note": c["population_note"],
                        "record_note": c.get("record_note", ""),
                        "mark": cell_marks(c),
                    }
                )
    for row, cells in table.reference_rows:
        for col in table.columns:
            if col in cells:
                out.append(_reference_record(row, col, cells[col], metric))
    return out


def _reference_record(row: str, col: str, ref: Reference, metric: str) -> dict[str, Any]:
    """A published number as a long-form record: what does not apply to it (folds, seeds, identity) is empty."""
    return {
        "row": row,
        "label": ref.method,
        "column": col,
        "dataset": ref.test,
        "card_version": None,
        "protocol": None,
        "identity": None,
        "metric": metric,
        "mean": ref.value,
        "std": None,
        "n": None,
        "folds": [],
        "seeds": [],
        "complete": None,
        "missing": "",
        "populations": [],
        "population_complete": None,
        "population_note": f"trained on {ref.training_population}; tested on {ref.test}: {ref.test_population}",
        "record_note": "",
        "mark": REFERENCE,
        "reference": f"{ref.short}: {ref.paper} ({ref.venue}); {ref.table}; {ref.url}; published as {ref.text}; "
        f"backbone {ref.backbone}; adaptation {ref.adaptation}",
    }


def render(
    agg: pd.DataFrame, fmt: str = "github", metric: str = "all.mean", references: Sequence[Reference] = ()
) -> str:
    """The leaderboard as text: ``github`` (Markdown), ``latex``, ``html`` (tables with bold best
    values and footnotes), or ``csv`` / ``json`` (long form, one record per cell).  ``references``:
    published numbers shown as reference rows beside the cross-dataset columns they match."""
    if fmt not in FORMATS:
        raise UserValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if fmt in ("csv", "json"):
        records = long_form(agg, metric, references)
        if fmt == "json":
            return json.dumps(records, indent=2, ensure_ascii=False)
        referenced = any(r["mark"] == REFERENCE for r in records)
        flat = pd.DataFrame(records, columns=LONG_COLUMNS + (["reference"] if referenced else []))
        flat["n"] = flat["n"].astype("Int64")  # a reference record has no n; the others stay integers
        for key in ("folds", "seeds", "populations"):
            flat[key] = flat[key].map(lambda items: " ".join(map(str, items)))
        return flat.to_csv(index=False, float_format="%.4f", lineterminator="\n").rstrip("\n")
    if agg.empty:
        return "(no results)"
    return _render_table(layout(agg, metric, references), fmt)
