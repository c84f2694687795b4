"""gazecsv's own tests, beside its adapter: what the contract test (tests/test_dataset_contract.py)
does not know about this layout -- its options and its fix-it errors.  A copy of this folder keeps
them: ``python -m pytest path/to/mydata/tests``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gazebench.datasets.base import DatasetError
from gazebench.plugins import load_plugin_file

FOLDER = Path(__file__).resolve().parents[1]
PLUGIN = load_plugin_file(FOLDER)  # registers the adapter (a no-op when it is loaded already)
NAME = PLUGIN.GazeCSV.name


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    root = tmp_path_factory.mktemp("fake") / NAME
    return root, PLUGIN.GazeCSV.write_fake(root, 0)


def test_units_and_signs_turn_the_written_angles(fake):
    root, info = fake
    degrees = PLUGIN.GazeCSV(root=root, **info["options"])
    flipped = PLUGIN.GazeCSV(root=root, **{**info["options"], "yaw_sign": -1})
    a, b = degrees.gaze(), flipped.gaze()
    np.testing.assert_allclose(b[:, 0], -a[:, 0], atol=1e-9)  # yaw_sign=-1 mirrors the yaw
    np.testing.assert_allclose(b[:, 1:], a[:, 1:], atol=1e-9)
    radians = PLUGIN.GazeCSV(root=root, **{**info["options"], "units": "rad"})
    assert not np.allclose(radians.gaze(), a)  # the degrees read as radians are other directions


def test_a_missing_column_names_the_file_and_the_column(fake, tmp_path):
    root, info = fake
    table = pd.read_csv(root / PLUGIN.LABEL_FILE).drop(columns=["pitch"])
    broken = tmp_path / "broken"
    broken.mkdir()
    table.to_csv(broken / PLUGIN.LABEL_FILE, index=False)
    with pytest.raises(DatasetError) as err:
        PLUGIN.GazeCSV(root=broken, **info["options"]).index  # noqa: B018
    assert str(broken / PLUGIN.LABEL_FILE) in str(err.value) and "pitch" in str(err.value)
