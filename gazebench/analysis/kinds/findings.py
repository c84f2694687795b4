"""``findings``: each effect the research notes claim, measured over a suite's runs, with a verdict.

A claim names the runs it needs by leaderboard label (the ``synthgaze-paper`` suite's labels) and
one of three tests:

- ``paired``: model A has a lower angular error than model B on a gaze subset.  A's and B's runs
  are paired by fold and seed and their test samples joined by id (two runs on different test
  populations are refused); the statistic is the mean difference A − B.
- ``magnification``: A's error grows less than B's when every crop is shrunk by δ px of 224 (the
  ``magnification`` analysis's re-evaluation from ``best.pt``, cached in the run folders); the
  per-sample quantity is the change of the error from δ = 0 to δ, then as ``paired``.
- ``sigma``: the predicted σ of model A ranks its errors: Spearman's ρ between σ and the error,
  claimed > 0.

**What is paired.**  Each label a claim names must be *one configuration* in the runs given (one
configuration identity, :mod:`gazebench.results.identity`) with one run per (fold, seed): a label holding
two identities (``staticsc`` at batch 16 and at batch 32) or two runs of one (identity, fold,
seed) is refused with one line that names them and the fix, as ``gazebench compare`` and ``table
--strict`` refuse; never is one of them picked.  The table names, per claim, the identity of each
side (``a_identity``, ``b_identity``: the first 8 hex digits) and the runs paired (``paired``:
folds, seeds, count, and any run left without a partner).

**The statistics** (:mod:`gazebench.analysis.replication`): the seed is the unit of replication.
Each seed's statistic (its mean difference, or its ρ) is computed over its runs, the estimate is
their mean over seeds, and the 95 % interval comes from a bootstrap that resamples the seeds and
the test subjects together (the same subjects for both models), so it holds the seed-to-seed
spread as well as the test people's.  ``p`` is that bootstrap's two-sided p-value.
**Reproduced**: the interval on the claimed side and every seed on the claimed side; **not
reproduced**: the interval on the opposite side and every seed on the opposite side;
**inconclusive**: otherwise (and with one seed).  ``few_subjects`` flags an interval over fewer
than 10 test subjects.  A claim whose runs are missing is *not measured*, with what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gazebench.analysis.base import Analysis, label_axes, new_figure, register_kind
from gazebench.analysis.reevaluate import DEVICE_OPTION
from gazebench.core.options import ConfigError, Option, integer, one_of

NOTES = "research-notes.md"


@dataclass(frozen=True)
class Claim:
    """One effect the notes claim and how it is measured."""

    id: str
    text: str  # the claim, in a sentence
    source: str  # where it is made (file and lines)
    test: str  # paired | magnification | sigma
    a: str  # the label claimed better (sigma: the model whose sigma is read)
    b: str = ""  # the label it is compared with
    subset: str = "all"
    extra: dict[str, Any] = field(default_factory=dict)


CLAIMS: tuple[Claim, ...] = (
    Claim(
        "zoom-crop",
        "A centre zoom crop (175 of 224 px) beats the whole head image",
        f"{NOTES} line 800",
        "paired",
        "staticsc-175",
        "staticsc",
    ),
    Claim(
        "zoom-crop-small-heads",
        "... most of all where the head is small in the frame",
        f"{NOTES} lines 800, 850",
        "paired",
        "staticsc-175",
        "staticsc",
        "small_head",
    ),
    Claim(
        "multizoom-lstm",
        "An LSTM over zoom crops of one image beats the single 175 px crop",
        f"{NOTES} lines 308, 800",
        "paired",
        "staticsclstmsym",
        "staticsc-175",
    ),
    Claim(
        "symmetric",
        "A symmetric crop list (224…150…224, bidirectional) beats the monotone one",
        f"{NOTES} lines 586, 797, 830",
        "paired",
        "staticsclstmsym",
        "staticsclstm",
    ),
    Claim(
        "sincos-back",
        "Sin-cos targets beat raw angles on back views (yaw wraps around ±180°)",
        "SPEC.md §3 (sin-cos head); notes line 808",
        "paired",
        "staticsc",
        "static",
        "back",
    ),
    Claim(
        "temporal",
        "A temporal model (7 frames) beats the static one on smooth sequences",
        f"{NOTES} lines 60-62",
        "paired",
        "seqlstm",
        "static",
    ),
    Claim(
        "temporal-sincos",
        "... and with sin-cos targets and zoom: seqsclstmsym beats staticsclstmsym",
        f"{NOTES} lines 60-62, applied to the sin-cos multi-zoom pair",
        "paired",
        "seqsclstmsym",
        "staticsclstmsym",
    ),
    Claim(
        "magnification",
        "Multi-zoom fusion degrades more slowly under magnification than a single crop",
        f"{NOTES} lines 596-611, 612-642",
        "magnification",
        "staticsclstmsym",
        "staticsc-175",
        extra={"delta": 80},
    ),
    Claim(
        "sigma",
        "The predicted σ tracks the error (higher σ, larger error)",
        f"{NOTES} line 304 (σ to pick the zoom); SPEC.md §3 (pinball σ)",
        "sigma",
        "staticsclstmsym",
    ),
)

#: head width below this fraction of the crop is a "small head" (SynthGaze's ``distance`` column)
SMALL_HEAD = 0.4


@register_kind(
    "findings",
    "each claim of the research notes measured over a suite's runs (one configuration "
    "per label, seeds x subjects bootstrap interval) with a verdict: reproduced / not reproduced / "
    "inconclusive",
    options={
        "resamples": Option(2000, integer(100), "bootstrap resamples"),
        "seed": Option(0, integer(0), "bootstrap seed"),
        "claims": Option("all", one_of("all", *[c.id for c in CLAIMS]), "one claim, or all"),
        "device": DEVICE_OPTION,
    },
)
def findings(runs: list, options: dict[str, Any]) -> Analysis:
    import pandas as pd

    from gazebench.analysis.replication import MIN_SUBJECTS

    claims = [c for c in CLAIMS if options["claims"] in ("all", c.id)]
    sides = label_sides(runs, {label for c in claims for label in (c.a, c.b) if label})
    rows = []
    for claim in claims:
        try:
            rows.append({**describe(claim), **measure(claim, sides, options, {r.label for r in runs})})
        except ConfigError as exc:
            rows.append({**describe(claim), "verdict": "not measured", "why": str(exc)})
    table = pd.DataFrame(rows)
    figures = [("findings.png", forest_figure(table))] if table["verdict"].ne("not measured").any() else []
    notes = [
        f"the seed is the unit of replication: estimate = the mean over seeds of each seed's statistic; 95% "
        f"interval of a bootstrap resampling seeds and test subjects together ({options['resamples']} resamples, "
        f"seed {options['seed']}); p = that bootstrap's two-sided p. Reproduced = interval and every seed on the "
        "claimed side; not reproduced = interval and every seed on the opposite side; else inconclusive"
    ]
    if "few_subjects" in table and table["few_subjects"].eq(True).any():
        few = ", ".join(table.loc[table["few_subjects"].eq(True), "claim"])
        notes.append(
            f"few_subjects ({few}): the interval rests on fewer than {MIN_SUBJECTS} test subjects, so its "
            "percentiles are coarse and it may be too narrow"
        )
    return Analysis("findings", "The research notes' claims, measured", table, figures, notes)


def label_sides(runs: list, labels: set[str]) -> dict[str, Any]:
    """Each label a claim needs, as one configuration (:func:`~gazebench.analysis.configurations.one_configuration`:
    two identities or two runs of one unit are refused); labels without runs are left out."""
    from gazebench.analysis.configurations import one_configuration

    by_label: dict[str, list] = {}
    for run in runs:
        by_label.setdefault(run.label, []).append(run)
    return {label: one_configuration(label, found) for label, found in sorted(by_label.items()) if label in labels}


def describe(claim: Claim) -> dict[str, Any]:
    what = {
        "paired": f"{claim.a} vs {claim.b}" + ("" if claim.subset == "all" else f" ({claim.subset})"),
        "magnification": f"{claim.a} vs {claim.b}: error change at δ = {claim.extra.get('delta')}",
        "sigma": f"Spearman(σ, error) of {claim.a}",
    }[claim.test]
    return {"claim": claim.id, "text": claim.text, "source": claim.source, "test": what}


def measure(claim: Claim, sides: dict[str, Any], options: dict[str, Any], labels: set[str]) -> dict[str, Any]:
    """One claim's row, from ``sides`` (:func:`label_sides`); ``labels``: every label in the runs."""
    from gazebench.analysis.configurations import paired_runs, runs_text, unit_key

    a = side_of(claim.a, sides, labels)
    if claim.test == "sigma":
        named = {"a_identity": a.short, "b_identity": "", "paired": f"runs: {runs_text(unit_key(r) for r in a.runs)}"}
        return {**sigma_test(list(a.runs), options), **named}
    b = side_of(claim.b, sides, labels)
    pairs, paired = paired_runs(a, b)
    if claim.test == "magnification":
        samples = magnification_samples(pairs, int(claim.extra["delta"]), options)
    else:
        samples = error_samples(pairs, claim.subset)
    return {**paired_test(samples, options), "a_identity": a.short, "b_identity": b.short, "paired": paired}


def side_of(label: str, sides: dict[str, Any], labels: set[str]) -> Any:
    if label not in sides:
        raise ConfigError(f"no runs labelled {label!r} (there: {', '.join(sorted(labels)) or 'none'})")
    return sides[label]


def subset_mask(pred: Any, subset: str, run: Any) -> Any:
    """The samples of a predictions table in ``subset``: a gaze subset, a population (``face``,
    ``face_back``: Gaze360) or ``small_head``."""
    import numpy as np

    from gazebench.population import table_subset_masks

    if subset == "all":
        return np.ones(len(pred), bool)
    if subset == "small_head":
        return small_heads(pred, run)
    masks = table_subset_masks(pred)
    if subset not in masks:
        raise ConfigError(f"unknown subset {subset!r}; known: {', '.join(masks)}, small_head")
    return masks[subset]


def small_heads(pred: Any, run: Any) -> Any:
    """SynthGaze samples whose head spans less than SMALL_HEAD of the crop (from the dataset's labels)."""
    import pandas as pd

    from gazebench.synth.scene import HEAD_FRACTION

    root = run.record.dataset.root
    if run.dataset != "synthgaze" or not root:
        raise ConfigError("the small-head subset needs SynthGaze runs whose record names the data root")
    try:
        labels = pd.read_csv(f"{root}/labels.csv", usecols=["id", "distance"], dtype={"id": str})
    except (OSError, ValueError) as exc:
        raise ConfigError(f"the small-head subset reads {root}/labels.csv: {exc}") from exc
    size = pred["id"].astype(str).map(dict(zip(labels["id"], HEAD_FRACTION / labels["distance"])))
    if size.isna().any():
        raise ConfigError(f"{root}/labels.csv lacks {int(size.isna().sum())} of the run's test ids")
    return (size < SMALL_HEAD).to_numpy()


def error_samples(pairs: list[tuple[Any, Any]], subset: str) -> Any:
    """compare's paired-sample table (error_a, error_b, subject, fold, seed) of every pair, on ``subset``."""
    import pandas as pd

    from gazebench.analysis.kinds.bins import paired

    parts = []
    for a, b in pairs:
        joined = paired(a, b)
        keep = joined[subset_mask(joined, subset, a)]
        parts.append(
            pd.DataFrame(
                {
                    "error_a": keep["error_deg"].to_numpy(),
                    "error_b": keep["error_deg_b"].to_numpy(),
                    "subject": keep["subject"].astype(str).to_numpy(),
                    "fold": a.fold,
                    "seed": a.seed,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def magnification_samples(pairs: list[tuple[Any, Any]], delta: int, options: dict[str, Any]) -> Any:
    """Per test sample and pair: each run's error change from δ = 0 to ``delta`` (every crop magnified)."""
    import pandas as pd

    from gazebench.analysis.kinds.magnification import magnified
    from gazebench.analysis.reevaluate import Reevaluator, base_crops

    def change(run: Any) -> Any:
        ev = Reevaluator.of(run, device=options.get("device"))
        zoomed = ev.predictions(magnified(base_crops(ev.view), delta), f"δ={delta}")
        own = run.predictions.set_index("id")["error_deg"]
        return zoomed.set_index("id")["error_deg"] - own.reindex(zoomed["id"]).to_numpy()

    parts = []
    for a, b in pairs:
        ca, cb = change(a), change(b)
        subjects = a.predictions.set_index("id")["subject"].astype(str)
        ids = ca.index.intersection(cb.index)
        parts.append(
            pd.DataFrame(
                {
                    "error_a": ca[ids].to_numpy(),
                    "error_b": cb[ids].to_numpy(),
                    "subject": subjects[ids].to_numpy(),
                    "fold": a.fold,
                    "seed": a.seed,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def paired_test(samples: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The mean difference A − B: per seed, its mean over seeds, the seeds × subjects bootstrap
    interval and p (:mod:`gazebench.analysis.replication`), and the verdict (claimed: A − B < 0)."""
    import numpy as np
    import pandas as pd

    from gazebench.analysis.replication import bootstrap_p, cell_sums, crossed_bootstrap, interval, seed_means, verdict

    if samples.empty:
        raise ConfigError("no test sample in this subset")
    seed_codes, seeds = pd.factorize(samples["seed"].astype(str), sort=True)
    subject_codes, subjects = pd.factorize(samples["subject"].astype(str), sort=True)
    diff = (samples["error_a"] - samples["error_b"]).to_numpy(np.float64)
    sums, counts = cell_sums(diff, seed_codes, subject_codes, len(seeds), len(subjects))
    boots = crossed_bootstrap(
        seed_means(sums, counts), len(seeds), len(subjects), options["resamples"], options["seed"]
    )
    lo, hi = interval(boots)
    per_seed = samples.assign(_seed=seed_codes).groupby("_seed")[["error_a", "error_b"]].mean()
    seed_diff = sums.sum(axis=1) / counts.sum(axis=1)
    result, why = verdict(lo, hi, list(seed_diff), claimed=-1)
    return {
        "seeds": len(seeds),
        "a": mean_std(per_seed["error_a"]),
        "b": mean_std(per_seed["error_b"]),
        "a_mean": float(per_seed["error_a"].mean()),
        "b_mean": float(per_seed["error_b"].mean()),
        "diff": float(seed_diff.mean()),
        "ci95_low": lo,
        "ci95_high": hi,
        "p": bootstrap_p(boots),
        "seed_values": ", ".join(f"{v:+.2f}" for v in seed_diff),
        "n": int(len(samples)),
        **subject_count(len(subjects)),
        "claimed_side": f"{int(np.sum(seed_diff < 0))}/{len(seeds)}",
        "verdict": result,
        "why": why,
    }


def subject_count(n: int) -> dict[str, Any]:
    from gazebench.analysis.replication import MIN_SUBJECTS

    return {"subjects": n, "few_subjects": n < MIN_SUBJECTS}


def sigma_test(runs: list, options: dict[str, Any]) -> dict[str, Any]:
    """Spearman's ρ between σ and the error: per seed (its runs' samples together), their mean, and
    the seeds × subjects bootstrap interval (claimed: ρ > 0)."""
    import numpy as np
    import pandas as pd

    from gazebench.analysis.replication import bootstrap_p, crossed_bootstrap, interval, seed_spearman, verdict

    if any(r.record.model.sigma_trained is False for r in runs):
        raise ConfigError(f"{runs[0].label}'s loss does not train σ: there is no uncertainty to test")
    frames = [r.predictions[["subject", "sigma", "error_deg"]].assign(seed=str(r.seed)) for r in runs]
    pooled = pd.concat(frames, ignore_index=True).dropna()
    if pooled.empty:
        raise ConfigError(f"{runs[0].label}'s predictions carry no σ")
    seed_codes, seeds = pd.factorize(pooled["seed"], sort=True)
    subject_codes, subjects = pd.factorize(pooled["subject"].astype(str), sort=True)
    sigma, error = pooled["sigma"].to_numpy(np.float64), pooled["error_deg"].to_numpy(np.float64)
    per_seed = seed_spearman(sigma, error, seed_codes, subject_codes, len(seeds), len(subjects))
    seed_rho = per_seed(np.arange(len(subjects))[None, :])[0]  # every subject once: each seed's own ρ
    boots = crossed_bootstrap(per_seed, len(seeds), len(subjects), options["resamples"], options["seed"])
    lo, hi = interval(boots)
    result, why = verdict(lo, hi, list(seed_rho), claimed=+1)
    estimate = float(np.mean(seed_rho))
    return {
        "seeds": len(seeds),
        "a": mean_std(pd.Series(seed_rho)),
        "b": "",
        "a_mean": estimate,
        "b_mean": np.nan,
        "diff": estimate,
        "ci95_low": lo,
        "ci95_high": hi,
        "p": bootstrap_p(boots),
        "seed_values": ", ".join(f"{v:+.2f}" for v in seed_rho),
        "n": int(len(pooled)),
        **subject_count(len(subjects)),
        "claimed_side": f"{int(np.sum(seed_rho > 0))}/{len(seeds)}",
        "verdict": result,
        "why": why,
    }


def mean_std(values: Any) -> str:
    """``mean ± std`` over seeds (std with ddof=1; one seed: the value alone)."""
    v = [float(x) for x in values]
    if len(v) == 1:
        return f"{v[0]:.2f}"
    import numpy as np

    return f"{np.mean(v):.2f} ± {np.std(v, ddof=1):.2f}"


COLOURS = {"reproduced": "tab:green", "not reproduced": "tab:red", "inconclusive": "tab:grey"}


def forest_figure(table: Any) -> Any:
    """Each measured paired claim: the mean difference A − B with its 95% interval (left of 0:
    the claim's direction), coloured by verdict; † marks an interval over fewer than 10 test subjects."""
    import pandas as pd

    rows = table[table["verdict"].ne("not measured") & table["test"].str.contains(" vs ")].reset_index(drop=True)
    fig, ax = new_figure(7.5, 0.5 * len(rows) + 1.6)
    for i, r in rows.iterrows():
        y = len(rows) - 1 - i
        ax.errorbar(
            [r["diff"]],
            [y],
            xerr=[[r["diff"] - r["ci95_low"]], [r["ci95_high"] - r["diff"]]],
            fmt="o",
            color=COLOURS.get(r["verdict"], "k"),
            capsize=3,
        )
    ax.axvline(0.0, color="k", linewidth=0.8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(
        [
            f"{r['claim']}: {r['test']}" + (" †" if r.get("few_subjects") is True else "")
            for _, r in rows.iloc[::-1].iterrows()
        ],
        fontsize=7,
    )
    few = rows.get("few_subjects", pd.Series(dtype=object)).eq(True).any()
    label_axes(
        ax,
        "A − B (degrees; < 0: the claim holds)" + ("; †: fewer than 10 test subjects" if few else ""),
        "",
        "A − B, 95% interval over seeds and subjects",
        legend=False,
    )
    return fig
