"""torchrun: two CPU processes (gloo) train, select and test a unit as one process does.

What one process and ``torchrun --nproc-per-node 2`` share for a given seed and global batch:
the order of the training samples and the global batches (every rank draws the same permutation
and takes its slice of each batch), the augmentation's draws (made for the whole global batch),
BatchNorm statistics (over the global batch: gazebench.train.distributed.GlobalBatchNorm on CPU) and
the evaluated samples (each once, gathered in index order).  What differs is only the order of
float sums (gradients summed per rank and then averaged, BatchNorm's sums split over two
processes), so the numbers agree to float rounding: :data:`TOLERANCE_DEG` per test sample and
on the record's metrics (measured: 2e-6 deg on the test mean after 2 epochs, per-sample differences
below the 6 significant digits the predictions CSV keeps).  With per-rank
BatchNorm statistics instead the same run differed by up to 6.5 deg per sample.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import TINY_RECIPE

#: per-sample test error, one process vs two: float summation order only (see the module doc)
TOLERANCE_DEG = 1e-3
#: predictions_test.csv writes 6 significant digits: two values rounded apart by up to 1e-5 of their size
CSV_ROUNDING = 1e-5


def torchrun(nproc: int) -> list[str]:
    exe = shutil.which("torchrun")
    launcher = [exe] if exe else [sys.executable, "-m", "torch.distributed.run"]
    return [*launcher, "--standalone", "--nproc-per-node", str(nproc), "-m", "gazebench"]


def run_args(root: Path, out: Path, epochs: int = 2, model: str = "static") -> list[str]:
    return [
        "run",
        "--dataset",
        "synthgaze",
        "--root",
        str(root),
        "--model",
        model,
        "--epochs",
        str(epochs),
        "--backbone",
        "test_resnet",
        *TINY_RECIPE,
        "--set",
        "logger=none",
        "--deterministic",
        "--quiet",
        "--no-table",
        "--results",
        str(out / "results"),
        "--runs",
        str(out / "runs"),
    ]


def launch(prefix: list[str], args: list[str], timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    # one thread per process: two ranks share the test machine's cores without oversubscription
    environ = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **env}
    return subprocess.run([*prefix, *map(str, args)], env=environ, capture_output=True, text=True, timeout=timeout)


def single(args: list[str]) -> subprocess.CompletedProcess:
    return launch([sys.executable, "-m", "gazebench"], args)


def outputs(out: Path) -> tuple[dict, pd.DataFrame]:
    (path,) = list((out / "results").rglob("*.json"))  # exactly one result file
    (pred,) = list((out / "runs").rglob("predictions_test.csv"))
    return json.loads(path.read_text()), pd.read_csv(pred)


def assert_same_run(one: Path, two: Path) -> None:
    rec1, pred1 = outputs(one)
    rec2, pred2 = outputs(two)
    assert rec1["identity"]["hash"] == rec2["identity"]["hash"]  # the world size is not in the identity
    assert rec2["environment"]["distributed"]["world_size"] == 2
    assert rec2["environment"]["distributed"]["backend"] == "gloo"
    assert rec1["environment"]["distributed"] == {"world_size": 1, "backend": None}
    m1, m2 = rec1["metrics"]["all"], rec2["metrics"]["all"]
    assert m1["n"] == m2["n"] == len(pred1) == len(pred2) == rec1["dataset"]["samples"]["test"]
    assert list(pred1["id"]) == list(pred2["id"])  # every test sample once, in index order
    e1, e2 = pred1["error_deg"].to_numpy(), pred2["error_deg"].to_numpy()
    # the CSV keeps 6 significant digits: each value is rounded by up to 5e-6 of itself
    slack = TOLERANCE_DEG + CSV_ROUNDING * np.maximum(np.abs(e1), np.abs(e2))
    assert (np.abs(e1 - e2) <= slack).all(), f"per-sample errors differ by up to {np.abs(e1 - e2).max():.2e} deg"
    for key in ("mean", "median", "p90"):
        assert abs(m1[key] - m2[key]) < TOLERANCE_DEG
    assert [h["train_samples"] for h in rec1["history"]] == [h["train_samples"] for h in rec2["history"]]
    for h1, h2 in zip(rec1["history"], rec2["history"]):
        assert abs(h1["val_mean"] - h2["val_mean"]) < TOLERANCE_DEG
        assert abs(h1["train_loss"] - h2["train_loss"]) < 1e-4
    assert rec1["selection"]["chosen_epoch"] == rec2["selection"]["chosen_epoch"]


@pytest.fixture(scope="module")
def one_process(tiny_synth, tmp_path_factory) -> Path:
    """The reference: one process, 2 epochs, global batch 16, seed 0."""
    one = tmp_path_factory.mktemp("one")
    r = single(run_args(tiny_synth, one))
    assert r.returncode == 0, r.stderr
    return one


@pytest.mark.slow
def test_two_processes_match_one_and_write_one_result(tiny_synth, one_process, tmp_path):
    one, two = one_process, tmp_path / "two"
    r2 = launch(torchrun(2), run_args(tiny_synth, two))
    assert r2.returncode == 0, r2.stderr
    assert_same_run(one, two)
    (run_dir,) = {p.parent for p in (two / "runs").rglob("best.pt")}
    assert (run_dir / "last.pt").exists()
    assert sorted(p.name for p in run_dir.iterdir() if p.is_file()) == ["best.pt", "last.pt", "predictions_test.csv"]

    # the same command again: rank 0 finds the unit done, every rank stops, nothing is rewritten
    (result,) = (two / "results").rglob("*.json")
    written = result.stat().st_mtime_ns
    again = launch(torchrun(2), run_args(tiny_synth, two))
    assert again.returncode == 0, again.stderr
    assert result.stat().st_mtime_ns == written and len(list((two / "results").rglob("*.json"))) == 1


@pytest.mark.slow
def test_torchrun_resumes_from_last_pt(tiny_synth, one_process, tmp_path):
    """All ranks load the same last.pt; here one a single process left after epoch 1 of the same
    recipe (an epochs=1 run's last.pt is an epochs=2 run's after epoch 1), so the resumed two-
    process run must end where one process's uninterrupted epochs=2 run ends."""
    clean, half, resumed = one_process, tmp_path / "half", tmp_path / "resumed"
    assert single(run_args(tiny_synth, half, epochs=1)).returncode == 0
    (ckpt,) = (half / "runs").rglob("last.pt")
    (clean_dir,) = {p.parent for p in (clean / "runs").rglob("last.pt")}
    target = resumed / "runs" / clean_dir.relative_to(clean / "runs")  # the epochs=2 unit's run folder
    target.mkdir(parents=True)
    shutil.copy(ckpt, target / "last.pt")
    args = run_args(tiny_synth, resumed, epochs=2)
    args.remove("--quiet")
    r = launch(torchrun(2), args)
    assert r.returncode == 0, r.stderr
    assert "resuming after epoch 1" in r.stderr and "epoch 1:" not in r.stderr and "epoch 2:" in r.stderr
    assert r.stderr.count("resuming after epoch 1") == 1  # rank 0 talks, the others do not
    assert_same_run(clean, resumed)


FLAKY_PLUGIN = """
import os

from gazebench.models import build_model
from gazebench.core.registry import MODELS


@MODELS.register("flaky")
def flaky(backbone: str = "test_resnet"):
    "static, whose forward pass fails on the rank named by $FLAKY_RANK (a failing rank, for tests)."
    model = build_model("static", backbone=backbone)
    if os.environ.get("FLAKY_RANK") is not None and os.environ.get("RANK") == os.environ["FLAKY_RANK"]:
        def fail(views):
            raise RuntimeError("injected failure in the forward pass")
        model.forward = fail
    return model
"""


@pytest.mark.slow
def test_a_failing_rank_brings_the_job_down_with_its_rank(tiny_synth, tmp_path):
    plugin = tmp_path / "flaky.py"
    plugin.write_text(FLAKY_PLUGIN)
    start = time.monotonic()
    # rank 0 trains and waits in a collective for rank 1, whose first forward pass fails
    r = launch(
        torchrun(2),
        ["--plugin", plugin, *run_args(tiny_synth, tmp_path, model="flaky")],
        timeout=600,
        FLAKY_RANK="1",
        GAZEBENCH_DIST_TIMEOUT="300",
    )
    assert r.returncode != 0
    # well before the collective's 300 s timeout: torchrun ends the others (300 s, not less, leaves a
    # loaded 2-core machine room to start two processes)
    assert time.monotonic() - start < 300
    lines = [line for line in r.stderr.splitlines() if line.startswith("[rank 1] gazebench run:")]
    assert lines and "RuntimeError: injected failure in the forward pass" in lines[0]
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("*.json"))


@pytest.mark.slow
def test_a_global_batch_the_ranks_cannot_share_is_one_line_per_rank(tiny_synth, tmp_path):
    r = launch(torchrun(2), [*run_args(tiny_synth, tmp_path), "--set", "batch_size=15"], timeout=90)
    assert r.returncode != 0
    for rank in (0, 1):
        assert any(
            line.startswith(f"[rank {rank}] gazebench run: ConfigError: batch_size=15 does not divide by the 2 ")
            for line in r.stderr.splitlines()
        ), r.stderr


# -- the pieces, in one process (fast) -------------------------------------------------------------


SINGLE_FIT = """
import sys
from pathlib import Path

from gazebench.plan import planning
from gazebench.train.fit import evaluate, fit
from gazebench.train.parallel import SingleProcess
from gazebench.train.assemble import build_setup

root, out = Path(sys.argv[1]), Path(sys.argv[2])
suite = planning.single_run_suite("synthgaze", ["static"], [0], root=str(root))
(spec,) = planning.expand(suite, {"backbone": "test_resnet", "image_size": 32, "batch_size": 16, "num_workers": 0,
                                  "epochs": 1, "logger": "none"})
setup = build_setup(planning.plan_unit(spec, out / "results", out / "runs"))
outcome = fit(setup, progress=False)
evaluation = evaluate(setup, progress=False)
assert type(setup.strategy) is SingleProcess and setup.train_model is setup.step_model
assert len(outcome.history) == 1 and len(evaluation.test["error"]) == len(setup.sets["test"])
print("gazebench.train.distributed" in sys.modules)
"""


def test_a_single_process_fit_never_enters_distributed(tiny_synth, tmp_path):
    """Set-up, fit and evaluation of one process ask gazebench.train.parallel.SingleProcess, which answers
    with what it was given: gazebench.train.distributed is never imported."""
    r = launch([sys.executable, "-c", SINGLE_FIT], [tiny_synth, tmp_path])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False"], r.stdout


@pytest.mark.parametrize("n, world", [(90, 2), (97, 2), (90, 4), (83, 4), (64, 8)])
def test_rank_slices_put_together_are_the_one_process_batches(n, world):
    import torch
    from torch.utils.data import BatchSampler, RandomSampler

    from gazebench.train.distributed import ShardedBatchSampler

    batch, seed = 16, 7
    drop_last = n % batch == 1  # make_loader's rule: a one-sample remainder is dropped
    gen = torch.Generator().manual_seed(seed)
    one = list(BatchSampler(RandomSampler(range(n), generator=gen), batch, drop_last))
    after_one = gen.get_state()
    ranks = []
    for rank in range(world):
        g = torch.Generator().manual_seed(seed)
        sampler = ShardedBatchSampler(RandomSampler(range(n), generator=g), batch, drop_last, rank, world)
        ranks.append((list(sampler), list(sampler.plan), len(sampler), sampler.local_samples()))
        assert torch.equal(g.get_state(), after_one)  # the same draws: the augmentation's stream stays aligned
    kept = [b for b in one if len(b) >= world]  # a final batch smaller than the world is left out
    assert all(len(r[0]) == r[2] == len(kept) for r in ranks)
    assert sum(r[3] for r in ranks) == sum(map(len, kept))
    for k, global_batch in enumerate(kept):
        assert [i for r in ranks for i in r[0][k]] == global_batch
        starts = [r[1][k][0] for r in ranks]
        assert starts == sorted(starts) and all(r[1][k][1] == len(global_batch) for r in ranks)
        # DDP averages the ranks' gradients, (1/world) sum_r weight_r * mean_r: every sample's share
        # must be 1 / (global batch size), as in the one process's batch mean
        for r in ranks:
            assert r[1][k][2] / (world * len(r[0][k])) == pytest.approx(1 / len(global_batch))


def test_augmentation_of_a_slice_is_the_slice_of_the_whole_batch():
    import torch

    from gazebench.train.augment import Augment

    # (resized_crop draws in the data path from the sample's row, not from the batch: test_augment.py)
    frames = torch.randint(0, 255, (8, 2, 3, 16, 16), dtype=torch.uint8)
    views, target = frames.float().flatten(1, 2).unsqueeze(1), torch.randn(8, 3)
    whole = Augment(("flip",), torch.Generator().manual_seed(3))
    ref_views, ref_target = whole.views_target(views, target)
    for start, stop in ((0, 5), (5, 8)):
        part = Augment(("flip",), torch.Generator().manual_seed(3), part=(start, 8))
        v, t = part.views_target(views[start:stop], target[start:stop])
        assert torch.equal(v, ref_views[start:stop]) and torch.equal(t, ref_target[start:stop])


def test_global_batchnorm_is_batchnorm_on_one_process(tmp_path):
    """GlobalBatchNorm in a process group of one: outputs, gradients and running statistics as
    nn.BatchNorm2d (the all-reduces are then identities; the arithmetic is what is checked)."""
    import torch
    import torch.distributed as tdist
    from torch import nn

    from gazebench.train.distributed import GlobalBatchNorm, global_batchnorm

    tdist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.BatchNorm2d(4, momentum=None))
        synced = nn.Sequential(*[m for m in __import__("copy").deepcopy(plain)])
        assert global_batchnorm(synced, torch.device("cpu")) == []
        assert isinstance(synced[1], GlobalBatchNorm) and set(synced.state_dict()) == set(plain.state_dict())
        for _step in range(3):
            x = torch.randn(6, 3, 9, 9) * 3 + 1
            for model in (plain, synced):
                model.zero_grad()
                model(x).square().mean().backward()
            assert torch.allclose(plain(x), synced(x), atol=1e-5)
            for (name, a), b in zip(plain.named_parameters(), synced.parameters()):
                assert torch.allclose(a.grad, b.grad, atol=1e-5), name
        for key, value in plain.state_dict().items():
            assert torch.allclose(value.float(), synced.state_dict()[key].float(), atol=1e-5), key
        plain.eval(), synced.eval()
        x = torch.randn(2, 3, 9, 9)
        assert torch.allclose(plain(x), synced(x), atol=1e-5)
    finally:
        tdist.destroy_process_group()
