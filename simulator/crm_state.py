"""
The CRM state that delivered webhook events imply: what an integrator's
database should hold after a day of at-least-once, unordered delivery.

The rules (the contract a receiver's sync must meet, README "Expected state"):

- an ``eventId`` counts once, however often it was delivered;
- events apply in ``occurredAt`` order, ties broken by ``eventId``;
- each property takes the value of the latest event that set it (``""`` is a
  value: the field was cleared);
- ``creation`` and ``restore`` make a record live, ``deletion`` deletes it;
  the latest of them decides;
- a ``merge`` points every retired id (``mergedObjectIds``, and the primary
  when the merge made a new id) at ``newObjectId`` through ``mergedInto``;
- ``privacyDeletion`` deletes the record and erases every property set before it;
- association and conversation events change no record's properties, so they
  are not part of the state.

Applying in order is the same as keeping, per property and per flag, the
event with the greatest ``(occurredAt, eventId)``: :class:`StateBuilder`
keeps only that, so events may come in any order and in any number of
pieces, and memory grows with records, not with events. Pure but for
:func:`write` and :func:`read`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson
from pyroaring import BitMap64

from . import catalog
from .errors import UsageError

#: (portalId, objectTypeId, objectId)
Key = tuple[int, str, int]
#: (occurredAt, eventId): what "latest" means.
Stamp = tuple[int, int]

#: A state file with more records than this is refused (memory stays bounded).
MAX_RECORDS: Final = 5_000_000
#: A line longer than this is not a record hubsim or an export wrote.
MAX_LINE: Final = 1 << 20
_NEVER: Final[Stamp] = (-(1 << 62), 0)


@dataclass(frozen=True, slots=True)
class Record:
    """One CRM record as the state file holds it."""

    portal_id: int
    object_type_id: str
    object_id: int
    deleted: bool = False
    merged_into: int | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    #: Deleted by a GDPR delete: no property may remain (expected state only).
    privacy_deleted: bool = False

    @property
    def key(self) -> Key:
        return (self.portal_id, self.object_type_id, self.object_id)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "portalId": self.portal_id,
            "objectTypeId": self.object_type_id,
            "objectId": self.object_id,
            "deleted": self.deleted,
            "mergedInto": self.merged_into,
            "properties": dict(sorted(self.properties.items())),
        }
        if self.privacy_deleted:
            doc["privacyDeleted"] = True
        return doc


class _Draft:
    """What the events so far say about one record."""

    __slots__ = ("alive", "merged", "privacy", "props")

    def __init__(self) -> None:
        self.alive: tuple[Stamp, bool] = (_NEVER, True)
        self.merged: tuple[Stamp, int | None] = (_NEVER, None)
        self.privacy: Stamp | None = None
        self.props: dict[str, tuple[Stamp, str]] = {}


class StateBuilder:
    """
    Folds delivered events into the expected state, in any order.

    >>> b = StateBuilder()
    >>> b.add({"eventId": 2, "portalId": 9, "occurredAt": 5, "objectId": 1,
    ...        "subscriptionType": "contact.propertyChange",
    ...        "propertyName": "email", "propertyValue": "a@b.c"})
    >>> [r.properties for r in b.records()]
    [{'email': 'a@b.c'}]
    """

    def __init__(self) -> None:
        self._seen = BitMap64()
        self._drafts: dict[Key, _Draft] = {}
        #: Deliveries of an eventId already applied (at-least-once at work).
        self.duplicates = 0
        self.applied = 0

    def add_body(self, body: bytes) -> None:
        """Every event of one delivered request body (a JSON array)."""
        events = orjson.loads(body)
        for event in events if isinstance(events, list) else (events,):
            self.add(event)

    def add_all(self, events: Iterable[Mapping[str, Any]]) -> None:
        for event in events:
            self.add(event)

    def add(self, event: Mapping[str, Any]) -> None:
        """One delivered event (a parsed webhook event object)."""
        event_id = int(event["eventId"])
        if event_id in self._seen:
            self.duplicates += 1
            return
        self._seen.add(event_id)
        stype = str(event.get("subscriptionType", ""))
        family, _, action = stype.partition(".")
        if family == "object":
            type_id = str(event.get("objectTypeId", ""))
        else:
            type_id = catalog.FAMILY_OBJECT_TYPE_ID.get(family, "")
        if not type_id or action in ("associationChange", "newMessage"):
            return
        self.applied += 1
        portal = int(event["portalId"])
        stamp = (int(event["occurredAt"]), event_id)
        if action == "merge":
            self._merge(portal, type_id, stamp, event)
            return
        draft = self._draft((portal, type_id, int(event["objectId"])))
        if action == "propertyChange":
            name = str(event["propertyName"])
            value = event.get("propertyValue")
            old = draft.props.get(name)
            if old is None or old[0] < stamp:
                draft.props[name] = (stamp, "" if value is None else str(value))
        elif action in ("creation", "restore", "deletion"):
            if draft.alive[0] < stamp:
                draft.alive = (stamp, action != "deletion")
        elif action == "privacyDeletion":
            if draft.privacy is None or draft.privacy < stamp:
                draft.privacy = stamp
            if draft.alive[0] < stamp:
                draft.alive = (stamp, False)

    def _merge(
        self, portal: int, type_id: str, stamp: Stamp, event: Mapping[str, Any]
    ) -> None:
        survivor = int(event["newObjectId"])
        primary = int(event["primaryObjectId"])
        retired = [int(i) for i in event.get("mergedObjectIds", ())]
        if primary != survivor:
            retired.append(primary)
        self._draft((portal, type_id, survivor))
        for object_id in retired:
            if object_id == survivor:
                continue
            draft = self._draft((portal, type_id, object_id))
            if draft.merged[0] < stamp:
                draft.merged = (stamp, survivor)

    def _draft(self, key: Key) -> _Draft:
        draft = self._drafts.get(key)
        if draft is None:
            if len(self._drafts) >= MAX_RECORDS:
                raise UsageError(
                    f"the expected state passed {MAX_RECORDS:,} records; "
                    "lower --objects or --portals"
                )
            draft = self._drafts[key] = _Draft()
        return draft

    def records(self) -> list[Record]:
        """The state, one record per object, sorted by portal, type and id."""
        out = []
        for key in sorted(self._drafts):
            d = self._drafts[key]
            privacy = d.privacy
            props = {
                name: value
                for name, (stamp, value) in d.props.items()
                if privacy is None or stamp > privacy
            }
            out.append(
                Record(
                    *key,
                    deleted=not d.alive[1],
                    merged_into=d.merged[1],
                    properties=props,
                    privacy_deleted=privacy is not None and not d.alive[1],
                )
            )
        return out

    def __len__(self) -> int:
        return len(self._drafts)


def dumps(records: Iterable[Record]) -> bytes:
    """Records as JSONL, one per line."""
    return b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records)


def write(path: str, records: Iterable[Record]) -> None:
    Path(path).write_bytes(dumps(records))


def read(path: str, what: str = "state") -> dict[Key, Record]:
    """
    A state file (hubsim's ``--state-out`` or an integrator's export), by key.
    UsageError naming the file and line for anything that is not a record.
    """
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{what} {path}: no such file")
    records: dict[Key, Record] = {}
    with p.open("rb") as f:
        for n, line in enumerate(_lines(f, path), 1):
            if not line.strip():
                continue
            record = _record(line, f"{path}:{n}")
            if record.key in records:
                raise UsageError(
                    f"{path}:{n}: {record.object_type_id} {record.object_id} of "
                    f"portal {record.portal_id} is listed twice"
                )
            if len(records) >= MAX_RECORDS:
                raise UsageError(f"{path}: more than {MAX_RECORDS:,} records")
            records[record.key] = record
    return records


def _lines(f: Any, path: str) -> Iterator[bytes]:
    while True:
        line = f.readline(MAX_LINE + 1)
        if not line:
            return
        if len(line) > MAX_LINE:
            raise UsageError(f"{path}: a line is longer than {MAX_LINE:,} bytes")
        yield line


def _record(line: bytes, where: str) -> Record:
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise UsageError(f"{where}: not JSON (one record per line)") from None
    return parse(doc, where)


def parse(doc: Any, where: str) -> Record:
    """One record from its JSON form; UsageError naming ``where`` otherwise."""
    if not isinstance(doc, dict):
        raise UsageError(f"{where}: a record must be a JSON object")

    def need(key: str, kind: type | tuple[type, ...], label: str) -> Any:
        value = doc.get(key)
        if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
            raise UsageError(f"{where}: {key} must be {label}")
        return value

    portal = need("portalId", int, "an integer")
    type_id = need("objectTypeId", str, 'a string like "0-1"')
    object_id = need("objectId", int, "an integer")
    deleted = doc.get("deleted", False)
    if not isinstance(deleted, bool):
        raise UsageError(f"{where}: deleted must be true or false")
    merged = doc.get("mergedInto")
    if merged is not None and (not isinstance(merged, int) or isinstance(merged, bool)):
        raise UsageError(f"{where}: mergedInto must be an integer or null")
    props = doc.get("properties", {})
    if not isinstance(props, dict):
        raise UsageError(f"{where}: properties must be an object")
    clean: dict[str, str] = {}
    for name, value in props.items():
        if value is None:
            value = ""
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise UsageError(f"{where}: property {name} must be a string")
        clean[name] = str(value)
    return Record(
        portal,
        type_id,
        object_id,
        deleted,
        merged,
        clean,
        privacy_deleted=doc.get("privacyDeleted") is True,
    )
