"""``check-data``: scan a dataset's labels and files and report sizes, label ranges and problems.

Works for any registered adapter through the base contract alone: the adapter is built with
``strict=False`` (bad lines are collected in ``dataset.problems`` instead of raised), every frame
of the index is decoded with PIL through ``dataset.read_image``, and the protocol's splits (per
fold) are checked for subjects shared between train / val / test.

The report is a dict (the ``--json`` output)::

    {"dataset": ..., "root": ..., "options": {...}, "subsets": ["front180", ..., "face", "face_front180", ...],
     "populations": {"face": "what it is (the card's populations), and its sizes in words"},
     "population_sizes": {"face": {"test": {"source": n, "centre": m}, ...}},  # as its source keeps it
     "splits": {"train": {...}, "val": {...}, "test": {...}},        # pooled over folds
     "folds": {"0": {"train": {...}, "val": {...}, "test": {...}}, ...},  # "default" for a fixed split
     "problems": [{"kind": ..., "path": ..., "message": ...}, ...],  # any -> exit status 1
     "warnings": [...],                                                # reported, not fatal
     "published": {"source": ..., "compared": {key: {"counted": n, "published": m}}, "per_subject": ...,
                   "skipped": None | "why", "note": None | "the card's published_note"}}

Per split: ``samples`` (labelled centre frames), ``subjects``, the subset sizes of datasets that
report subsets (``front180``, ``front20``, ``back``) and of the populations an adapter defines
(Gaze360's face-detectable frames: ``face``, ``face_front180``, ...; the report's ``subsets`` lists
them all, :func:`gazebench.population.subset_names`), ``yaw_mean_deg``, ``pitch_mean_deg``,
``yaw_range_deg`` / ``pitch_range_deg`` ([min, max], canonical convention), for datasets with
sequences ``windows_complete`` (how many samples have a complete 7-frame window f-3..f+3), and in
``folds`` the ``subject_ids``.  The pooled ``splits`` count each frame once: for a k-fold protocol
``test`` is every frame tested in some fold.

Published facts (:mod:`gazebench.datasets.published_sizes`): the pooled split sizes (and subset sizes)
are compared with the card's ``published_sizes``, one ``published_size`` problem per mismatch
naming both numbers; per-subject counts (``samples_per_subject``) are checked by the adapter that
reads the subjects' files.  On a root that is the published release, the adapter's convention
self-check (:meth:`GazeDataset.convention_warnings`) adds warnings with the fix.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from gazebench import population
from gazebench.core import geometry
from gazebench.datasets.base import SPLITS, DatasetError, DatasetNotFound, GazeDataset, Problem
from gazebench.datasets.cards import CardError
from gazebench.datasets.published_sizes import (
    card_location,
    expected_counts,
    population_counts,
    published_shortfall,
    skip_reason,
)

#: window checked for datasets with sequences (the temporal models' f-3 ... f+3)
CHECK_WINDOW = tuple(range(-3, 4))


def _deg(value: float) -> float:
    return round(float(value), 3) + 0.0  # + 0.0: no "-0.0" in reports


def split_stats(
    dataset: GazeDataset, positions: np.ndarray, complete: np.ndarray | None, subject_ids: bool = False
) -> dict[str, Any]:
    """Sizes and label ranges of the labelled frames at ``positions``."""
    positions = np.asarray(positions, dtype=np.int64)
    subjects = dataset.index["subject"].to_numpy()[positions]
    out: dict[str, Any] = {"samples": int(len(positions)), "subjects": int(len(set(subjects.tolist())))}
    gaze = dataset.gaze(positions)
    for name, mask in population.subset_masks(dataset, positions, gaze).items():
        out[name] = int(mask.sum())
    if len(gaze):
        yp = np.degrees(geometry.vector_to_yawpitch(gaze))
        out["yaw_mean_deg"] = _deg(yp[:, 0].mean())
        out["pitch_mean_deg"] = _deg(yp[:, 1].mean())
        out["yaw_range_deg"] = [_deg(yp[:, 0].min()), _deg(yp[:, 0].max())]
        out["pitch_range_deg"] = [_deg(yp[:, 1].min()), _deg(yp[:, 1].max())]
    else:
        out.update(yaw_mean_deg=None, pitch_mean_deg=None, yaw_range_deg=None, pitch_range_deg=None)
    if complete is not None:
        out["windows_complete"] = int(complete[positions].sum())
    if subject_ids:
        out["subject_ids"] = sorted(set(subjects.tolist()))
    return out


def leakage_problems(subjects: dict[str, list[str]], fold: str, source: str) -> list[Problem]:
    """One problem per subject found in more than one of train / val / test."""
    where: dict[str, list[str]] = {}
    for split in SPLITS:
        for s in subjects.get(split, []):
            where.setdefault(s, [])
            if split not in where[s]:
                where[s].append(split)
    out = []
    for s, splits in sorted(where.items()):
        if len(splits) > 1:
            fold_txt = "" if fold == "default" else f" in fold {fold}"
            out.append(
                Problem(
                    "leakage",
                    source,
                    f"subject {s!r} is in {' and '.join(splits)}{fold_txt}; splits must be subject-disjoint",
                )
            )
    return out


def protocol_subjects(dataset: GazeDataset, fold: str) -> dict[str, list[str]]:
    """Subjects the protocol names for ``fold`` (:meth:`GazeDataset.named_subjects`: before absent
    ones are dropped; ``train`` only when listed, not "rest"), or {} when the splits come from the data."""
    return dataset.named_subjects(fold)


def verify_images(dataset: GazeDataset, workers: int = 4, update: Callable[[int], None] | None = None) -> list[Problem]:
    """Decode every frame of the index (centre and context) with ``dataset.read_image``; one
    problem per frame that is missing or unreadable."""
    n = len(dataset.index)
    paths = dataset.index["path"].astype(str).to_numpy()

    def check(position: int) -> Problem | None:
        try:
            image = dataset.read_image(position)
            if image.ndim != 3 or image.shape[-1] != 3 or image.size == 0:
                raise ValueError(f"decoded to shape {image.shape}, expected [H, W, 3]")
        except Exception as exc:  # noqa: BLE001 - every failure is a problem to list, not to stop at
            cause = exc.__cause__ or exc
            kind = "missing_image" if isinstance(cause, FileNotFoundError) else "bad_image"
            try:
                where = str(dataset.image_path(position))
            except Exception:  # noqa: BLE001
                where = str(paths[position])
            text = "file not found" if kind == "missing_image" else f"cannot decode: {cause}"
            return Problem(kind, where, f"sample {dataset.index['id'].iat[position]!r}: {text}")
        return None

    problems: list[Problem] = []
    chunk = 256
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for start in range(0, n, chunk):
            for result in pool.map(check, range(start, min(n, start + chunk))):
                if result is not None:
                    problems.append(result)
            if update is not None:
                update(min(chunk, n - start))
    return problems


def _check_folds(
    dataset: GazeDataset, complete: np.ndarray | None, report: dict[str, Any], problems: list[Problem]
) -> dict[str, set[int]]:
    """Per fold: leakage, protocol subjects without frames (warnings), split statistics into
    ``report["folds"]``, empty splits.  Returns the rows of each split pooled over the folds."""
    # where a split is defined: the card's subject lists, or the data itself (``splits: from_index``)
    card_source = str(dataset.root if dataset.card.splits_from_index else dataset.card.path)
    pooled: dict[str, set[int]] = {s: set() for s in SPLITS}
    seen_problems: set[tuple[str, str, str]] = set()
    present = set(dataset.index["subject"].unique().tolist())
    for fold in dataset.folds():
        for p in leakage_problems(dataset.split_subjects(fold), fold, card_source):
            if (p.kind, p.path, p.message) not in seen_problems:
                seen_problems.add((p.kind, p.path, p.message))
                problems.append(p)
        positions = dataset.split_positions(fold, check=False)
        for split, named in protocol_subjects(dataset, fold).items():
            absent = [s for s in named if s not in present]
            msg = f"the protocol's {split} subjects {', '.join(absent)} have no frames under {dataset.root}"
            if absent and msg not in report["warnings"]:
                report["warnings"].append(msg)
        report["folds"][fold] = {}
        for split in SPLITS:
            report["folds"][fold][split] = split_stats(dataset, positions[split], complete, subject_ids=True)
            pooled[split].update(positions[split].tolist())
            if len(positions[split]) == 0:
                fold_txt = "" if fold == "default" else f" of fold {fold}"
                problems.append(
                    Problem(
                        "empty_split",
                        card_source,
                        f"the {split} split{fold_txt} has no labelled frames; a run would fail",
                    )
                )
    return pooled


def count_populations(dataset: GazeDataset, pooled: dict[str, set[int]], report: dict[str, Any]) -> None:
    """Each population's size per split as its source keeps it (every frame of the split in it,
    centre frame or not: :meth:`GazeDataset.population_rows`) beside how many of those are the
    split's centre frames (the table's column): ``report["population_sizes"]`` and one sentence
    appended to the population's description."""
    sizes: dict[str, dict[str, dict[str, int]]] = {}
    for split in SPLITS:
        for name, rows in dataset.population_rows(split).items():
            centre = len(set(rows.tolist()) & pooled[split])
            sizes.setdefault(name, {})[split] = {"source": int(len(rows)), "centre": int(centre)}
    for name, per in sizes.items():
        said = "; ".join(
            f"{split} {n['source']:,} frames, {n['centre']:,} of them {dataset.sample_noun}" for split, n in per.items()
        )
        report["populations"][name] = (
            str(report["populations"].get(name, "")).rstrip()
            + f" Under this root (every frame of a split it keeps): {said}."
        )
    report["population_sizes"] = sizes


def check_published(
    dataset: GazeDataset, pooled: dict[str, set[int]], report: dict[str, Any], problems: list[Problem]
) -> None:
    """The pooled split sizes against the card's published ones (a ``published_size`` problem per
    mismatch) and, on a root that is the published release, the adapter's convention self-check
    (warnings); ``report["published"]`` says what was compared or why nothing was."""
    card = dataset.card
    want = expected_counts(card, dataset)
    info: dict[str, Any] = {
        "source": None,
        "compared": {},
        "per_subject": None,
        "skipped": skip_reason(dataset),
        "note": card.extra("published_note"),
    }
    if want is not None:
        counts: dict[str, int] = {}
        for split, rows in pooled.items():
            counts.update(population_counts(dataset, np.array(sorted(rows), dtype=np.int64), split, subjects=False))
        info.update(
            source=want.sizes_source or None,
            per_subject=want.per_subject,
            compared={k: {"counted": counts[k], "published": v} for k, v in want.sizes.items() if k in counts},
        )
        for message in published_shortfall(card, dataset, counts):
            problems.append(Problem("published_size", str(dataset.root), message))
        labelled = np.array(sorted(set().union(*pooled.values())), dtype=np.int64)
        report["warnings"] += dataset.convention_warnings(labelled)
    report["published"] = info


def range_warnings(dataset: GazeDataset, positions: np.ndarray) -> list[str]:
    """A warning per angle (yaw, pitch) for labels outside the card's ``gaze_range_deg`` (the range
    the recording makes plausible, canonical convention, degrees): angles in degrees read as
    radians, or read with another convention, land there.  No range on the card: no check."""
    bounds = dataset.card.extra("gaze_range_deg") or {}
    if not bounds or len(positions) == 0:
        return []
    if (
        not isinstance(bounds, dict)
        or not all(
            isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v)
            for v in bounds.values()
        )
        or set(bounds) - {"yaw", "pitch"}
    ):
        raise CardError(
            f"{dataset.card.path}: gaze_range_deg must map yaw and/or pitch to [min, max] in degrees; got {bounds!r}"
        )
    angles = np.degrees(geometry.vector_to_yawpitch(dataset.gaze(positions)))
    ids = dataset.index["id"].astype(str).to_numpy()
    out = []
    for k, name in enumerate(("yaw", "pitch")):
        if name not in bounds:
            continue
        lo, hi = (float(v) for v in bounds[name])
        outside = np.flatnonzero((angles[:, k] < lo) | (angles[:, k] > hi))
        if len(outside):
            first = outside[0]
            out.append(
                f"{len(outside):,} of {len(positions):,} labelled samples have a gaze {name} outside "
                f"[{lo:g}, {hi:g}] deg, the range the card gives as plausible for {dataset.name} (e.g. "
                f"{ids[positions[first]]!r}: {angles[first, k]:+.1f} deg): labels read in another unit "
                f"(degrees as radians) or another convention look like this "
                f"({card_location(dataset.card)}, gaze_range_deg)"
            )
    return out


def check_dataset(
    name: str,
    root: str | Path | None,
    options: dict[str, Any] | None = None,
    images: bool = True,
    workers: int = 4,
    progress: bool = False,
) -> dict[str, Any]:
    """Scan dataset ``name`` at ``root`` and return the report described in the module docstring."""
    from gazebench.core.progress import progress_bar
    from gazebench.datasets import DATASETS

    report: dict[str, Any] = {
        "dataset": name,
        "root": None if root is None else str(root),
        "options": dict(options or {}),
        "subsets": [],
        "populations": {},
        "splits": {},
        "folds": {},
        "problems": [],
        "warnings": [],
        "published": None,
    }
    problems: list[Problem] = []
    try:
        dataset = DATASETS.get(name)(root=root, strict=False, **(options or {}))
    except DatasetNotFound as exc:
        report["problems"] = [Problem("root", str(root or ""), str(exc)).as_dict()]
        return report
    report["root"] = str(dataset.root)
    report["options"] = {k: v for k, v in dataset.options.items()}
    try:
        index = dataset.index
    except (DatasetError, CardError, OSError, ValueError) as exc:
        report["problems"] = [p.as_dict() for p in dataset.problems] + [
            Problem("annotation", str(dataset.root), str(exc)).as_dict()
        ]
        return report
    report["subsets"] = population.subset_names(dataset)
    described = dataset.card.extra("populations") or {}
    report["populations"] = {p: described.get(p, "") for p in population.defined_populations(dataset)}
    tag = population.population_tag(dataset)
    if tag:
        report["populations"][tag] = f"every sample of this root (its splits are named <split>[{tag}]): " + str(
            described.get(tag, "")
        )
    problems += dataset.problems

    complete = None
    if dataset.has_sequences:
        _, complete = dataset.windows(CHECK_WINDOW)
    pooled = _check_folds(dataset, complete, report, problems)
    for split in SPLITS:
        report["splits"][split] = split_stats(dataset, np.array(sorted(pooled[split]), dtype=np.int64), complete)
    count_populations(dataset, pooled, report)
    check_published(dataset, pooled, report, problems)
    in_any = set().union(*pooled.values())
    report["warnings"] += range_warnings(dataset, np.array(sorted(in_any), dtype=np.int64))
    centre = np.flatnonzero(index["centre"].to_numpy(bool))
    outside = len(set(centre.tolist()) - in_any)
    if outside:
        report["warnings"].append(f"{outside} labelled frames belong to no split of any fold")

    if images:
        with progress_bar(len(index), "check images", progress) as bar:
            problems += verify_images(dataset, workers, bar)
    else:
        report["warnings"].append("images were not opened (--no-images)")
    report["problems"] = [p.as_dict() for p in problems]
    return report
