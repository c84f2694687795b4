"""Published reference rows (gazebench/published/references.py, gazebench/published/tables/): the
shipped file validates and cites a concrete source for every number; a bad entry is one line naming
the file and the entry; `gazebench table` shows the numbers beside the cross-dataset columns they
match and nowhere else, never bold, never in the Mean."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from gazebench.cli import main
from gazebench.core.errors import GazebenchError
from gazebench.leaderboard import aggregate, dedupe, layout, leaderboard, render
from gazebench.published.references import TABLE_DIR, load_references, matching, read_references

ROOT = Path(__file__).resolve().parents[1]
#: the datasets a reference may name: those with a shipped card (gazebench/datasets/<name>/card.yaml)
KNOWN = {p.parent.name for p in (ROOT / "gazebench" / "datasets").glob("*/card.yaml")}
#: a source must be pinned: a repository file at a commit
PINNED = re.compile(r"^https://github\.com/[\w.-]+/[\w.-]+/blob/[0-9a-f]{40}/\S+$")


# --- the shipped data -----------------------------------------------------------------------------


def test_shipped_references_validate_and_each_cites_a_pinned_source():
    refs = load_references()
    assert refs and all(r.file.startswith(str(TABLE_DIR)) for r in refs)
    for r in refs:
        assert PINNED.match(r.url), f"{r.source}: {r.url} is not a repository file at a commit"
        assert set(r.training) | {r.test} <= KNOWN, r
        assert r.paper and r.venue and r.table and r.method and r.backbone and r.adaptation
        assert r.training_population and r.test_population
        assert 0 < r.value < 180 and float(r.text) == r.value
    # one number per (source, method, task): a row never gives a task twice
    keys = [(r.source, r.method, r.training, r.test) for r in refs]
    assert len(keys) == len(set(keys))


def test_the_four_cross_domain_tasks_have_published_numbers():
    refs = load_references()
    for training, test in (
        (["ethxgaze"], "mpiifacegaze"),
        (["ethxgaze"], "eyediap"),
        (["gaze360"], "mpiifacegaze"),
        (["gaze360"], "eyediap"),
    ):
        found = matching(refs, training, test)
        assert {r.source for r in found} >= {"puregaze", "pnp-ga"}, (training, test)
    puregaze = {(r.method, r.training, r.test): r.text for r in refs if r.source == "puregaze"}
    # as printed in yihuacheng/PureGaze @ 5e3a9f4, figures/performance.png
    assert puregaze[("PureGaze (ours)", ("ethxgaze",), "mpiifacegaze")] == "7.08"
    assert puregaze[("Baseline (ours)", ("gaze360",), "eyediap")] == "11.42"


# --- a bad entry ------------------------------------------------------------------------------------

GOOD = """\
sources:
  - key: paper-a
    short: A, 2024
    paper: "Someone: A paper"
    venue: X 2024
    table: Table 2
    url: https://github.com/o/r/blob/0123456789012345678901234567890123456789/README.md
    training_populations: {ethxgaze: ETH-XGaze train}
    test_populations: {mpiifacegaze: not stated}
    rows:
      - method: Baseline
        backbone: ResNet-18
        adaptation: none
        results: {"ethxgaze -> mpiifacegaze": "8.1"}
"""


@pytest.mark.parametrize(
    "old, new, says",
    [
        (
            "    url: https://github.com/o/r/blob/0123456789012345678901234567890123456789/README.md\n",
            "",
            "source 'paper-a': lacks url",
        ),
        (
            '"ethxgaze -> mpiifacegaze": "8.1"',
            '"ethxgaze to mpiifacegaze": "8.1"',
            "source 'paper-a', row 1 ('Baseline'), result 'ethxgaze to mpiifacegaze': is not 'TRAIN -> TEST'",
        ),
        (
            '"8.1"',
            '"about 8"',
            "row 1 ('Baseline'), result 'ethxgaze -> mpiifacegaze': 'about 8' is not a mean angular",
        ),
        ('"ethxgaze -> mpiifacegaze"', '"gaze360 -> mpiifacegaze"', "no population for gaze360"),
        ("        backbone: ResNet-18\n", "", "row 1 ('Baseline'): lacks backbone"),
        ('"ethxgaze -> mpiifacegaze"', '"mpiifacegaze -> mpiifacegaze"', "is not 'TRAIN -> TEST'"),
    ],
)
def test_a_bad_entry_is_one_line_naming_the_file_and_the_entry(tmp_path, old, new, says):
    assert old in GOOD
    path = tmp_path / "refs.yaml"
    path.write_text(GOOD.replace(old, new))
    with pytest.raises(GazebenchError) as err:
        read_references(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and says in message


def test_a_good_file_reads_and_joint_keys_match_in_any_order(tmp_path):
    path = tmp_path / "refs.yaml"
    path.write_text(
        GOOD.replace('"ethxgaze -> mpiifacegaze"', '"gaze360+ethxgaze -> mpiifacegaze"').replace(
            "{ethxgaze: ETH-XGaze train}", "{ethxgaze: ETH-XGaze train, gaze360: all}"
        )
    )
    (ref,) = read_references(path)
    assert ref.training == ("gaze360", "ethxgaze") and ref.value == 8.1 and ref.text == "8.1"
    assert ref.matches(["ethxgaze", "gaze360"], "mpiifacegaze") and not ref.matches(["ethxgaze"], "mpiifacegaze")
    assert not ref.matches(["ethxgaze", "gaze360"], "eyediap")


# --- in the table -----------------------------------------------------------------------------------


def _run(i: int, label: str, test: str, value: float, train: list[str] | None = None) -> dict:
    """One load_results row of a run tested on ``test`` (trained on ``train``: a cross-dataset result)."""
    config = {"dataset": test, "card_version": "1", "protocol": "gazehub", "data_options": {}, "model": label}
    if train:
        config["trained_on"] = {
            "dataset": train[0],
            "card_version": "1",
            "protocol": "gazehub",
            "data_options": {},
            **({"datasets": train} if len(train) > 1 else {}),
        }
    return {
        "label": label,
        "identity": f"{i:016x}",
        "identity_config": json.dumps(config),
        "fold": "default",
        "seed": 0,
        "dataset": test,
        "card_version": "1",
        "protocol": "gazehub",
        "dataset_options": "{}",
        "population": f"{test}/test",
        "population_count": 10,
        "population_sha256": "ab",
        "population_complete": True,
        "population_shortfall": "",
        "created_at": f"2026-01-01T00:00:{i:02d}",
        "path": f"r{i}.json",
        "unit_id": f"u{i}",
        "benchmark": "cross-domain",
        "all.mean": value,
        "all.median": value,
    }


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        [
            _run(1, "static", "mpiifacegaze", 7.5, ["ethxgaze"]),
            _run(2, "mean", "mpiifacegaze", 20.0, ["ethxgaze"]),
            _run(3, "static", "rtgene", 12.0, ["gaze360"]),
            _run(4, "mean", "rtgene", 30.0, ["gaze360"]),
            _run(5, "static", "mpiifacegaze", 4.0),
            _run(6, "mean", "mpiifacegaze", 9.0),
        ]
    )


def _rows(text: str) -> dict[str, list[str]]:
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    body = ([c.strip() for c in line.strip("|").split("|")] for line in lines[2:])
    return {cells[0]: cells[1:] for cells in body} | {"": header[1:]}


def test_reference_rows_appear_for_matching_columns_only(frame):
    refs = load_references()
    text = leaderboard(frame, "all.mean", "github")
    rows = _rows(text)
    columns = rows[""]
    cross = columns.index("ethxgaze → mpiifacegaze (gazehub)")
    shown = [name for name in rows if name.startswith("ref: ")]
    expected = matching(refs, ["ethxgaze"], "mpiifacegaze")
    assert len(shown) == len({(r.source, r.method) for r in expected})
    for r in expected:
        (name,) = [n for n in shown if n.startswith(f"ref: {r.method} — {r.short} [R")]
        assert rows[name][cross] == r.text
        # nothing in the other columns: gaze360 → rtgene and mpiifacegaze's own have no published number
        assert all(v == "—" for i, v in enumerate(rows[name]) if i != cross)
    # no row of a task the table does not have (UniGaze's only numbers are ethxgaze → eyediap)
    assert not any("UniGaze" in name for name in shown)
    assert "published, not measured here:" in rows
    assert "[R1] PureGaze, AAAI 2022:" in text and "figures/performance.png" in text


def test_reference_rows_are_never_bold_in_the_mean_or_in_the_best_cell(frame):
    refs = load_references()
    agg = aggregate(dedupe(frame)[0])
    plain, referenced = layout(agg), layout(agg, references=refs)
    assert referenced.reference_rows and not plain.reference_rows
    assert [r for r, _ in referenced.rows] == [r for r, _ in plain.rows]  # the measured rows' order
    assert (referenced.row_mean, referenced.best, referenced.marks) == (plain.row_mean, plain.best, plain.marks)
    rows = _rows(leaderboard(frame, "all.mean", "github"))
    for name, cells in rows.items():
        if name.startswith("ref: "):
            assert not any("**" in c for c in cells) and cells[-1] == "—"  # the last column is the Mean
    # a published number below every measured one (PnP-GA's 5.529) does not take the bold from 7.50
    cross = rows[""].index("ethxgaze → mpiifacegaze (gazehub)")
    assert rows["static"][cross] == "**7.50 (n=1)**"
    latex = leaderboard(frame, "all.mean", "latex")
    assert "ref: PureGaze (ours)" in latex and "\\textbf{7.08}" not in latex and "\\textbf{7.50 (n=1)}" in latex


def test_a_joint_column_matches_only_its_training_set(frame, tmp_path):
    path = tmp_path / "refs.yaml"
    path.write_text(
        GOOD.replace(
            '"ethxgaze -> mpiifacegaze": "8.1"',
            '"gaze360+ethxgaze -> mpiifacegaze": "6.5", "ethxgaze -> mpiifacegaze": "8.1"',
        ).replace("{ethxgaze: ETH-XGaze train}", "{ethxgaze: ETH-XGaze train, gaze360: all}")
    )
    refs = read_references(path)
    agg = aggregate(dedupe(frame)[0])
    single = agg[agg["column"] == "ethxgaze → mpiifacegaze (gazehub)"].iloc[0]
    # a joint run's cell (the joint-training column names it A+B → C; its identity lists both datasets)
    joint = single.copy()
    joint["column"], joint["training"] = "ethxgaze+gaze360 → mpiifacegaze (gazehub)", ("ethxgaze", "gaze360")
    agg = pd.concat([agg, joint.to_frame().T], ignore_index=True)
    records = {r["column"]: r["mean"] for r in json.loads(render(agg, "json", references=refs)) if r["mark"] == "ref"}
    assert records == {"ethxgaze → mpiifacegaze (gazehub)": 8.1, "ethxgaze+gaze360 → mpiifacegaze (gazehub)": 6.5}


def test_long_forms_carry_references_as_marked_records(frame):
    records = json.loads(leaderboard(frame, "all.mean", "json"))
    refs = [r for r in records if r["mark"] == "ref"]
    measured = [r for r in records if r["mark"] != "ref"]
    assert refs and measured and all("reference" not in r for r in measured)
    assert all(r["n"] is None and r["identity"] is None and "github.com" in r["reference"] for r in refs)
    assert records.index(refs[0]) > records.index(measured[-1])  # after every measured cell
    csv_text = leaderboard(frame, "all.mean", "csv")
    header, *lines = csv_text.splitlines()
    assert header.endswith(",mark,reference") and any(",ref," in line for line in lines)
    assert ",1,default," in csv_text  # n stays an integer beside the reference records' empty n


def test_other_metrics_and_no_references_show_none(frame):
    assert "ref: " not in leaderboard(frame, "all.median", "github")
    assert "ref: " not in leaderboard(frame, "all.mean", "github", references=False)
    assert "ref: " in leaderboard(frame, "all.mean", "github")


def test_table_command_flag_hides_the_reference_rows(frame, tmp_path, monkeypatch, capsys):
    import gazebench.results.store as results

    monkeypatch.setattr(results, "load_results", lambda _: frame)
    monkeypatch.setattr(results, "check_predictions", lambda df, _: df.assign(record_check=""))
    assert main(["table", "--results", str(tmp_path)]) == 0
    assert "ref: PureGaze (ours) — PureGaze, AAAI 2022 [R1]" in capsys.readouterr().out
    assert main(["table", "--results", str(tmp_path), "--no-references"]) == 0
    out = capsys.readouterr().out
    assert "ref: " not in out and "published, not measured here" not in out and "static" in out


def test_report_shows_reference_rows_in_its_leaderboard(frame):
    from gazebench.report import leaderboards

    def page(references: bool) -> str:
        return "".join(board["table"] + board["legend"] for board in leaderboards(frame, references=references))

    assert "ref: PureGaze (ours) — PureGaze, AAAI 2022 [R1]" in page(True) and "<b>7.08</b>" not in page(True)
    assert "ref: " not in page(False)


def test_shipped_tables_are_package_data():
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'"gazebench\.published"\s*=\s*\[[^\]]*"tables/\*\.yaml"', text)
