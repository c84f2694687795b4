"""What to run and how, typed: :class:`Request` and :class:`RunOptions`, each field declared with its flag.

A ``Request`` says which units (a suite or a single run's datasets, models, folds, seeds, its
settings, roots and folders); ``RunOptions`` how to run them (overwrite, resume, determinism,
progress, the launcher and its resources).  Both are frozen and built once: from the command line
(:meth:`Request.from_args` / :meth:`RunOptions.from_args` of the parsed flags; the Namespace is
only read), or in Python::

    Request(benchmark="paper", datasets=("rtgene",))          # part of a suite
    Request(datasets=("synthgaze",), models=("static", "mean"), seeds=(0, 1), sets=("epochs=3",))
    RunOptions(overwrite="always", progress=False)

Planning takes the request whole (:func:`gazebench.plan.planning.plan_request`), the runner the options
(:func:`gazebench.train.runner.run_unit`), launch and ``gazebench status`` both.

Each field carries its flag (:class:`Flag`, in the field's metadata): :func:`request_flags` builds
the parser section that ``gazebench run`` and ``gazebench status`` share from the fields, and
:meth:`~Request.to_argv` writes a request back as flags (the ``gazebench status`` line a launch
prints).  A new flag is a new field here, and nothing else.

Nothing here imports torch or any gazebench module but :mod:`gazebench.core.errors` (``--set`` values
are typed by :mod:`gazebench.core.config` when asked for).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gazebench.core.errors import UserValueError

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self from Python 3.11; the package supports 3.10

#: the launchers of ``run --launcher`` (gazebench.plan.launch) and the keys of a suite's ``launcher:`` mapping
LAUNCHERS = ("local", "slurm")
#: per-unit resources: a ``--flag`` each (a field of gazebench.core.request.RunOptions) and a key of a
#: suite's ``launcher:`` mapping (flat, or under ``slurm:`` / ``local:`` for one launcher only)
RESOURCE_KEYS = ("max_parallel", "partition", "gpus_per_unit", "timeout_min", "mem_gb", "cpus_per_unit")
#: suite-only: ``sbatch: {account: A, qos: Q, constraint: C}`` -> extra ``#SBATCH --key=value`` lines
SUITE_ONLY_KEYS = ("sbatch",)


SET_HELP = (
    "a recipe key, model option or data option (repeatable; `gazebench ls recipe`, `gazebench ls datasets --options`)"
)
RESULTS_HELP = "results folder (default results/)"

#: the parser section's argument groups, in the order of the help
GROUPS = {
    "what": "what to run (with --benchmark: filters on the suite)",
    "how": "how",
    "cluster": 'cluster (submitit; pip install "gazebench[cluster]"; a suite\'s launcher: gives defaults, the flags '
    "win; docs/cluster.md)",
}


@dataclass(frozen=True)
class Flag:
    """A field's command-line flag: its names and argparse keywords, how the parsed value becomes
    the field's (``read``) and how the field's value is written back as flags (``write``; only for
    a value other than the field's default)."""

    names: tuple[str, ...]
    group: str
    kwargs: dict[str, Any]
    read: Callable[[Any], Any]
    write: Callable[[Any], list[str]]
    dest: str
    add: Callable[[Any, Flag], None] | None = None  # a section of its own (--resume/--restart)

    def add_to(self, group: Any) -> None:
        if self.add:
            self.add(group, self)
        else:
            group.add_argument(*self.names, dest=self.dest, **self.kwargs)


def _flag(
    name: str,
    group: str,
    *,
    read: Callable[[Any], Any] = lambda v: v,
    write: Callable[[str, Any], list[str]] | None = None,
    dest: str | None = None,
    add: Callable[[Any, Flag], None] | None = None,
    also: tuple[str, ...] = (),
    **kwargs: Any,
) -> dict:
    """The metadata of a field whose flag is ``name``."""
    write = write or (lambda n, v: [n, str(v)])
    flag = Flag(
        (name, *also), group, kwargs, read, lambda v: write(name, v), dest or name.lstrip("-").replace("-", "_"), add
    )
    return {"flag": flag}


def csv_names(value: str | list[str] | None) -> tuple[str, ...]:
    """``"a, b"`` (a comma list, possibly repeated) -> ``("a", "b")``; not given -> ``()``."""
    items = [value] if isinstance(value, str) else value or []
    return tuple(v.strip() for item in items for v in item.split(",") if v.strip())


def _seeds(value: str | None) -> tuple[int, ...]:
    """``--seed 0,1,2`` -> ``(0, 1, 2)``; anything but integers is a user error naming the flag."""
    seeds = []
    for item in csv_names(value):
        try:
            seeds.append(int(item))
        except ValueError:
            raise UserValueError(f"--seed {value}: {item!r} is not an integer; give seeds like --seed 0,1,2") from None
    return tuple(seeds)


def text(name: str, group: str, help: str, **kwargs: Any) -> dict:
    """A flag with one value (None: not given)."""
    return _flag(name, group, help=help, **kwargs)


def names(name: str, group: str, help: str, read: Callable[[Any], Any] = csv_names) -> dict:
    """A comma-separated list (``--model a,b``) as a tuple; ``()``: not given."""
    return _flag(name, group, help=help, read=read, write=lambda n, v: [n, ",".join(map(str, v))])


def repeated(name: str, group: str, help: str, **kwargs: Any) -> dict:
    """A repeatable flag (``--root A --root B``) as a tuple, in the order given."""
    return _flag(
        name,
        group,
        help=help,
        action="append",
        read=lambda v: tuple(v or ()),
        write=lambda n, v: [a for item in v for a in (n, str(item))],
        **kwargs,
    )


def switch(name: str, group: str, help: str, *, inverted: bool = False) -> dict:
    """A flag without a value: the field is True when given (``inverted``: False when given,
    e.g. ``--quiet`` for ``progress``)."""
    return _flag(
        name,
        group,
        help=help,
        action="store_true",
        read=(lambda v: not v) if inverted else bool,
        write=lambda n, v: [n],
    )


def _add_resume(group: Any, flag: Flag) -> None:
    resume = group.add_mutually_exclusive_group()
    resume.add_argument(
        "--resume",
        dest=flag.dest,
        action="store_const",
        const=True,
        default=None,
        help="continue an interrupted unit from its last checkpoint (the default when one exists; "
        "says so when there is none)",
    )
    resume.add_argument(
        "--restart",
        dest=flag.dest,
        action="store_const",
        const=False,
        help="train an interrupted unit from epoch 1, ignoring its last checkpoint",
    )


class _Flagged:
    """What :class:`Request` and :class:`RunOptions` share: built from a Namespace, written back as
    flags, a value outside a flag's choices refused (also when built in Python)."""

    def __post_init__(self) -> None:
        for f, flag in flags(type(self)):
            value, default = getattr(self, f.name), _default(f)
            if isinstance(default, tuple) and isinstance(value, str):
                raise UserValueError(f"{type(self).__name__}({f.name}={value!r}): give a tuple, e.g. ({value!r},)")
            if isinstance(default, tuple) and isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))  # a list from Python: frozen as a tuple
            if flag.kwargs.get("type") is Path and isinstance(value, str):
                object.__setattr__(self, f.name, Path(value))
            value, choices = getattr(self, f.name), flag.kwargs.get("choices")
            if choices and value is not None and value not in choices:
                raise UserValueError(f"{flag.names[0]} {value}: choose from {', '.join(choices)}")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Self:
        """From the parsed flags of ``gazebench run`` or ``status`` (read, never changed)."""
        return cls(**{f.name: flag.read(getattr(args, flag.dest)) for f, flag in flags(cls)})

    def to_argv(self) -> list[str]:
        """The flags that give this value back (a field at its default gives none)."""
        out: list[str] = []
        for f, flag in flags(type(self)):
            value = getattr(self, f.name)
            if value != _default(f):
                out += flag.write(value)
        return out


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def flags(cls: type) -> list[tuple[dataclasses.Field, Flag]]:
    """The fields of ``cls`` with their flags, in declaration order."""
    return [(f, f.metadata["flag"]) for f in dataclasses.fields(cls)]


@dataclass(frozen=True)
class Request(_Flagged):
    """Which units: a suite of the benchmark file (``benchmark``; the other fields filter or
    override it) or the anonymous suite of a single run (``datasets`` / ``train`` and
    ``models``), its settings and roots, and the folders results and runs go to."""

    benchmark: str | None = field(
        default=None,
        metadata=text(
            "--benchmark", "what", "a suite of benchmarks.yaml (see `gazebench run --benchmark X --dry-run`)"
        ),
    )
    config: Path | None = field(
        default=None,
        metadata=text(
            "--config", "what", "benchmark file (default: $GAZEBENCH_BENCHMARKS, else benchmarks.yaml)", type=Path
        ),
    )
    datasets: tuple[str, ...] = field(
        default=(),
        metadata=names(
            "--dataset",
            "what",
            "registered dataset (default: synthgaze); with --benchmark: only these, comma separated",
        ),
    )
    train: tuple[str, ...] = field(
        default=(),
        metadata=names(
            "--train",
            "what",
            "the dataset to train on (the same as --dataset; with --test); several, comma separated: "
            "one model trained on all of them at once (joint training, docs/multidataset.md; --set sampling=balanced, "
            "--set sampling_weights=A:2)",
        ),
    )
    test: tuple[str, ...] = field(
        default=(),
        metadata=names(
            "--test",
            "what",
            "cross-dataset evaluation: also test the trained model on these datasets' test protocols "
            "(all their folds' test subjects), comma separated; each test is its own result and leaderboard column "
            "'D1 → D2' (docs/leaderboards.md); give their roots as --root NAME=DIR; a --set data option reaches every "
            "dataset that takes it (--set expect_samples=any)",
        ),
    )
    models: tuple[str, ...] = field(
        default=(),
        metadata=names(
            "--model",
            "what",
            "registered model(s), comma separated (default: static); with --benchmark: only these labels or models",
        ),
    )
    folds: tuple[str, ...] = field(
        default=(),
        metadata=names(
            "--fold",
            "what",
            "fold name(s), comma separated, or 'all' (default: the first fold; with --benchmark: all "
            "the suite's folds)",
        ),
    )
    seeds: tuple[int, ...] = field(
        default=(),
        metadata=names(
            "--seed", "what", "seed(s), comma separated (default 0; with --benchmark: the suite's)", read=_seeds
        ),
    )
    roots: tuple[str, ...] = field(
        default=(),
        metadata=repeated(
            "--root",
            "what",
            "dataset root (default: the data root's <dataset> folder); NAME=DIR for one dataset of a suite",
            metavar="DIR | NAME=DIR",
        ),
    )
    protocol: str | None = field(
        default=None,
        metadata=text(
            "--protocol",
            "what",
            "the dataset's protocol (recipe, augmentation, selection; `gazebench ls datasets` names "
            "them; default: the card's default protocol); with --benchmark: for every dataset of the suite",
        ),
    )
    label: str | None = field(
        default=None,
        metadata=text(
            "--label", "what", "leaderboard row name of a single run's configuration (default: the model name)"
        ),
    )
    sets: tuple[str, ...] = field(
        default=(), metadata=repeated("--set", "how", SET_HELP, metavar="KEY=VALUE", dest="sets", default=[])
    )
    epochs: int | None = field(default=None, metadata=text("--epochs", "how", "shortcut for --set epochs=N", type=int))
    backbone: str | None = field(
        default=None, metadata=text("--backbone", "how", "timm backbone, shortcut for --set backbone=NAME")
    )
    logger: str | None = field(
        default=None,
        metadata=text(
            "--logger",
            "how",
            "per-epoch curves: tensorboard (default; <run dir>/tensorboard/), wandb, mlflow, a comma "
            "list, or none; shortcut for --set logger=... (docs/tracking.md)",
        ),
    )
    on_bad_sample: str | None = field(
        default=None,
        metadata=text(
            "--on-bad-sample",
            "how",
            "an unreadable image stops the run (error, default) or is left out and recorded (skip)",
            choices=("error", "skip"),
        ),
    )
    results: Path = field(
        default=Path("results"), metadata=text("--results", "how", RESULTS_HELP, type=Path, default=Path("results"))
    )
    runs: Path = field(
        default=Path("runs"),
        metadata=text("--runs", "how", "checkpoints and predictions (default runs/)", type=Path, default=Path("runs")),
    )

    def settings(self) -> dict[str, Any]:
        """``--set`` and its shortcut flags, typed.  A shortcut and a ``--set`` of the same key with
        different values (``--epochs 1 --set epochs=3``) is refused: neither silently wins."""
        from gazebench.core.config import parse_sets

        out = parse_sets(self.sets)
        shortcuts = {
            "epochs": self.epochs,
            "backbone": self.backbone,
            "on_bad_sample": self.on_bad_sample,
            "logger": self.logger,
        }
        for key, value in shortcuts.items():
            if value is None:
                continue
            given = {k: v for k, v in out.items() if k.rpartition(".")[2] == key}
            for k, v in given.items():
                if str(v).lower() != str(value).lower():
                    raise UserValueError(
                        f"--{key.replace('_', '-')} {value} and --set {k}={v} disagree; give one of them"
                    )
                del out[k]
            out[key] = value
        return out


@dataclass(frozen=True)
class RunOptions(_Flagged):
    """How the units run: what the runner does with each (overwrite, resume, deterministic,
    predict_only, progress), what the command does around them (dry_run, keep_going, table) and
    where they run (``launcher`` and its resources; None: in this process, or the suite's value)."""

    predict_only: bool = field(
        default=False,
        metadata=switch(
            "--predict-only",
            "how",
            "do not score the test split: train and select as usual, write the test predictions "
            "and the dataset's leaderboard submission (<run dir>/submission.txt); automatic when the test labels are "
            "withheld (ETH-XGaze)",
        ),
    )
    overwrite: str = field(
        default="only-missing",
        metadata=text(
            "--overwrite",
            "how",
            "skip units whose result exists (default) or redo them",
            choices=("only-missing", "always"),
            default="only-missing",
        ),
    )
    resume: bool | None = field(
        default=None,
        metadata=_flag(
            "--resume",
            "how",
            also=("--restart",),
            add=_add_resume,
            write=lambda n, v: ["--resume" if v else "--restart"],
        ),
    )
    deterministic: bool = field(
        default=False, metadata=switch("--deterministic", "how", "deterministic algorithms (CPU: identical metrics)")
    )
    dry_run: bool = field(
        default=False,
        metadata=switch("--dry-run", "how", "list the units and which are done; train nothing, read no data"),
    )
    keep_going: bool = field(
        default=False, metadata=switch("--keep-going", "how", "a failing unit does not stop the others")
    )
    progress: bool = field(default=True, metadata=switch("--quiet", "how", "no progress output", inverted=True))
    table: bool = field(
        default=True, metadata=switch("--no-table", "how", "do not print the leaderboard at the end", inverted=True)
    )
    launcher: str | None = field(
        default=None,
        metadata=text(
            "--launcher",
            "cluster",
            "submit each missing unit as one task of a submitit job array: slurm (returns once "
            "queued; follow with `gazebench status`) or local (subprocesses here; waits); default: run the units in "
            "this process",
            choices=LAUNCHERS,
        ),
    )
    max_parallel: int | None = field(
        default=None,
        metadata=text("--max-parallel", "cluster", "tasks running at once (slurm default 256, local 1)", type=int),
    )
    partition: str | None = field(default=None, metadata=text("--partition", "cluster", "Slurm partition"))
    gpus_per_unit: int | None = field(
        default=None,
        metadata=text(
            "--gpus-per-unit", "cluster", "GPUs per task (slurm default 0; local: 1 where there is one)", type=int
        ),
    )
    timeout_min: int | None = field(
        default=None,
        metadata=text(
            "--timeout-min",
            "cluster",
            "wall time per task in minutes (slurm default 1440; a unit that runs out of "
            "time is requeued and resumes from last.pt)",
            type=int,
        ),
    )
    mem_gb: float | None = field(
        default=None,
        metadata=text("--mem-gb", "cluster", "memory per task in GB (slurm; default: the partition's)", type=float),
    )
    cpus_per_unit: int | None = field(
        default=None,
        metadata=text("--cpus-per-unit", "cluster", "CPU cores per task (slurm; default: the partition's)", type=int),
    )

    def resources(self) -> dict[str, Any]:
        """The launcher's resources as given (None: not given; the suite's ``launcher:`` or the default)."""
        return {
            f.name: getattr(self, f.name)
            for f, flag in flags(RunOptions)
            if flag.group == "cluster" and f.name != "launcher"
        }


def request_flags() -> argparse.ArgumentParser:
    """Every field of :class:`Request` and :class:`RunOptions` as a flag, in one parent parser:
    the section ``gazebench run`` and ``gazebench status`` share."""
    p = argparse.ArgumentParser(add_help=False)
    groups = {key: p.add_argument_group(title) for key, title in GROUPS.items()}
    for cls in (Request, RunOptions):
        for _, flag in flags(cls):
            flag.add_to(groups[flag.group])
    return p
