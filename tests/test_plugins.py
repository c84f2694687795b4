"""Plugins: datasets, models and losses from a --plugin file or an entry point register like built-ins."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from gazebench import plugins
from gazebench.cli import main
from gazebench.core.registry import DATASETS, LOSSES, MODELS, PluginError
from gazebench.datasets.cards import CardError, load_card
from tests.helpers import TINY_RECIPE
from tests.test_dataset_contract import (
    EXAMPLE_PLUGIN,
    check_card,
    check_check_data,
    check_folds_and_splits,
    check_images,
    check_index,
    check_root_errors,
    check_views,
)

EXAMPLE_CARD = EXAMPLE_PLUGIN / "card.yaml"
#: modules a test may import by name; dropped again afterwards
TEST_MODULES = ("gazecsv_demo", "gazecsv", "broken_plugin", "half_l1_loss")


@pytest.fixture
def fresh_registries():
    """The registries with only the built-ins and no plugin loaded yet; restored afterwards."""
    saved = [(r, r._entries, r._aliases, r._plugins_loaded) for r in (DATASETS, MODELS, LOSSES)]
    for registry in (DATASETS, MODELS, LOSSES):
        builtin = {
            k: e for k, e in registry._entries.items() if getattr(e.obj, "__module__", "").startswith("gazebench.")
        }
        registry._entries = builtin
        registry._aliases = {a: n for a, n in registry._aliases.items() if n in builtin}
        registry._plugins_loaded = False
    loaded = dict(plugins._LOADED)
    plugins._LOADED.clear()
    before = dict(sys.modules)
    yield
    for registry, entries, aliases, done in saved:
        registry._entries, registry._aliases, registry._plugins_loaded = entries, aliases, done
    plugins._LOADED.clear()
    plugins._LOADED.update(loaded)
    for name in list(sys.modules):
        if name.startswith("gazebench_plugin_") or name.split(".")[0] in TEST_MODULES:
            if name in before:
                sys.modules[name] = before[name]  # a test may load the same file under the same name
            else:
                del sys.modules[name]


def write_plugin(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body))
    return path


def make_distribution(site: Path, name: str, groups: dict[str, dict[str, str]]) -> None:
    """An installed distribution as importlib.metadata sees it: ``<name>-0.1.dist-info`` with
    METADATA and entry_points.txt, in a folder on sys.path."""
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n" for group, eps in groups.items()
        )
    )


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # shared fixture in conftest.py


# -- plugin files ----------------------------------------------------------------------------------


def test_plugin_file_registers_like_a_builtin_and_finds_its_card(fresh_registries):
    assert "gazecsv" not in DATASETS
    (module,) = plugins.load_plugin_files([EXAMPLE_PLUGIN])
    assert "gazecsv" in DATASETS.names()
    entry = DATASETS.entry("gazecsv")
    assert str(EXAMPLE_PLUGIN) in entry.origin and "plugin file" in entry.origin
    assert entry.description.startswith("A folder of images with a labels.csv")
    assert load_card("gazecsv").path == EXAMPLE_CARD  # the card in the plugin's folder
    assert module.__name__ + ".fake" in sys.modules[module.__name__].GazeCSV.layout_writer  # its modules import
    # loading the same file again (relative to another folder) is a no-op, not a clash
    assert plugins.load_plugin_files(["gazecsv"], base_dir=EXAMPLE_PLUGIN.parent) == [module]
    assert plugins.loaded_plugin_files() == [EXAMPLE_PLUGIN]


def test_a_plugin_folder_imported_again_as_a_package_registers_once(fresh_registries, monkeypatch):
    """pytest imports a plugin folder that holds tests as a package of its own name; the same
    definitions registered again under that module name are the plugin's, not a clash."""
    import importlib

    (module,) = plugins.load_plugin_files([EXAMPLE_PLUGIN])
    monkeypatch.syspath_prepend(str(EXAMPLE_PLUGIN.parent))
    again = importlib.import_module("gazecsv")
    assert again is not module and DATASETS.get("gazecsv") is module.GazeCSV
    sys.modules.pop("gazecsv", None)


def test_a_plugin_name_clash_names_both_origins(fresh_registries, tmp_path):
    clash = write_plugin(
        tmp_path / "clash.py",
        """
        from gazebench.datasets.rtgene import RTGene
        from gazebench.core.registry import DATASETS

        @DATASETS.register("rtgene")
        class Mine(RTGene):
            "another rtgene"
    """,
    )
    with pytest.raises(PluginError) as err:
        plugins.load_plugin_file(clash)
    text = str(err.value)
    assert "gazebench.datasets.rtgene" in text and str(clash) in text and "already registered" in text

    first = write_plugin(
        tmp_path / "a" / "mydata.py",
        """
        from gazebench.datasets.synthgaze import SynthGaze
        from gazebench.core.registry import DATASETS

        @DATASETS.register("mydata")
        class MyData(SynthGaze):
            "my data"
            name = "mydata"
    """,
    )
    second = write_plugin(tmp_path / "b" / "mydata.py", first.read_text())
    plugins.load_plugin_file(first)
    with pytest.raises(PluginError) as err:
        plugins.load_plugin_file(second)
    text = str(err.value)
    assert f"plugin file {first}" in text and f"plugin file {second}" in text


def test_plugin_file_errors_name_the_file(fresh_registries, tmp_path):
    with pytest.raises(PluginError, match="does not exist"):
        plugins.load_plugin_file(tmp_path / "nowhere.py")
    broken = write_plugin(tmp_path / "broken.py", "import not_a_module_anywhere\n")
    with pytest.raises(PluginError) as err:
        plugins.load_plugin_file(broken)
    assert str(broken) in str(err.value) and "ModuleNotFoundError" in str(err.value)
    assert not [m for m in sys.modules if m.startswith("gazebench_plugin_broken")]


def test_the_card_is_card_yaml_in_the_adapters_folder_or_a_clear_error(fresh_registries, tmp_path):
    plugin = tmp_path / "code" / "gazecsv_copy.py"
    plugin.parent.mkdir()
    shutil.copy(EXAMPLE_PLUGIN / "__init__.py", plugin)  # one file: its folder is the dataset's folder
    plugins.load_plugin_file(plugin)
    with pytest.raises(CardError) as err:
        load_card("gazecsv")
    text = str(err.value)
    assert str(plugin.parent / "card.yaml") in text and "does not exist" in text and "\n" not in text
    shutil.copy(EXAMPLE_CARD, plugin.parent / "card.yaml")
    assert load_card("gazecsv").path == plugin.parent / "card.yaml"


def test_a_plugin_folder_without_init_is_a_clear_error(fresh_registries, tmp_path):
    (tmp_path / "mydata").mkdir()
    with pytest.raises(PluginError, match="has no __init__.py"):
        plugins.load_plugin_file(tmp_path / "mydata")


def test_plugin_model_and_loss_from_a_file(fresh_registries, tmp_path, capsys):
    extra = write_plugin(
        tmp_path / "extra.py",
        """
        from gazebench.core.registry import LOSSES, MODELS

        @MODELS.register("mean_again")
        def mean_again():
            "The mean baseline under another name (a model plugin)."
            return MODELS.get("mean")()

        @LOSSES.register("zero_loss")
        def zero_loss(output, target):
            "Always zero."
            return (output["gaze"] * 0).sum()
    """,
    )
    assert main(["ls", "models", "--plugin", str(extra)]) == 0
    assert "mean_again" in capsys.readouterr().out
    assert main(["--plugin", str(extra), "ls", "losses"]) == 0
    assert "zero_loss" in capsys.readouterr().out


# -- the CLI -------------------------------------------------------------------------------------


def test_cli_plugin_option_on_ls_check_data_and_run(fresh_registries, tmp_path, capsys):
    root = tmp_path / "csv"
    plugins.load_plugin_file(EXAMPLE_PLUGIN)
    DATASETS.get("gazecsv").write_fake(root, 0)
    plugins._LOADED.clear()  # the CLI loads the file itself below
    DATASETS._entries.pop("gazecsv")

    assert main(["ls", "datasets", "--plugin", str(EXAMPLE_PLUGIN)]) == 0
    out = capsys.readouterr().out
    assert "gazecsv" in out and "labels.csv of gaze angles" in out  # description and card title

    assert (
        main(
            [
                "--plugin",
                str(EXAMPLE_PLUGIN),
                "check-data",
                "--dataset",
                "gazecsv",
                "--root",
                str(root),
                "--set",
                "units=deg",
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["problems"] == [] and report["folds"]["default"]["test"]["subject_ids"] == ["s000", "s001"]

    results = tmp_path / "results"
    assert (
        main(
            [
                "run",
                "--plugin",
                str(EXAMPLE_PLUGIN),
                "--dataset",
                "gazecsv",
                "--root",
                str(root),
                "--set",
                "units=deg",
                "--model",
                "mean",
                "--results",
                str(results),
                "--runs",
                str(tmp_path / "runs"),
                "--quiet",
                "--no-table",
                *TINY_RECIPE,
            ]
        )
        == 0
    )
    (record,) = [json.loads(p.read_text()) for p in results.rglob("*.json")]
    assert record["dataset"]["name"] == "gazecsv" and record["dataset"]["samples"] == {
        "train": 21,
        "val": 7,
        "test": 14,
    }
    assert record["dataset"]["options"] == {"units": "deg", "yaw_sign": 1, "pitch_sign": 1}
    assert set(record["metrics"]) >= {"all", "front180"} and record["metrics"]["all"]["n"] == 14


def test_synth_writes_a_plugin_dataset_in_its_layout(fresh_registries, tmp_path, capsys):
    """``gazebench synth --layout X`` works for any registered dataset whose adapter names a writer."""
    root = tmp_path / "synth-csv"
    assert (
        main(
            [
                "synth",
                "--plugin",
                str(EXAMPLE_PLUGIN),
                "--out",
                str(root),
                "--preset",
                "tiny",
                "--layout",
                "gazecsv",
                "--workers",
                "1",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "--plugin",
                str(EXAMPLE_PLUGIN),
                "check-data",
                "--dataset",
                "gazecsv",
                "--root",
                str(root),
                "--set",
                "units=deg",
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["problems"] == [] and report["splits"]["test"]["samples"] == 2 * 2 * 9  # 2 subjects x 2 x 9 frames
    assert report["folds"]["default"]["test"]["subject_ids"] == ["s000", "s001"]


def test_cli_missing_plugin_file_is_a_clear_error(fresh_registries, tmp_path, capsys):
    assert main(["ls", "datasets", "--plugin", str(tmp_path / "nowhere.py")]) == 2
    assert f"plugin file {tmp_path / 'nowhere.py'} does not exist" in capsys.readouterr().err


# -- entry points ----------------------------------------------------------------------------------


def test_entry_point_plugin_passes_the_contract(fresh_registries, tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    shutil.copytree(EXAMPLE_PLUGIN, site / "gazecsv_demo")  # the folder as a package, its card as package data
    write_plugin(
        site / "half_l1_loss.py",
        """
        def half_l1(output, target):
            "Half the L1 loss on vectors (registered by its entry point, no decorator)."
            return 0.5 * (output["vector"] - target).abs().mean()
    """,
    )
    make_distribution(
        site,
        "gazecsv-demo",
        {"gazebench.datasets": {"gazecsv": "gazecsv_demo"}, "gazebench.losses": {"half_l1": "half_l1_loss:half_l1"}},
    )
    monkeypatch.syspath_prepend(str(site))
    assert [ep.name for ep in entry_points(group="gazebench.datasets")] == ["gazecsv"]

    assert "gazecsv" in DATASETS.names()  # listing loads the entry points
    origin = DATASETS.entry("gazecsv").origin
    assert "entry point gazecsv = gazecsv_demo" in origin and "gazecsv-demo 0.1" in origin
    assert str(site / "gazecsv_demo" / "__init__.py") in origin
    assert LOSSES.get("half_l1").__module__ == "half_l1_loss"
    assert "gazecsv-demo" in LOSSES.entry("half_l1").origin

    # the same contract as the built-ins
    root = tmp_path / "fake" / "gazecsv"
    info = DATASETS.get("gazecsv").write_fake(root, 0)
    ds = DATASETS.get("gazecsv")(root=root, **info["options"])
    assert ds.card.path == site / "gazecsv_demo" / "card.yaml"
    check_card("gazecsv")
    check_root_errors("gazecsv", tmp_path / "roots")
    check_index(ds, info)
    check_folds_and_splits(ds, monkeypatch)
    check_images(ds, info)
    check_views(ds)
    check_check_data("gazecsv", root, info)

    # the same adapter from a file as well: a clash naming the entry point and the file
    with pytest.raises(PluginError) as err:
        plugins.load_plugin_file(EXAMPLE_PLUGIN)
    assert "gazecsv-demo" in str(err.value) and str(EXAMPLE_PLUGIN) in str(err.value)


def test_broken_entry_point_names_its_distribution(fresh_registries, tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    write_plugin(site / "broken_plugin.py", "raise RuntimeError('missing dependency xyz')\n")
    make_distribution(site, "broken-demo", {"gazebench.datasets": {"broken": "broken_plugin"}})
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(PluginError) as err:
        DATASETS.names()
    text = str(err.value)
    assert "broken = broken_plugin" in text and "broken-demo 0.1" in text and "missing dependency xyz" in text


# -- the example plugin's own behaviour ------------------------------------------------------------


def test_gazecsv_converts_units_and_signs_and_lists_bad_rows(tmp_path):
    import numpy as np
    from PIL import Image

    from gazebench.core import geometry
    from gazebench.datasets.base import DatasetError
    from gazebench.datasets.checks import check_dataset

    plugins.load_plugin_file(EXAMPLE_PLUGIN)  # already loaded by the contract module: a no-op
    root = tmp_path / "csv"
    for name in ("a", "b", "c", "d"):
        (root / "img").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((6, 6, 3), 100, np.uint8)).save(root / "img" / f"{name}.png")
    (root / "labels.csv").write_text(
        "path,subject,yaw,pitch,split\n"
        "img/a.png,p1,30,0,train\n"
        "img/b.png,p2,0,-20,val\n"
        "img/c.png,p3,-45,10,test\n"
        "img/d.png,p3,0,0,unused\n"
    )
    cls = DATASETS.get("gazecsv")
    ds = cls(root=root, units="deg")
    assert not ds.has_sequences and ds.index["id"].tolist() == ["img/a", "img/b", "img/c", "img/d"]
    want = np.radians([[30, 0], [0, -20], [-45, 10], [0, 0]])
    np.testing.assert_allclose(geometry.vector_to_yawpitch(ds.gaze()), want, atol=1e-12)
    assert ds.index["centre"].tolist() == [True, True, True, False]  # unused: context only
    flipped = cls(root=root, units="deg", yaw_sign=-1, pitch_sign=-1)
    np.testing.assert_allclose(geometry.vector_to_yawpitch(flipped.gaze()), -want, atol=1e-12)
    assert {k: v.tolist() for k, v in ds.split_positions().items()} == {"train": [0], "val": [1], "test": [2]}

    with (root / "labels.csv").open("a") as fh:
        fh.write("img/a.png,p4,abc,0,train\nimg/b.png,p4,1,1,holdout\nimg/c.png,p4,1,1,train\n")
    report = check_dataset("gazecsv", root, {"units": "deg"}, images=True)
    labels = str(root / "labels.csv")
    assert [(p["kind"], p["path"]) for p in report["problems"]] == [
        ("bad_label", f"{labels}:6"),
        ("bad_label", f"{labels}:7"),
        ("duplicate", f"{labels}:8"),
    ]
    with pytest.raises(DatasetError, match=r"labels\.csv:6: yaw 'abc'"):
        cls(root=root).index


def test_benchmark_file_plugins_key_loads_the_plugin(tmp_path, monkeypatch):
    """A suite's ``plugins:`` list (relative to the benchmark file) registers the plugin's dataset."""
    import os

    from gazebench.core.registry import DATASETS
    from gazebench.plan.suites import get_suite

    plugin = EXAMPLE_PLUGIN
    relative = os.path.relpath(plugin, tmp_path)  # resolved against the benchmark file's folder
    (tmp_path / "bench.yaml").write_text(
        f"benchmarks:\n  mine:\n    plugins: [{relative}]\n    datasets: [gazecsv]\n    models: [mean]\n"
    )
    suite = get_suite("mine", tmp_path / "bench.yaml")
    assert suite.datasets[0].name == "gazecsv"
    assert "gazecsv" in DATASETS
