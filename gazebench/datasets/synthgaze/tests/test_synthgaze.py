"""SynthGaze adapter: its own layout read through the base contract by ``check-data`` (a missing
image, the card's fixed split, windows of short sequences) and its text report."""

from __future__ import annotations

import json
from pathlib import Path

from gazebench.datasets.synthgaze.fake import write_tree
from tests.test_check_data import check_cli


def test_synthgaze_through_the_base_contract(tmp_path, capsys):
    root = tmp_path / "synth"
    df = write_tree(root)
    Path(root / df["path"].iat[4]).unlink()
    code, out = check_cli(["--dataset", "synthgaze", "--root", str(root), "--json"], capsys)
    report = json.loads(out)
    assert code == 1
    assert [p["kind"] for p in report["problems"]] == ["missing_image"]
    assert report["folds"]["default"]["test"]["subject_ids"] == ["s000", "s004", "s008"]
    assert report["splits"]["test"]["samples"] == 9 and report["splits"]["val"]["samples"] == 6
    assert report["splits"]["train"]["samples"] == 15 and report["splits"]["train"]["subjects"] == 5
    assert report["splits"]["test"]["windows_complete"] == 0  # 3-frame sequences: no 7-frame window


def test_text_report_has_a_table(tmp_path, capsys):
    root = tmp_path / "synth"
    write_tree(root)
    code, out = check_cli(["--dataset", "synthgaze", "--root", str(root)], capsys)
    assert code == 0
    assert "samples" in out and "front180" in out and "yaw range" in out
    assert out.rstrip().endswith("no problems found")
