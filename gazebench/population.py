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
  card's ``published_sizes``; :func:`gazebench.datasets.published_sizes.published_shortfall`).

Each of these is one line of the record's ``population.shortfall``; the leaderboard marks such a
cell and never counts it as complete (docs/leaderboards.md).

Populations inside the test set: an adapter may define some (``population_columns``: name ->
boolean index column, e.g. Gaze360's ``{"face": "face_detected"}``, the frames where the release's
face detector found a face).  Each is reported beside the full set with the same gaze subsets,
named ``<population>`` and ``<population>_<subset>`` (``face``, ``face_front180``, ``face_front20``,
``face_back``): :func:`subset_masks` gives them all, for the record's metrics, its subset counts and
``check-data``.  An adapter whose every sample belongs to one population (``population_tag()``,
e.g. Gaze360 in GazeHub's layout: ``face``) names it in the population: ``gaze360/test[face]``.

A population is what its source keeps: Gaze360's ``face`` is every test frame with a face box, as
GazeHub's script writes them (no window requirement).  The record's ``populations`` entry counts
the frames evaluated (``count``) beside the source's (``source_count``) and says, in ``complete``
and ``shortfall``, when they are not the same frames (:func:`population_coverage`): under
``centres=full_window`` a face frame without frames f-3..f+3 is not a centre frame, so not evaluated.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable
from typing import Any

import numpy as np

from gazebench.core import geometry


def population_name(dataset: str, fold: str, split: str = "test", tag: str | None = None) -> str:
    """``rtgene/fold-0/test``; a fixed split (fold ``default``) is ``gaze360/test``; a root whose
    samples all belong to one population ``tag`` is ``gaze360/test[face]``."""
    split = f"{split}[{tag}]" if tag else split
    return f"{dataset}/{split}" if fold == "default" else f"{dataset}/fold-{fold}/{split}"


def defined_populations(ds: Any) -> dict[str, str]:
    """The populations adapter ``ds`` defines inside its splits (``population_columns``), those whose
    boolean column its index has: name -> column."""
    return ds.population_column_names()


def population_tag(ds: Any) -> str | None:
    """The population every sample of ``ds`` belongs to (``population_tag()``), or None."""
    return ds.population_tag()


def subset_names(ds: Any) -> list[str]:
    """Every evaluation subset ``ds`` reports: its gaze subsets, then each defined population and
    that population's gaze subsets (``face``, ``face_front180``, ...)."""
    names = list(ds.subsets)
    for pop in defined_populations(ds):
        names += [pop] + [f"{pop}_{s}" for s in ds.subsets]
    return names


def subset_masks(ds: Any, rows: np.ndarray, gaze: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Boolean masks over index rows ``rows`` of every subset :func:`subset_names` lists; ``gaze``:
    the ground-truth vectors of those rows when the caller has them (default: the index's)."""
    rows = np.asarray(rows, dtype=np.int64)
    gaze = ds.gaze(rows) if gaze is None else np.asarray(gaze, dtype=np.float64)
    masks = geometry.subset_masks(gaze) if len(rows) else {s: np.zeros(0, bool) for s in geometry.SUBSETS}
    out = {name: masks[name] for name in ds.subsets}
    for pop, column in defined_populations(ds).items():
        inside = ds.index[column].to_numpy(bool)[rows]
        out[pop] = inside
        out.update({f"{pop}_{s}": inside & masks[s] for s in ds.subsets})
    return out


#: a predictions file's column flagging the samples of population ``<name>`` (1 inside, 0 outside)
POPULATION_COLUMN = "in_{}"


def population_flags(ds: Any, rows: np.ndarray) -> dict[str, np.ndarray]:
    """The predictions file's population columns for index rows ``rows``: ``in_<population>``."""
    return {
        POPULATION_COLUMN.format(pop): ds.index[column].to_numpy(bool)[np.asarray(rows, dtype=np.int64)].astype(int)
        for pop, column in defined_populations(ds).items()
    }


def table_subset_masks(table: Any) -> dict[str, np.ndarray]:
    """Every subset a predictions table can be cut to: the gaze subsets (from its true gaze
    columns), and for each ``in_<population>`` column the population and its gaze subsets
    (``face``, ``face_front180``, ...) -- the names :func:`subset_masks` gives the record's metrics."""
    masks = geometry.subset_masks(table[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64))
    out = dict(masks)
    prefix, suffix = POPULATION_COLUMN.split("{}")
    for column in table.columns:
        if column.startswith(prefix) and column.endswith(suffix) and len(column) > len(prefix) + len(suffix):
            pop = column[len(prefix) : len(column) - len(suffix)]
            inside = table[column].to_numpy().astype(bool)
            out[pop] = inside
            out.update({f"{pop}_{s}": inside & masks[s] for s in masks})
    return out


def population_of_subset(subset: str) -> str | None:
    """``face_front180`` / ``face`` -> ``face``; ``all`` and the gaze subsets -> None."""
    head = subset.split("_")[0]
    return None if subset == "all" or head in geometry.SUBSETS else head


def ids_sha256(ids: Iterable[Any]) -> str:
    """SHA-256 (hex) of the sorted ids, one per line: equal exactly when the sets are equal."""
    text = "\n".join(sorted(str(i) for i in ids))
    return hashlib.sha256(text.encode()).hexdigest()


def missing_subjects(
    named: dict[str, list[str]], present: dict[str, list[str]], released: list[str] | None = None
) -> list[str]:
    """One line per split whose named subjects (those of the release, when it lists its own) are
    not all present."""
    out = []
    for split in ("test", "val", "train"):
        wanted = [s for s in named.get(split, []) if released is None or s in released]
        gone = [s for s in wanted if s not in set(present.get(split, []))]
        if gone:
            many = len(gone) > 1
            out.append(
                f"{split} subject{'s' if many else ''} {', '.join(gone)} named by the protocol "
                f"{'have' if many else 'has'} no samples under the root"
            )
    return out


def left_out_lines(left_out: dict[str, int], subjects: dict[str, list[str]], option: str) -> list[str]:
    """Samples an option dropped while indexing, for the subjects of any split."""
    lines = []
    for split in ("test", "val", "train"):
        counts = {s: left_out[s] for s in subjects.get(split, []) if left_out.get(s)}
        if counts:
            total = sum(counts.values())
            lines.append(
                f"{total} labelled {split} samples left out while indexing ({option}): "
                + ", ".join(f"{s} {n}" for s, n in sorted(counts.items()))
            )
    return lines


def shortfall(setup: Any, test_ids: np.ndarray) -> list[str]:
    """Why ``setup``'s test population is not the protocol's full one (empty when it is)."""
    from gazebench.datasets.published_sizes import population_counts, published_shortfall

    ds, unit = setup.dataset, setup.unit
    lines = missing_subjects(ds.named_subjects(unit.fold), setup.subjects, ds.released_subjects())
    lines += left_out_lines(ds.left_out, setup.subjects, _left_out_option(ds))
    skipped = len(set(setup.skipped["test"]))
    if skipped:
        lines.append(f"{skipped} unreadable test samples skipped (on_bad_sample=skip)")
    counts = {
        **population_counts(ds, setup.positions["test"], "test"),
        **population_counts(ds, setup.positions["val"], "val", subjects=False),
    }
    lines += published_shortfall(unit.card, ds, counts)
    return lines


#: ``population.labels`` of a run that was not scored
WITHHELD = "withheld"


def labels_withheld(dataset: Any, rows: np.ndarray) -> bool:
    """Whether some samples at index rows ``rows`` carry no label: an adapter marks them in an
    index column ``labelled`` (False) and gives them NaN gaze (ETH-XGaze's test files)."""
    idx = dataset.index
    return "labelled" in idx.columns and not idx["labelled"].to_numpy(bool)[np.asarray(rows, dtype=np.int64)].all()


def _left_out_option(ds: Any) -> str:
    opts = {k: v for k, v in ds.options.items() if v == "skip"}
    return ", ".join(f"{k}={v}" for k, v in opts.items()) or "an adapter option"


def describe(setup: Any, test_rows: np.ndarray, withheld: bool = False) -> dict[str, Any]:
    """The record's ``population``: name, count, SHA-256 of the sorted ids, the count of each
    evaluation subset (``front180``, ..., ``face``, ``face_front180``, ...), each defined
    population's name, count and SHA-256 (``populations``: ``{"face": {"name": "gaze360/test[face]",
    ...}}``; an equal hash is the same set of frames as, e.g., GazeHub's test file), complete,
    shortfall; and ``labels: withheld`` when the run was not scored (the release withholds the
    test labels, or ``--predict-only``)."""
    ids = setup.dataset.index["id"].to_numpy()[test_rows]
    return describe_rows(setup.dataset, test_rows, shortfall(setup, ids), setup.unit.fold, withheld)


def describe_rows(
    ds: Any,
    test_rows: np.ndarray,
    lines: list[str],
    fold: str = "default",
    withheld: bool = False,
    suffix: str = "",
    split: str = "test",
) -> dict[str, Any]:
    """:func:`describe` for index rows ``test_rows`` of dataset ``ds`` with the shortfall ``lines``
    already known; ``suffix`` ends every population name (a cross-dataset test over all of a
    dataset's folds: ``rtgene/test (all folds)``, :mod:`gazebench.train.cross`); ``split``: the population's
    split name (``all``: every labelled sample of a dataset left out of training, ``mpiifacegaze/all``)."""
    ids = ds.index["id"].to_numpy()[test_rows]
    masks = subset_masks(ds, test_rows)
    return {
        "name": population_name(ds.name, fold, split, tag=population_tag(ds)) + suffix,
        "count": int(len(ids)),
        "sha256": ids_sha256(ids),
        "subsets": {name: int(mask.sum()) for name, mask in masks.items()},
        "populations": {
            pop: {
                "name": population_name(ds.name, fold, split, tag=pop) + suffix,
                "count": int(masks[pop].sum()),
                "sha256": ids_sha256(ids[masks[pop]]),
                **(population_coverage(ds, pop, ids[masks[pop]]) if split == "test" else {}),
            }
            for pop in defined_populations(ds)
        },
        "complete": not lines,
        "shortfall": lines,
        **({"labels": WITHHELD} if withheld else {}),
    }


def population_coverage(ds: Any, pop: str, evaluated_ids: np.ndarray, split: str = "test") -> dict[str, Any]:
    """How much of population ``pop`` as its source keeps it (every frame of ``split`` in it,
    :meth:`~gazebench.datasets.base.GazeDataset.population_rows`) the evaluated ids cover:
    ``source_count``, ``complete`` (the same set of frames) and ``shortfall`` (one line why not).
    Gaze360's ``face`` under ``centres=full_window``: a face-detectable test frame without frames
    f-3..f+3 is kept by GazeHub but is no centre frame here, so it is not evaluated."""
    rows = ds.population_rows(split).get(pop)
    if rows is None:
        return {}
    source = set(ds.index["id"].to_numpy()[rows].tolist())
    evaluated = set(np.asarray(evaluated_ids).tolist())
    missing, extra = len(source - evaluated), len(evaluated - source)
    lines = []
    if missing:
        lines.append(
            f"{missing:,} of the {len(source):,} {split} frames of population {pop} (as its source keeps "
            f"them) are not evaluated: they are not {split} {ds.sample_noun} under these options"
        )
    if extra:
        lines.append(f"{extra:,} evaluated frames of population {pop} are not in its {split} split")
    return {"source_count": len(source), "complete": not lines, "shortfall": lines}


def warn(population: dict[str, Any], protocol: str) -> None:
    """Say at the end of a run that its test population is not the protocol's full one."""
    if population["complete"]:
        return
    print(
        f"warning: the test population {population['name']} ({population['count']} samples) is not protocol "
        f"{protocol}'s full population: "
        + "; ".join(population["shortfall"])
        + ". The leaderboard marks this result (†).",
        file=sys.stderr,
    )
