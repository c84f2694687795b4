"""``gazebench analyze findings``: each claim of the notes measured with compare's paired
statistics over the seeds of a suite, and its verdict, on hand-made predictions files."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gazebench.analysis import resolve_runs
from gazebench.analysis.kinds.findings import CLAIMS, findings
from tests.test_analysis import table_of, write_run

N = 48  # samples per run: 12 per test subject
YAW = np.linspace(-170, 170, N)  # front and back views
PITCH = np.zeros(N)


def run(results, i, label, seed, error, sigma=None):
    write_run(results, i, label, table_of(YAW, PITCH, error, sigma=sigma, seed=i), seed=seed)


def verdicts(results) -> pd.DataFrame:
    table = findings(resolve_runs(None, results), {"resamples": 500, "seed": 0, "claims": "all", "device": None}).table
    return table.set_index("claim")


def test_each_claim_gets_its_verdict_from_the_paired_seeds(tmp_path):
    results = tmp_path / "results"
    rng = np.random.default_rng(0)
    i = 0
    for seed in range(3):
        base = 20 + rng.uniform(0, 10, N)
        for label, error, sigma in (
            ("staticsc", base + 4, None),
            ("staticsc-175", base, None),  # better by 4 everywhere: reproduced
            ("staticsclstmsym", base + 6, base + 6),  # worse than the 175 crop: not reproduced; sigma = error
            ("static", base + 1, None),
            ("seqlstm", base + 1 + (3 if seed == 0 else -3), None),  # seeds disagree: inconclusive
        ):
            i += 1
            run(results, i, label, seed, error, sigma)
    v = verdicts(results)
    assert v.loc["zoom-crop", "verdict"] == "reproduced"
    assert v.loc["zoom-crop", "a_better_seeds"] == "3/3" and v.loc["zoom-crop", "seeds"] == 3
    assert np.isclose(v.loc["zoom-crop", "diff"], -4.0) and v.loc["zoom-crop", "ci95_high"] < 0
    assert v.loc["multizoom-lstm", "verdict"] == "not reproduced"
    assert v.loc["temporal", "verdict"] == "inconclusive" and v.loc["temporal", "a_better_seeds"] == "2/3"
    assert v.loc["sigma", "verdict"] == "reproduced" and v.loc["sigma", "diff"] > 0.99  # a sigma equal to the error
    # the subset: staticsc vs static on back views only (half the samples)
    assert v.loc["sincos-back", "n"] == 3 * (np.abs(YAW) > 90).sum()
    # runs that do not exist are named, never silently skipped
    assert v.loc["symmetric", "verdict"] == "not measured" and "staticsclstm" in v.loc["symmetric", "why"]
    # a claim that re-evaluates needs the checkpoints: hand-made runs have none
    assert v.loc["magnification", "verdict"] == "not measured"
    assert list(v.index) == [c.id for c in CLAIMS]


def test_findings_are_deterministic(tmp_path):
    results = tmp_path / "results"
    for seed in range(2):
        run(results, 2 * seed + 1, "staticsc", seed, 20 + np.arange(N) % 7)
        run(results, 2 * seed + 2, "staticsc-175", seed, 19 + np.arange(N) % 5)
    a, b = verdicts(results), verdicts(results)
    pd.testing.assert_frame_equal(a, b)


def test_the_report_shows_every_claims_row(tmp_path):
    from gazebench.analysis import default_out_dir, write_analysis
    from gazebench.report import collect, render_report

    results = tmp_path / "results"
    for seed in range(2):
        run(results, 2 * seed + 1, "staticsc", seed, 20 + np.arange(N) % 7)
        run(results, 2 * seed + 2, "staticsc-175", seed, 15 + np.arange(N) % 5)
    runs = resolve_runs(None, results)
    options = {"resamples": 200, "seed": 0, "claims": "all", "device": None}
    analysis = findings(runs, options)
    write_analysis(analysis, runs, default_out_dir(results, "findings", runs, options), ["gazebench", "analyze", "findings"])
    page = render_report(collect(results))
    for claim in CLAIMS:
        assert claim.id in page
    assert "reproduced" in page and "not measured" in page and "data:image/png;base64," in page
