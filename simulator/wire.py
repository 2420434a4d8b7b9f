"""
The wire format of webhook events: compact JSON objects in HubSpot's key
order (spec §2.2), rendered from byte templates, and the markers a rendered
block carries so a retry or a re-stamped block needs no re-serialisation.

Pure: no randomness, no I/O.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

#: Stands where attemptNumber's value goes. Raw NUL cannot occur inside JSON text
#: (strings must escape it), so splitting on it is unambiguous.
ATTEMPT_SLOT: Final = "\x00"


class WebhookEvent(NamedTuple):
    """
    One CRM change as HubSpot would send it.

    A NamedTuple rather than a dataclass because the source makes hundreds of
    thousands per second and tuple construction is several times cheaper.
    ``json`` is the event object with :data:`ATTEMPT_SLOT` for ``attemptNumber``.
    """

    event_id: int
    portal_id: int
    subscription_type: str
    object_type_id: str
    occurred_at: int
    json: str

    def to_json(self, attempt_number: int = 0) -> str:
        """
        The event object as sent on attempt ``attempt_number``.
        """
        return self.json.replace(ATTEMPT_SLOT, str(attempt_number))

    def to_dict(self, attempt_number: int = 0) -> dict[str, Any]:
        """
        The event object parsed, as a receiver would see it.
        """
        result: dict[str, Any] = json.loads(self.to_json(attempt_number))
        return result


PORTAL_SLOT: Final = "\x02"
HEAD: Final = (
    '{"eventId":%%d,"subscriptionId":%d,"portalId":\x02,"appId":%d,'
    '"occurredAt":%%d,"subscriptionType":"%s","attemptNumber":0'
)
#: How attemptNumber reads in a first attempt. Unescaped, this byte sequence
#: cannot occur inside a JSON string, so a retry body is one replace() away.
FIRST_ATTEMPT: Final = b'"attemptNumber":0,'
#: Where one event object ends and the next begins in a rendered block. A raw
#: `{"eventId":` cannot occur inside a JSON string (its quote would be escaped).
EVENT_BOUNDARY: Final = ',{"eventId":'

Meta = tuple[str, str]  # (subscriptionType, objectTypeId or "")
PORTAL_SLOT_B: Final = PORTAL_SLOT.encode()


def count_families(meta: Sequence[Meta]) -> tuple[tuple[str, int], ...]:
    """Events per family ("contact", "object" …) in a block's meta."""
    families: dict[str, int] = {}
    for (stype, _), n in Counter(meta).items():
        family = stype.partition(".")[0]
        families[family] = families.get(family, 0) + n
    return tuple(families.items())


def encode_all(texts: Iterable[str]) -> tuple[bytes, ...]:
    """Templates as UTF-8: blocks are rendered and sent as bytes, never re-encoded."""
    return tuple(t.encode() for t in texts)


def lit(text: str) -> str:
    """A literal for a %-template."""
    return text.replace("%", "%%")


# Not frozen (3x cheaper to build, once per block); never mutated.
@dataclass(slots=True)
class RenderedBlock:
    """
    Up to one batch of events for one portal, rendered as comma-joined UTF-8
    JSON objects for a first attempt (no surrounding [ ]).
    """

    portal_id: int
    body: bytes
    event_ids: tuple[int, ...]
    occurred_at: tuple[int, ...]
    meta: tuple[Meta, ...]
    #: False for a body that is one object (a workflow record), not an array.
    array: bool = True
    #: Events per subscription family, when already known (recycled blocks).
    families: tuple[tuple[str, int], ...] = ()
    #: Query parameters for the URL (a workflow GET), percent-encoded.
    query: str = ""

    def __len__(self) -> int:
        return len(self.event_ids)

    def events(self) -> list[WebhookEvent]:
        """
        The block as :class:`WebhookEvent` objects (for inspection, not speed).
        """
        slotted = self.body.replace(FIRST_ATTEMPT, b'"attemptNumber":\x00,')
        pieces = slotted.decode().split(EVENT_BOUNDARY)
        jsons = [pieces[0]] + ['{"eventId":' + p for p in pieces[1:]]
        return [
            WebhookEvent(eid, self.portal_id, stype, otid, t, j)
            for eid, t, (stype, otid), j in zip(
                self.event_ids, self.occurred_at, self.meta, jsons, strict=True
            )
        ]


#: Where a recycled block's eventId goes: this byte and two digits; and its
#: occurredAt: the other byte and three. Raw control bytes never occur in JSON
#: text, so they mark nothing else.
ID_MARK: Final = b"\x00"
TIME_MARK: Final = b"\x01"


@dataclass(frozen=True, slots=True)
class Recyclable:
    """
    A rendered block turned back into a template, so it can be sent again as
    new events with two bytes.replace: eventId j is ``ID_MARK`` and j in two
    digits (ids k*100 + j: one prefix k), occurredAt is ``TIME_MARK`` and the
    event's milliseconds in three (times s*1000 + ms: one prefix s).
    """

    template: bytes
    portal_id: int
    #: Each event's occurredAt milliseconds (0-999), as in the template.
    millis: tuple[int, ...]
    meta: tuple[Meta, ...]
    families: tuple[tuple[str, int], ...]

    @classmethod
    def of(cls, block: RenderedBlock) -> Recyclable:
        chunks = block.body.split(b'{"eventId":')[1:]
        parts: list[bytes] = []
        for j, (chunk, eid, t) in enumerate(
            zip(chunks, block.event_ids, block.occurred_at, strict=True)
        ):
            rest = chunk[len(str(eid)) :]
            at = rest.index(b'"occurredAt":') + 13
            tail = rest[at + len(str(t)) :]
            parts.append(
                b'{"eventId":%b%02d' % (ID_MARK, j)
                + rest[:at]
                + b"%b%03d" % (TIME_MARK, t % 1000)
                + tail
            )
        return cls(
            b"".join(parts),
            block.portal_id,
            tuple([t % 1000 for t in block.occurred_at]),
            block.meta,
            count_families(block.meta),
        )
