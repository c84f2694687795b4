"""``gazebench analyze findings``: each claim of the notes measured over the seeds of a suite (one
configuration per label, a seeds x subjects bootstrap, the symmetric verdict rule), on hand-made
predictions files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gazebench.analysis import resolve_runs
from gazebench.analysis.kinds.findings import CLAIMS, findings
from gazebench.analysis.replication import verdict
from gazebench.core.options import ConfigError
from tests.fixtures.make_results import identity_part
from tests.helpers import cli
from tests.test_analysis import table_of, write_run

N = 48  # samples per run: 12 per test subject
YAW = np.linspace(-170, 170, N)  # front and back views
PITCH = np.zeros(N)


def run(results, i, label, seed, error, sigma=None, subject=None, recipe=None):
    """One run's record and predictions; ``recipe`` changes its configuration (and so its identity)."""
    yaw = np.linspace(-170, 170, len(error))
    path = write_run(
        results, i, label, table_of(yaw, np.zeros(len(error)), error, subject=subject, sigma=sigma, seed=i), seed=seed
    )
    if recipe:
        rec = json.loads(path.read_text())
        rec["recipe"].update(recipe)
        rec["identity"] = identity_part(rec)
        path.write_text(json.dumps(rec, indent=1))
    return path


OPTIONS = {"resamples": 500, "seed": 0, "claims": "all", "device": None}


def verdicts(results, runs=None) -> pd.DataFrame:
    return findings(resolve_runs(runs, results), OPTIONS).table.set_index("claim")


def by_subject(values_of_subject: dict[str, float]) -> np.ndarray:
    """A per-sample difference: each test subject's value (table_of's subjects cycle s000, s004, ...)."""
    subjects = ["s000", "s004", "s008", "s012"]
    return np.array([values_of_subject[subjects[k % 4]] for k in range(N)])


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
    assert v.loc["zoom-crop", "claimed_side"] == "3/3" and v.loc["zoom-crop", "seeds"] == 3
    assert np.isclose(v.loc["zoom-crop", "diff"], -4.0) and v.loc["zoom-crop", "ci95_high"] < 0
    assert v.loc["multizoom-lstm", "verdict"] == "not reproduced"
    assert v.loc["temporal", "verdict"] == "inconclusive" and v.loc["temporal", "claimed_side"] == "2/3"
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
    write_analysis(
        analysis, runs, default_out_dir(results, "findings", runs, options), ["gazebench", "analyze", "findings"]
    )
    page = render_report(collect(results))
    for claim in CLAIMS:
        assert claim.id in page
    assert "reproduced" in page and "not measured" in page and "data:image/png;base64," in page


# --- what is paired --------------------------------------------------------------------------------


def test_a_label_holding_two_configurations_is_refused_naming_what_differs(tmp_path, capsys):
    results = tmp_path / "results"
    base = 20 + np.arange(N) % 5
    i = 0
    for seed in range(2):
        for label, error, recipe in (
            ("staticsc-175", base, {"batch_size": 16}),
            ("staticsc", base + 3, {"batch_size": 32}),
            ("staticsc", base + 9, {"batch_size": 16}),
        ):  # a second configuration
            i += 1
            run(results, i, label, seed, error, recipe=recipe)
    with pytest.raises(ConfigError) as refused:
        verdicts(results)
    message = str(refused.value)
    hashes = sorted({json.loads(p.read_text())["identity"]["hash"][:8] for p in results.rglob("staticsc/*.json")})
    assert len(hashes) == 2 and all(h in message for h in hashes)
    assert "staticsc holds 2 configurations" in message and "batch_size=16" in message and "batch_size=32" in message
    assert "--label" in message and "\n" not in message
    # on the command line: one line, no traceback, and nothing written
    assert cli("analyze", "findings", "--results", results) != 0
    err = capsys.readouterr().err.strip()
    assert "staticsc holds 2 configurations" in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (results / "analysis").exists()


def test_two_runs_of_one_configuration_fold_and_seed_are_refused(tmp_path):
    results = tmp_path / "results"
    base = 20 + np.arange(N) % 5
    paths = [
        run(results, 1, "staticsc-175", 0, base),
        run(results, 2, "staticsc", 0, base + 3),
        run(results, 3, "staticsc-175", 1, base),
        run(results, 4, "staticsc", 1, base + 3),
        run(results, 5, "staticsc", 0, base - 3),
    ]  # a re-run of staticsc seed 0: same configuration
    with pytest.raises(ConfigError) as refused:
        verdicts(results, [str(p) for p in paths])
    message = str(refused.value)
    assert "2 runs of fold default seed 0" in message and str(paths[1]) in message and str(paths[4]) in message


def test_the_table_names_each_sides_configuration_and_the_runs_paired(tmp_path):
    results = tmp_path / "results"
    base = 20 + np.arange(N) % 5
    a = [run(results, 1 + seed, "staticsc-175", seed, base) for seed in range(3)]
    b = [run(results, 4 + seed, "staticsc", seed, base + 2, recipe={"batch_size": 16}) for seed in range(2)]
    row = verdicts(results).loc["zoom-crop"]
    assert row["a_identity"] == json.loads(a[0].read_text())["identity"]["hash"][:8]
    assert row["b_identity"] == json.loads(b[0].read_text())["identity"]["hash"][:8] != row["a_identity"]
    assert row["paired"] == "seeds 0, 1 (2 pairs); without a partner: staticsc-175 seed 2"
    assert row["seeds"] == 2 and row["seed_values"] == "-2.00, -2.00"


# --- the statistics: the seed is the unit of replication --------------------------------------------


def test_seed_to_seed_variance_widens_the_interval_where_pooled_samples_looked_certain(tmp_path):
    """Every seed favours A, and every sample of a seed agrees closely with its subject's value, so the
    pooled 3 x 48 differences are overwhelmingly significant; but only seed 0 shows a large gain, and
    the two other seeds' small gains come from two of the four test subjects. A new seed may well show
    none: the interval over seeds and subjects includes 0."""
    results = tmp_path / "results"
    rng = np.random.default_rng(1)
    for seed in range(3):
        base = 20 + rng.uniform(0, 10, N)
        gain = (
            by_subject({"s000": -8, "s004": -8, "s008": -8, "s012": -8})
            if seed == 0
            else by_subject({"s000": 2.5, "s004": -3.5, "s008": 2.5, "s012": -3.5})
        )
        run(results, 2 * seed + 1, "staticsc", seed, base)
        run(results, 2 * seed + 2, "staticsc-175", seed, base + gain + rng.normal(0, 0.1, N))
    row = verdicts(results).loc["zoom-crop"]
    assert row["claimed_side"] == "3/3" and np.isclose(row["diff"], (-8 - 0.5 - 0.5) / 3, atol=0.05)
    assert row["ci95_low"] < -7 and row["ci95_high"] > 0
    assert row["verdict"] == "inconclusive" and "includes 0" in row["why"]


def test_the_verdict_rule_is_symmetric(tmp_path):
    """Five seeds: 'not reproduced' needs every seed on the opposite side, as 'reproduced' needs every
    seed on the claimed side."""
    results = tmp_path / "results"
    rng = np.random.default_rng(2)
    d = [6, 6, 6, 6, -0.5]  # staticsc-175 − staticsc per seed: worse in four seeds, better in one
    i = 0
    for seed in range(5):
        base = 20 + rng.uniform(0, 10, N)
        noise = rng.normal(0, 0.05, N)
        for label, error in (
            ("staticsc", base),
            ("staticsc-175", base + d[seed] + noise),
            ("staticsclstm", base),
            ("staticsclstmsym", base - d[seed] - noise),  # the mirror
            ("static", base),
            ("seqlstm", base + 6 + noise),
            ("seqsclstmsym", base - d[seed] - noise - 6),
        ):
            i += 1
            run(results, i, label, seed, error)
    v = verdicts(results)
    zoom, mirror = v.loc["zoom-crop"], v.loc["symmetric"]
    assert zoom["ci95_low"] > 0 and zoom["claimed_side"] == "1/5"  # the interval is on the opposite side ...
    assert zoom["verdict"] == "inconclusive" and "seeds disagree" in zoom["why"]  # ... but one seed is not
    assert mirror["ci95_high"] < 0 and mirror["claimed_side"] == "4/5" and mirror["verdict"] == "inconclusive"
    assert np.isclose(zoom["ci95_low"], -mirror["ci95_high"]) and np.isclose(zoom["ci95_high"], -mirror["ci95_low"])
    assert v.loc["temporal", "verdict"] == "not reproduced" and v.loc["temporal", "claimed_side"] == "0/5"
    assert v.loc["temporal-sincos", "verdict"] == "reproduced" and v.loc["temporal-sincos", "claimed_side"] == "5/5"


def test_the_rule_mirrors_and_one_seed_replicates_nothing():
    for lo, hi, seeds in ((-3, -1, [-2, -1.5]), (-3, -1, [-2, 0.5]), (-1, 2, [-1, -1]), (1, 3, [2, 2, 2])):
        forward, why = verdict(lo, hi, seeds, claimed=-1)
        mirrored, _ = verdict(-hi, -lo, [-s for s in seeds], claimed=-1)
        flipped = {"reproduced": "not reproduced", "not reproduced": "reproduced", "inconclusive": "inconclusive"}
        assert mirrored == flipped[forward], (lo, hi, seeds, why)
        assert verdict(-hi, -lo, [-s for s in seeds], claimed=+1)[0] == forward
    assert verdict(-3, -1, [-2], claimed=-1)[0] == "inconclusive"


def test_an_interval_over_fewer_than_ten_test_subjects_is_flagged(tmp_path):
    few, many = tmp_path / "few", tmp_path / "many"
    for seed in range(2):
        base = 20 + np.arange(N) % 5
        for results, subjects in ((few, None), (many, [f"p{k % 12:02d}" for k in range(N)])):
            run(results, 2 * seed + 1, "staticsc", seed, base + 2, subject=subjects)
            run(results, 2 * seed + 2, "staticsc-175", seed, base, subject=subjects)
    flagged = findings(resolve_runs(None, few), OPTIONS)
    assert flagged.table.set_index("claim").loc["zoom-crop", ["subjects", "few_subjects"]].tolist() == [4, True]
    assert any("fewer than 10 test subjects" in note and "zoom-crop" in note for note in flagged.notes)
    clear = findings(resolve_runs(None, many), OPTIONS)
    assert clear.table.set_index("claim").loc["zoom-crop", ["subjects", "few_subjects"]].tolist() == [12, False]
    assert not any("fewer than 10" in note for note in clear.notes)


def test_the_bootstrap_spearman_is_scipys_on_the_drawn_samples():
    """σ's resampled ρ, computed by weights, equals scipy's ρ of the concatenated draw (ties included)."""
    from scipy.stats import spearmanr

    from gazebench.analysis.replication import seed_spearman

    rng = np.random.default_rng(3)
    n = 60
    x, y = np.round(rng.normal(0, 1, n), 1), np.round(rng.normal(0, 1, n), 1)  # rounded: many ties
    seeds, subjects = np.repeat([0, 1], n // 2), rng.integers(0, 5, n)
    draws = rng.integers(0, 5, size=(7, 5))
    got = seed_spearman(x, y, seeds, subjects, 2, 5)(draws)
    for b, draw in enumerate(draws):
        for s in range(2):
            take = np.concatenate([np.flatnonzero((seeds == s) & (subjects == k)) for k in draw])
            assert np.isclose(got[b, s], spearmanr(x[take], y[take]).statistic)
