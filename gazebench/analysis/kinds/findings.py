"""``findings``: each effect the research notes claim, measured over a suite's runs, with a verdict.

A claim names the runs it needs by leaderboard label (the ``synthgaze-paper`` suite's labels) and
one of three tests:

- ``paired``: model A has a lower angular error than model B on a gaze subset.  The runs of A and
  B are paired by fold and seed, their test samples joined by id (two runs on different test
  populations are refused), and the pooled per-sample differences A − B go through
  ``gazebench compare``'s statistics (:func:`gazebench.compare.sample_statistics`: mean, a 95%
  bootstrap interval that resamples whole test subjects, the Wilcoxon signed-rank p-value).
- ``magnification``: A's error grows less than B's when every crop is shrunk by δ px of 224 (the
  ``magnification`` analysis's re-evaluation from ``best.pt``, cached in the run folders); the
  per-sample quantity is the change of the error from δ = 0 to δ, then as ``paired``.
- ``sigma``: the predicted σ of model A ranks its errors (Spearman's ρ between σ and the error, >
  0); the interval resamples test subjects of the pooled runs.

Verdicts, the same rule for every claim: **reproduced** when the interval excludes 0 on the
claimed side, p < 0.05 (paired tests) and the claimed direction holds in every seed;
**not reproduced** when the interval excludes 0 on the other side; otherwise **inconclusive**
(no significant difference, or seeds that disagree).  A claim whose runs are missing is reported
as *not measured* with what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gazebench.analysis.base import Analysis, label_axes, new_figure, register_kind
from gazebench.analysis.reevaluate import DEVICE_OPTION
from gazebench.options import ConfigError, Option, integer, one_of

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
    Claim("zoom-crop", "A centre zoom crop (175 of 224 px) beats the whole head image", f"{NOTES} line 800",
          "paired", "staticsc-175", "staticsc"),
    Claim("zoom-crop-small-heads", "... most of all where the head is small in the frame", f"{NOTES} lines 800, 850",
          "paired", "staticsc-175", "staticsc", "small_head"),
    Claim("multizoom-lstm", "An LSTM over zoom crops of one image beats the single 175 px crop",
          f"{NOTES} lines 308, 800", "paired", "staticsclstmsym", "staticsc-175"),
    Claim("symmetric", "A symmetric crop list (224…150…224, bidirectional) beats the monotone one",
          f"{NOTES} lines 586, 797, 830", "paired", "staticsclstmsym", "staticsclstm"),
    Claim("sincos-back", "Sin-cos targets beat raw angles on back views (yaw wraps around ±180°)",
          "SPEC.md §3 (sin-cos head); notes line 808", "paired", "staticsc", "static", "back"),
    Claim("temporal", "A temporal model (7 frames) beats the static one on smooth sequences",
          f"{NOTES} lines 60-62", "paired", "seqlstm", "static"),
    Claim("temporal-sincos", "... and with sin-cos targets and zoom: seqsclstmsym beats staticsclstmsym",
          f"{NOTES} lines 60-62, applied to the sin-cos multi-zoom pair", "paired", "seqsclstmsym", "staticsclstmsym"),
    Claim("magnification", "Multi-zoom fusion degrades more slowly under magnification than a single crop",
          f"{NOTES} lines 596-611, 612-642", "magnification", "staticsclstmsym", "staticsc-175", extra={"delta": 80}),
    Claim("sigma", "The predicted σ tracks the error (higher σ, larger error)",
          f"{NOTES} line 304 (σ to pick the zoom); SPEC.md §3 (pinball σ)",
          "sigma", "staticsclstmsym"),
)

#: head width below this fraction of the crop is a "small head" (SynthGaze's ``distance`` column)
SMALL_HEAD = 0.4


@register_kind("findings", "each claim of the research notes measured over a suite's runs (paired test, "
               "interval, seeds) with a verdict: reproduced / not reproduced / inconclusive", options={
    "resamples": Option(2000, integer(100), "bootstrap resamples"),
    "seed": Option(0, integer(0), "bootstrap seed"),
    "claims": Option("all", one_of("all", *[c.id for c in CLAIMS]), "one claim, or all"),
    "device": DEVICE_OPTION,
})
def findings(runs: list, options: dict[str, Any]) -> Analysis:
    import pandas as pd

    by_label: dict[str, list] = {}
    for run in runs:
        by_label.setdefault(run.label, []).append(run)
    rows, notes = [], []
    for claim in CLAIMS:
        if options["claims"] not in ("all", claim.id):
            continue
        try:
            rows.append({**describe(claim), **measure(claim, by_label, options)})
        except ConfigError as exc:
            rows.append({**describe(claim), "verdict": "not measured", "why": str(exc)})
    table = pd.DataFrame(rows)
    figures = [("findings.png", forest_figure(table))] if table["verdict"].ne("not measured").any() else []
    notes.append("paired claims: A − B per test sample pooled over the paired seeds, 95% interval of a "
                 f"subject bootstrap ({options['resamples']} resamples, seed {options['seed']}), Wilcoxon p; "
                 "reproduced = interval on the claimed side, p < 0.05 and the claimed direction in every seed")
    return Analysis("findings", "The research notes' claims, measured", table, figures, notes)


def describe(claim: Claim) -> dict[str, Any]:
    what = {"paired": f"{claim.a} vs {claim.b}" + ("" if claim.subset == "all" else f" ({claim.subset})"),
            "magnification": f"{claim.a} vs {claim.b}: error change at δ = {claim.extra.get('delta')}",
            "sigma": f"Spearman(σ, error) of {claim.a}"}[claim.test]
    return {"claim": claim.id, "text": claim.text, "source": claim.source, "test": what}


def measure(claim: Claim, by_label: dict[str, list], options: dict[str, Any]) -> dict[str, Any]:
    if claim.test == "sigma":
        return sigma_test(runs_of(claim.a, by_label), options)
    pairs = paired_runs(runs_of(claim.a, by_label), runs_of(claim.b, by_label))
    if claim.test == "magnification":
        samples = magnification_samples(pairs, int(claim.extra["delta"]), options)
    else:
        samples = error_samples(pairs, claim.subset)
    return paired_test(samples, options)


def runs_of(label: str, by_label: dict[str, list]) -> list:
    if label not in by_label:
        raise ConfigError(f"no runs labelled {label!r} (there: {', '.join(sorted(by_label)) or 'none'})")
    return by_label[label]


def paired_runs(a: list, b: list) -> list[tuple[Any, Any]]:
    """Runs of A and B with the same fold and seed."""
    keyed = {(r.fold, str(r.seed)): r for r in b}
    pairs = [(r, keyed[(r.fold, str(r.seed))]) for r in a if (r.fold, str(r.seed)) in keyed]
    if not pairs:
        raise ConfigError(f"no fold and seed shared by {a[0].label} and {b[0].label}")
    return pairs


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

    root = run.record.get("dataset", {}).get("root")
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


def error_samples(pairs: list[tuple[Any, Any]], subset: str) -> "Any":
    """compare's paired-sample table (error_a, error_b, subject, fold, seed) of every pair, on ``subset``."""
    import pandas as pd

    from gazebench.analysis.kinds.bins import paired

    parts = []
    for a, b in pairs:
        joined = paired(a, b)
        keep = joined[subset_mask(joined, subset, a)]
        parts.append(pd.DataFrame({"error_a": keep["error_deg"].to_numpy(), "error_b": keep["error_deg_b"].to_numpy(),
                                   "subject": keep["subject"].astype(str).to_numpy(), "fold": a.fold, "seed": a.seed}))
    return pd.concat(parts, ignore_index=True)


def magnification_samples(pairs: list[tuple[Any, Any]], delta: int, options: dict[str, Any]) -> "Any":
    """Per test sample and pair: each run's error change from δ = 0 to ``delta`` (every crop magnified)."""
    import pandas as pd

    from gazebench.analysis.kinds.magnification import magnified
    from gazebench.analysis.reevaluate import Reevaluator, base_crops

    def change(run: Any) -> "Any":
        ev = Reevaluator.of(run, device=options.get("device"))
        zoomed = ev.predictions(magnified(base_crops(ev.view), delta), f"δ={delta}")
        own = run.predictions.set_index("id")["error_deg"]
        return zoomed.set_index("id")["error_deg"] - own.reindex(zoomed["id"]).to_numpy()

    parts = []
    for a, b in pairs:
        ca, cb = change(a), change(b)
        subjects = a.predictions.set_index("id")["subject"].astype(str)
        ids = ca.index.intersection(cb.index)
        parts.append(pd.DataFrame({"error_a": ca[ids].to_numpy(), "error_b": cb[ids].to_numpy(),
                                   "subject": subjects[ids].to_numpy(), "fold": a.fold, "seed": a.seed}))
    return pd.concat(parts, ignore_index=True)


def paired_test(samples: "Any", options: dict[str, Any]) -> dict[str, Any]:
    """compare's statistics of the pooled samples, each seed's means, and the verdict."""
    from gazebench.compare import ALPHA, sample_statistics

    if samples.empty:
        raise ConfigError("no test sample in this subset")
    stats = sample_statistics(samples, "subject", options["resamples"], options["seed"])
    per_seed = samples.groupby(["fold", "seed"])[["error_a", "error_b"]].mean()
    lo, hi = stats["ci95"]
    a_wins = int((per_seed["error_a"] < per_seed["error_b"]).sum())
    seeds = len(per_seed)
    if hi < 0 and stats["wilcoxon_p"] < ALPHA and a_wins == seeds:
        verdict, why = "reproduced", "significant in the claimed direction, in every seed"
    elif lo > 0 and stats["wilcoxon_p"] < ALPHA:
        verdict, why = "not reproduced", "the opposite is significant"
    else:
        verdict = "inconclusive"
        why = ("seeds disagree" if hi < 0 and stats["wilcoxon_p"] < ALPHA
               else "no significant difference at 0.05")
    return {"seeds": seeds, "a": mean_std(per_seed["error_a"]), "b": mean_std(per_seed["error_b"]),
            "a_mean": stats["mean_a"], "b_mean": stats["mean_b"], "diff": stats["mean_diff"],
            "ci95_low": lo, "ci95_high": hi, "p": stats["wilcoxon_p"], "n": stats["n"],
            "subjects": stats["subjects"], "a_better_seeds": f"{a_wins}/{seeds}", "verdict": verdict, "why": why}


def sigma_test(runs: list, options: dict[str, Any]) -> dict[str, Any]:
    """Spearman's ρ between σ and the error: per run, and pooled with a subject-bootstrap interval."""
    import numpy as np
    import pandas as pd
    from scipy.stats import spearmanr

    if not all((r.record.get("model") or {}).get("sigma_trained", True) for r in runs):
        raise ConfigError(f"{runs[0].label}'s loss does not train σ: there is no uncertainty to test")
    frames = [r.predictions[["subject", "sigma", "error_deg"]].assign(run=r.unit_id) for r in runs]
    pooled = pd.concat(frames, ignore_index=True).dropna()
    if pooled.empty:
        raise ConfigError(f"{runs[0].label}'s predictions carry no σ")
    per_run = [float(spearmanr(f["sigma"], f["error_deg"]).statistic) for f in frames]
    rho = float(spearmanr(pooled["sigma"], pooled["error_deg"]).statistic)
    rng = np.random.default_rng(options["seed"])
    subjects = pooled["subject"].astype(str).to_numpy()
    names = np.unique(subjects)
    rows_of = {s: np.flatnonzero(subjects == s) for s in names}
    sigma, error = pooled["sigma"].to_numpy(), pooled["error_deg"].to_numpy()
    boots = []
    for _ in range(options["resamples"]):
        take = np.concatenate([rows_of[s] for s in rng.choice(names, len(names))])
        boots.append(spearmanr(sigma[take], error[take]).statistic)
    lo, hi = (float(v) for v in np.nanpercentile(boots, [2.5, 97.5]))
    positive = sum(v > 0 for v in per_run)
    if lo > 0 and positive == len(per_run):
        verdict, why = "reproduced", "ρ > 0 with its interval, in every seed"
    elif hi < 0:
        verdict, why = "not reproduced", "ρ < 0 with its interval"
    else:
        verdict, why = "inconclusive", "the interval includes 0 or seeds disagree"
    return {"seeds": len(runs), "a": mean_std(pd.Series(per_run)), "b": "", "a_mean": rho, "b_mean": np.nan,
            "diff": rho, "ci95_low": lo, "ci95_high": hi, "p": np.nan, "n": int(len(pooled)),
            "subjects": len(names), "a_better_seeds": f"{positive}/{len(per_run)}", "verdict": verdict, "why": why}


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
    the claim's direction), coloured by verdict."""
    rows = table[table["verdict"].ne("not measured") & table["test"].str.contains(" vs ")].reset_index(drop=True)
    fig, ax = new_figure(7.5, 0.5 * len(rows) + 1.6)
    for i, r in rows.iterrows():
        y = len(rows) - 1 - i
        ax.errorbar([r["diff"]], [y], xerr=[[r["diff"] - r["ci95_low"]], [r["ci95_high"] - r["diff"]]],
                    fmt="o", color=COLOURS.get(r["verdict"], "k"), capsize=3)
    ax.axvline(0.0, color="k", linewidth=0.8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{r['claim']}: {r['test']}" for _, r in rows.iloc[::-1].iterrows()], fontsize=7)
    label_axes(ax, "A − B (degrees; < 0: the claim holds)", "", "Paired difference, 95% interval",
               legend=False)
    return fig
