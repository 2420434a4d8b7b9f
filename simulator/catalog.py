"""
HubSpot facts as data: subscription types, objectTypeIds, properties, association
types and change sources, as in ``shared/spec/hubspot-webhooks.md`` §2, §3 and §7.

This module holds no logic beyond lookups and selection; generating values is
``events.py``'s job. Section references (§) point into the spec.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Final, Literal

from .errors import CatalogError
from .properties import (  # re-exported: every HubSpot fact in one import
    CONVERSATION_PROPERTIES,
    DEAL_STAGES,
    FALLBACK_PROPERTIES,
    LIFECYCLE_STAGES,
    PROPERTIES,
    PropertySpec,
    properties_for,
)

Format = Literal["classic", "generic"]

#: What an app is subscribed to when nobody says: the classic CRM families
#: (in generic format, every objectTypeId of §3.1 as well).
DEFAULT_TYPES: Final = ("contact", "company", "deal", "ticket", "conversation")

#: Header values HubSpot sends with every Webhooks API delivery (§1.2).
USER_AGENT: Final = (
    "HubSpot Connect 2.0 (http://dev.hubspot.com/) "
    "(namespace: webhooks-nio-http-client) - WebhooksExecutorDaemon-executor"
)
TIMEOUT_MILLIS_HEADER: Final = "10000"
#: The workflow engine's sender: seen on "Send a webhook" requests (app-calls
#: §2, W3); custom action requests are assumed to come from the same service,
#: since no capture of theirs shows a User-Agent (app-calls §6).
AUTOMATION_USER_AGENT: Final = (
    "HubSpot Connect 2.0 / AutomationActionsExecutionService-web"
)
MAX_BATCH_SIZE: Final = 100
#: "Workflows will issue webhook attempts at up to 20 requests per second"
#: (app-calls §2, S6): the default rate of workflow webhooks.
WORKFLOW_MAX_RATE: Final = 20.0

# ---------------------------------------------------------------------------
# Subscription types (§2): family -> actions. Order is the spec's table order.
# ---------------------------------------------------------------------------
_CRM_ACTIONS: Final = (
    "creation",
    "deletion",
    "propertyChange",
    "merge",
    "restore",
    "associationChange",
)
CLASSIC_FAMILIES: Final[dict[str, tuple[str, ...]]] = {
    "contact": (*_CRM_ACTIONS, "privacyDeletion"),
    "company": _CRM_ACTIONS,
    "deal": _CRM_ACTIONS,
    "ticket": _CRM_ACTIONS,
    # HubSpot has no product.associationChange.
    "product": _CRM_ACTIONS[:5],
    "line_item": _CRM_ACTIONS,
    "conversation": (
        "creation",
        "deletion",
        "propertyChange",
        "privacyDeletion",
        "newMessage",
    ),
}
GENERIC_ACTIONS: Final = _CRM_ACTIONS

#: In HubSpot's enum but with no documented payload, so never generated (§2, §9 Q10).
UNGENERATED_TYPES: Final = ("event.completed",)

#: objectTypeId of each classic CRM family (§3.1).
FAMILY_OBJECT_TYPE_ID: Final[dict[str, str]] = {
    "contact": "0-1",
    "company": "0-2",
    "deal": "0-3",
    "ticket": "0-5",
    "product": "0-7",
    "line_item": "0-8",
}


@dataclass(frozen=True, slots=True)
class ObjectType:
    """
    One row of §3.1: an objectTypeId, its name, and whether generic webhooks cover it.
    """

    type_id: str
    name: str
    generic_webhooks: bool


OBJECT_TYPES: Final[tuple[ObjectType, ...]] = tuple(
    ObjectType(i, n, s)
    for i, n, s in (
        ("0-1", "contact", True),
        ("0-2", "company", True),
        ("0-3", "deal", True),
        ("0-5", "ticket", True),
        ("0-7", "product", True),
        ("0-8", "line_item", True),
        ("0-14", "quote", True),
        ("0-18", "communication", True),
        ("0-19", "feedback_submission", True),
        ("0-27", "task", True),
        ("0-46", "note", True),
        ("0-47", "meeting", True),
        ("0-48", "call", True),
        ("0-49", "email", True),
        ("0-53", "invoice", True),
        ("0-54", "marketing_event", False),
        ("0-69", "subscription", True),
        ("0-74", "goal", True),
        ("0-84", "discount", True),
        ("0-85", "fee", True),
        ("0-86", "tax", True),
        ("0-101", "payment", True),
        ("0-115", "user", True),
        ("0-116", "postal_mail", True),
        ("0-123", "order", True),
        ("0-136", "lead", True),
        ("0-142", "cart", True),
        ("0-162", "service", True),
        ("0-410", "course", True),
        ("0-420", "listing", True),
        ("0-421", "appointment", True),
        ("0-970", "project", False),
    )
)
OBJECT_TYPE_BY_ID: Final = {o.type_id: o for o in OBJECT_TYPES}
#: Standard objectTypeIds HubSpot sends generic webhooks for (§3.1 "yes").
GENERIC_OBJECT_TYPE_IDS: Final = tuple(
    o.type_id for o in OBJECT_TYPES if o.generic_webhooks
)
_CUSTOM_OBJECT_RE: Final = re.compile(r"^2-[1-9][0-9]{0,9}$")


def is_custom_object_type(type_id: str) -> bool:
    """
    True for a custom object's objectTypeId (``2-<n>``); only private apps get these.
    """
    return bool(_CUSTOM_OBJECT_RE.match(type_id))


def check_object_type_id(type_id: str) -> str:
    """
    Return ``type_id`` if generic webhooks can carry it, else raise CatalogError.
    """
    if is_custom_object_type(type_id):
        return type_id
    known = OBJECT_TYPE_BY_ID.get(type_id)
    if known is None:
        raise CatalogError(
            f"unknown objectTypeId {type_id!r}: use one of §3.1 "
            "(`hubsim types --generic` lists them) or 2-<n> for a custom object"
        )
    if not known.generic_webhooks:
        raise CatalogError(
            f"objectTypeId {type_id} ({known.name}) is not listed for generic webhooks"
        )
    return type_id


__all__ = [
    "CONVERSATION_PROPERTIES",
    "DEAL_STAGES",
    "FALLBACK_PROPERTIES",
    "LIFECYCLE_STAGES",
    "PROPERTIES",
    "PropertySpec",
    "properties_for",
]


# ---------------------------------------------------------------------------
# Associations (§2.1 classic names, §3 generic type ids).
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AssociationType:
    """
    A classic ``associationType`` and, where §3 gives it, its generic type ids.
    """

    name: str
    from_type: str
    to_type: str
    type_id: int | None
    primary_type_id: int | None = None
    #: No classic ``associationType`` is documented for it: generic events only.
    generic_only: bool = False

    @property
    def family(self) -> str:
        """
        The classic family whose subscription receives this association event.
        """
        return _TYPE_TO_FAMILY[self.from_type]


_TYPE_TO_FAMILY: Final = {v: k for k, v in FAMILY_OBJECT_TYPE_ID.items()}

#: Engagements (call, email, meeting, note, task) linked to contacts,
#: companies, deals and tickets, both ways: HubSpot's default association type
#: ids (Associations v4 guide, "association type IDs",
#: https://developers.hubspot.com/docs/api-reference/crm-associations-v4/guide).
#: Generic only: the classic payload for them is not documented.
_ENGAGEMENTS: Final = (
    ("CALL", "0-48", (194, 182, 206, 220), (193, 181, 205, 219)),
    ("EMAIL", "0-49", (198, 186, 210, 224), (197, 185, 209, 223)),
    ("MEETING", "0-47", (200, 188, 212, 226), (199, 187, 211, 225)),
    ("NOTE", "0-46", (202, 190, 214, 228), (201, 189, 213, 227)),
    ("TASK", "0-27", (204, 192, 216, 230), (203, 191, 215, 229)),
)
_ENGAGED: Final = (
    ("CONTACT", "0-1"),
    ("COMPANY", "0-2"),
    ("DEAL", "0-3"),
    ("TICKET", "0-5"),
)
_ENGAGEMENT_LINKS: Final = tuple(
    link
    for name, type_id, outward, inward in _ENGAGEMENTS
    for (other, other_id), out_id, in_id in zip(_ENGAGED, outward, inward, strict=True)
    for link in (
        (f"{name}_TO_{other}", type_id, other_id, out_id),
        (f"{other}_TO_{name}", other_id, type_id, in_id),
    )
)

ASSOCIATION_TYPES: Final[tuple[AssociationType, ...]] = (
    AssociationType("CONTACT_TO_COMPANY", "0-1", "0-2", 279, 1),
    AssociationType("CONTACT_TO_DEAL", "0-1", "0-3", 4),
    AssociationType("CONTACT_TO_TICKET", "0-1", "0-5", 15),
    AssociationType("CONTACT_TO_CONTACT", "0-1", "0-1", 449),
    AssociationType("COMPANY_TO_CONTACT", "0-2", "0-1", 280, 2),
    AssociationType("COMPANY_TO_DEAL", "0-2", "0-3", 342, 6),
    AssociationType("COMPANY_TO_TICKET", "0-2", "0-5", 340, 25),
    AssociationType("COMPANY_TO_COMPANY", "0-2", "0-2", 450),
    AssociationType("DEAL_TO_CONTACT", "0-3", "0-1", 3),
    AssociationType("DEAL_TO_COMPANY", "0-3", "0-2", 341, 5),
    AssociationType("DEAL_TO_LINE_ITEM", "0-3", "0-8", 19),
    AssociationType("DEAL_TO_TICKET", "0-3", "0-5", 27),
    AssociationType("DEAL_TO_DEAL", "0-3", "0-3", 451),
    AssociationType("TICKET_TO_CONTACT", "0-5", "0-1", 16),
    AssociationType("TICKET_TO_COMPANY", "0-5", "0-2", 26),
    AssociationType("TICKET_TO_DEAL", "0-5", "0-3", 28),
    # No HUBSPOT_DEFINED id is given for ticket↔ticket, so never sent in generic form.
    AssociationType("TICKET_TO_TICKET", "0-5", "0-5", None),
    AssociationType("LINE_ITEM_TO_DEAL", "0-8", "0-3", 20),
    *(
        AssociationType(name, a, b, type_id, generic_only=True)
        for name, a, b, type_id in _ENGAGEMENT_LINKS
    ),
)
ASSOCIATION_BY_NAME: Final = {a.name: a for a in ASSOCIATION_TYPES}


def inverse_association(assoc: AssociationType) -> AssociationType:
    """
    The same link seen from the other side (DEAL_TO_CONTACT -> CONTACT_TO_DEAL).
    """
    for other in ASSOCIATION_TYPES:
        if other.from_type == assoc.to_type and other.to_type == assoc.from_type:
            return other
    raise CatalogError(f"no inverse association for {assoc.name}")


# ---------------------------------------------------------------------------
# changeSource mix (§2.3, "realistic mix" design row).
# ---------------------------------------------------------------------------
#: (changeSource, weight in percent). Weights sum to 100.
CHANGE_SOURCE_MIX: Final = (
    ("CRM_UI", 50),
    ("API", 13),
    ("INTEGRATION", 12),
    ("IMPORT", 10),
    ("AUTOMATION_PLATFORM", 10),
    ("FORM", 3),
    ("SALES", 2),
)


# ---------------------------------------------------------------------------
# Subscription type selection: names, families and globs -> concrete types.
# ---------------------------------------------------------------------------
def classic_types() -> tuple[str, ...]:
    """
    Every classic subscription type hubsim generates, in spec order.
    """
    return tuple(
        f"{fam}.{act}" for fam, acts in CLASSIC_FAMILIES.items() for act in acts
    )


def generic_types() -> tuple[str, ...]:
    """
    The six generic ``object.*`` subscription types.
    """
    return tuple(f"object.{act}" for act in GENERIC_ACTIONS)


def all_types() -> tuple[str, ...]:
    """
    Every subscription type in HubSpot's enum (§2), generated or not.
    """
    return (*classic_types(), *generic_types(), *UNGENERATED_TYPES)


def select_types(patterns: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """
    Expand names, families (``contact``) and globs (``deal.*``) to concrete types.

    Raises CatalogError naming the first pattern that matches nothing.
    """
    known = (*classic_types(), *generic_types())
    chosen: dict[str, None] = {}
    for raw in patterns:
        pattern = raw.strip()
        if not pattern:
            continue
        if pattern in UNGENERATED_TYPES:
            raise CatalogError(
                f"{pattern} is in HubSpot's enum but its payload is undocumented, "
                "so hubsim does not generate it"
            )
        if "." not in pattern and "*" not in pattern:
            pattern = f"{pattern}.*"
        matches = [t for t in known if fnmatch.fnmatchcase(t, pattern)]
        if not matches:
            raise CatalogError(
                f"unknown subscription type {raw!r} (`hubsim types` lists them)"
            )
        chosen.update(dict.fromkeys(matches))
    return tuple(chosen)
