"""RT-GENE's ``label_combined.txt``, parsed exactly (rules of :mod:`gazebench.datasets.parsing`:
strict raises at ``file:line``, lenient collects problems and skips the line).

The line format is the release's (github.com/Tobias-Fischer/rt_gene, the dataset's
``label_combined.txt``): ``idx, [head_yaw, head_pitch], [gaze_yaw, gaze_pitch], timestamp``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gazebench.datasets.base import Problem
from gazebench.datasets.parsing import parse_float, read_lines, report, shorten, where

RTGENE_FORMAT = "idx, [head_yaw, head_pitch], [gaze_yaw, gaze_pitch], timestamp"
_NUM = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|nan|inf(?:inity)?)"
_RTGENE_LINE = re.compile(
    rf"^\s*(?P<idx>\d+)\s*,"
    rf"\s*\[\s*(?P<head_yaw>{_NUM})\s*,\s*(?P<head_pitch>{_NUM})\s*\]\s*,"
    rf"\s*\[\s*(?P<gaze_yaw>{_NUM})\s*,\s*(?P<gaze_pitch>{_NUM})\s*\]\s*,"
    rf"\s*(?P<timestamp>{_NUM})\s*$",
    re.IGNORECASE,
)


@dataclass
class RTGeneLabels:
    """Parsed ``label_combined.txt``: one array per column, rows in file order."""

    path: Path
    idx: np.ndarray  # int64
    head: np.ndarray  # [N, 2] (yaw, pitch) radians
    gaze: np.ndarray  # [N, 2] (yaw, pitch) radians
    timestamp: np.ndarray  # float64 unix seconds
    line: np.ndarray  # int64 line numbers (for messages)

    def __len__(self) -> int:
        return len(self.idx)


def parse_rtgene_labels(path: str | Path, problems: list[Problem] | None = None) -> RTGeneLabels:
    """Parse an RT-GENE ``label_combined.txt`` exactly.

    Each line is ``idx, [head_yaw, head_pitch], [gaze_yaw, gaze_pitch], timestamp`` (radians, unix
    seconds).  A line of another shape, a NaN/inf value or an idx seen before is an error."""
    path = Path(path)
    rows: list[tuple[int, float, float, float, float, float, int]] = []
    seen: dict[int, int] = {}
    for number, line in read_lines(path, problems):
        m = _RTGENE_LINE.match(line)
        if m is None:
            report(
                problems,
                "malformed_line",
                where(path, number),
                f"expected '{RTGENE_FORMAT}' (e.g. '1, [0.1648, -0.2991], [-0.1191, 0.1629], 1504190788.51'); "
                f"got {shorten(line)!r}",
            )
            continue
        idx = int(m["idx"])
        values = [parse_float(m[k]) for k in ("head_yaw", "head_pitch", "gaze_yaw", "gaze_pitch", "timestamp")]
        if not all(math.isfinite(v) for v in values):
            report(
                problems,
                "bad_label",
                where(path, number),
                f"non-finite value (NaN or inf) in {shorten(line)!r}; every field must be a finite number",
            )
            continue
        if idx in seen:
            report(
                problems,
                "duplicate",
                where(path, number),
                f"duplicate idx {idx} (first on line {seen[idx]}): {shorten(line)!r}",
            )
            continue
        seen[idx] = number
        rows.append((idx, *values, number))
    table = np.asarray(rows, dtype=np.float64).reshape(-1, 7)
    return RTGeneLabels(
        path=path,
        idx=table[:, 0].astype(np.int64),
        head=table[:, 1:3],
        gaze=table[:, 3:5],
        timestamp=table[:, 5],
        line=table[:, 6].astype(np.int64),
    )
