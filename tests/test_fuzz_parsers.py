"""Label parsers never crash with anything but DatasetError, whatever the file holds."""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gazebench.datasets.base import DatasetError
from gazebench.datasets.gaze360.parsing import parse_gaze360_split_file
from gazebench.datasets.rtgene.parsing import parse_rtgene_labels

# text that looks like label lines: numbers, brackets, separators, the odd control character
_ALPHABET = string.digits + " \t,.[]-+eEnaif_/rechdpgj\r\x00\x0b\u00a0é"
_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**6), 10**6).map(str),
    st.text(_ALPHABET, max_size=6),
)
_rtgene_line = st.one_of(
    st.builds(
        lambda i, a, b, c, d, t: f"{i}, [{a}, {b}], [{c}, {d}], {t}",
        st.integers(-5, 50),
        _number,
        _number,
        _number,
        _number,
        _number,
    ),
    st.text(_ALPHABET, max_size=60),
)
_gaze360_line = st.one_of(
    st.builds(
        lambda r, p, f, x, y, z, sep: f"rec_{r}/head/{p}/{f}.jpg{sep}{x}{sep}{y}{sep}{z}",
        st.text(string.digits, min_size=1, max_size=4),
        st.text(string.digits, max_size=7),
        st.text(string.digits, max_size=7),
        _number,
        _number,
        _number,
        st.sampled_from([" ", "\t", "  ", ","]),
    ),
    st.text(_ALPHABET, max_size=60),
)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _write(lines: list[str], raw: bytes | None = None) -> Path:
    d = Path(tempfile.mkdtemp())
    path = d / "labels.txt"
    path.write_bytes(raw if raw is not None else "\n".join(lines).encode("utf-8"))
    return path


@FUZZ
@given(st.lists(_rtgene_line, max_size=8))
def test_rtgene_parser_only_raises_dataset_error(lines):
    path = _write(lines)
    try:
        labels = parse_rtgene_labels(path)
    except DatasetError as exc:
        assert str(path) in str(exc)  # the error names the file (and line)
        return
    # whatever parsed is finite and unique
    assert len(set(labels.idx.tolist())) == len(labels.idx)
    assert np.isfinite(labels.gaze).all()
    # lenient mode (check-data) collects problems instead of raising
    problems: list = []
    parse_rtgene_labels(path, problems)
    assert problems == []


@FUZZ
@given(st.lists(_rtgene_line, max_size=8))
def test_rtgene_lenient_mode_never_raises(lines):
    problems: list = []
    parse_rtgene_labels(_write(lines), problems)
    for p in problems:
        assert p.path and p.message


@FUZZ
@given(st.lists(_gaze360_line, max_size=8))
def test_gaze360_split_parser_only_raises_dataset_error(lines):
    path = _write(lines)
    try:
        parse_gaze360_split_file(path)
    except DatasetError as exc:
        assert str(path) in str(exc)
    problems: list = []
    parse_gaze360_split_file(path, problems)


@FUZZ
@given(st.binary(max_size=200))
def test_binary_garbage(raw):
    path = _write([], raw)
    for parse in (parse_rtgene_labels, parse_gaze360_split_file):
        try:
            parse(path)
        except DatasetError:
            pass
