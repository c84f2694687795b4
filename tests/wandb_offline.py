"""Read an offline W&B run back: the ``run-<id>.wandb`` file that ``wandb sync`` uploads.

The file is a LevelDB log (https://github.com/google/leveldb/blob/main/doc/log_format.md) behind a
7-byte W&B header (``:W&B``, magic 0xBEE1, version 0), each log record one serialized
``wandb_internal.Record`` -- the layout of wandb's own reader and writer (wandb/wandb @ 0552ec8a,
wandb/sdk/internal/datastore.py: ``LEVELDBLOG_*`` constants, ``scan_record``/``scan_data``; the CRC
there is zlib's CRC-32 seeded with the record type byte).  Current wandb writes the file from its Go
core and no longer ships a Python reader, so this walks the framing, checks every checksum and
decodes the records with the installed package's protobuf classes (``wandb.proto.wandb_internal_pb2``):
a framing or schema change fails here loudly instead of reading garbage.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEADER = struct.pack("<4sHB", b":W&B", 0xBEE1, 0)
BLOCK = 32768
CHUNK_HEADER = 7  # crc32 (uint32), length (uint16), type (uint8), little-endian
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> Iterator[Any]:
    """The ``wandb_internal.Record`` s of a ``.wandb`` file, in order."""
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    assert data[: len(HEADER)] == HEADER, f"{path}: not a W&B transaction log"
    pos, pending = len(HEADER), None
    while pos < len(data):
        left = BLOCK - pos % BLOCK
        if left < CHUNK_HEADER:  # a block's tail too short for a chunk header is zero padding
            assert data[pos : pos + left] == bytes(len(data[pos : pos + left])), f"{path}: bad padding at {pos}"
            pos += left
            continue
        crc, length, kind = struct.unpack_from("<IHB", data, pos)
        chunk = data[pos + CHUNK_HEADER : pos + CHUNK_HEADER + length]
        assert len(chunk) == length, f"{path}: truncated chunk at {pos}"
        assert crc == zlib.crc32(chunk, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF, f"{path}: bad checksum at {pos}"
        pos += CHUNK_HEADER + length
        if kind in (FULL, FIRST):
            assert pending is None, f"{path}: chunk {kind} inside a record at {pos}"
            pending = b""
        else:
            assert kind in (MIDDLE, LAST) and pending is not None, f"{path}: stray chunk {kind} at {pos}"
        pending += chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = None
            yield record


@dataclass
class OfflineRun:
    """What one offline run folder holds for ``wandb sync``."""

    folder: Path
    run_id: str = ""
    project: str = ""
    name: str = ""
    resume: bool = False
    start_us: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int | None = None


def read_run(folder: Path) -> OfflineRun:
    """An ``offline-run-<time>-<id>`` folder: its run record (id, project, name, resume flag,
    config), every history row (``_step`` included) and the exit code."""
    (log,) = Path(folder).glob("run-*.wandb")
    run = OfflineRun(Path(folder))
    for record in records(log):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.run_id, run.project, run.name = record.run.run_id, record.run.project, record.run.display_name
            run.resume, run.start_us = record.run.resume, record.run.start_time.ToMicroseconds()
            run.config.update({c.key: json.loads(c.value_json) for c in record.run.config.update})
        elif kind == "config":
            run.config.update({c.key: json.loads(c.value_json) for c in record.config.update})
        elif kind == "history":
            run.history.append(
                {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            )
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    return run


def offline_runs(wandb_dir: Path) -> list[OfflineRun]:
    """Every offline run under ``<dir>/wandb/``, in the order they started."""
    runs = [read_run(f) for f in Path(wandb_dir).glob("wandb/offline-run-*") if f.is_dir()]
    return sorted(runs, key=lambda run: run.start_us)
