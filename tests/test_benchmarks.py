"""Planning: suites and single runs expanded into units the same way, ${ENV} roots, --set routing,
dry runs without data, resumable sweeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gazebench.core.config import ConfigError
from gazebench.plan import planning
from gazebench.plan.planning import expand
from gazebench.plan.suites import BenchmarkError, expand_env, get_suite, load_suites, parse_roots
from gazebench.train import runner
from tests.fixtures.make_results import predictions, record
from tests.helpers import cli

SUITES = """
benchmarks:
  grid:
    description: three models on RT-GENE's folds
    datasets:
      - {name: rtgene, root: "${GB_TEST_RTGENE}", options: {variant: original}}
    models:
      - mean
      - static
      - {name: staticsc, label: staticsc-175, kwargs: {crops: 175}}
    model_kwargs: {backbone: test_resnet}
    folds: all
    seeds: [0, 1]
    recipe: {epochs: 2, image_size: 32}
  defaults:
    datasets: [{name: rtgene, root: "${GB_TEST_UNSET:-/data/rtgene}", folds: ["0", "2"]}]
    models: [static]
  means:
    datasets: [synthgaze]
    models: [mean, {name: mean, label: mean-b}, {name: mean, label: mean-c}]
    seeds: [0, 1]
    recipe: {num_workers: 0, eval_batch_size: 64}
"""


@pytest.fixture
def suites(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "suites.yaml"
    path.write_text(SUITES)
    monkeypatch.setenv("GAZEBENCH_BENCHMARKS", str(path))
    monkeypatch.setenv("GB_TEST_RTGENE", "/data/RT-GENE")
    return path


# --- expansion ----------------------------------------------------------------------------------


def test_expansion_is_models_x_folds_x_seeds_with_labels_and_layers(suites):
    specs = expand(get_suite("grid"))
    assert len(specs) == 3 * 3 * 2
    assert {(s.fold, s.seed) for s in specs} == {(f, s) for f in "012" for s in (0, 1)}
    assert [s.row_label for s in specs[:3]] == ["mean", "static", "staticsc-175"]  # models vary fastest
    by_label = {s.row_label: s for s in specs}
    assert by_label["mean"].model_kwargs == {}  # the shared backbone is not forced on the baseline
    assert by_label["static"].model_kwargs == {"backbone": "test_resnet"}
    assert by_label["staticsc-175"].model == "staticsc"
    assert by_label["staticsc-175"].model_kwargs == {"backbone": "test_resnet", "crops": 175}
    for s in specs:
        assert s.root == "/data/RT-GENE" and s.benchmark == "grid"
        assert s.data_options == {"variant": "original"} and s.recipe == {"epochs": 2, "image_size": 32}


def test_env_default_and_missing_variable(suites, monkeypatch):
    specs = expand(get_suite("defaults"))
    assert [s.fold for s in specs] == ["0", "2"] and specs[0].root == "/data/rtgene"
    monkeypatch.delenv("GB_TEST_RTGENE")
    with pytest.raises(BenchmarkError, match=r"GB_TEST_RTGENE is not set.*export GB_TEST_RTGENE="):
        expand(get_suite("grid"))
    # a root given on the command line needs no variable
    assert expand(get_suite("grid"), roots={"rtgene": "/elsewhere"})[0].root == "/elsewhere"
    assert expand_env("${A:-x}/${B}", environ={"B": "b"}) == "x/b"


def test_set_overrides_route_per_model_and_unknown_keys_suggest(suites):
    suite = get_suite("grid")
    specs = expand(suite, {"epochs": 1, "crops": 200, "variant": "inpainted"})
    by_label = {s.row_label: s for s in specs}
    assert all(s.recipe["epochs"] == 1 for s in specs)
    assert by_label["mean"].model_kwargs == {} and by_label["static"].model_kwargs["crops"] == 200
    assert by_label["staticsc-175"].model_kwargs["crops"] == 200  # --set wins over the suite
    assert all(s.data_options == {"variant": "inpainted"} for s in specs)
    assert planning.dropped_settings(suite, {"crops": 200, "lr": 1}) == {"crops": ["mean"]}
    with pytest.raises(ConfigError, match="Did you mean 'epochs'"):
        expand(suite, {"epoch": 1})


def test_bad_suites_fail_with_a_reason(tmp_path):
    def suite(text: str, name: str = "s"):
        path = tmp_path / "b.yaml"
        path.write_text(text)
        return get_suite(name, path)

    with pytest.raises(BenchmarkError, match="Did you mean 'smoke'"):
        get_suite("smok", Path(__file__).resolve().parents[1] / "benchmarks.yaml")
    with pytest.raises(BenchmarkError, match="unknown key 'seed'.*Did you mean 'seeds'"):
        suite("benchmarks: {s: {datasets: [synthgaze], models: [mean], seed: [0]}}")
    with pytest.raises(BenchmarkError, match="label 'x' is used by two"):
        suite("benchmarks: {s: {datasets: [synthgaze], models: [{name: mean, label: x}, {name: static, label: x}]}}")
    with pytest.raises(BenchmarkError, match="no option 'crop'.*Did you mean 'crops'"):
        expand(suite("benchmarks: {s: {datasets: [synthgaze], models: [{name: static, kwargs: {crop: 1}}]}}"))
    with pytest.raises(BenchmarkError, match="fold '7' is not a fold"):
        expand(suite("benchmarks: {s: {datasets: [rtgene], models: [mean], folds: [7]}}"))
    with pytest.raises(ConfigError, match="unknown recipe key 'epoch'"):
        expand(suite("benchmarks: {s: {datasets: [synthgaze], models: [mean], recipe: {epoch: 1}}}"))
    with pytest.raises(BenchmarkError, match="expected a mapping with a 'benchmarks' key"):
        suite("- a list")


def test_a_suite_name_that_climbs_out_of_the_results_folder_is_refused_and_writes_nothing(tiny_synth, tmp_path, capsys):
    """A suite named ``../../../x`` in a --config file once wrote results/../../../x/...: the
    name is refused when the file is read, in one line naming the file, the suite and the fix."""
    config = tmp_path / "mine.yaml"
    config.write_text(
        'benchmarks:\n  "../../../x":\n    datasets: [synthgaze]\n    models: [mean]\n'
        "    recipe: {num_workers: 0, eval_batch_size: 64}\n"
    )
    out = tmp_path / "a" / "b" / "c"
    rc = cli(
        "run",
        "--benchmark",
        "../../../x",
        "--config",
        config,
        "--root",
        tiny_synth,
        "--results",
        out / "results",
        "--runs",
        out / "runs",
        "--quiet",
        "--no-table",
    )
    err = capsys.readouterr().err.strip()
    assert rc != 0 and len(err.splitlines()) == 1
    assert str(config) in err and "'../../../x'" in err and "rename it, e.g. 'x'" in err
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == ["mine.yaml"]


@pytest.mark.parametrize("name", ["..", ".hidden", "a/b", "x y", "/abs"])
def test_suite_names_that_are_not_plain_folder_names_are_refused(tmp_path, name):
    path = tmp_path / "b.yaml"
    path.write_text(json.dumps({"benchmarks": {name: {"datasets": ["synthgaze"], "models": ["mean"]}}}))
    with pytest.raises(BenchmarkError, match="rename it"):
        get_suite(name, path)
    with pytest.raises(BenchmarkError, match="rename it"):
        load_suites(path)


def test_result_and_run_paths_that_leave_their_root_are_refused(tmp_path):
    """The last guard where the paths are built, whatever the name came from."""
    from gazebench.core.paths import UnsafePathError, folder_name, inside

    assert inside(tmp_path, "suite", "a.json") == tmp_path / "suite" / "a.json"
    for parts in (["../x"], ["a", "..", "..", "x"], ["/etc/x"]):
        with pytest.raises(UnsafePathError, match="leaves its root folder"):
            inside(tmp_path / "results", *parts)
    assert [folder_name(s) for s in ("..", ".", "a/../b", "gaze360-lstm (published)")] == [
        "unnamed",
        "unnamed",
        "a-..-b",
        "gaze360-lstm-published",
    ]
    spec = next(
        s
        for s in expand(get_suite("smoke", Path(__file__).resolve().parents[1] / "benchmarks.yaml"))
        if s.model == "mean"
    )
    import dataclasses

    spec = dataclasses.replace(spec, label="..")  # a label of dots once named the dataset folder's parent
    unit = planning.plan_unit(spec, tmp_path / "r", tmp_path / "runs")
    assert unit.result_path.parent.name == "unnamed" and unit.run_dir.parent.name == "unnamed"


def test_a_suite_that_bypasses_the_name_check_still_cannot_write_outside_the_roots(tmp_path, monkeypatch, capsys):
    """Defence in depth: however a suite got its name, its results and runs folders stay inside."""
    import dataclasses

    from gazebench.plan import suites

    smoke = get_suite("smoke", Path(__file__).resolve().parents[1] / "benchmarks.yaml")
    monkeypatch.setattr(suites, "get_suite", lambda name, path=None: dataclasses.replace(smoke, name="../../x"))
    rc = cli(
        "run",
        "--benchmark",
        "whatever",
        "--results",
        tmp_path / "a" / "results",
        "--runs",
        tmp_path / "a" / "runs",
        "--dry-run",
    )
    err = capsys.readouterr().err.strip()
    assert rc != 0 and len(err.splitlines()) == 1 and "leaves its root folder" in err
    assert str(tmp_path / "a" / "results") in err


def test_roots_from_the_command_line():
    assert parse_roots(["/x"], ["synthgaze"]) == {"synthgaze": "/x"}
    assert parse_roots(["rtgene=/r", "gaze360=/g"], ["gaze360", "rtgene"]) == {"rtgene": "/r", "gaze360": "/g"}
    with pytest.raises(BenchmarkError, match="say which one as --root NAME=DIR"):
        parse_roots(["/x"], ["gaze360", "rtgene"])


def test_shipped_suites_expand(monkeypatch):
    monkeypatch.delenv("GAZEBENCH_BENCHMARKS", raising=False)
    monkeypatch.setenv("GAZE360_ROOT", "/data/gaze360")
    monkeypatch.setenv("RTGENE_ROOT", "/data/rtgene")
    suites = load_suites()
    assert {"quickstart", "paper", "smoke", "synthgaze-paper"} <= set(suites)
    quick = suites["quickstart"]
    models = {m.name for m in quick.models}
    assert "mean" in models  # the floor every trained model is read against
    assert models & {"staticsclstm", "staticsclstmsym", "msa"}  # a multi-zoom model
    # the claims' suite: every model the findings need, three seeds each, on SynthGaze
    claims = expand(suites["synthgaze-paper"])
    from gazebench.analysis.kinds.findings import CLAIMS

    needed = {c.a for c in CLAIMS} | {c.b for c in CLAIMS if c.b}
    assert needed <= {s.row_label for s in claims} and {s.seed for s in claims} == {0, 1, 2}
    assert len(claims) == 9 * 3 and {s.dataset for s in claims} == {"synthgaze"}
    paper = expand(suites["paper"])
    assert len(paper) == (1 + 3) * 3 * 9  # gaze360 fixed split + rtgene 3 folds, 3 seeds, 9 rows
    assert {s.row_label for s in paper} >= {
        "mean",
        "static",
        "staticsc-175",
        "staticsclstm",
        "staticsclstmsym",
        "seqlstm",
        "seqsclstm",
        "seqsclstmsym",
        "msa",
    }
    static = next(s for s in paper if s.model == "static")
    assert static.model_kwargs == {"backbone": "resnet18"} and static.recipe["image_size"] == 224
    assert {s.root for s in paper} == {"/data/gaze360", "/data/rtgene"}
    # the suite sets no optimiser: each dataset's protocol (the notes' code) applies, with its weights
    unit = planning.plan([next(s for s in paper if s.dataset == "rtgene" and s.model == "static")], "r", "runs")[0]
    assert unit.recipe.lr == 3.25e-4 and unit.recipe.patience == 5 and unit.recipe.image_size == 224
    assert unit.protocol.name == "original" and unit.model_kwargs["pretrained"] == "tv_in1k"
    unit = planning.plan([next(s for s in paper if s.dataset == "gaze360" and s.model == "msa")], "r", "runs")[0]
    assert unit.protocol.name == "multizoom" and unit.model_kwargs["decode"] == "avg" and unit.recipe.batch_size == 64
    assert expand(suites["smoke"])


def test_a_single_run_is_an_anonymous_suite(suites):
    suite = planning.single_run_suite("rtgene", ["static", "mean"], [0, 1], root="/data/x")
    specs = expand(suite, {"backbone": "test_resnet", "variant": "original"})
    assert len(specs) == 3 * 2 * 2 and {s.benchmark for s in specs} == {None}
    assert {s.row_label: s.model_kwargs for s in specs} == {"static": {"backbone": "test_resnet"}, "mean": {}}
    assert {s.root for s in specs} == {"/data/x"} and all(s.data_options == {"variant": "original"} for s in specs)
    with pytest.raises(ConfigError, match="--label names one configuration"):
        planning.single_run_suite("rtgene", ["static", "mean"], [0], label="x")


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--model", "static", "--set", "crop=175"],
        ["run", "--benchmark", "grid", "--set", "crop=175"],
    ],
)
def test_an_unknown_set_key_is_the_same_error_on_a_run_and_a_suite(suites, argv, capsys):
    assert cli(*argv, "--dry-run") == 2
    err = capsys.readouterr().err
    assert "unknown setting 'crop'. Did you mean 'crops'" in err


def test_a_key_no_unit_takes_is_an_error_and_one_some_take_is_a_note(suites, capsys):
    assert cli("run", "--dataset", "rtgene", "--model", "mean", "--set", "crops=175", "--dry-run") == 2
    assert "unknown setting 'crops'" in capsys.readouterr().err
    assert cli("run", "--dataset", "rtgene", "--model", "mean,static", "--set", "crops=175", "--dry-run") == 0
    assert "note: --set crops does not apply to mean" in capsys.readouterr().err


def test_epochs_zero_is_refused_for_a_trained_model_only(suites):
    suite = planning.single_run_suite("synthgaze", ["mean", "static"], [0])
    mean, static = expand(suite, {"epochs": 0})
    assert planning.plan_unit(mean, "r", "runs").recipe.epochs == 0
    with pytest.raises(ConfigError, match="epochs=0: model 'static' is trained"):
        planning.plan_unit(static, "r", "runs")


def test_dry_run_reads_no_data(monkeypatch, tmp_path, capsys):
    """Planning asks the card only: no adapter is built, so a missing root or an unrendered
    SynthGaze is no obstacle to listing the units."""
    from gazebench.datasets.base import GazeDataset

    def refuse(self, *args, **kwargs):
        raise AssertionError("a dry run built a dataset")

    monkeypatch.setattr(GazeDataset, "__init__", refuse)
    assert (
        cli(
            "run",
            "--dataset",
            "rtgene",
            "--root",
            "/nonexistent",
            "--model",
            "static",
            "--fold",
            "all",
            "--dry-run",
            "--results",
            tmp_path,
        )
        == 0
    )
    out = capsys.readouterr().out
    assert [line.split()[:2] for line in out.splitlines() if line.startswith("rtgene")] == [
        ["rtgene", "0"],
        ["rtgene", "1"],
        ["rtgene", "2"],
    ]
    assert "run: 3 units, 0 done, 3 missing" in out
    assert (
        cli(
            "run",
            "--dataset",
            "rtgene",
            "--model",
            "static",
            "--fold",
            "0,2",
            "--seed",
            "0,1",
            "--dry-run",
            "--results",
            tmp_path,
        )
        == 0
    )
    rows = [line.split()[:4] for line in capsys.readouterr().out.splitlines() if line.startswith("rtgene")]
    assert rows == [
        ["rtgene", "0", "static", "0"],
        ["rtgene", "0", "static", "1"],
        ["rtgene", "2", "static", "0"],
        ["rtgene", "2", "static", "1"],
    ]
    assert (
        cli(
            "run",
            "--dataset",
            "synthgaze",
            "--root",
            tmp_path / "not-rendered",
            "--model",
            "mean",
            "--dry-run",
            "--results",
            tmp_path,
        )
        == 0
    )
    assert not (tmp_path / "not-rendered").exists()


# --- the command --------------------------------------------------------------------------------


def test_dry_run_lists_units_and_their_status(suites, tmp_path, capsys):
    results = tmp_path / "results"
    assert cli("run", "--benchmark", "grid", "--dry-run", "--results", results) == 0
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines() if line.startswith("rtgene")]
    assert len(lines) == 18 and all(line[4] == "missing" for line in lines)
    assert lines[0][:4] == ["rtgene", "0", "mean", "0"]
    assert "benchmark grid: 18 units, 0 done, 18 missing" in out
    first = Path(lines[0][5])
    assert first.parts[-4:-1] == ("grid", "rtgene", "mean")
    first.parent.mkdir(parents=True)
    unit_id = first.stem.rpartition("_")[2]  # a finished unit's record names its own unit
    rec = record(0, "rtgene", "1", "grid", "mean", "0", 0, predictions("rtgene", "mean", "0", 0), None)
    first.write_text(json.dumps({**rec, "unit_id": unit_id}))
    assert cli("run", "--benchmark", "grid", "--dry-run", "--results", results, "--model", "mean", "--fold", "0") == 0
    out = capsys.readouterr().out
    assert "benchmark grid: 2 units, 1 done, 1 missing" in out
    assert not any((tmp_path / "runs").rglob("*"))  # a dry run trains nothing


def _spy(monkeypatch, fail_on: int | None = None) -> list:
    calls = []
    real = runner.run_unit

    def spy(unit, *args, **kwargs):
        calls.append((unit.label, unit.spec.seed))
        if fail_on is not None and len(calls) == fail_on:
            raise RuntimeError("killed")
        return real(unit, *args, **kwargs)

    monkeypatch.setattr(runner, "run_unit", spy)
    return calls


def _stamps(*folders: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for f in folders for p in f.rglob("*") if p.is_file()}


def test_killed_sweep_resumes_with_only_the_missing_units(suites, tiny_synth, tmp_path, monkeypatch, capsys):
    args = [
        "run",
        "--benchmark",
        "means",
        "--root",
        tiny_synth,
        "--results",
        tmp_path / "results",
        "--runs",
        tmp_path / "runs",
        "--quiet",
        "--no-table",
    ]
    calls = _spy(monkeypatch, fail_on=3)
    assert cli(*args) == 1  # the third unit dies
    assert "killed" in capsys.readouterr().err
    assert calls == [("mean", 0), ("mean-b", 0), ("mean-c", 0)]
    assert len(list((tmp_path / "results").rglob("*.json"))) == 2
    stamps = _stamps(tmp_path / "results", tmp_path / "runs")

    calls = _spy(monkeypatch)
    assert cli(*args) == 0
    assert calls == [("mean-c", 0), ("mean", 1), ("mean-b", 1), ("mean-c", 1)]
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())  # finished units untouched

    victim = next((tmp_path / "results" / "means" / "synthgaze" / "mean-b").glob("fold-default_seed-1_*.json"))
    victim.unlink()
    calls = _spy(monkeypatch)
    assert cli(*args) == 0
    assert calls == [("mean-b", 1)] and victim.exists()
    record = json.loads(victim.read_text())
    assert record["benchmark"] == "means" and record["label"] == "mean-b" and record["seed"] == 1


def test_keep_going_runs_the_rest_and_reports_failures(suites, tiny_synth, tmp_path, monkeypatch, capsys):
    calls = _spy(monkeypatch, fail_on=1)
    rc = cli(
        "run",
        "--benchmark",
        "means",
        "--seed",
        "0",
        "--root",
        tiny_synth,
        "--results",
        tmp_path / "r",
        "--runs",
        tmp_path / "runs",
        "--quiet",
        "--no-table",
        "--keep-going",
    )
    assert rc == 1 and len(calls) == 3
    err = capsys.readouterr().err
    assert (
        "ran 2, skipped 0 done, failed 1" in err and "failed: mean on synthgaze (standard) fold default seed 0" in err
    )


@pytest.fixture(scope="module")
def smoke_run(tiny_synth, tmp_path_factory):
    """`gazebench run --benchmark smoke` once, from a working directory with relative folders (as
    a user types it); the tests below read what it left."""
    import os

    work = tmp_path_factory.mktemp("smoke")
    old = Path.cwd()
    os.chdir(work)
    try:
        rc = cli("run", "--benchmark", "smoke", "--root", tiny_synth, "--quiet")
    finally:
        os.chdir(old)
    return rc, work


def test_smoke_suite_runs_end_to_end(smoke_run, capsys):
    rc, work = smoke_run
    assert rc == 0
    files = sorted((work / "results" / "smoke").rglob("*.json"))
    assert sorted(f.parent.name for f in files) == ["mean", "static", "staticsc-175"]
    rec = json.loads(next(f for f in files if f.parent.name == "staticsc-175").read_text())
    assert rec["benchmark"] == "smoke" and rec["label"] == "staticsc-175" and rec["model"]["name"] == "staticsc"
    assert rec["model"]["kwargs"]["backbone"] == "test_resnet" and rec["recipe"]["epochs"] == 1
    for key in (
        "schema_version",
        "unit_id",
        "fold",
        "seed",
        "selection",
        "metrics",
        "timings",
        "environment",
        "created_at",
    ):
        assert key in rec
    assert rec["dataset"]["card_version"] and set(rec["dataset"]["subjects"]) == {"train", "val", "test"}
    assert rec["model"]["parameters"] > 0 and rec["selection"]["chosen_epoch"] == 1
    assert "git_sha" in rec["environment"] and "git_dirty" in rec["environment"]


def test_second_invocation_does_no_work(smoke_run, tiny_synth, monkeypatch, capsys):
    _, work = smoke_run
    monkeypatch.chdir(work)
    stamps = _stamps(work / "results", work / "runs")
    calls = _spy(monkeypatch)
    capsys.readouterr()
    assert cli("run", "--benchmark", "smoke", "--root", tiny_synth) == 0
    out = capsys.readouterr()
    assert calls == [] and "ran 0, skipped 3 done" in out.err
    assert _stamps(work / "results", work / "runs") == stamps
    # the suite's leaderboard is printed at the end
    assert "| staticsc-175" in out.out and "| mean" in out.out


def test_compare_reads_a_real_run_through_relative_paths(smoke_run, monkeypatch, capsys):
    _, work = smoke_run
    monkeypatch.chdir(work)
    capsys.readouterr()
    assert cli("compare", "static", "mean", "--dataset", "synthgaze", "--benchmark", "smoke", "--format", "json") == 0
    r = json.loads(capsys.readouterr().out)
    assert r["per_unit"]["n"] == 1 and r["samples"]["n"] > 0
    assert r["samples"]["mean_a"] == pytest.approx(r["units"][0]["a"], abs=1e-3)
