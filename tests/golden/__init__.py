"""Golden outputs: exact expected text of commands over the fixture results tree.

Regenerate after an intended change with ``GAZEBENCH_UPDATE_GOLDEN=1 pytest tests/test_leaderboard.py
tests/test_compare.py`` and review the diff before committing it.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

GOLDEN_DIR = Path(__file__).resolve().parent


def check_golden(name: str, text: str) -> None:
    """Assert ``text`` equals ``tests/golden/<name>`` (or rewrite it when GAZEBENCH_UPDATE_GOLDEN=1)."""
    path = GOLDEN_DIR / name
    if os.environ.get("GAZEBENCH_UPDATE_GOLDEN") == "1":
        path.write_text(text)
        return
    assert path.exists(), f"no golden {path}; create it with GAZEBENCH_UPDATE_GOLDEN=1"
    expected = path.read_text()
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), str(path), "actual"))
        raise AssertionError(f"output differs from {path} (GAZEBENCH_UPDATE_GOLDEN=1 rewrites it):\n{diff}")
