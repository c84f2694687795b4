"""The seed as the unit of replication: a crossed bootstrap over seeds and test subjects, and the
verdict rule the ``findings`` analysis applies to every claim.

A claim about two configurations is a claim about *training* them: a new seed retrains the models
and moves their errors by degrees (the std over seeds in docs/findings.md's leaderboard), while
the test set is one fixed draw of people.  So a statistic is
measured per seed (every training run of that seed, all its folds) and on the test subjects, and
its uncertainty has two sources: which seeds were trained and which people were tested.

**The interval.**  :func:`crossed_bootstrap` draws, per resample, the seeds with replacement and
the test subjects with replacement, computes the statistic of each drawn seed on the drawn
subjects (the same subjects for every seed and, in a paired statistic, for both models: the pair
stays paired) and averages it over the drawn seeds; the 95 % interval is the 2.5 and 97.5
percentiles of the resampled values (:func:`interval`).  Subjects are drawn once per resample,
not once per seed, because the seeds are tested on the *same* people (seeds and subjects are
crossed, not nested); drawing them per seed would count the test people's sampling error as if it
averaged out over seeds.  This is the two-way ("pigeonhole") bootstrap of crossed random effects
(A. B. Owen, "The pigeonhole bootstrap", Annals of Applied Statistics 1(2), 2007), which is
conservative: it over-counts the seed × subject interaction a little rather than dropping any
variance component.

A seed's mean (:func:`seed_means`) is over the drawn subjects' *samples* (a subject drawn twice
counts twice), not an average of per-subject means: its estimate is then exactly the difference of
the leaderboard's means (which are over samples), also on subsets where subjects have very
different numbers of frames (SynthGaze's back views: 24 to 114 per test subject), where averaging
per-subject means would weigh a subject's 24 frames like another's 114.

Why a bootstrap and not per-seed paired tests combined (Fisher's or Stouffer's method): combining
p-values asks whether *any* seed shows an effect, with each seed's test blind to the other seeds'
effect sizes, so three seeds of +1°, +6° and +12° combine into overwhelming significance; the
bootstrap over seeds puts their spread into the interval, which is the question "would the effect
hold for another training run".  Nor a t-test over the seeds' means: it ignores that all seeds are
measured on the same few test people.

The p-value (:func:`bootstrap_p`) is the two-sided share of resamples on either side of 0 (with the
usual +1 so it is never 0); the verdict does not use it.

**The verdict** (:func:`verdict`), symmetric: *reproduced* when the interval lies entirely on the
claimed side of 0 **and** every seed's own value is on the claimed side; *not reproduced* when the
interval lies entirely on the opposite side **and** every seed is on the opposite side;
*inconclusive* otherwise, and always with fewer than two seeds (one training run replicates
nothing).  The every-seed condition matters with few seeds: a percentile interval over three seeds
can never reach beyond the most extreme seed, so on its own it says little about a fourth.

:data:`MIN_SUBJECTS`: an interval over fewer test subjects than this is flagged (it rests on so few
people that its percentiles are coarse).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

#: an interval resting on fewer test subjects than this is flagged
MIN_SUBJECTS = 10
LEVEL = 0.95


def crossed_bootstrap(
    per_seed: Callable[[np.ndarray], np.ndarray], n_seeds: int, n_subjects: int, resamples: int, seed: int
) -> np.ndarray:
    """``resamples`` bootstrap values of a statistic averaged over seeds.

    ``per_seed(subjects)`` gets the subject draws, an int array ``(resamples, n_subjects)`` of
    subject indices, and returns ``(resamples, n_seeds)``: every seed's statistic on each draw (NaN
    where a seed has no sample of the drawn subjects).  Each resample then averages the statistic
    over its own draw of ``n_seeds`` seeds (with replacement).  Deterministic for a given ``seed``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    subjects = rng.integers(0, n_subjects, size=(resamples, n_subjects))
    seeds = rng.integers(0, n_seeds, size=(resamples, n_seeds))
    values = np.asarray(per_seed(subjects), dtype=np.float64)
    if values.shape != (resamples, n_seeds):
        raise ValueError(f"per_seed returned shape {values.shape}, expected {(resamples, n_seeds)}")
    drawn = np.take_along_axis(values, seeds, axis=1)
    with np.errstate(invalid="ignore"):
        out = np.full(resamples, np.nan)
        some = ~np.isnan(drawn).all(axis=1)
        out[some] = np.nanmean(drawn[some], axis=1)
    return out


def cell_sums(
    values: np.ndarray, seed_codes: np.ndarray, subject_codes: np.ndarray, n_seeds: int, n_subjects: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count of ``values`` per (seed, subject) cell: two ``(n_seeds, n_subjects)`` arrays."""
    import numpy as np

    sums = np.zeros((n_seeds, n_subjects))
    counts = np.zeros((n_seeds, n_subjects))
    np.add.at(sums, (seed_codes, subject_codes), values)
    np.add.at(counts, (seed_codes, subject_codes), 1.0)
    return sums, counts


def seed_means(sums: np.ndarray, counts: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The ``per_seed`` of :func:`crossed_bootstrap` for a mean: each seed's mean over every sample of
    the drawn subjects (a subject drawn twice counts twice), from :func:`cell_sums`."""
    import numpy as np

    def per_seed(subjects: np.ndarray) -> np.ndarray:
        total = sums[:, subjects].sum(axis=-1)  # (n_seeds, resamples)
        n = counts[:, subjects].sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, total / np.where(n > 0, n, 1.0), np.nan).T

    return per_seed


def interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The percentile interval of bootstrap values (NaN resamples left out)."""
    import numpy as np

    tail = (1 - level) / 2 * 100
    lo, hi = np.nanpercentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


def bootstrap_p(values: np.ndarray) -> float:
    """Two-sided bootstrap p-value of "the statistic is 0": twice the smaller share of resamples on
    one side of 0 (each share (k + 1) / (B + 1)), at most 1."""
    import numpy as np

    v = values[~np.isnan(values)]
    below, above = (int(np.sum(v <= 0)) + 1) / (len(v) + 1), (int(np.sum(v >= 0)) + 1) / (len(v) + 1)
    return float(min(1.0, 2 * min(below, above)))


def verdict(lo: float, hi: float, per_seed: Sequence[float], claimed: int) -> tuple[str, str]:
    """The verdict and why, for a statistic claimed to be below 0 (``claimed=-1``) or above 0
    (``claimed=+1``), from its interval ``[lo, hi]`` and every seed's own value (module docstring)."""
    if claimed not in (-1, 1):
        raise ValueError(f"claimed must be -1 or +1, not {claimed!r}")
    n = len(per_seed)
    agree = sum(1 for v in per_seed if v * claimed > 0)
    oppose = sum(1 for v in per_seed if v * claimed < 0)
    interval_claimed = hi < 0 if claimed < 0 else lo > 0
    interval_opposite = lo > 0 if claimed < 0 else hi < 0
    if n < 2:
        return "inconclusive", f"{n} seed: a claim needs at least two seeds to replicate"
    if interval_claimed and agree == n:
        return "reproduced", "the interval and every seed on the claimed side"
    if interval_opposite and oppose == n:
        return "not reproduced", "the interval and every seed on the opposite side"
    if interval_claimed or interval_opposite:
        return "inconclusive", f"the interval excludes 0 but the seeds disagree ({agree} of {n} on the claimed side)"
    return "inconclusive", f"the interval includes 0 ({agree} of {n} seeds on the claimed side)"


def seed_spearman(
    x: np.ndarray, y: np.ndarray, seed_codes: np.ndarray, subject_codes: np.ndarray, n_seeds: int, n_subjects: int
) -> Callable[[np.ndarray], np.ndarray]:
    """The ``per_seed`` of :func:`crossed_bootstrap` for Spearman's ρ between ``x`` and ``y``: each
    seed's ρ over the samples of the drawn subjects, a subject drawn twice counting twice (exactly
    scipy's ρ of the concatenated draw: ties take their average rank)."""
    import numpy as np

    rows = [np.flatnonzero(seed_codes == s) for s in range(n_seeds)]

    def per_seed(subjects: np.ndarray) -> np.ndarray:
        draws = np.zeros((len(subjects), n_subjects))
        np.add.at(draws, (np.arange(len(subjects))[:, None], subjects), 1.0)  # times each subject is drawn
        out = np.full((len(subjects), n_seeds), np.nan)
        for s, take in enumerate(rows):
            chunk = max(1, 2_000_000 // max(1, len(take)))
            for start in range(0, len(subjects), chunk):
                weights = draws[start : start + chunk][:, subject_codes[take]]
                out[start : start + chunk, s] = weighted_spearman(x[take], y[take], weights)
        return out

    return per_seed


def weighted_spearman(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Spearman's ρ of ``x`` and ``y`` with sample i repeated ``weights[b, i]`` times, for each row b
    of ``weights`` (``(B, n)``, whole numbers); NaN where either variable is constant."""
    import numpy as np

    rx, ry = weighted_ranks(x, weights), weighted_ranks(y, weights)
    total = weights.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = (weights * rx).sum(1, keepdims=True) / total, (weights * ry).sum(1, keepdims=True) / total
        dx, dy = rx - mx, ry - my
        cov = (weights * dx * dy).sum(1)
        return cov / np.sqrt((weights * dx * dx).sum(1) * (weights * dy * dy).sum(1))


def weighted_ranks(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each sample's (average) rank in the sample list where sample i appears ``weights[b, i]`` times."""
    import numpy as np

    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # groups of tied values
    group_weight = np.add.reduceat(weights[:, order], starts, axis=1)
    group_rank = np.cumsum(group_weight, axis=1) - group_weight + (group_weight + 1) / 2
    group_of = np.empty(len(values), dtype=np.intp)
    group_of[order] = np.cumsum(np.r_[True, ordered[1:] != ordered[:-1]]) - 1
    return group_rank[:, group_of]
