"""A cheap fingerprint of the data a unit reads, so a result made on other data is noticed.

:func:`data_fingerprint` hashes, for each split of the unit's fold (train, val, test), the index
rows it reads -- sample id, subject, sequence, order, the gaze label, the image path relative to the
root and the centre flag (:mod:`gazebench.datasets.base`) -- sorted by id, never the image bytes.
A label fixed, a subject added or removed, a file renamed: another fingerprint.  An image replaced
in place with the same name and labels: the same one (as for the frame cache, gazebench.cache).

The record keeps it as ``dataset.fingerprint``; when ``gazebench run`` finds a unit done, it opens
the dataset's index (once per dataset and root; never under ``--dry-run``), fingerprints the unit's
splits again and warns, in one line naming the result file and the fix, when they differ
(:func:`stale_data_note`).  It does not re-run the unit by itself: a result may already be cited,
and replacing it is the user's call (``--overwrite always``).  Records written before fingerprints
were kept have none: "unknown", never a warning or a re-run.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pandas as pd

#: the index columns a fingerprint covers (every adapter has them; gazebench.datasets.base)
COLUMNS = ("id", "subject", "sequence", "order", "gaze_x", "gaze_y", "gaze_z", "path", "centre")
VERSION = 1


def data_fingerprint(index: pd.DataFrame, positions: dict[str, np.ndarray]) -> dict[str, Any]:
    """``{"version", "sha256", "samples"}``: the first 16 hex digits of a SHA-256 over each split's
    rows of ``index`` (:data:`COLUMNS`, rows sorted by id), and the sample count per split."""
    h = hashlib.sha256(json.dumps({"version": VERSION, "columns": COLUMNS}).encode())
    counts = {}
    for split in sorted(positions):
        rows = index.iloc[np.asarray(positions[split], dtype=np.int64)][list(COLUMNS)]
        rows = rows.sort_values("id", kind="stable")
        h.update(f"\0{split}:{len(rows)}\0".encode())
        h.update(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
        counts[split] = int(len(rows))
    return {"version": VERSION, "sha256": h.hexdigest()[:16], "samples": counts}


def recorded_fingerprint(record: dict[str, Any]) -> str | None:
    """The data fingerprint a record was made on, or None (an older record: unknown)."""
    fp = (record.get("dataset") or {}).get("fingerprint")
    return fp.get("sha256") if isinstance(fp, dict) and fp.get("version") == VERSION else None


def stale_data_note(result_path: Any, recorded: str | None, current: str | None, root: Any) -> str | None:
    """The one line that says a finished result was made on other data than ``root`` holds now
    (None when they agree or either is unknown)."""
    if recorded is None or current is None or recorded == current:
        return None
    return (
        f"warning: {result_path} was made on other data (data fingerprint {recorded}; the data under {root} "
        f"gives {current} now: labels, ids or files of its splits changed). It still counts as done; to redo "
        "it, run the same command with --overwrite always (narrowed with --dataset/--model/--fold/--seed to "
        "this unit)"
    )
