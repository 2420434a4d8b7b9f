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

Format = Literal["classic", "generic"]

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


# ---------------------------------------------------------------------------
# Properties (§7). `kind` names a value pool in events.py; `choices` is an enum.
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PropertySpec:
    """
    A property a ``propertyChange`` subscription can name, and how its values look.
    """

    name: str
    kind: str
    choices: tuple[str, ...] = ()
    weight: int = 1
    sensitive: bool = False


def _p(
    name: str, kind: str, *choices: str, weight: int = 1, sensitive: bool = False
) -> PropertySpec:
    return PropertySpec(name, kind, tuple(choices), weight, sensitive)


LIFECYCLE_STAGES: Final = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
DEAL_STAGES: Final = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
)
_OWNER = _p("hubspot_owner_id", "owner_id")

PROPERTIES: Final[dict[str, tuple[PropertySpec, ...]]] = {
    "0-1": (
        _p("email", "email", weight=3),
        _p("firstname", "first_name", weight=3),
        _p("lastname", "last_name", weight=3),
        _p("phone", "phone", weight=2),
        _p("lifecyclestage", "choice", *LIFECYCLE_STAGES, weight=4),
        _p(
            "hs_lead_status",
            "choice",
            "NEW",
            "OPEN",
            "IN_PROGRESS",
            "OPEN_DEAL",
            "UNQUALIFIED",
            "ATTEMPTED_TO_CONTACT",
            "CONNECTED",
            "BAD_TIMING",
            weight=3,
        ),
        _p("hubspot_owner_id", "owner_id", weight=2),
        _p("company", "company_name"),
        _p("website", "url"),
        _p("jobtitle", "job_title"),
        # A sensitive-data property: HubSpot sends "REDACTED" instead of the value.
        _p("passport_number", "redacted", sensitive=True),
    ),
    "0-2": (
        _p("name", "company_name", weight=3),
        _p("domain", "domain", weight=2),
        _p("industry", "industry"),
        _p("city", "city", weight=2),
        _p("phone", "phone"),
        _p("lifecyclestage", "choice", *LIFECYCLE_STAGES, weight=2),
        _p("numberofemployees", "employees"),
        _p("annualrevenue", "money"),
        _OWNER,
    ),
    "0-3": (
        _p("dealstage", "choice", *DEAL_STAGES, weight=6),
        _p("amount", "money", weight=3),
        _p("closedate", "date_ms", weight=2),
        _p("pipeline", "choice", "default"),
        _p("dealname", "deal_name", weight=2),
        _OWNER,
    ),
    "0-5": (
        _p("hs_pipeline_stage", "choice", "1", "2", "3", "4", weight=5),
        _p("hs_pipeline", "choice", "0"),
        _p("subject", "sentence", weight=2),
        _p("content", "paragraph"),
        _p("hs_ticket_priority", "choice", "LOW", "MEDIUM", "HIGH", weight=2),
        _OWNER,
    ),
    "0-7": (
        _p("name", "product_name", weight=2),
        _p("price", "money", weight=3),
        _p("hs_sku", "sku"),
        _p("description", "paragraph"),
    ),
    "0-8": (
        _p("quantity", "quantity", weight=3),
        _p("price", "money", weight=2),
        _p("amount", "money", weight=2),
        _p("hs_product_id", "object_id"),
        _p("name", "product_name"),
        _p("discount", "percent"),
    ),
    "0-14": (
        _p("hs_title", "sentence"),
        _p("hs_status", "choice", "DRAFT", "APPROVAL_NOT_NEEDED", "PENDING_APPROVAL"),
        _p("hs_expiration_date", "date_ms"),
    ),
    "0-18": (
        _p(
            "hs_communication_channel_type",
            "choice",
            "SMS",
            "WHATS_APP",
            "LINKEDIN_MESSAGE",
        ),
        _OWNER,
    ),
    "0-27": (
        _p("hs_task_subject", "sentence", weight=2),
        _p(
            "hs_task_status",
            "choice",
            "NOT_STARTED",
            "IN_PROGRESS",
            "WAITING",
            "COMPLETED",
            "DEFERRED",
            weight=3,
        ),
        _p("hs_task_priority", "choice", "NONE", "LOW", "MEDIUM", "HIGH"),
        _OWNER,
    ),
    "0-46": (_p("hs_note_body", "paragraph", weight=3), _OWNER),
    "0-47": (
        _p("hs_meeting_title", "sentence"),
        _p(
            "hs_meeting_outcome",
            "choice",
            "SCHEDULED",
            "COMPLETED",
            "RESCHEDULED",
            "NO_SHOW",
            "CANCELED",
        ),
        _OWNER,
    ),
    "0-48": (
        _p("hs_call_title", "sentence"),
        _p("hs_call_status", "choice", "COMPLETED", "BUSY", "NO_ANSWER", "FAILED"),
        _p("hs_call_duration", "duration_ms"),
        _OWNER,
    ),
    # hs_email_subject/hs_email_html changes are not delivered (§3), so not offered.
    "0-49": (
        _p("hs_email_status", "choice", "SENT", "SCHEDULED", "BOUNCED", "FAILED"),
        _OWNER,
    ),
    "0-53": (
        _p("hs_invoice_status", "choice", "draft", "open", "paid", "voided"),
        _p("hs_amount_billed", "money"),
    ),
}
#: Properties for object types §7 says nothing specific about.
FALLBACK_PROPERTIES: Final = (_p("hs_name", "sentence"), _OWNER)
#: Conversation thread properties (§2 semantics).
CONVERSATION_PROPERTIES: Final = (
    _p("assignedTo", "actor_id", weight=2),
    _p("status", "choice", "OPEN", "CLOSED", weight=2),
    _p("isArchived", "choice", "FALSE"),
)


def properties_for(type_id: str) -> tuple[PropertySpec, ...]:
    """
    The propertyChange candidates for an objectTypeId (fallback list if unknown).
    """
    return PROPERTIES.get(type_id, FALLBACK_PROPERTIES)


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

    @property
    def family(self) -> str:
        """
        The classic family whose subscription receives this association event.
        """
        return _TYPE_TO_FAMILY[self.from_type]


_TYPE_TO_FAMILY: Final = {v: k for k, v in FAMILY_OBJECT_TYPE_ID.items()}

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
