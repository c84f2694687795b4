"""Analyses of saved runs: ``gazebench analyze KIND``.

:mod:`.runs` finds the runs (records, predictions files, run folders); :mod:`.base` holds the
:class:`~gazebench.analysis.base.Analysis` result, the registry of kinds and the writer of an
analysis folder; each kind is a module of :mod:`.kinds` that registers itself.  Nothing here is
imported by ``gazebench --help``: the command imports it when it runs.
"""

from gazebench.analysis.base import (  # noqa: F401
    KINDS,
    Analysis,
    Kind,
    default_out_dir,
    get_kind,
    load_kinds,
    register_kind,
    write_analysis,
)
from gazebench.analysis.runs import RunRef, resolve_runs  # noqa: F401

load_kinds()  # every kind module registers itself: KINDS is complete once this package is imported
