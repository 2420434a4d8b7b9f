"""
An independent statement of the payload shapes of spec §2.1-2.2 and §3, written
from the spec, not from the generator, to check every generated event against.
"""

from __future__ import annotations

import re
from typing import Any

# field -> JSON type, in the key order of 2022-2026 captures (§2.2)
COMMON = {
    "eventId": int,
    "subscriptionId": int,
    "portalId": int,
    "appId": int,
    "occurredAt": int,
    "subscriptionType": str,
    "attemptNumber": int,
}
ORDER = [
    *COMMON,
    "objectId",
    "objectTypeId",
    "propertyName",
    "propertyValue",
    "messageId",
    "messageType",
    "primaryObjectId",
    "mergedObjectIds",
    "newObjectId",
    "numberOfPropertiesMoved",
    "associationType",
    "associationCategory",
    "associationTypeId",
    "fromObjectId",
    "fromObjectTypeId",
    "toObjectId",
    "toObjectTypeId",
    "associationRemoved",
    "isPrimaryAssociation",
    "changeFlag",
    "changeSource",
    "sourceId",
]
TYPES: dict[str, Any] = {
    **COMMON,
    "objectId": int,
    "objectTypeId": str,
    "propertyName": str,
    "propertyValue": str,
    "messageId": str,
    "messageType": str,
    "primaryObjectId": int,
    "mergedObjectIds": list,
    "newObjectId": int,
    "numberOfPropertiesMoved": int,
    "associationType": str,
    "associationCategory": str,
    "associationTypeId": int,
    "fromObjectId": int,
    "fromObjectTypeId": str,
    "toObjectId": int,
    "toObjectTypeId": str,
    "associationRemoved": bool,
    "isPrimaryAssociation": bool,
    "changeFlag": str,
    "changeSource": str,
    "sourceId": str,
}
REQUIRED_BY_ACTION = {
    "creation": {"objectId"},
    "deletion": {"objectId"},
    "restore": {"objectId"},
    "privacyDeletion": {"objectId"},
    "propertyChange": {"objectId", "propertyName", "propertyValue"},
    "merge": {
        "objectId",
        "primaryObjectId",
        "mergedObjectIds",
        "newObjectId",
        "numberOfPropertiesMoved",
    },
    "associationChange": {"fromObjectId", "toObjectId", "associationRemoved"},
    "newMessage": {"objectId", "messageId", "messageType"},
}
ALLOWED_BY_ACTION = {
    "creation": {"objectId", "changeFlag", "changeSource", "sourceId"},
    "deletion": {"objectId", "changeFlag", "changeSource", "sourceId"},
    "restore": {"objectId", "changeSource", "sourceId"},
    "privacyDeletion": {"objectId", "changeSource", "sourceId"},
    "propertyChange": {
        "objectId",
        "propertyName",
        "propertyValue",
        "changeSource",
        "sourceId",
    },
    "merge": REQUIRED_BY_ACTION["merge"] | {"changeSource", "sourceId"},
    "associationChange": {
        "associationType",
        "fromObjectId",
        "toObjectId",
        "associationRemoved",
        "isPrimaryAssociation",
        "changeSource",
        "sourceId",
    },
    "newMessage": {"objectId", "messageId", "messageType", "changeFlag"},
}
GENERIC_ASSOCIATION = {
    "associationCategory",
    "associationTypeId",
    "fromObjectId",
    "fromObjectTypeId",
    "toObjectId",
    "toObjectTypeId",
    "associationRemoved",
    "changeSource",
    "sourceId",
}
CHANGE_FLAGS = {"CREATED", "DELETED", "NEW_MESSAGE"}
CLASSIC_ASSOCIATION_TYPES = {
    "CONTACT_TO_COMPANY",
    "CONTACT_TO_DEAL",
    "CONTACT_TO_TICKET",
    "CONTACT_TO_CONTACT",
    "COMPANY_TO_CONTACT",
    "COMPANY_TO_DEAL",
    "COMPANY_TO_TICKET",
    "COMPANY_TO_COMPANY",
    "DEAL_TO_CONTACT",
    "DEAL_TO_COMPANY",
    "DEAL_TO_LINE_ITEM",
    "DEAL_TO_TICKET",
    "DEAL_TO_DEAL",
    "TICKET_TO_CONTACT",
    "TICKET_TO_COMPANY",
    "TICKET_TO_DEAL",
    "TICKET_TO_TICKET",
    "LINE_ITEM_TO_DEAL",
}
CHANGE_SOURCES = {  # §2.3 enum values hubsim may use, plus USER and CONVERSATIONS
    "CRM_UI",
    "API",
    "INTEGRATION",
    "IMPORT",
    "AUTOMATION_PLATFORM",
    "FORM",
    "SALES",
    "USER",
    "CONVERSATIONS",
}


def problems(event: dict[str, Any]) -> list[str]:
    """Every way ``event`` departs from the spec's shapes; empty when it conforms."""
    out: list[str] = []
    stype = event.get("subscriptionType", "")
    family, _, action = stype.partition(".")
    generic = family == "object"
    for key, typ in COMMON.items():
        if not isinstance(event.get(key), typ) or isinstance(event.get(key), bool):
            out.append(f"{key} missing or not {typ.__name__}")
    rest = set(event) - set(COMMON)
    if generic and action == "associationChange":
        allowed = GENERIC_ASSOCIATION
    else:
        allowed = ALLOWED_BY_ACTION.get(action, set()) | (
            {"objectTypeId"} if generic else set()
        )
    if extra := rest - allowed:
        out.append(f"{stype}: unexpected {sorted(extra)}")
    required = REQUIRED_BY_ACTION.get(action, set())
    if generic and action != "associationChange":
        required = required | {"objectTypeId"}
    if missing := required - rest:
        out.append(f"{stype}: missing {sorted(missing)}")
    for key in rest & set(TYPES):
        typ = TYPES[key]
        value = event[key]
        if typ is int and isinstance(value, bool):
            out.append(f"{key} is bool")
        elif not isinstance(value, typ):
            out.append(f"{key} is {type(value).__name__}, not {typ.__name__}")
    keys = list(event)
    if keys != sorted(keys, key=ORDER.index):
        out.append(f"{stype}: key order {keys}")
    if "changeFlag" in event and event["changeFlag"] not in CHANGE_FLAGS:
        out.append(f"changeFlag {event['changeFlag']}")
    if "changeSource" in event and event["changeSource"] not in CHANGE_SOURCES:
        out.append(f"changeSource {event['changeSource']}")
    if (
        "associationType" in event
        and event["associationType"] not in CLASSIC_ASSOCIATION_TYPES
    ):
        out.append(f"associationType {event['associationType']}")
    if "objectTypeId" in event and not re.fullmatch(r"[02]-\d+", event["objectTypeId"]):
        out.append(f"objectTypeId {event['objectTypeId']}")
    if "messageId" in event and not re.fullmatch(r"[0-9a-f]{32}", event["messageId"]):
        out.append(f"messageId {event['messageId']}")
    if not 0 <= event.get("eventId", -1) < 2**32:
        out.append("eventId out of range")
    return out
