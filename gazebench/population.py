"""Which test samples a result is about: its *population*.

A result is scored on a set of test samples.  Two numbers are comparable only when they are
about the same set, so every record names its population, counts it and hashes it (SHA-256 of the
sorted sample ids, one per line), and says whether it is the protocol's *full* population.  It is
not when

- a subject the protocol names for a split has no samples under the root (a missing folder, an
  empty label file, a partial download);
- an option left labelled samples out while indexing (RT-GENE's ``missing_images=skip``);
- unreadable test samples were skipped (``on_bad_sample=skip``);
- the split, subset or per-subject sizes differ from what the dataset's release publishes (the
  card's ``published_sizes``; :func:`gazebench.datasets.published.published_shortfall`).

Each of these is one line of the record's ``population.shortfall``; the leaderboard marks such a
cell and never counts it as complete (docs/leaderboards.md).
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any, Iterable

import numpy as np

from gazebench.geometry import subset_masks


def population_name(dataset: str, fold: str, split: str = "test") -> str:
    """``rtgene/fold-0/test``; a fixed split (fold ``default``) is ``gaze360/test``."""
    return f"{dataset}/{split}" if fold == "default" else f"{dataset}/fold-{fold}/{split}"


def ids_sha256(ids: Iterable[Any]) -> str:
    """SHA-256 (hex) of the sorted ids, one per line: equal exactly when the sets are equal."""
    text = "\n".join(sorted(str(i) for i in ids))
    return hashlib.sha256(text.encode()).hexdigest()


def missing_subjects(named: dict[str, list[str]], present: dict[str, list[str]],
                     released: list[str] | None = None) -> list[str]:
    """One line per split whose named subjects (those of the release, when it lists its own) are
    not all present."""
    out = []
    for split in ("test", "val", "train"):
        wanted = [s for s in named.get(split, []) if released is None or s in released]
        gone = [s for s in wanted if s not in set(present.get(split, []))]
        if gone:
            many = len(gone) > 1
            out.append(f"{split} subject{'s' if many else ''} {', '.join(gone)} named by the protocol "
                       f"{'have' if many else 'has'} no samples under the root")
    return out


def left_out_lines(left_out: dict[str, int], subjects: dict[str, list[str]], option: str) -> list[str]:
    """Samples an option dropped while indexing, for the subjects of any split."""
    lines = []
    for split in ("test", "val", "train"):
        counts = {s: left_out[s] for s in subjects.get(split, []) if left_out.get(s)}
        if counts:
            total = sum(counts.values())
            lines.append(f"{total} labelled {split} samples left out while indexing ({option}): "
                         + ", ".join(f"{s} {n}" for s, n in sorted(counts.items())))
    return lines


def shortfall(setup: Any, test_ids: np.ndarray) -> list[str]:
    """Why ``setup``'s test population is not the protocol's full one (empty when it is)."""
    from gazebench.datasets.published import population_counts, published_shortfall

    ds, unit = setup.dataset, setup.unit
    rule = unit.card.split_rule(unit.fold, ds.options)
    lines = [] if rule.from_index else missing_subjects(rule.named(), setup.subjects, ds.released_subjects())
    lines += left_out_lines(ds.left_out, setup.subjects, _left_out_option(ds))
    skipped = len(set(setup.skipped["test"]))
    if skipped:
        lines.append(f"{skipped} unreadable test samples skipped (on_bad_sample=skip)")
    counts = {**population_counts(ds, setup.positions["test"], "test"),
              **population_counts(ds, setup.positions["val"], "val", subjects=False)}
    lines += published_shortfall(unit.card, ds, counts)
    return lines


def _left_out_option(ds: Any) -> str:
    opts = {k: v for k, v in ds.options.items() if v == "skip"}
    return ", ".join(f"{k}={v}" for k, v in opts.items()) or "an adapter option"


def describe(setup: Any, test_rows: np.ndarray) -> dict[str, Any]:
    """The record's ``population``: name, count, SHA-256 of the sorted ids, the count of each
    evaluation subset (``front180``, ...), complete, shortfall."""
    ds = setup.dataset
    ids = ds.index["id"].to_numpy()[test_rows]
    lines = shortfall(setup, ids)
    masks = subset_masks(ds.gaze(test_rows)) if ds.subsets and len(test_rows) else {}
    return {
        "name": population_name(ds.name, setup.unit.fold),
        "count": int(len(ids)),
        "sha256": ids_sha256(ids),
        "subsets": {name: int(masks[name].sum()) for name in ds.subsets if name in masks},
        "complete": not lines,
        "shortfall": lines,
    }


def warn(population: dict[str, Any], protocol: str) -> None:
    """Say at the end of a run that its test population is not the protocol's full one."""
    if population["complete"]:
        return
    print(f"warning: the test population {population['name']} ({population['count']} samples) is not protocol "
          f"{protocol}'s full population: " + "; ".join(population["shortfall"])
          + ". The leaderboard marks this result (†).", file=sys.stderr)
