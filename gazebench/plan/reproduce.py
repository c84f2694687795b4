"""A published checkpoint evaluated under its paper's protocol and population, and its numbers
set against the published ones (``gazebench reproduce``).

The checkpoint runs through the same path as every unit (:mod:`gazebench.plan.planning`,
:func:`gazebench.train.runner.run_unit`): a unit of the card's model on the card's dataset and protocol
with ``init=published:NAME``, ``weights_file=FILE`` and ``epochs=0``, so the model is only
evaluated.  Its record says ``selection: published checkpoint``, names the file's SHA-256, and
lands in the leaderboard as its own row, ``NAME (published)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gazebench.core.options import ConfigError

if TYPE_CHECKING:
    from gazebench.results.record_model import ResultRecord


def reproduce_settings(card: Any, weights: str | Path) -> dict[str, Any]:
    """The ``--set`` values that make a unit evaluate ``card``'s checkpoint as it was released."""
    settings: dict[str, Any] = {"init": card.tag, "epochs": 0, "weights_file": str(Path(weights).expanduser())}
    if card.input.get("size"):
        settings["image_size"] = int(card.input["size"])
    return settings


def check_reproducible(card: Any, allow_training_data: bool = False) -> None:
    """The card names a dataset gazebench reads and a split the checkpoint never saw (or the
    caller accepts that it did); else one line saying why not."""
    rep = card.reproduce
    if not rep.get("dataset"):
        population = " ".join(str(rep.get("population", "")).split())
        raise ConfigError(f"{card.name} cannot be reproduced here: its published numbers are on {population}")
    overlap = card.training_overlap(rep["dataset"], rep.get("split", "test"))
    if overlap and not allow_training_data:
        raise ConfigError(
            f"refusing to evaluate {card.name} on data it was trained on: {overlap} "
            "(--allow-training-data evaluates it anyway and labels the row so)"
        )


def row_label(card: Any, seen_in_training: bool) -> str:
    return f"{card.name} (published{', trained on this split' if seen_in_training else ''})"


def _mean(record: ResultRecord, subset: str) -> float | None:
    summary = record.metrics.get(subset)
    return None if summary is None else summary.mean


def _deg(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def comparison_rows(card: Any, record: ResultRecord) -> list[list[str]]:
    """One row per published number: subset, population, published, reproduced, difference.  A
    number on another dataset than the record's (its card's ``dataset:``) gets no measured value.  A
    number whose subset no source states (``subset: unknown``) gets the value measured on each
    candidate subset and no difference: a difference against a number of unknown definition is
    not a reproduction."""
    rows = []
    for number in card.published:
        want = number.value
        elsewhere = number.dataset and number.dataset != record.dataset.name
        if elsewhere:  # another test set (UniGaze's EYEDIAP numbers beside an ETH-XGaze run): nothing to set beside it
            rows.append(
                [
                    number.subset,
                    number.population,
                    "not stated" if want is None else f"{want:.2f}",
                    f"not measured (on {number.dataset})",
                    "none: another test set",
                ]
            )
            continue
        if not number.subset_known:
            measured = ", ".join(f"{_deg(_mean(record, c))} ({c})" for c in number.candidates)
            rows.append(
                [
                    " or ".join(number.candidates),
                    number.population,
                    "not stated" if want is None else f"{want:.2f}",
                    measured,
                    "none: subset not stated",
                ]
            )
            continue
        got = _mean(record, number.subset)
        rows.append(
            [
                number.subset,
                number.population,
                "not stated" if want is None else f"{want:.2f}",
                _deg(got),
                "—" if got is None or want is None else f"{got - want:+.2f}",
            ]
        )
    return rows


def unknown_subset_notes(card: Any) -> list[str]:
    """Why a row gives no difference: one line per published number whose subset is unknown."""
    out = []
    for n in card.published:
        if not n.subset_known:
            value = "" if n.value is None else f" {n.value:g}°"
            out.append(
                f'no difference for "{n.population}"{value}: no source read says which subset it is on, '
                f"so it is measured on each candidate ({', '.join(n.candidates)}); why: subset_source in "
                f"{card.path.name}"
            )
    return out


def comparison_table(card: Any, record: ResultRecord) -> str:
    from tabulate import tabulate

    pop = record.population
    state = "complete" if pop.complete else "NOT the protocol's full population: " + "; ".join(pop.shortfall)
    head = (
        f"{record.label} on {record.dataset.name} ({record.protocol.name}), population "
        f"{pop.name}: {pop.count:,} samples, {state}\nweights {record.weights.file} "
        f"(sha256 {record.weights.sha256})"
    )
    table = tabulate(
        comparison_rows(card, record),
        headers=["subset", "published population", "published (°)", "reproduced (°)", "difference"],
        tablefmt="github",
        disable_numparse=True,
    )
    notes = unknown_subset_notes(card)
    return head + "\n\n" + table + ("\n\n" + "\n".join(notes) if notes else "")
