"""Re-evaluating saved runs with other crops: the engine (gazebench.analysis.reevaluate) and the
``magnification``, ``oracle`` and ``order`` kinds.  The pure parts are checked on hand-made crop
lists and error arrays; the rest on two tiny runs trained once (32 px, test backbone)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gazebench.analysis import get_kind, resolve_runs, write_analysis
from gazebench.analysis.kinds.magnification import magnified, random_masks, variants
from gazebench.analysis.kinds.oracle import choice_shares, nested_sets, oracle_errors, oracle_rows
from gazebench.analysis.kinds.order import NOTES_LISTS, order_variants
from gazebench.analysis.reevaluate import CACHE_DIR, Reevaluator, cache_key, crop_px, px_crops, unscored, with_crops
from gazebench.cli import main
from gazebench.core.options import ConfigError
from gazebench.datasets.views import ViewSpec

NOTES = Path(__file__).resolve().parents[2] / "shared" / "seed" / "research-notes.md"
SYMMETRIC = (224, 200, 175, 150, 175, 200, 224)


# --- magnification: the crop rule -------------------------------------------------------------


@pytest.mark.parametrize(
    "delta, logged",
    [  # research-notes.md lines 617-641 (log_model10_42)
        (80, (144, 128, 112, 96, 112, 128, 144)),
        (50, (174, 155, 135, 116, 135, 155, 174)),
        (10, (214, 191, 167, 143, 167, 191, 214)),
    ],
)
def test_every_crop_shrinks_as_the_notes_logged(delta, logged):
    assert tuple(crop_px(c) for c in magnified(px_crops(SYMMETRIC), delta)) == logged


def test_a_static_crop_shrinks_as_the_notes_logged():
    # log_model9_74, research-notes.md lines 675-692: CenterCrop(175) at δ = 10, 60, 80
    for delta, logged in ((10, 167), (60, 128), (80, 112)):
        assert crop_px(magnified(px_crops([175]), delta)[0]) == logged


def test_zero_delta_keeps_any_crop_exactly():
    crops = (1.0, 0.78, 0.5)  # 0.78 is not a whole number of px of 224
    assert magnified(crops, 0) == crops


def test_single_view_variants_change_only_their_view():
    crops = px_crops((224, 200, 150))
    found = variants(crops, [0, 40], single=True, masks=[])
    assert len(found) == 2 * (1 + len(crops))
    for v in found:
        if v["variant"].startswith("view "):
            k = int(v["variant"].split()[1]) - 1
            changed = [i for i, (a, b) in enumerate(zip(v["crops"], crops)) if a != b]
            assert changed == ([k] if v["delta"] else [])
    assert not any(v["variant"].startswith("view") for v in variants(crops[:1], [0, 40], True, []))


def test_random_masks_are_seeded():
    assert random_masks(7, 3, seed=5) == random_masks(7, 3, seed=5)
    assert random_masks(7, 3, seed=5) != random_masks(7, 3, seed=6)
    assert all(len(m) == 7 for m in random_masks(7, 3, seed=5))


# --- oracle: pure functions on hand-made errors ------------------------------------------------


def test_oracle_of_two_crops_is_the_per_sample_minimum():
    errors = {224: np.array([5.0, 1.0, 7.0, 2.0]), 150: np.array([3.0, 4.0, 7.5, 0.5])}
    assert np.array_equal(oracle_errors(errors, [224, 150]), np.minimum(errors[224], errors[150]))
    rows = {r["crops"]: r for r in oracle_rows(errors, [224, 150])}
    assert rows["{224}"]["oracle_mean"] == pytest.approx(errors[224].mean())
    assert rows["{150,224}"]["oracle_mean"] == pytest.approx(np.minimum(errors[224], errors[150]).mean())
    assert choice_shares(errors, [224, 150]) == {224: 0.5, 150: 0.5}


def test_nested_sets_grow_from_the_largest_crop_and_never_get_worse():
    crops = [150, 224, 200, 175]
    assert nested_sets(crops) == [(224,), (224, 200), (224, 200, 175), (224, 200, 175, 150)]
    rng = np.random.default_rng(0)
    errors = {c: rng.uniform(0, 30, 50) for c in crops}
    rows = oracle_rows(errors, crops)
    means = [r["oracle_mean"] for r in rows]
    assert means == sorted(means, reverse=True)
    assert all(r["gain"] >= 0 and r["oracle_mean"] <= r["best_single_mean"] for r in rows)
    assert sum(choice_shares(errors, crops).values()) == pytest.approx(1.0)


# --- order: the crop lists -----------------------------------------------------------------------


def test_order_variants_are_seeded_permutations_and_constant_lists():
    crops = px_crops((224, 212, 199, 187, 174, 162, 150))
    found = {v["variant"]: v["crops"] for v in order_variants(crops, shuffles=2, seed=3, notes_lists=False)}
    assert found["own"] == crops and found["reversed"] == crops[::-1]
    for name in ("shuffled 1", "shuffled 2"):
        assert sorted(found[name]) == sorted(crops)
    assert found == {v["variant"]: v["crops"] for v in order_variants(crops, 2, 3, False)}
    assert all(len(set(found[f"same {crop_px(c)}"])) == 1 for c in crops)


def test_the_notes_lists_apply_to_seven_views_only():
    seven = order_variants(px_crops(SYMMETRIC), 0, 0, True)
    assert {v["variant"] for v in seven} >= {f"notes {k}" for k in NOTES_LISTS}
    assert not any(v["variant"].startswith("notes") for v in order_variants(px_crops((224, 200, 175, 150)), 0, 0, True))


def test_the_notes_lists_are_where_they_say():
    if not NOTES.is_file():
        pytest.skip(f"{NOTES} is not here")
    lines = NOTES.read_text().splitlines()
    for name, listed in NOTES_LISTS.items():
        line = lines[listed.line - 1].replace(" ", "")
        assert line.startswith(f"{name}.") and str(listed.notes_error) in line
        if len(set(listed.crops)) > 1:
            assert "[" + ",".join(map(str, listed.crops)) + "]" in line
        else:
            assert f"[{listed.crops[0]}]*7" in line


# --- views and the cache key -----------------------------------------------------------------------


def test_own_crops_give_the_own_view_and_other_crops_another_key():
    view = ViewSpec((0,), px_crops((224, 175)))
    assert with_crops(view, px_crops((224, 175))) is view
    assert with_crops(ViewSpec(), [1.0]) == ViewSpec()  # no crop is a 224 crop
    other = with_crops(view, px_crops((175, 224)))
    assert cache_key(other, "a") != cache_key(view, "a") != cache_key(view, "b")
    with pytest.raises(ConfigError, match="needs 2 crops"):
        with_crops(view, [1.0])


# --- two tiny trained runs -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models on one torch thread (OMP_NUM_THREADS keeps build_setup from raising it): more
    threads only fight over the cores with whatever else runs."""
    import torch

    before = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        torch.set_num_threads(1)
        yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(one_thread, tiny_synth, tmp_path_factory):
    """A staticsclstmsym and a static run, one epoch each: (results folder, {label: RunRef})."""
    base = tmp_path_factory.mktemp("reeval")
    results = base / "results"
    rc = main(
        [
            "run",
            "--dataset",
            "synthgaze",
            "--root",
            str(tiny_synth),
            "--model",
            "staticsclstmsym,static",
            "--epochs",
            "1",
            "--backbone",
            "test_resnet",
            "--set",
            "image_size=32",
            "--set",
            "num_workers=0",
            "--results",
            str(results),
            "--runs",
            str(base / "runs"),
            "--quiet",
        ]
    )
    assert rc == 0
    return results, {r.label: r for r in resolve_runs(None, results)}


def test_magnification_at_zero_is_the_runs_own_test_error(trained):
    results, runs = trained
    run = runs["staticsclstmsym"]
    analysis = get_kind("magnification")([run], {"deltas": [0, 40], "single": True})
    table = analysis.table
    zero = table[(table["variant"] == "all") & (table["delta"] == 0)].iloc[0]
    assert zero["mean"] == pytest.approx(run.record.metrics["all"].mean, abs=1e-4)
    assert set(table["variant"]) == {"all"} | {f"view {k}" for k in range(1, 8)}
    assert any("reproduces" in n for n in analysis.notes)
    ev = Reevaluator.of(run)
    own = ev.predictions()  # from the cache: the same samples and errors as the run's file
    pd.testing.assert_series_equal(own["error_deg"], run.predictions["error_deg"], check_exact=False, atol=1e-4)
    assert list(own["id"]) == list(run.predictions["id"])
    manifest = write_analysis(analysis, [run], results / "analysis" / "mag", ["gazebench", "analyze"])
    written = json.loads(manifest.read_text())
    assert written["figures"] and all((manifest.parent / f).stat().st_size > 0 for f in written["figures"])


def test_a_second_analysis_reads_the_cache_beside_the_run(trained):
    _, runs = trained
    run = runs["staticsclstmsym"]
    first = get_kind("magnification")([run], {"deltas": [0, 20], "single": False})
    cache = run.run_dir / CACHE_DIR
    files = sorted(cache.glob("*.csv"))
    assert files and all(f.with_suffix(".json").is_file() for f in files)
    about = json.loads(files[0].with_suffix(".json").read_text())
    assert about["checkpoint"].endswith("best.pt") and len(about["crops"]) == 7
    again = get_kind("magnification")([run], {"deltas": [0, 20], "single": False})
    assert again.device is None  # no model ran: every view came from the cache
    pd.testing.assert_frame_equal(first.table, again.table)
    assert sorted(cache.glob("*.csv")) == files


def test_oracle_takes_the_static_run_and_leaves_the_lstm_out(trained):
    _, runs = trained
    analysis = get_kind("oracle")(list(runs.values()), {"crops": [224, 150]})
    assert set(analysis.table["run"]) == {"static"}
    assert any("left out staticsclstmsym" in n for n in analysis.notes)
    ev = Reevaluator.of(runs["static"])
    a, b = (ev.predictions(px_crops([c]))["error_deg"].to_numpy() for c in (224, 150))
    row = analysis.table.set_index("crops").loc["{150,224}"]
    assert row["oracle_mean"] == pytest.approx(np.minimum(a, b).mean())
    with pytest.raises(ConfigError, match="no run to re-evaluate"):
        get_kind("oracle")([runs["staticsclstmsym"]], {"crops": [224]})


def test_order_reproduces_the_own_list_as_notes_a_and_reversed(trained):
    _, runs = trained
    analysis = get_kind("order")([runs["staticsclstmsym"]], {"shuffles": 1})
    means = analysis.table.set_index("variant")["mean"]
    assert means["notes a"] == means["own"] == means["reversed"]  # a is the training list; it is symmetric
    assert means["notes b"] == means["same 224"]
    assert analysis.table.set_index("variant").loc["own", "vs_own"] == 0


def test_a_run_without_a_checkpoint_or_test_labels_is_left_out(trained, tmp_path):
    _, runs = trained
    record = runs["static"].record
    with pytest.raises(ConfigError, match="has no checkpoint"):
        Reevaluator(record, tmp_path)
    assert unscored(record) is None
    assert "withheld" in unscored(record.model_copy(update={"metrics": {}}))  # a predict-only run: no errors
