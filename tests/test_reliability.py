"""Faults injected on purpose: a killed run resumes exactly, concurrent writers stay valid,
bad files are refused or skipped by name, untrusted checkpoints cannot run code."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

from gazebench.cli import main
from gazebench.core.errors import GazebenchError

RECIPE = ["--set", "image_size=32", "--set", "batch_size=16", "--set", "num_workers=0", "--backbone", "test_resnet"]


def _run_args(root: Path, out: Path, epochs: int = 3) -> list[str]:
    return [
        "run",
        "--dataset",
        "synthgaze",
        "--root",
        str(root),
        "--model",
        "static",
        "--epochs",
        str(epochs),
        "--results",
        str(out / "results"),
        "--runs",
        str(out / "runs"),
        "--deterministic",
        "--no-table",
        "--quiet",
        *RECIPE,
    ]


def _metrics(out: Path) -> dict:
    (path,) = list((out / "results").rglob("*.json"))
    record = json.loads(path.read_text())
    return {
        "metrics": record["metrics"],
        "history": [(h["epoch"], h["val_mean"], h["train_loss"]) for h in record["history"]],
    }


def test_same_seed_deterministic_runs_give_identical_metrics(tiny_synth, tmp_path):
    assert main(_run_args(tiny_synth, tmp_path / "a", epochs=2)) == 0
    assert main(_run_args(tiny_synth, tmp_path / "b", epochs=2)) == 0
    assert _metrics(tmp_path / "a") == _metrics(tmp_path / "b")


@pytest.mark.slow
def test_kill_9_mid_run_then_resume_matches_an_uninterrupted_run(tiny_synth, tmp_path, capsys):
    epochs = 4
    assert main(_run_args(tiny_synth, tmp_path / "clean", epochs)) == 0

    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gazebench", *_run_args(tiny_synth, out, epochs)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ckpt = None
    deadline = time.time() + 600  # a limit for a hung process, not a speed check (a loaded 2-core CI)
    while time.time() < deadline and proc.poll() is None:
        found = list((out / "runs").rglob("last.pt")) if (out / "runs").exists() else []
        if found:
            ckpt = found[0]
            break
        time.sleep(0.02)
    assert ckpt is not None, "the run never wrote a checkpoint"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not list((out / "results").rglob("*.json")) if (out / "results").exists() else True
    epoch_at_kill = torch.load(ckpt, weights_only=True)["fit"]["epoch"]
    assert epoch_at_kill < epochs

    capsys.readouterr()
    assert main(_run_args(tiny_synth, out, epochs)) == 0  # the same command: resuming is the default
    assert f"resuming after epoch {epoch_at_kill}" in capsys.readouterr().err
    assert _metrics(out) == _metrics(tmp_path / "clean")


@pytest.mark.slow
def test_concurrent_runs_into_one_results_folder_stay_valid(tiny_synth, tmp_path):
    results = tmp_path / "results"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gazebench",
                "run",
                "--dataset",
                "synthgaze",
                "--root",
                str(tiny_synth),
                "--model",
                "mean",
                "--seed",
                str(seed),
                "--results",
                str(results),
                "--runs",
                str(tmp_path / "runs"),
                "--no-table",
                "--quiet",
                "--set",
                "num_workers=0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for seed in (0, 1, 0)  # two writers race for the same unit, one writes another
    ]
    for p in procs:
        assert p.wait(timeout=600) == 0, p.stderr.read().decode()
    files = sorted(results.rglob("*.json"))
    assert len(files) == 2
    for f in files:
        json.loads(f.read_text())  # complete, parseable
    assert not list(results.rglob("*.tmp"))


def test_table_warns_about_and_skips_an_unreadable_result(tiny_synth, tmp_path, capsys):
    results = tmp_path / "results"
    assert (
        main(
            [
                "run",
                "--root",
                str(tiny_synth),
                "--model",
                "mean",
                "--results",
                str(results),
                "--runs",
                str(tmp_path / "runs"),
                "--no-table",
                "--quiet",
                "--set",
                "num_workers=0",
            ]
        )
        == 0
    )
    bad = results / "synthgaze" / "mean" / "truncated.json"
    bad.write_text('{"metrics": {"all": ')
    with pytest.warns(UserWarning, match="truncated.json"):
        assert main(["table", "--results", str(results)]) == 0
    assert "mean" in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["truncated", "another unit's record"])
def test_a_bad_result_file_is_not_done_it_is_set_aside_and_the_unit_reruns(damage, tiny_synth, tmp_path, capsys):
    args = [
        "run",
        "--root",
        str(tiny_synth),
        "--model",
        "mean",
        "--results",
        str(tmp_path / "results"),
        "--runs",
        str(tmp_path / "runs"),
        "--no-table",
        "--quiet",
        "--set",
        "num_workers=0",
    ]
    assert main(args) == 0
    (path,) = (tmp_path / "results").rglob("*.json")
    record = json.loads(path.read_text())
    if damage == "truncated":
        path.write_text(path.read_text()[:100])
    else:
        path.write_text(json.dumps({**record, "unit_id": "0123456789"}))
    capsys.readouterr()
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert " bad " in out and "1 of them with a bad result file" in out
    assert main(args) == 0
    err = capsys.readouterr().err
    assert f"{path} is not a finished result of this unit" in err and "moved it to" in err
    (aside,) = path.parent.glob(path.name + ".bad-*")
    assert json.loads(path.read_text())["unit_id"] == record["unit_id"]  # the unit ran again
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the set-aside file is not read as a result
        assert main(["table", "--results", str(tmp_path / "results")]) == 0
    assert aside.exists()


def test_an_output_folder_that_cannot_be_written_stops_the_run_before_training(tiny_synth, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    rc = main(
        [
            "run",
            "--root",
            str(tiny_synth),
            "--model",
            "static",
            "--epochs",
            "1",
            "--no-table",
            "--quiet",
            "--results",
            str(blocker / "results"),
            "--runs",
            str(tmp_path / "runs"),
            *RECIPE,
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert f"cannot write to {blocker / 'results'}" in err and "(--resume, the default) continues" in err
    assert not list((tmp_path / "runs").rglob("*.pt"))  # nothing was trained


def test_a_full_disk_while_writing_the_result_is_one_line_and_the_same_command_resumes(
    tiny_synth, tmp_path, capsys, monkeypatch
):
    import errno

    import gazebench.results.store

    real = gazebench.results.store.atomic_write

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    args = [
        "run",
        "--root",
        str(tiny_synth),
        "--model",
        "static",
        "--epochs",
        "1",
        "--no-table",
        "--quiet",
        "--results",
        str(tmp_path / "results"),
        "--runs",
        str(tmp_path / "runs"),
        *RECIPE,
    ]
    monkeypatch.setattr(gazebench.results.store, "atomic_write", full)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "No space left on device" in err and str(tmp_path / "results") in err
    assert "(--resume, the default) continues" in err
    assert not list((tmp_path / "results").rglob("*.json")) and list((tmp_path / "runs").rglob("last.pt"))
    monkeypatch.setattr(gazebench.results.store, "atomic_write", real)  # space freed: the same command finishes
    assert main(args) == 0
    assert len(list((tmp_path / "results").rglob("*.json"))) == 1


def _fill_the_disk_on(monkeypatch, n: int) -> None:
    """From the ``n``-th ``torch.save`` on (until undone), whatever torch writes into lands on
    /dev/full, the kernel's always-full device: a real ENOSPC, met by torch's own writer (a path it
    opens itself, or the file object it is given)."""
    real, calls = torch.save, []

    def save(obj, f, *args, **kwargs):
        calls.append(f)
        if len(calls) < n:
            return real(obj, f, *args, **kwargs)
        if isinstance(f, (str, os.PathLike)):
            return real(obj, "/dev/full", *args, **kwargs)
        full = os.open("/dev/full", os.O_WRONLY)
        os.dup2(full, f.fileno())  # the file object stays the caller's; its writes now fail
        os.close(full)
        return real(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_a_full_disk_while_saving_a_checkpoint_is_one_line_naming_it_and_the_same_command_resumes(
    tiny_synth, tmp_path, capsys, monkeypatch
):
    args = _run_args(tiny_synth, tmp_path, epochs=3)
    _fill_the_disk_on(monkeypatch, 2)  # the checkpoint after epoch 2
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    (last,) = (tmp_path / "runs").rglob("last.pt")
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "inline_container" not in err
    assert f"cannot write {last}: No space left on device; free space" in err
    assert "re-run the same command" in err
    assert torch.load(last, weights_only=True)["fit"]["epoch"] == 1  # the previous checkpoint, whole
    assert sorted(p.name for p in last.parent.iterdir() if p.suffix == ".tmp") == []
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("*.json"))
    monkeypatch.undo()  # space freed: the same command picks up after epoch 1 and finishes
    assert main(args) == 0
    assert "resuming after epoch 1" in capsys.readouterr().err
    assert len(list((tmp_path / "results").rglob("*.json"))) == 1


def test_a_full_disk_met_by_the_result_write_itself_names_the_result_file(tiny_synth, tmp_path, capsys, monkeypatch):
    """A write or fsync that fails with ENOSPC says no file name; the error names the result."""
    import errno

    import gazebench.core.atomic

    real = gazebench.core.atomic._fsync_file

    def fsync(path):
        if ".json." in Path(path).name:  # the record's temporary file
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path)

    args = [
        "run",
        "--root",
        str(tiny_synth),
        "--model",
        "static",
        "--epochs",
        "1",
        "--no-table",
        "--quiet",
        "--results",
        str(tmp_path / "results"),
        "--runs",
        str(tmp_path / "runs"),
        *RECIPE,
    ]
    monkeypatch.setattr(gazebench.core.atomic, "_fsync_file", fsync)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"cannot write {tmp_path / 'results'}" in err and ".json: No space left on device; free space" in err
    assert not list((tmp_path / "results").rglob("*.json*"))  # no record, no temporary
    monkeypatch.setattr(gazebench.core.atomic, "_fsync_file", real)
    assert main(args) == 0 and len(list((tmp_path / "results").rglob("*.json"))) == 1


def test_an_interrupted_unit_resumes_by_default_and_restart_starts_over(tiny_synth, tmp_path, capsys):
    args = [
        "run",
        "--root",
        str(tiny_synth),
        "--model",
        "static",
        "--epochs",
        "2",
        "--no-table",
        "--results",
        str(tmp_path / "results"),
        "--runs",
        str(tmp_path / "runs"),
        *RECIPE,
    ]
    assert main(args) == 0
    (result,) = (tmp_path / "results").rglob("*.json")
    result.unlink()  # as if killed after its last epoch, before the record
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "resuming after epoch 2" in err and "epoch 1:" not in err
    result.unlink()
    assert main([*args, "--restart"]) == 0
    err = capsys.readouterr().err
    assert "resuming" not in err and "epoch 1:" in err and "epoch 2:" in err


def test_resume_with_nothing_to_resume_says_so(tiny_synth, tmp_path, capsys):
    assert (
        main(
            [
                "run",
                "--root",
                str(tiny_synth),
                "--model",
                "static",
                "--epochs",
                "1",
                "--resume",
                "--no-table",
                "--results",
                str(tmp_path / "results"),
                "--runs",
                str(tmp_path / "runs"),
                *RECIPE,
            ]
        )
        == 0
    )
    assert "--resume: nothing to resume" in capsys.readouterr().err


def test_a_reader_that_leaves_early_ends_the_command_quietly():
    """`gazebench table | head`: the pipe's reader is gone before the command writes."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gazebench", "ls", "recipe"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0 and err == b""


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_a_checkpoint_carrying_code_is_refused(tmp_path):
    from gazebench.results import checkpoint

    path = tmp_path / "evil.pt"
    torch.save({"model": _Evil()}, path)
    model = torch.nn.Linear(2, 2)
    with pytest.raises(GazebenchError) as err:  # a user's file: one line, not a traceback
        checkpoint.load_weights(path, model)
    message = str(err.value)
    assert str(path) in message and "pickled code" in message and "\n" not in message
    assert isinstance(err.value.__cause__, pickle.UnpicklingError)
    with pytest.raises(GazebenchError, match="pickled code"):  # a last.pt to resume from: the same
        checkpoint.load_into(path, model, torch.optim.SGD(model.parameters(), lr=0.1), None)


def test_atomic_writes_take_the_umask_mode_and_leave_nothing_on_failure(tmp_path):
    from gazebench.core.atomic import atomic_path, atomic_write
    from gazebench.results.checkpoint import save_weights

    old = os.umask(0o027)
    try:
        path = atomic_write(tmp_path / "out" / "record.json", '{"a": 1}')
        save_weights(tmp_path / "best.pt", torch.nn.Linear(2, 2))
    finally:
        os.umask(old)
    assert path.read_text() == '{"a": 1}'
    assert (path.stat().st_mode & 0o777) == 0o640 and ((tmp_path / "best.pt").stat().st_mode & 0o777) == 0o640
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert path.read_text() == '{"a": 1}'  # the old file, whole
    assert sorted(p.name for p in path.parent.iterdir()) == ["record.json"]  # no temporary left


def test_a_failed_write_names_its_target_and_an_error_about_another_file_is_left_alone(tmp_path):
    import errno

    from gazebench.core.atomic import WriteError, atomic_path

    target = tmp_path / "record.json"
    with pytest.raises(WriteError) as caught:
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise OSError(errno.EDQUOT, "Disk quota exceeded")  # as write() or close() raise it: no name
    assert caught.value.errno == errno.EDQUOT and caught.value.filename == str(target)
    assert str(caught.value).startswith(f"cannot write {target}: Disk quota exceeded; free space or raise")
    missing = FileNotFoundError(errno.ENOENT, "No such file or directory", str(tmp_path / "frame.png"))
    with pytest.raises(FileNotFoundError) as caught:
        with atomic_path(target):
            raise missing  # reading a source inside the block: not a write failure of the target
    assert caught.value is missing
    assert list(tmp_path.iterdir()) == []


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_writer_leaves_a_temporary_that_the_next_write_removes(tmp_path):
    from gazebench.core.atomic import atomic_write

    target = tmp_path / "record.json"
    stale = tmp_path / f".record.json.{_dead_pid()}.abc123.tmp"  # what a SIGKILLed writer leaves
    live = tmp_path / f".record.json.{os.getpid()}.def456.tmp"  # a writer still at work
    other = tmp_path / f".other.json.{_dead_pid()}.ghi789.tmp"  # another target's
    for p in (stale, live, other):
        p.write_text("half")
    atomic_write(target, "{}")
    assert not stale.exists() and live.exists() and other.exists()


@pytest.mark.slow
def test_prepare_killed_mid_write_then_rerun_leaves_no_temporary_file(tiny_synth, tmp_path):
    import shutil

    synth_copy = tmp_path / "synth"
    shutil.copytree(tiny_synth, synth_copy)
    cache = synth_copy / ".gazebench-cache"
    argv = [
        sys.executable,
        "-m",
        "gazebench",
        "prepare",
        "--dataset",
        "synthgaze",
        "--root",
        str(synth_copy),
        "--size",
        "48",
        "--workers",
        "1",
        "--quiet",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600  # a limit for a hung process, not a speed check (a loaded 2-core CI)
    while time.time() < deadline and proc.poll() is None and not list(cache.glob(".*.tmp")):
        time.sleep(0.01)
    assert proc.poll() is None, "prepare finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(cache.glob(".*.tmp"))  # the kill left a temporary file, and no cache
    assert not [p for p in cache.iterdir() if not p.name.startswith(".")]
    assert main(["prepare", "--dataset", "synthgaze", "--root", str(synth_copy), "--size", "48", "--quiet"]) == 0
    assert not list(cache.glob(".*.tmp")) and [p.suffix for p in cache.iterdir()] == [".h5"]
