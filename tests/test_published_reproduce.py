"""``gazebench reproduce`` for the transformer cards: UniGaze on ETH-XGaze's withheld test subset (a
submission, no number), and published numbers on other test sets never set beside a measurement."""

from __future__ import annotations

import json

import pytest

from gazebench.datasets.ethxgaze.tests.test_ethxgaze import check_submission, withheld  # noqa: F401  (the fixture)
from gazebench.plan import reproduce
from gazebench.published import published_card
from gazebench.results.record_model import Dataset, ErrorSummary, ResultRecord
from tests.helpers import cli
from tests.test_published import REFERENCE, reference_weights, save_released

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_numbers_on_another_test_set_are_not_compared_with_this_run() -> None:
    """UniGaze-H cross_X's EYEDIAP numbers beside an ETH-XGaze run (whatever it measured): no
    measured value, no difference."""
    card = published_card("unigaze-h14-cross-x")

    def record_on(dataset: str) -> ResultRecord:  # the two parts comparison_rows reads
        metrics = {"all": ErrorSummary.model_construct(mean=3.0, n=12)}
        return ResultRecord.model_construct(dataset=Dataset.model_construct(name=dataset), metrics=metrics)

    rows = reproduce.comparison_rows(card, record_on("ethxgaze"))
    assert [r[0] for r in rows] == ["all", "all"] and [r[2] for r in rows] == ["4.65", "8.13"]
    assert {r[3] for r in rows} == {"not measured (on eyediap)"} and {r[4] for r in rows} == {"none: another test set"}
    # on its own test set the number is compared as any other
    assert reproduce.comparison_rows(card, record_on("eyediap"))[0][3:] == ["3.00", "-1.65"]


def test_reproduce_unigaze_writes_an_eth_xgaze_submission(withheld, tmp_path, capsys) -> None:  # noqa: F811
    """UniGaze-B/16 (reference weights packed as released) on a tree whose ETH-XGaze test labels are
    withheld: predict-only under the card's protocol at its 224 px, the submission in split-file order,
    its row NAME (published)."""
    name = "unigaze-b16-joint"
    weights = save_released(name, reference_weights(REFERENCE / name), tmp_path / "unigaze_b16_joint.safetensors")
    assert (
        cli(
            "reproduce",
            name,
            "--root",
            withheld,
            "--weights",
            weights,
            "--results",
            tmp_path / "results",
            "--runs",
            tmp_path / "runs",
            "--quiet",
            "--set",
            "num_workers=0",
        )
        == 0
    )
    (path,) = (tmp_path / "results").rglob("*.json")
    record = json.loads(path.read_text())
    assert record["protocol"]["name"] == "xgaze-baseline" and record["recipe"]["image_size"] == 224
    assert record["label"] == f"{name} (published)" and record["weights"]["tag"] == f"published:{name}"
    assert record["metrics"] == {} and record["population"]["labels"] == "withheld"
    check_submission(record, withheld)
    out = capsys.readouterr().out
    assert "| all" in out and "not measured (on the joint test sets)" in out
