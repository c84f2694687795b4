"""A suite's dataset entry, its cross-dataset tests as planning reads them: each test's data options
(the ``--set`` values it takes), its protocol (checked on its card) and whether it reads every
labelled sample.  Shared by planning and joint training (gazebench.plan.joint)."""

from __future__ import annotations

from typing import Any

from gazebench.core.config import route_settings
from gazebench.declared import dataset_card, dataset_option_keys
from gazebench.plan.suites import DatasetEntry, chosen_protocol, expand_env


def cross_settings(
    d: DatasetEntry, settings: dict[str, Any], model_keys: tuple[str, ...], environ: dict[str, str] | None, where: str
) -> dict[str, dict[str, Any]]:
    """Each test dataset's data options: its test entry's ``options`` under the ``--set`` values it takes."""
    out = {}
    for t in d.test:
        given = expand_env((d.test_entries.get(t) or {}).get("options") or {}, f"{where}, test {t!r} options", environ)
        out[t] = {**given, **route_settings(settings, model_keys, dataset_option_keys(t), strict=False).data}
    return out


def cross_protocols(d: DatasetEntry) -> dict[str, str]:
    """The protocols a dataset entry's test entries name ({test: protocol}), each checked on its card."""
    out = {}
    for t, entry in d.test_entries.items():
        if entry.get("protocol"):
            out[t] = chosen_protocol(dataset_card(t), entry["protocol"], f"test dataset {t!r}")
    return out


def cross_all(d: DatasetEntry) -> tuple[str, ...]:
    """The tests of a dataset entry evaluated on every labelled sample (``split: all``)."""
    return tuple(t for t, e in d.test_entries.items() if e.get("split") == "all")
