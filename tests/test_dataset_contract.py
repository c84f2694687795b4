"""The dataset adapter contract, checked for every registered adapter on its own fake data.

Parametrized over the registry (``DATASETS.names()``) after the example plugin (the folder
``docs/examples/gazecsv/``), the plugin folders and files named in ``$GAZEBENCH_TEST_PLUGINS``
(separated by ``os.pathsep``) and any installed entry-point plugins are loaded: the card and root
checks run on every dataset, the data checks on every dataset that writes fake data.  A new
dataset -- a folder under ``gazebench/datasets/`` or a plugin -- is tested the moment it is
registered, without editing this file (its own tests beside it)::

    GAZEBENCH_TEST_PLUGINS=~/code/mydata python -m pytest tests/test_dataset_contract.py ~/code/mydata/tests

Each adapter writes its fake data with ``write_fake(root, seed)`` (the ``fake.py`` of its folder,
:meth:`gazebench.datasets.base.GazeDataset.write_fake`); the checks below only use the contract.
Below them: every in-tree dataset is one folder (adapter, card, fake-data writer, tests), a new
folder is picked up whole, and a card is parsed once and fails at load naming its file and key.
"""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gazebench.core import geometry
from gazebench.core.registry import DATASETS
from gazebench.datasets import BUILTIN
from gazebench.datasets.base import SPLITS, DatasetNotFound, GazeDataset, LeakageError, validate_index
from gazebench.datasets.cards import load_card
from gazebench.datasets.checks import check_dataset
from gazebench.datasets.loading import FrameWindows
from gazebench.datasets.sources import ImageFiles
from gazebench.datasets.views import ViewSpec
from gazebench.plugins import load_plugin_files

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_PLUGIN = REPO / "docs" / "examples" / "gazecsv"
load_plugin_files([EXAMPLE_PLUGIN, *(p for p in os.environ.get("GAZEBENCH_TEST_PLUGINS", "").split(os.pathsep) if p)])
SIZE = 16  # views are resized to this


def has_fake_data(cls: type[GazeDataset]) -> bool:
    """A ``fake.py`` with ``write_fake`` in the dataset's folder, or an adapter's own ``write_fake``."""
    return cls.fake_writer() is not None or cls.write_fake.__func__ is not GazeDataset.write_fake.__func__


NAMES = DATASETS.names()
#: the datasets that write their own fake data: the data checks run on each
WITH_FAKE_DATA = [name for name in NAMES if has_fake_data(DATASETS.get(name))]


@pytest.fixture(scope="session")
def fakes(tmp_path_factory):
    """``get(name) -> (root, info)``: the adapter's fake data, written once per session."""
    cache: dict[str, tuple[Path, dict[str, Any]]] = {}

    def get(name: str) -> tuple[Path, dict[str, Any]]:
        if name not in cache:
            root = tmp_path_factory.mktemp(f"fake-{name}") / name
            info = DATASETS.get(name).write_fake(root, 0)
            assert set(info) >= {"options", "gaze"}, "write_fake returns at least 'options' and 'gaze'"
            cache[name] = (root, info)
        return cache[name]

    return get


def open_fake(name: str, fakes) -> tuple[GazeDataset, dict[str, Any]]:
    root, info = fakes(name)
    return DATASETS.get(name)(root=root, **info["options"]), info


# -- the checks, one function each (tests/test_plugins.py runs them on an entry-point plugin) ---------


def check_card(name: str) -> None:
    cls = DATASETS.get(name)
    entry = DATASETS.entry(name)
    assert cls.name == entry.name, "the class's name is its registry name (and its card's name)"
    assert entry.description, "the class docstring's first line describes it in `gazebench ls datasets`"
    card = load_card(name)
    assert card.name == name
    texts = {"citation": card.citation, "licence": card.licence, "get": card.how_to_get(), "layout": card.layout()}
    missing = [k for k, text in texts.items() if not text]
    assert not missing, f"{card.path} lacks {missing}"
    for fold in card.folds():  # the protocol names the splits of every fold (raises when it has none)
        card.split_rule(fold, {k: o.default for k, o in cls.declared_options.items()})


def check_root_errors(name: str, tmp_path: Path) -> None:
    cls = DATASETS.get(name)
    for root in (tmp_path / "empty", tmp_path / "absent"):
        if root.name == "empty":
            root.mkdir(parents=True)
        with pytest.raises(DatasetNotFound) as err:
            cls(root=root)
        text = str(err.value)
        assert str(root) in text, "the fix-it message names the root it looked at"
        assert "Where to get it:" in text and "Expected layout" in text


def check_index(ds: GazeDataset, info: dict[str, Any]) -> None:
    index = validate_index(ds.build_index(), ds.name)
    assert len(index) == len(ds.index) > 0
    assert ds.index["id"].is_unique
    assert ds.index["centre"].any()
    written = info["gaze"]
    ids = ds.index["id"].astype(str).tolist()
    unknown = [i for i in ids if i not in written]
    assert not unknown, f"ids the fake data did not write: {unknown[:5]}"
    want = np.array([written[i] for i in ids], dtype=np.float64)
    got = ds.gaze()
    # the label read back is the label written: same id, same canonical vector (conventions)
    err = geometry.angular_error_deg(got, want)
    worst = int(np.argmax(err))
    assert err[worst] < 1e-3, f"sample {ids[worst]}: read {got[worst]}, written {want[worst]}"


def check_folds_and_splits(ds: GazeDataset, monkeypatch) -> None:
    assert ds.folds() == ds.card.folds()
    centre = ds.index["centre"].to_numpy(bool)
    subject = ds.index["subject"].to_numpy()
    for fold in ds.folds():
        positions = ds.split_positions(fold)
        for split in SPLITS:
            assert len(positions[split]), f"fold {fold}: the fake data leaves {split} empty"
            assert centre[positions[split]].all(), "only labelled (centre) frames are samples"
        for a in SPLITS:
            for b in SPLITS:
                if a < b:
                    assert not set(positions[a]) & set(positions[b])
                    assert not set(subject[positions[a]]) & set(subject[positions[b]]), (
                        f"fold {fold}: {a}/{b} share subjects"
                    )
    # the leakage guard runs whatever the protocol says
    some = str(subject[0])
    monkeypatch.setattr(ds, "split_subjects", lambda fold=None: {"train": [some], "val": [], "test": [some]})
    with pytest.raises(LeakageError, match=some):
        ds.split_positions(ds.folds()[0])
    monkeypatch.undo()


def check_images(ds: GazeDataset, info: dict[str, Any]) -> None:
    for position in (0, len(ds.index) - 1):
        image = ds.read_image(position)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and image.size
    ids = ds.index["id"].astype(str).tolist()
    for sid, expected in (info.get("images") or {}).items():
        got = ds.read_image(ids.index(sid)).astype(np.float64)
        expected = np.asarray(expected, dtype=np.float64)
        assert got.shape == expected.shape
        same = np.abs(got - expected).mean()
        mirrored = np.abs(got - expected[:, ::-1]).mean()
        swapped = np.abs(got - expected[..., ::-1]).mean()
        # pixels as written (up to JPEG loss): not mirrored, which would contradict the label's
        # yaw, and not BGR
        assert same < 12 and same < 0.5 * mirrored and same < 0.5 * swapped, (sid, same, mirrored, swapped)


def check_views(ds: GazeDataset) -> None:
    positions = ds.split_positions(ds.folds()[0])["train"][:3]
    single = FrameWindows(ds, positions, ViewSpec(), ImageFiles(ds, SIZE))
    sample = single[0]
    assert tuple(sample["frames"].shape) == (1, 3, SIZE, SIZE)
    assert str(sample["frames"].dtype) == "torch.uint8"
    np.testing.assert_allclose(sample["gaze"].numpy(), ds.gaze(positions[:1])[0], atol=1e-6)
    assert sample["index"] == positions[0]
    window = ViewSpec.window(7)
    if ds.has_sequences:
        seven = FrameWindows(ds, positions, window, ImageFiles(ds, SIZE))
        assert tuple(seven[len(positions) - 1]["frames"].shape) == (7, 3, SIZE, SIZE)
        assert seven.complete.dtype == bool
    else:
        with pytest.raises(ValueError, match=ds.name):
            FrameWindows(ds, positions, window, ImageFiles(ds, SIZE))


def check_check_data(name: str, root: Path, info: dict[str, Any]) -> None:
    ds = DATASETS.get(name)(root=root, **info["options"])
    report = check_dataset(name, root, info["options"], images=True, workers=2)
    assert report["problems"] == [], report["problems"][:5]
    assert list(report["folds"]) == ds.folds()
    fold = ds.folds()[0]
    positions = ds.split_positions(fold)
    ids = ds.index["id"].astype(str).to_numpy()
    for split in SPLITS:
        stats = report["folds"][fold][split]
        assert stats["samples"] == len(positions[split])
        # label statistics are those of the labels written
        written = np.array([info["gaze"][i] for i in ids[positions[split]]])
        yp = np.degrees(geometry.vector_to_yawpitch(written))
        assert stats["yaw_mean_deg"] == pytest.approx(yp[:, 0].mean(), abs=2e-3)
        assert stats["pitch_mean_deg"] == pytest.approx(yp[:, 1].mean(), abs=2e-3)
        assert stats["yaw_range_deg"] == pytest.approx([yp[:, 0].min(), yp[:, 0].max()], abs=2e-3)
        assert stats["pitch_range_deg"] == pytest.approx([yp[:, 1].min(), yp[:, 1].max()], abs=2e-3)


# -- the tests -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUILTIN)
def test_every_in_tree_dataset_has_fake_data_and_a_layout_writer(name):
    """A folder under gazebench/datasets/ registers its adapter, writes fake data, and lets
    ``gazebench synth --layout <name>`` write its layout (the example plugin does too)."""
    from gazebench.synth import layout_names

    assert name in NAMES and has_fake_data(DATASETS.get(name))
    assert name in layout_names()


def test_the_example_plugin_is_tested_like_a_builtin():
    from gazebench.synth import layout_names

    assert "gazecsv" in WITH_FAKE_DATA and "gazecsv" in layout_names()


@pytest.mark.parametrize("name", NAMES)
def test_card(name):
    check_card(name)


@pytest.mark.parametrize("name", NAMES)
def test_empty_or_missing_root_fails_with_a_fix_it_message(name, tmp_path):
    check_root_errors(name, tmp_path)


@pytest.mark.parametrize("name", WITH_FAKE_DATA)
def test_index_holds_the_labels_written(name, fakes):
    check_index(*open_fake(name, fakes))


@pytest.mark.parametrize("name", WITH_FAKE_DATA)
def test_folds_come_from_the_card_and_splits_are_disjoint(name, fakes, monkeypatch):
    ds, _ = open_fake(name, fakes)
    check_folds_and_splits(ds, monkeypatch)


@pytest.mark.parametrize("name", WITH_FAKE_DATA)
def test_images_are_rgb_and_not_mirrored(name, fakes):
    check_images(*open_fake(name, fakes))


@pytest.mark.parametrize("name", WITH_FAKE_DATA)
def test_frame_windows(name, fakes):
    check_views(open_fake(name, fakes)[0])


@pytest.mark.parametrize("name", WITH_FAKE_DATA)
def test_check_data_finds_no_problems_and_the_written_statistics(name, fakes):
    root, info = fakes(name)
    check_check_data(name, root, info)


# -- a dataset is one folder: adapter, card, fake-data writer, tests -------------------------------


def pytest_settings() -> dict[str, Any]:
    import tomllib

    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]


@pytest.mark.parametrize("name", BUILTIN)
def test_every_in_tree_dataset_is_one_folder_with_card_fake_writer_and_tests(name):
    """``gazebench/datasets/<name>/`` holds the adapter, ``card.yaml`` (shipped as package data),
    ``fake.py`` (the fake-data writer the contract and the tests use) and ``tests/test_<name>.py``
    (collected by a plain ``pytest`` from the repository root)."""
    import gazebench.datasets

    folder = Path(gazebench.datasets.__file__).parent / name
    cls = DATASETS.get(name)
    assert Path(inspect.getsourcefile(cls)).parent == folder
    assert load_card(name).path == folder / "card.yaml"
    assert cls.fake_writer().__module__ == f"gazebench.datasets.{name}.fake"
    assert (folder / "tests" / f"test_{name}.py").is_file()
    tool = pytest_settings()
    assert "*/card.yaml" in tool["setuptools"]["package-data"]["gazebench.datasets"]
    assert "gazebench/datasets" in tool["pytest"]["ini_options"]["testpaths"]
    assert not (REPO / "datasets" / f"{name}.yaml").exists(), "one card, in the dataset's folder"


def test_a_new_dataset_folder_is_picked_up_with_its_card_fake_writer_and_tests(tmp_path):
    """A new dataset written as one folder (here the example plugin renamed ``newdata``): given to
    gazebench as a plugin, its card is found beside its adapter, the contract runs on the data its
    ``fake.py`` writes, and pytest runs the folder's own tests -- nothing else is edited."""
    folder = tmp_path / "newdata"
    shutil.copytree(EXAMPLE_PLUGIN, folder, ignore=shutil.ignore_patterns("__pycache__"))
    for path in folder.rglob("*"):
        if path.is_file():
            path.write_text(path.read_text().replace("gazecsv", "newdata"))
    (folder / "tests" / "test_gazecsv.py").rename(folder / "tests" / "test_newdata.py")
    env = {**os.environ, "GAZEBENCH_TEST_PLUGINS": str(folder), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-v",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(REPO),
            "-c",
            str(REPO / "pyproject.toml"),
            str(Path(__file__)),
            str(folder / "tests"),
            "-k",
            "newdata",
        ],
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    tail = done.stdout[-3000:] + done.stderr[-2000:]
    assert done.returncode == 0, tail
    passed = {line.split(" ")[0].rsplit("::", 1)[-1] for line in done.stdout.splitlines() if " PASSED" in line}
    contract = {
        f"{test}[newdata]"
        for test in (
            "test_card",
            "test_empty_or_missing_root_fails_with_a_fix_it_message",
            "test_index_holds_the_labels_written",
            "test_images_are_rgb_and_not_mirrored",
            "test_check_data_finds_no_problems_and_the_written_statistics",
        )
    }
    own = {"test_units_and_signs_turn_the_written_angles", "test_a_missing_column_names_the_file_and_the_column"}
    assert contract | own <= passed, tail


def test_the_folders_own_tests_are_collected_by_name(tmp_path):
    """What the test above counts on: pytest collects ``tests/test_*.py`` of a dataset folder."""
    tool = pytest_settings()["pytest"]["ini_options"]
    assert tool.get("python_files", "test_*.py") in ("test_*.py", ["test_*.py"])


# -- the card: parsed once, checked at load ---------------------------------------------------------

GOOD_CARD = {
    "name": "mydata",
    "version": 3,
    "title": "My data",
    "citation": "@misc{x}",
    "licence": "CC-BY",
    "get": "here",
    "layout": "files",
    "required": ["labels.csv"],
    "protocol": {
        "folds": {"0": {"test": ["a"]}, "1": {"test": ["b"], "val": ["d"]}},
        "val": ["c"],
        "val_variants": {"other": ["e"]},
    },
    "protocols": {"default": "mine", "mine": {"description": "d", "source": "s", "recipe": {"lr": 0.1}}},
    "label_space": {
        "frame": "camera",
        "images": "face-crop",
        "normalised": False,
        "by_option": {"layout": {"hub": {"images": "normalised-face", "normalised": True}}},
    },
    "samples_per_subject": 7,
}


def write_card(tmp_path: Path, card: dict[str, Any]) -> Path:
    import yaml

    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(card))
    return path


def test_a_card_is_parsed_once_into_a_frozen_typed_object(tmp_path):
    import dataclasses

    card = load_card("mydata", path=write_card(tmp_path, GOOD_CARD))
    assert card.version == "3" and card.required == ("labels.csv",) and card.folds() == ["0", "1"]
    assert card.split_rule("0").val == ("c",) and card.split_rule("1").val == ("d",)  # a fold's own val wins
    assert card.split_rule("1", {"validation": "other"}).val == ("e",)
    assert card.label_space().images == "face-crop"
    assert card.label_space({"layout": "hub"}).images == "normalised-face"
    assert card.extra("samples_per_subject") == 7 and card.default_protocol == "mine"
    with pytest.raises(dataclasses.FrozenInstanceError):
        card.version = "4"
    card.protocol().recipe["lr"] = 1.0  # the caller's copy
    assert card.protocol().recipe == {"lr": 0.1}
    assert not hasattr(card, "_data"), "no mapping kept to re-read on every access"


@pytest.mark.parametrize(
    "change, key",
    [
        ({"protocol": {"val": ["c"]}}, "protocol"),
        ({"protocol": {"splits": ["a", "b"]}}, "protocol.splits"),
        ({"protocol": {"folds": {"0": {"test": "a"}}}}, "protocol.folds.0.test"),
        ({"protocol": {"folds": {"0": {"test": ["a"], "tset": ["b"]}}}}, "protocol.folds.0"),
        ({"protocols": {"mine": {"recipe": {"lr": 1}, "recpie": {}}}}, "protocols.mine"),
        ({"protocols": {"default": "yours", "mine": {}}}, "protocols.default"),
        ({"label_space": {"frame": "eye", "images": "face-crop", "normalised": False}}, "label_space.frame"),
        ({"title": {"a": 1}}, "title"),
        ({"required": "labels.csv"}, "required"),
        ({"name": "other"}, "name"),
    ],
)
def test_a_malformed_card_fails_at_load_naming_its_file_and_key(tmp_path, change, key):
    from gazebench.core.errors import GazebenchError
    from gazebench.datasets.cards import CardError

    path = write_card(tmp_path, {**GOOD_CARD, **change})
    with pytest.raises(CardError) as err:
        load_card("mydata", path=path)
    text = str(err.value)
    assert isinstance(err.value, GazebenchError) and "\n" not in text
    assert text.startswith(f"{path}: {key} "), text
