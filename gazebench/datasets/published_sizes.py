"""What a dataset's card says was published, compared with what a root holds.

A card states the sizes its paper published in ``published_sizes`` (e.g. Gaze360's
``{test: 25969, test_front180: 20322, test_front20: 5851, val: 17038}``) and a count per subject in
``samples_per_subject`` (MPIIFaceGaze's 3000).  :func:`published_shortfall` turns counts into one
message per mismatch, naming both numbers and where the published one comes from::

    test: 25,968 centre frames, the published Gaze360 test set has 25,969 (gazebench/datasets/gaze360/card.yaml published_sizes)

The keys of ``counts`` (built by :func:`population_counts`):

  ``<split>``             labelled samples of a split (``test``, ``val``, ``train``)
  ``<split>_<subset>``    those of an evaluation subset (``test_front180``, ``test_front20``)
  ``<split>_<population>`` the frames of a population the adapter defines, as its source keeps
                          them (``test_face``: every test frame with a face box, centre frame or
                          not; :meth:`GazeDataset.population_rows`)
  ``subject:<id>``        labelled samples of one subject

A key the card does not publish is not compared.  The dataset option ``expect_samples`` says
whether the root is the published release: ``any`` (e.g. a SynthGaze tree) compares nothing, a
number (MPIIFaceGaze) is the count expected per subject instead of the card's, and an adapter may
name its own reason (:meth:`GazeDataset.unpublished_reason`, e.g. Gaze360's ``centres=all``).
Used by ``gazebench check-data`` (a mismatch is a problem) and by the run-time population check.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gazebench.core import geometry
from gazebench.core.paths import SOURCE_ROOT
from gazebench.datasets.base import GazeDataset
from gazebench.datasets.cards import Card

#: prefix of a per-subject key in ``counts``
SUBJECT_KEY = "subject:"
#: what a split-level key is called in a message
SPLIT_WORDS = {"test": "test set", "val": "validation set", "train": "training set"}


@dataclass(frozen=True)
class Expected:
    """The counts a root must hold: split-level ``sizes`` (key -> count), ``per_subject`` (or
    None), and where each comes from (``sizes_source``, ``subject_source``)."""

    sizes: dict[str, int] = field(default_factory=dict)
    per_subject: int | None = None
    sizes_source: str = ""
    subject_source: str = ""
    #: True when ``per_subject`` comes from ``--set expect_samples=N``, not from the card
    from_option: bool = False


def card_location(card: Card) -> str:
    """The card's path as a user finds it: relative to the checkout when it lies inside."""
    path = Path(card.path)
    try:
        return str(path.resolve().relative_to(SOURCE_ROOT.resolve()))
    except ValueError:
        return str(path)


def short_title(card: Card) -> str:
    """``"Gaze360 (Kellnhofer et al., ICCV 2019)"`` -> ``"Gaze360"``."""
    return card.title.split(" (")[0].strip() or card.name


def skip_reason(dataset: GazeDataset) -> str | None:
    """Why the card's published counts do not apply to this root and these options (None: they do)."""
    if dataset.options.get("expect_samples") == "any":
        return "expect_samples=any (the root is not the published release)"
    return dataset.unpublished_reason()


def expected_counts(card: Card, dataset: GazeDataset) -> Expected | None:
    """The counts ``dataset`` (built on a root, options resolved) must hold, or None when
    :func:`skip_reason` says the published ones do not apply."""
    if skip_reason(dataset) is not None:
        return None
    value = dataset.options.get("expect_samples")
    if isinstance(value, int) and not isinstance(value, bool):
        return Expected(per_subject=value, subject_source=f"--set expect_samples={value}", from_option=True)
    where = card_location(card)
    sizes = {str(k): int(v) for k, v in card.published_sizes.items()}
    declared = card.extra("samples_per_subject")
    return Expected(
        sizes=sizes,
        per_subject=int(declared) if declared else None,
        sizes_source=f"{where} published_sizes",
        subject_source=f"{where} samples_per_subject",
    )


def _split_phrase(key: str, populations: Iterable[str] = ()) -> str:
    """``test`` -> ``test set``; ``test_front180`` -> ``test set's front180 subset``; a population
    of the card (``test_face``) -> ``test set's face population``."""
    split, _, subset = key.partition("_")
    base = SPLIT_WORDS.get(split, f"{split} split")
    kind = "population" if subset in set(populations) else "subset"
    return f"{base}'s {subset} {kind}" if subset else base


def size_message(card: Card, key: str, count: int, expected: int, noun: str, source: str) -> str:
    """One line naming a split-level count and the published one."""
    phrase = _split_phrase(key, card.extra("populations") or {})
    return f"{key}: {count:,} {noun}, the published {short_title(card)} {phrase} has {expected:,} ({source})"


def subject_message(card: Card, subject: str, count: int, want: Expected, noun: str) -> str:
    """One line naming a subject's count and the expected one."""
    if want.from_option:
        return f"{subject}: {count:,} {noun}, expected {want.per_subject:,} per subject ({want.subject_source})"
    return (
        f"{subject}: {count:,} {noun}, the published {short_title(card)} release has "
        f"{want.per_subject:,} per subject ({want.subject_source})"
    )


def published_shortfall(card: Card, dataset: GazeDataset, counts: Mapping[str, int]) -> list[str]:
    """One message per key of ``counts`` whose count differs from what ``card`` publishes for it
    (empty when every compared count matches, or when the published counts do not apply:
    ``expect_samples=any``, see :func:`skip_reason`).  ``dataset`` is the built adapter (its
    options and ``sample_noun``); ``counts`` as :func:`population_counts` builds them."""
    want = expected_counts(card, dataset)
    if want is None:
        return []
    noun = getattr(dataset, "sample_noun", "samples")
    out = []
    for key, count in counts.items():
        count = int(count)
        if key.startswith(SUBJECT_KEY):
            if want.per_subject is not None and count != want.per_subject:
                out.append(subject_message(card, key[len(SUBJECT_KEY) :], count, want, noun))
        elif key in want.sizes and count != want.sizes[key]:
            # a population is counted as its source keeps it, centre frames or not: "frames"
            is_population = key.partition("_")[2] in (card.extra("populations") or {})
            out.append(
                size_message(card, key, count, want.sizes[key], "frames" if is_population else noun, want.sizes_source)
            )
    return out


def population_counts(dataset: GazeDataset, positions: np.ndarray, split: str, subjects: bool = True) -> dict[str, int]:
    """The counts of the labelled samples at index rows ``positions`` of ``split``: the split, its
    evaluation subsets (datasets that report subsets), the split's populations as their sources
    keep them (whatever ``positions`` holds) and, with ``subjects``, each subject."""
    positions = np.asarray(positions, dtype=np.int64)
    counts = {split: int(len(positions))}
    if dataset.subsets:
        gaze = dataset.gaze(positions)
        masks = geometry.subset_masks(gaze) if len(gaze) else {}
        for name in dataset.subsets:
            counts[f"{split}_{name}"] = int(masks[name].sum()) if len(gaze) else 0
    for name, rows in dataset.population_rows(split).items():  # as the population's source keeps it
        counts[f"{split}_{name}"] = int(len(rows))
    if subjects:
        per = Counter(dataset.index["subject"].to_numpy()[positions].tolist())
        counts.update({f"{SUBJECT_KEY}{s}": int(n) for s, n in sorted(per.items())})
    return counts
