"""
The mix: which kinds of event a configuration generates (one per subscription
type, and per objectTypeId in generic format) and how often each occurs.

Weights follow a realistic CRM (property changes dominate, merges are rare)
unless a scenario's ``[mix]`` says otherwise. Pure: tables, no randomness
beyond a fixed shuffle.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final, Protocol

from . import catalog
from .catalog import AssociationType, Format
from .errors import CatalogError, UsageError


class MixConfig(Protocol):
    """What the mix needs of an :class:`~simulator.source.EventConfig`."""

    @property
    def types(self) -> tuple[str, ...]: ...
    @property
    def format(self) -> Format: ...
    @property
    def object_type_ids(self) -> tuple[str, ...]: ...


_FAMILY_WEIGHT: Final = {
    "contact": 30,
    "deal": 18,
    "company": 12,
    "ticket": 10,
    "conversation": 10,
    "line_item": 8,
    "product": 3,
}
_ACTION_WEIGHT: Final = {
    "propertyChange": 60,
    "newMessage": 60,
    "creation": 14,
    "associationChange": 10,
    "deletion": 5,
    "merge": 2,
    "restore": 2,
    "privacyDeletion": 1,
}
_OTHER_OBJECT_WEIGHT: Final = 1


@dataclass(frozen=True, slots=True)
class Kind:
    """
    One concrete thing an app can be subscribed to, with its weight in the mix.
    """

    subscription_type: str
    family: str
    action: str
    object_type_id: str  # "" when the payload carries none (classic format)
    crm_type_id: str  # objectTypeId of the record, for pools; "" for conversation
    generic: bool
    weight: float


def kinds(config: MixConfig) -> list[Kind]:
    """
    Every kind the configuration generates, with its default weight.
    CatalogError when the selection produces none.
    """
    selected = catalog.select_types(config.types)
    if config.format == "generic" and tuple(config.types) == catalog.DEFAULT_TYPES:
        # Nobody chose the types: a generic app sees every object (§3.1).
        selected = (*selected, *catalog.generic_types())
    generic_ids = config.object_type_ids or (
        catalog.GENERIC_OBJECT_TYPE_IDS if config.format == "generic" else ()
    )
    for type_id in generic_ids:
        catalog.check_object_type_id(type_id)
    kinds: dict[tuple[str, str], Kind] = {}

    def add(stype: str, family: str, action: str, type_id: str, generic: bool) -> None:
        fam_w = _FAMILY_WEIGHT.get(family, _OTHER_OBJECT_WEIGHT)
        crm_type = catalog.FAMILY_OBJECT_TYPE_ID.get(family, type_id)
        kind = Kind(
            stype,
            family,
            action,
            type_id if generic else "",
            crm_type,
            generic,
            fam_w * _ACTION_WEIGHT[action],
        )
        kinds[(stype, type_id)] = kind

    for stype in selected:
        family, action = stype.split(".")
        if family == "object":
            if config.format != "generic":
                if any(p.strip().startswith("object") for p in config.types):
                    raise UsageError(f"{stype} is a generic type: add --format generic")
                continue  # a glob like *.merge: classic runs take classic types
            for type_id in generic_ids:
                name = type_family(type_id)
                if action == "associationChange" and not associations_from(type_id):
                    continue
                add(stype, name, action, type_id, True)
        elif (
            config.format == "generic"
            and family in catalog.FAMILY_OBJECT_TYPE_ID
            and stype != "contact.privacyDeletion"
        ):
            type_id = catalog.FAMILY_OBJECT_TYPE_ID[family]
            add(f"object.{action}", family, action, type_id, True)
        else:
            add(
                stype,
                family,
                action,
                catalog.FAMILY_OBJECT_TYPE_ID.get(family, ""),
                False,
            )
    if not kinds:
        raise CatalogError("the selected types and object types produce no events")
    return list(kinds.values())


def reweighted(kinds: list[Kind], weights: tuple[tuple[str, float], ...]) -> list[Kind]:
    """
    Share each pattern's weight among the kinds it matches, in proportion to
    their default weights; kinds no pattern names keep no share.
    """
    shares: dict[int, float] = {}
    for pattern, weight in weights:
        concrete = set(catalog.select_types([pattern]))
        matched = [
            i
            for i, k in enumerate(kinds)
            if k.subscription_type in concrete or f"{k.family}.{k.action}" in concrete
        ]
        total = sum(kinds[i].weight for i in matched)
        for i in matched:
            shares[i] = shares.get(i, 0.0) + weight * kinds[i].weight / total
    if not shares:
        raise CatalogError("the mix names no type the selection generates")
    return [replace(k, weight=shares[i]) for i, k in enumerate(kinds) if i in shares]


def type_family(type_id: str) -> str:
    known = catalog.OBJECT_TYPE_BY_ID.get(type_id)
    return known.name if known else f"custom_{type_id}"


def associations_from(type_id: str, generic: bool = True) -> list[AssociationType]:
    return [
        a
        for a in catalog.ASSOCIATION_TYPES
        if a.from_type == type_id
        and (a.type_id is not None if generic else not a.generic_only)
    ]


def weighted_table(weights: Sequence[float], size: int) -> tuple[int, ...]:
    """
    Indices 0..len(weights)-1 repeated in proportion to weights, ``size`` long,
    each at least once, shuffled deterministically so draws need no bisect.
    """
    total = sum(weights)
    counts = [max(1, round(w * size / total)) for w in weights]
    while sum(counts) > size:
        counts[counts.index(max(counts))] -= 1
    while sum(counts) < size:
        counts[counts.index(max(counts))] += 1
    table = [i for i, c in enumerate(counts) for _ in range(c)]
    random.Random(size).shuffle(table)
    return tuple(table)


def weighted_pick(mix: Sequence[tuple[str, int]], fraction: float) -> str:
    total = sum(w for _, w in mix)
    acc = 0.0
    for name, weight in mix:
        acc += weight / total
        if fraction < acc:
            return name
    return mix[-1][0]
