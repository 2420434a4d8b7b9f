"""
Property tables (spec §7, §3.1, app-calls §4): for every objectTypeId, the
properties a ``propertyChange`` names and how their values look. ``kind``
names a value pool in :mod:`simulator.pools`; ``choices`` is an enum. Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


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
DEFAULT_DEAL_STAGES: Final = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
)
#: Stages of custom deal pipelines: numeric strings (2026 captures and real
#: configs) and the occasional UUID of older portals (app-calls §4).
CUSTOM_DEAL_STAGES: Final = (
    "3468521172",
    "3467318997",
    "3468521174",
    "3468521175",
    "1233582150",
    "1385066797",
    "1f4f1ec1-8174-49f3-a112-4eaa4748e38e",
)
#: Most portals still run most deals in the default pipeline.
DEAL_STAGES: Final = DEFAULT_DEAL_STAGES * 2 + CUSTOM_DEAL_STAGES
DEAL_PIPELINES: Final = ("default", "default", "default", "812723471")
#: The default ticket pipeline "0" with stages "1"-"4", and a custom one's
#: numeric stage ids (app-calls §4).
TICKET_STAGES: Final = ("1", "2", "3", "4") * 2 + ("939275052", "1067263045")
TICKET_PIPELINES: Final = ("0", "0", "0", "812723490")
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
        _p("pipeline", "choice", *DEAL_PIPELINES),
        _p("dealname", "deal_name", weight=2),
        _OWNER,
    ),
    "0-5": (
        _p("hs_pipeline_stage", "choice", *TICKET_STAGES, weight=5),
        _p("hs_pipeline", "choice", *TICKET_PIPELINES),
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
    # The rest of §3.1: HubSpot's default property names for each object
    # (CRM object docs, "Understanding the CRM" [S24]); values are plausible.
    "0-19": (
        _p("hs_survey_type", "choice", "NPS", "CSAT", "CES", "CUSTOM"),
        _p("hs_response_group", "choice", "PROMOTER", "PASSIVE", "DETRACTOR"),
        _p("hs_value", "percent"),
        _p("hs_content", "paragraph"),
    ),
    "0-54": (
        _p("hs_event_name", "sentence", weight=2),
        _p("hs_event_type", "choice", "WEBINAR", "CONFERENCE", "WORKSHOP"),
        _p("hs_start_datetime", "date_ms"),
        _p("hs_event_cancelled", "choice", "false", "false", "true"),
    ),
    "0-69": (
        _p("hs_name", "product_name"),
        _p("hs_status", "choice", "active", "past_due", "canceled", "expired"),
        _p("hs_next_payment_due_date", "date_ms", weight=2),
    ),
    "0-74": (
        _p("hs_goal_name", "sentence"),
        _p("hs_target_amount", "money", weight=2),
        _p("hs_end_datetime", "date_ms"),
        _OWNER,
    ),
    "0-84": (
        _p("hs_label", "sentence"),
        _p("hs_type", "choice", "PERCENT", "FIXED"),
        _p("hs_value", "percent", weight=2),
    ),
    "0-85": (
        _p("hs_label", "sentence"),
        _p("hs_type", "choice", "PERCENT", "FIXED"),
        _p("hs_value", "money", weight=2),
    ),
    "0-86": (
        _p("hs_label", "sentence"),
        _p("hs_type", "choice", "PERCENT", "FIXED"),
        _p("hs_value", "percent", weight=2),
    ),
    "0-101": (
        _p(
            "hs_latest_status",
            "choice",
            "succeeded",
            "processing",
            "failed",
            "refunded",
            weight=3,
        ),
        _p("hs_initial_amount", "money", weight=2),
        _p("hs_payment_method_type", "choice", "card", "ach", "sepa_debit"),
    ),
    "0-115": (
        _p("hs_email", "email"),
        _p("hs_given_name", "first_name"),
        _p("hs_family_name", "last_name"),
        _p("hs_job_title", "job_title"),
        _p("hs_availability_status", "choice", "available", "away", weight=3),
    ),
    "0-116": (
        _p("hs_postal_mail_body", "paragraph", weight=2),
        _p("hs_direction", "choice", "INCOMING", "OUTGOING"),
        _OWNER,
    ),
    "0-123": (
        _p("hs_order_name", "deal_name"),
        _p(
            "hs_pipeline_stage",
            "choice",
            "4b27b500-fc83-4fbd-a4b5-5bd7e12b8f26",
            "1234912",
            "1234913",
            weight=3,
        ),
        _p("hs_total_price", "money", weight=2),
        _p("hs_currency_code", "choice", "USD", "EUR", "GBP"),
    ),
    "0-136": (
        _p("hs_lead_name", "deal_name"),
        _p(
            "hs_pipeline_stage",
            "choice",
            "new-stage-id",
            "attempting-stage-id",
            "connected-stage-id",
            "qualified-stage-id",
            "unqualified-stage-id",
            weight=4,
        ),
        _p("hs_lead_type", "choice", "NEW_BUSINESS", "UPSELL", "RE_ATTEMPTING"),
        _OWNER,
    ),
    "0-142": (
        _p("hs_cart_name", "product_name"),
        _p("hs_total_price", "money", weight=2),
        _p("hs_currency_code", "choice", "USD", "EUR", "GBP"),
    ),
    "0-162": (
        _p("hs_name", "deal_name"),
        _p("hs_pipeline_stage", "choice", "1234912", "1234913", "1234914", weight=2),
        _p("hs_target_end_date", "date_ms"),
        _OWNER,
    ),
    "0-410": (
        _p("hs_course_name", "sentence"),
        _p("hs_enrollment_capacity", "quantity"),
        _p("hs_start_date", "date_ms"),
    ),
    "0-420": (
        _p("hs_name", "sentence"),
        _p("hs_price", "money", weight=2),
        _p("hs_city", "city"),
        _p("hs_listing_type", "choice", "house", "apartment", "townhouse"),
        _p("hs_bedrooms", "quantity"),
    ),
    "0-421": (
        _p("hs_appointment_name", "sentence"),
        _p("hs_appointment_start", "date_ms", weight=2),
        _p("hs_appointment_end", "date_ms"),
        _OWNER,
    ),
    "0-970": (
        _p("hs_name", "deal_name"),
        _p("hs_status", "choice", "ON_TRACK", "AT_RISK", "OFF_TRACK", "COMPLETED"),
        _p("hs_target_due_date", "date_ms"),
        _OWNER,
    ),
}
#: Properties for custom objects (2-<n>), which have no standard names.
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
