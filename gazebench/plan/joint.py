"""Planning joint training: one unit trained on several datasets at once (docs/multidataset.md).

``gazebench run --train gaze360,ethxgaze --test mpiifacegaze --model M`` or a suite's dataset entry
``train: [ethxgaze, gaze360]`` (:func:`gazebench.plan.suites._joint_entry`) becomes, per fold x seed x
model, a :class:`~gazebench.plan.planning.RunSpec` whose ``dataset`` is the composite's name
(``ethxgaze+gaze360``, sorted) and whose ``members`` are the training datasets.  Planning reads
the members' cards only: each member's protocol (its card's default, or the entry's ``protocol:``
for it), card version, fold (its card's first: a fixed split's ``default``) and data options (its
protocol's, the entry's, then the ``--set`` values it takes), checks that their label spaces can be
joined (:mod:`gazebench.datasets.labelspace`), and gives the unit the composite's card
(:class:`~gazebench.datasets.joint.JointCard`, protocol ``joint``) and options (sampling and the
members: :func:`~gazebench.datasets.joint.joint_options`).  The runner then opens the composite
(:func:`~gazebench.datasets.joint.build_joint`) where it would open one dataset.
"""

from __future__ import annotations

from typing import Any

from gazebench.core.config import ConfigError, route_settings, takes
from gazebench.plan.suites import BenchmarkError, DatasetEntry, expand_env


def joint_data_keys() -> tuple[str, ...]:
    from gazebench.datasets.joint import JOINT_OPTIONS

    return tuple(JOINT_OPTIONS)


def data_keys(entry: DatasetEntry) -> set[str]:
    """The data options a ``--set`` key may name for this entry: a joint entry's own (sampling) and
    every member's; a single dataset's own."""
    from gazebench.declared import dataset_option_keys

    keys = {k for name in entry.trained_on for k in dataset_option_keys(name)}
    return keys | set(joint_data_keys()) if entry.members else keys


def split_options(entry: DatasetEntry, given: dict[str, Any], where: str) -> tuple[dict[str, Any], dict[str, dict]]:
    """A joint entry's ``options:`` -> (the joint's own, {member: its options})."""
    for m in entry.members:
        if not isinstance(given.get(m) or {}, dict):
            raise BenchmarkError(f"{where}.options.{m}: expected a mapping of {m}'s data options")
    own = {k: v for k, v in given.items() if k not in entry.members}
    return own, {m: dict(given.get(m) or {}) for m in entry.members}


def members_of(spec: Any) -> list[Any]:
    """The members of a joint spec, planned from their cards (no data read)."""
    from gazebench.datasets.base import resolve_dataset_options
    from gazebench.datasets.joint import Member
    from gazebench.declared import dataset_card, dataset_class
    from gazebench.plan.suites import chosen_protocol

    out = []
    for name in spec.members:
        card = dataset_card(name)
        protocol = card.protocol(chosen_protocol(card, spec.member_protocols.get(name), f"training dataset {name!r}"))
        options = resolve_dataset_options(dataset_class(name), {**protocol.data, **spec.member_options.get(name, {})})
        out.append(
            Member(
                name, spec.member_roots.get(name), protocol.name, str(card.version), card.resolve_fold(None), options
            )
        )
    return out


def plan_joint(spec: Any) -> tuple[Any, Any, dict[str, Any]]:
    """``(card, protocol, options)`` of a joint spec: the composite's card and protocol, and its
    resolved options; members whose label spaces cannot be joined are refused in one line."""
    from gazebench.datasets.joint import JointCard, check_joinable, joint_options
    from gazebench.declared import dataset_card

    members = members_of(spec)
    cards = {m.name: dataset_card(m.name) for m in members}
    check_joinable(cards, {m.name: m.options for m in members})
    card = JointCard(tuple(cards[m.name] for m in members))
    return card, card.protocol(spec.protocol), joint_options(members, spec.data_options)


def joint_specs(
    suite: Any,
    d: DatasetEntry,
    settings: dict[str, Any],
    roots: dict[str, str],
    environ: dict[str, str] | None,
    protocol: str | None,
    cross_roots: dict[str, str],
) -> list[Any]:
    """The run specs of a joint entry: folds (``default``) x seeds x models."""
    from gazebench.declared import dataset_card, dataset_option_keys, model_option_keys
    from gazebench.plan.cross_entries import cross_all, cross_protocols, cross_settings
    from gazebench.results.unit import RunSpec

    where = f"benchmark {suite.name!r}" if suite.name else "run"
    dwhere = f"{where}, joint dataset {d.name!r}"
    if protocol is not None:
        raise ConfigError(
            f"--protocol {protocol}: a joint run keeps each training dataset's own protocol; name them "
            "per dataset in a suite entry (protocol: {gaze360: gazehub})"
        )
    own, per = split_options(d, expand_env(d.options, f"{dwhere} options", environ), dwhere)
    member_roots = {
        m: roots.get(m)
        or (expand_env(d.roots[m], f"{dwhere} root", environ) if d.roots.get(m) else None)
        or cross_roots.get(m)
        for m in d.members
    }
    recipe = {**expand_env(suite.recipe, where, environ), **expand_env(d.recipe, f"{dwhere} recipe", environ)}
    for t in d.test:
        dataset_card(t)
        if t in d.members:
            raise BenchmarkError(f"{dwhere}: test dataset {t!r} is one of the training datasets")
    if d.folds not in (None, "all", "default", ["default"]):  # the suite's folds are for its single datasets
        raise BenchmarkError(
            f"{dwhere}: a joint dataset has the one fold 'default' (each member contributes its "
            f"card's first fold's splits); got folds {d.folds!r}"
        )
    member_keys = {n: set(dataset_option_keys(n)) for n in d.members}
    every_data_key = set().union(*member_keys.values()) | set(joint_data_keys())
    cross = tuple((t, cross_roots.get(t)) for t in d.test)
    specs = []
    for seed in suite.seeds:
        for m in suite.models:
            keys = model_option_keys(m.name)
            # --set: recipe, then the model, then data options, as for one dataset; a data option
            # reaches the joint (sampling) or every member that takes it
            mine = route_settings(
                {k: v for k, v in settings.items() if takes(k, keys, every_data_key)}, keys, every_data_key
            )
            shared = {k: v for k, v in suite.model_kwargs.items() if k in keys}
            kwargs = expand_env({**shared, **m.kwargs}, f"{where}, model {m.label!r}", environ)
            tested = cross_settings(d, settings, keys, environ, where)
            specs.append(
                RunSpec(
                    dataset=d.name,
                    model=m.name,
                    fold="default",
                    seed=seed,
                    root=None,
                    data_options={**own, **{k: v for k, v in mine.data.items() if k in joint_data_keys()}},
                    model_kwargs={**kwargs, **mine.model},
                    recipe={**recipe, **mine.recipe},
                    label=m.label,
                    benchmark=suite.name or None,
                    protocol=None,
                    cross=cross,
                    cross_options={t: o for t, o in tested.items() if o},
                    cross_protocols=cross_protocols(d),
                    cross_all=cross_all(d),
                    members=tuple(d.members),
                    member_roots=member_roots,
                    member_protocols={k: v for k, v in d.protocols.items() if v},
                    member_options={
                        n: {**per[n], **{k: v for k, v in mine.data.items() if k in member_keys[n]}} for n in d.members
                    },
                )
            )
    return specs
