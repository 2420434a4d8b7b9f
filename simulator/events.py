"""
The event source: a seeded, endless stream of HubSpot webhook events.

Events are rendered to compact JSON once, here, with :data:`ATTEMPT_SLOT` where
the value of ``attemptNumber`` goes, so a batch's body for any attempt is one
``bytes.join`` (see ``batching.py``). Faker runs only while value pools are built,
once per process; per event the source draws indices with ``getrandbits`` and
fills a %-template. That keeps generation well above a receiver's speed.

This module does not batch, sign or send anything.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from . import catalog
from .catalog import AssociationType, Format, PropertySpec
from .errors import CatalogError, UsageError

#: Stands where attemptNumber's value goes. Raw NUL cannot occur inside JSON text
#: (strings must escape it), so splitting on it is unambiguous.
ATTEMPT_SLOT: Final = "\x00"
_POOL_BITS: Final = 8  # 256 values per pool: variety without startup cost
_KIND_TABLE_BITS: Final = 16
_BLOCK: Final = 1024  # random draws per refill


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


@dataclass(frozen=True, slots=True)
class EventConfig:
    """
    What to generate. ``types`` takes names, families and globs (``deal.*``).

    In ``generic`` format, CRM types are sent as ``object.*`` with an
    ``objectTypeId``; types HubSpot only offers classically (``conversation.*``,
    ``contact.privacyDeletion``) stay classic, as a real app would subscribe them.
    """

    types: tuple[str, ...] = ("contact", "company", "deal", "ticket", "conversation")
    format: Format = "classic"
    object_type_ids: tuple[str, ...] = ()
    portals: int = 1
    app_id: int | None = None
    seed: int | None = None
    start_ms: int = 0
    spacing_ms: float = 0.0
    escape_unicode: bool = False
    portal_ids: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.portals < 1 or self.portals > 1024:
            raise UsageError("--portals must be between 1 and 1024")
        if self.format not in ("classic", "generic"):
            raise UsageError(f"--format must be classic or generic, not {self.format}")
        if self.spacing_ms < 0:
            raise UsageError("event spacing cannot be negative")


# ---------------------------------------------------------------------------
# Value pools: built once per process with Faker, fixed (Faker seed 0), so the
# run's --seed alone decides which values a stream uses.
# ---------------------------------------------------------------------------
_LOCALES: Final = (
    "en_US",
    "de_DE",
    "fr_FR",
    "es_ES",
    "sv_SE",
    "pl_PL",
    "pt_BR",
    "ja_JP",
    "zh_CN",
)
_EMOJI: Final = ("😀", "🚀", "☕", "🎉", "✨", "👍", "🇸🇪", "❤️")


@functools.cache
def value_pools() -> dict[str, tuple[str, ...]]:
    """
    Plain (unencoded) realistic values per pool kind, 2**_POOL_BITS each.
    """
    from faker import Faker  # deferred: importing Faker costs ~0.4 s

    fake = Faker(list(_LOCALES))
    fake.seed_instance(0)
    rng = random.Random(0)
    n = 1 << _POOL_BITS

    def pool(make: Callable[[], str]) -> tuple[str, ...]:
        return tuple(make() for _ in range(n))

    def with_emoji(values: tuple[str, ...], every: int) -> tuple[str, ...]:
        # Some people put emoji in names; a receiver must survive 4-byte UTF-8.
        return tuple(
            f"{v} {_EMOJI[i % len(_EMOJI)]}" if i % every == 0 else v
            for i, v in enumerate(values)
        )

    pools = {
        "email": pool(lambda: fake["en_US"].email()),
        "first_name": with_emoji(pool(fake.first_name), 17),
        "last_name": pool(fake.last_name),
        "phone": pool(lambda: fake["en_US"].phone_number()),
        "company_name": with_emoji(pool(fake.company), 23),
        "url": pool(lambda: fake["en_US"].url()),
        "domain": pool(lambda: fake["en_US"].domain_name()),
        "job_title": pool(lambda: fake["en_US"].job()),
        "industry": pool(
            lambda: rng.choice(
                (
                    "COMPUTER_SOFTWARE",
                    "INFORMATION_TECHNOLOGY_AND_SERVICES",
                    "MARKETING_AND_ADVERTISING",
                    "FINANCIAL_SERVICES",
                    "HOSPITAL_HEALTH_CARE",
                    "RETAIL",
                    "EDUCATION_MANAGEMENT",
                    "CONSTRUCTION",
                )
            )
        ),
        "city": pool(fake.city),
        "sentence": with_emoji(pool(lambda: fake.sentence(nb_words=5)), 29),
        "paragraph": pool(lambda: fake.paragraph(nb_sentences=2)),
        "deal_name": pool(lambda: f"{fake.company()} - {rng.choice(_DEAL_SUFFIXES)}"),
        "product_name": pool(
            lambda: f"{fake['en_US'].word().title()} {rng.choice(_PRODUCTS)}"
        ),
        "owner_id": pool(lambda: str(rng.randrange(10_000_000, 999_999_999))),
        "actor_id": pool(
            lambda: (
                f"A-{rng.randrange(1_000_000, 99_999_999)}"
                if rng.random() < 0.85
                else ""
            )
        ),
        "money": pool(lambda: f"{rng.choice(_AMOUNTS) * rng.randrange(1, 9)}.00"),
        "employees": pool(
            lambda: str(rng.choice((5, 12, 40, 120, 800, 5000)) + rng.randrange(0, 9))
        ),
        "quantity": pool(lambda: str(rng.choice((1, 1, 1, 2, 3, 5, 10, 25)))),
        "percent": pool(lambda: str(rng.choice((5, 10, 15, 20, 25)))),
        "sku": pool(lambda: str(rng.randrange(100_000, 999_999))),
        # Date properties travel as epoch-ms strings (midnight UTC), §9 Q10.
        "date_ms": pool(
            lambda: str(1_767_225_600_000 + rng.randrange(0, 400) * 86_400_000)
        ),
        "duration_ms": pool(lambda: str(rng.randrange(5, 3600) * 1000)),
        "object_id": pool(lambda: str(rng.randrange(1_000_000_000, 999_999_999_999))),
        "redacted": ("REDACTED",) * n,
    }
    return pools


_AMOUNTS: Final = (99, 250, 1500, 4800, 12000, 65000)
_DEAL_SUFFIXES: Final = ("New Business", "Renewal", "Upsell", "Pilot", "Expansion")
_PRODUCTS: Final = ("Pro", "Starter", "Enterprise", "Add-on", "Seat", "Licence")


def _encoded(values: Sequence[str], escape: bool) -> tuple[str, ...]:
    return tuple(json.dumps(v, ensure_ascii=escape) for v in values)


# ---------------------------------------------------------------------------
# Kinds: one concrete thing an app can be subscribed to.
# ---------------------------------------------------------------------------
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
_OTHER_OBJECT_WEIGHT: Final = 2


@dataclass(frozen=True, slots=True)
class _Kind:
    subscription_type: str
    family: str
    action: str
    object_type_id: str  # "" when the payload carries none (classic format)
    crm_type_id: str  # objectTypeId of the record, for pools; "" for conversation
    generic: bool
    weight: int


def _kinds(config: EventConfig) -> list[_Kind]:
    selected = catalog.select_types(config.types)
    generic_ids = config.object_type_ids or (
        catalog.GENERIC_OBJECT_TYPE_IDS if config.format == "generic" else ()
    )
    for type_id in generic_ids:
        catalog.check_object_type_id(type_id)
    kinds: dict[tuple[str, str], _Kind] = {}

    def add(stype: str, family: str, action: str, type_id: str, generic: bool) -> None:
        fam_w = _FAMILY_WEIGHT.get(family, _OTHER_OBJECT_WEIGHT)
        crm_type = catalog.FAMILY_OBJECT_TYPE_ID.get(family, type_id)
        kind = _Kind(
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
                raise UsageError(f"{stype} is a generic type: add --format generic")
            for type_id in generic_ids:
                name = _type_family(type_id)
                if action == "associationChange" and not _associations_from(type_id):
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


def _type_family(type_id: str) -> str:
    known = catalog.OBJECT_TYPE_BY_ID.get(type_id)
    return known.name if known else f"custom_{type_id}"


def _associations_from(type_id: str, generic: bool = True) -> list[AssociationType]:
    return [
        a
        for a in catalog.ASSOCIATION_TYPES
        if a.from_type == type_id and (a.type_id is not None or not generic)
    ]


# ---------------------------------------------------------------------------
# The source.
# ---------------------------------------------------------------------------
_HEAD: Final = (
    '{"eventId":%d,"subscriptionId":%d,"portalId":%d,"appId":%A,'
    '"occurredAt":%d,"subscriptionType":"%s","attemptNumber":\x00'
)


class EventSource:
    """
    An endless, seeded stream of :class:`WebhookEvent` for one app.

    >>> src = EventSource(EventConfig(types=("deal.creation",), seed=1, start_ms=1))
    >>> src.take(2)[0].subscription_type
    'deal.creation'
    """

    def __init__(self, config: EventConfig) -> None:
        self.config = config
        rng = random.Random(config.seed)
        self._rng = rng
        self._bits = rng.getrandbits
        self.app_id = config.app_id or rng.randrange(1_000_000, 30_000_000)
        self.portal_ids = config.portal_ids or tuple(
            rng.randrange(200_000_000, 999_999_999) for _ in range(config.portals)
        )
        plain = value_pools()
        self._values = {k: _encoded(v, config.escape_unicode) for k, v in plain.items()}
        # HubSpot's ids are 9-10 digits and stay below 2**32 (§7); this start
        # leaves room for over a billion events.
        self._event_ids = itertools.count(rng.randrange(500_000_000, 3_000_000_000))
        self._base = 0  # stream position of the next take()
        self._deferred: list[tuple[int, int, WebhookEvent]] = []
        self._carry: list[WebhookEvent] = []
        self._kinds = memoryview(b"").cast("H")
        self._xs = memoryview(b"").cast("Q")
        self._pos = _BLOCK
        self._user_ids = tuple(rng.randrange(10_000_000, 99_999_999) for _ in range(64))
        self._source_pool = self._build_source_pool()
        self._user_source_pool = tuple(
            f'"USER","sourceId":"userId:{u}"' for u in self._user_ids
        )
        self._portal_table = tuple(
            self.portal_ids[i % len(self.portal_ids)] for i in range(1024)
        )
        self._lags = tuple(rng.randrange(300, 1500) for _ in range(1024))
        # occurredAt per draw; refreshed in place once per take() (see _fill).
        self._occurred = [config.start_ms - lag for lag in self._lags]
        self._object_ids: dict[str, tuple[int, ...]] = {}
        self._id_fragments: dict[tuple[str, str], tuple[str, ...]] = {}
        self._next_new_id = rng.randrange(100_000_000_000, 400_000_000_000)
        self._subscription_ids: dict[tuple[str, str, str], int] = {}
        self.kinds = _kinds(config)
        selected_keys = {(k.subscription_type, k.object_type_id) for k in self.kinds}
        self._emitters = [self._emitter(k, selected_keys) for k in self.kinds]
        self._kind_table = _weighted_table(
            [k.weight for k in self.kinds], 1 << _KIND_TABLE_BITS
        )

    # -- public -------------------------------------------------------------
    def take(self, count: int) -> list[WebhookEvent]:
        """
        The next ``count`` events of the stream.
        """
        out: list[WebhookEvent] = []
        self._fill(out, count)
        return out

    def __iter__(self) -> Iterator[WebhookEvent]:
        while True:
            yield from self.take(1024)

    # -- internals ------------------------------------------------------------
    def _fill(self, out: list[WebhookEvent], count: int) -> None:
        # The stream is one fixed sequence whatever the take() sizes: random
        # numbers come in fixed blocks, a compound change's surplus waits in
        # _carry, and deferred companions go out at their stream position.
        if self._carry:
            out.extend(self._carry[:count])
            del self._carry[:count]
        base = self._base
        deferred = self._deferred
        emitters = self._emitters
        table = self._kind_table
        kinds, xs, pos = self._kinds, self._xs, self._pos
        while len(out) < count:
            if deferred and deferred[0][0] <= base + len(out):
                out.append(heapq.heappop(deferred)[2])
                continue
            if pos == _BLOCK:
                self._refill(base + len(out))
                kinds, xs, pos = self._kinds, self._xs, 0
            emitters[table[kinds[pos]]](out, xs[pos])
            pos += 1
        self._pos = pos
        if len(out) > count:
            self._carry[:0] = out[count:]
            del out[count:]
        self._base = base + count

    def _refill(self, position: int) -> None:
        """
        Draw the next block of random numbers, in one C call each.
        """
        self._kinds = _draws(self._bits, 16, _BLOCK)
        self._xs = _draws(self._bits, 64, _BLOCK)
        config = self.config
        if config.spacing_ms:
            at = config.start_ms + int(position * config.spacing_ms)
            self._occurred[:] = [at - lag for lag in self._lags]

    def _build_source_pool(self) -> tuple[str, ...]:
        """
        Pre-rendered ``"changeSource",...sourceId`` fragments in the §2.3 mix.
        """
        rng = self._rng
        other_apps = tuple(rng.randrange(100_000, 30_000_000) for _ in range(8))
        fragments: list[str] = []
        for i in range(1024):
            source = _weighted_pick(catalog.CHANGE_SOURCE_MIX, i / 1024)
            if source == "CRM_UI":
                user = self._user_ids[rng.getrandbits(6)]
                fragments.append(f'"{source}","sourceId":"userId:{user}"')
            elif source in ("API", "INTEGRATION"):
                app = rng.choice((*other_apps, self.app_id))
                fragments.append(f'"{source}","sourceId":"{app}"')
            else:
                fragments.append(f'"{source}"')
        rng.shuffle(fragments)
        return tuple(fragments)

    def _ids_for(self, type_id: str) -> tuple[int, ...]:
        """
        4096 existing record ids of one object type (thread ids for "thread").
        """
        ids = self._object_ids.get(type_id)
        if ids is None:
            rng = self._rng
            if type_id == "thread":
                ids = tuple(rng.randrange(10**9, 10**10) for _ in range(4096))
            else:
                # Records created since ~2021 have 10-12 digit ids; older ones 7-9.
                ids = tuple(
                    rng.randrange(10**7, 10**9)
                    if rng.random() < 0.15
                    else rng.randrange(10**9, 10**12)
                    for _ in range(4096)
                )
            self._object_ids[type_id] = ids
        return ids

    def _id_fragment_pool(self, type_id: str, type_field: str) -> tuple[str, ...]:
        key = (type_id, type_field)
        pool = self._id_fragments.get(key)
        if pool is None:
            pool = tuple(f',"objectId":{i}{type_field}' for i in self._ids_for(type_id))
            self._id_fragments[key] = pool
        return pool

    def _subscription_id(self, stype: str, type_id: str, prop: str = "") -> int:
        key = (stype, type_id, prop)
        sid = self._subscription_ids.get(key)
        if sid is None:
            sid = self._rng.randrange(100, 9_999_999)
            self._subscription_ids[key] = sid
        return sid

    def _emitter(
        self, kind: _Kind, selected: set[tuple[str, str]]
    ) -> Callable[[list[WebhookEvent], int], None]:
        if kind.action == "propertyChange":
            return self._property_emitter(kind)
        if kind.action in ("creation", "deletion", "restore", "privacyDeletion"):
            return self._lifecycle_emitter(kind, selected)
        if kind.action == "merge":
            return self._merge_emitter(kind)
        if kind.action == "associationChange":
            return self._association_emitter(kind, selected)
        if kind.action == "newMessage":
            return self._message_emitter(kind)
        raise CatalogError(f"no payload shape for {kind.subscription_type}")

    def _head(self, stype: str) -> str:
        return _HEAD.replace("%s", stype, 1).replace("%A", str(self.app_id))

    def _property_emitter(
        self, kind: _Kind
    ) -> Callable[[list[WebhookEvent], int], None]:
        """
        propertyChange: the per-event work is one 4-int format and two joins.
        """
        new = tuple.__new__
        ev = WebhookEvent
        stype, otid = kind.subscription_type, kind.object_type_id
        conv = kind.family == "conversation"
        specs = (
            catalog.CONVERSATION_PROPERTIES
            if conv
            else catalog.properties_for(kind.crm_type_id)
        )
        rows = self._property_rows(stype, otid, specs)
        rng = self._rng
        sources = ('"CONVERSATIONS"',) if conv else self._source_pool
        # (subscriptionId, rest of the event after objectId) drawn together, since
        # each propertyChange subscription names one property (§2).
        tails = []
        for _ in range(1024):
            sid, name, values = rows[rng.getrandbits(8)]
            value = values[rng.getrandbits(_POOL_BITS)]
            source = sources[rng.getrandbits(10) % len(sources)]
            tails.append(
                (
                    sid,
                    f',"propertyName":"{name}","propertyValue":{value},"changeSource":{source}}}',
                )
            )
        tail_pool = tuple(tails)
        type_field = f',"objectTypeId":"{otid}"' if kind.generic else ""
        ids = self._id_fragment_pool("thread" if conv else kind.crm_type_id, type_field)
        head = self._head(stype)
        portals = self._portal_table
        occurred = self._occurred
        next_id = self._event_ids.__next__

        def emit_property(out: list[WebhookEvent], x: int) -> None:
            sid, tail = tail_pool[x & 1023]
            portal = portals[(x >> 10) & 1023]
            t = occurred[(x >> 20) & 1023]
            eid = next_id()
            body = head % (eid, sid, portal, t) + ids[(x >> 30) & 4095] + tail
            out.append(new(ev, (eid, portal, stype, otid, t, body)))

        return emit_property

    def _property_rows(
        self, stype: str, otid: str, specs: tuple[PropertySpec, ...]
    ) -> tuple[tuple[int, str, tuple[str, ...]], ...]:
        """
        256 weighted (subscriptionId, propertyName, encoded value pool) rows.
        """
        rows: list[tuple[int, str, tuple[str, ...]]] = []
        for spec in specs:
            if spec.kind == "choice":
                enc = _encoded(spec.choices, self.config.escape_unicode)
                values = tuple(enc[i % len(enc)] for i in range(1 << _POOL_BITS))
            else:
                values = self._values[spec.kind]
            sid = self._subscription_id(stype, otid, spec.name)
            rows.append((sid, spec.name, values))
        table = _weighted_table([s.weight for s in specs], 256)
        return tuple(rows[i] for i in table)

    def _lifecycle_emitter(
        self, kind: _Kind, selected: set[tuple[str, str]]
    ) -> Callable[[list[WebhookEvent], int], None]:
        new = tuple.__new__
        ev = WebhookEvent
        stype, otid, action = kind.subscription_type, kind.object_type_id, kind.action
        conv = kind.family == "conversation"
        type_field = f',"objectTypeId":"{otid}"' if kind.generic else ""
        flag = _CHANGE_FLAG.get(action, "")
        sources = ('"CONVERSATIONS"',) if conv else self._source_pool
        tails = tuple(f'{flag},"changeSource":{s}}}' for s in sources)
        n_tails = len(tails)
        ids = self._id_fragment_pool("thread" if conv else kind.crm_type_id, type_field)
        fresh = action == "creation"
        head = self._head(stype) + ',"objectId":%d' + type_field
        head_existing = self._head(stype)
        sub_id = self._subscription_id(stype, otid)
        portals = self._portal_table
        occurred = self._occurred
        next_id = self._event_ids.__next__
        # A GDPR delete also deletes the contact (§2): the app gets that too if it
        # subscribes to contact deletions, classic or generic.
        companion = stype == "contact.privacyDeletion" and (
            ("contact.deletion", "") in selected
            or ("object.deletion", "0-1") in selected
        )
        del_generic = ("contact.deletion", "") not in selected
        del_type = "object.deletion" if del_generic else "contact.deletion"
        del_otid = "0-1" if del_generic else ""
        del_head = (
            self._head(del_type)
            + ',"objectId":%d'
            + (',"objectTypeId":"0-1"' if del_generic else "")
            + _CHANGE_FLAG["deletion"]
            + ',"changeSource":'
        )
        del_sub = self._subscription_id(del_type, del_otid)

        def emit_lifecycle(out: list[WebhookEvent], x: int) -> None:
            portal = portals[(x >> 10) & 1023]
            t = occurred[(x >> 20) & 1023]
            tail = tails[(x & 1023) % n_tails]
            eid = next_id()
            if fresh:
                oid = self._next_new_id
                self._next_new_id = oid + 1 + ((x >> 30) & 15)
                body = head % (eid, sub_id, portal, t, oid) + tail
            else:
                body = (
                    head_existing % (eid, sub_id, portal, t)
                    + ids[(x >> 30) & 4095]
                    + tail
                )
            out.append(new(ev, (eid, portal, stype, otid, t, body)))
            if companion:
                oid = json.loads(body.replace(ATTEMPT_SLOT, "0"))["objectId"]
                did = next_id()
                source = sources[(x >> 42) % len(sources)]
                dbody = del_head % (did, del_sub, portal, t, oid) + source + "}"
                dev: WebhookEvent = new(ev, (did, portal, del_type, del_otid, t, dbody))
                if (x >> 52) & 1:
                    # deletion first: swap what goes out now and what waits
                    out[-1], dev = dev, out[-1]
                due = self._base + len(out) + ((x >> 53) & 255)
                heapq.heappush(self._deferred, (due, did, dev))

        return emit_lifecycle

    def _merge_emitter(self, kind: _Kind) -> Callable[[list[WebhookEvent], int], None]:
        bits = self._bits
        new = tuple.__new__
        ev = WebhookEvent
        stype, otid = kind.subscription_type, kind.object_type_id
        type_field = f',"objectTypeId":"{otid}"' if kind.generic else ""
        head = self._head(stype) + (
            ',"objectId":%d' + type_field + ',"primaryObjectId":%d,'
            '"mergedObjectIds":[%s],"newObjectId":%d,'
            '"numberOfPropertiesMoved":%d,"changeSource":%s}'
        )
        ids = self._ids_for(kind.crm_type_id)
        sub_id = self._subscription_id(stype, otid)
        sources = self._source_pool
        portals = self._portal_table
        occurred = self._occurred
        next_id = self._event_ids.__next__

        def emit_merge(out: list[WebhookEvent], x: int) -> None:
            portal = portals[(x >> 10) & 1023]
            t = occurred[(x >> 20) & 1023]
            primary = ids[(x >> 30) & 4095]
            merged = [ids[(x >> 42) & 4095]]
            if (x >> 54) & 7 == 0:
                merged.append(ids[bits(12)])
            merged = [m for m in merged if m != primary] or [primary + 1]
            # Usually the winner keeps its id; sometimes the merge makes a new one.
            new_id = primary if (x >> 57) & 7 else primary + 7 + bits(10)
            eid = next_id()
            body = head % (
                eid,
                sub_id,
                portal,
                t,
                new_id,
                primary,
                ",".join(map(str, merged)),
                new_id,
                bits(5),
                sources[x & 1023],
            )
            out.append(new(ev, (eid, portal, stype, otid, t, body)))

        return emit_merge

    def _message_emitter(
        self, kind: _Kind
    ) -> Callable[[list[WebhookEvent], int], None]:
        bits = self._bits
        new = tuple.__new__
        ev = WebhookEvent
        stype, otid = kind.subscription_type, kind.object_type_id
        # newMessage carries no changeSource (§2.2, observed).
        head = self._head(stype) + (
            ',"objectId":%d,"messageId":"%032x","messageType":"%s","changeFlag":"NEW_MESSAGE"}'
        )
        ids = self._ids_for("thread")
        sub_id = self._subscription_id(stype, otid)
        portals = self._portal_table
        occurred = self._occurred
        next_id = self._event_ids.__next__

        def emit_message(out: list[WebhookEvent], x: int) -> None:
            portal = portals[(x >> 10) & 1023]
            t = occurred[(x >> 20) & 1023]
            mtype = "COMMENT" if (x >> 30) & 7 == 0 else "MESSAGE"
            eid = next_id()
            body = head % (
                eid,
                sub_id,
                portal,
                t,
                ids[(x >> 33) & 4095],
                bits(128),
                mtype,
            )
            out.append(new(ev, (eid, portal, stype, otid, t, body)))

        return emit_message

    def _association_emitter(
        self, kind: _Kind, selected: set[tuple[str, str]]
    ) -> Callable[[list[WebhookEvent], int], None]:
        new = tuple.__new__
        ev = WebhookEvent
        portals = self._portal_table
        occurred = self._occurred
        next_id = self._event_ids.__next__
        users = self._user_source_pool
        generic = kind.generic
        assocs = _associations_from(kind.crm_type_id, generic)
        to_ids = {a.name: self._ids_for(a.to_type) for a in assocs}
        own_ids = self._ids_for(kind.crm_type_id)

        def side(assoc: AssociationType) -> _Side:
            if generic:
                stype, otid = "object.associationChange", assoc.from_type
            else:
                stype, otid = f"{assoc.family}.associationChange", ""
            sid = self._subscription_id(stype, otid)
            return _Side(self._head(stype), stype, otid, sid, (stype, otid) in selected)

        sides = {a.name: side(a) for a in assocs}
        inverses = {
            a.name: catalog.inverse_association(a)
            for a in assocs
            if a.from_type != a.to_type
        }
        for inv in inverses.values():
            sides.setdefault(inv.name, side(inv))
        classic_tail = (
            ',"associationType":"%s","fromObjectId":%d,"toObjectId":%d,'
            '"associationRemoved":%s,"isPrimaryAssociation":%s,"changeSource":%s}'
        )
        # §9 Q8: the generic form carries the four fields the changelog names plus
        # the ids and the removed flag; no objectId, associationType or
        # isPrimaryAssociation (primary shows as its own associationTypeId).
        generic_tail = (
            ',"associationCategory":"HUBSPOT_DEFINED","associationTypeId":%d,'
            '"fromObjectId":%d,"fromObjectTypeId":"%s","toObjectId":%d,'
            '"toObjectTypeId":"%s","associationRemoved":%s,"changeSource":%s}'
        )

        def one(
            assoc: AssociationType,
            ends: tuple[int, int],
            removed: str,
            primary: bool,
            portal: int,
            t: int,
            source: str,
        ) -> WebhookEvent:
            s = sides[assoc.name]
            eid = next_id()
            if generic:
                type_id = assoc.primary_type_id if primary else assoc.type_id
                tail = generic_tail % (
                    type_id,
                    ends[0],
                    assoc.from_type,
                    ends[1],
                    assoc.to_type,
                    removed,
                    source,
                )
            else:
                flag = "true" if primary else "false"
                tail = classic_tail % (assoc.name, *ends, removed, flag, source)
            body = s.head % (eid, s.subscription_id, portal, t) + tail
            return new(
                ev, (eid, portal, s.subscription_type, s.object_type_id, t, body)
            )

        def emit_association(out: list[WebhookEvent], x: int) -> None:
            assoc = assocs[(x & 1023) % len(assocs)]
            portal = portals[(x >> 10) & 1023]
            t = occurred[(x >> 20) & 1023]
            from_id = own_ids[(x >> 30) & 4095]
            to_id = to_ids[assoc.name][(x >> 42) & 4095]
            removed = "true" if (x >> 54) & 3 == 0 else "false"
            source = users[(x >> 56) & 63]
            primary = assoc.primary_type_id is not None and (x >> 62) == 0
            links = [(assoc, (from_id, to_id))]
            inverse = inverses.get(assoc.name)
            if inverse is not None and sides[inverse.name].subscribed:
                # HubSpot reports a link to both sides' subscriptions.
                links.append((inverse, (to_id, from_id)))
            for a, ends in links:
                if primary and a.primary_type_id is not None:
                    # A primary association also creates the unlabelled one (§2).
                    out.append(one(a, ends, removed, True, portal, t, source))
                out.append(one(a, ends, removed, False, portal, t, source))

        return emit_association


_CHANGE_FLAG: Final = {
    "creation": ',"changeFlag":"CREATED"',
    "deletion": ',"changeFlag":"DELETED"',
}


class _Side(NamedTuple):
    """
    One side of an association: who receives the event and under which id.
    """

    head: str
    subscription_type: str
    object_type_id: str
    subscription_id: int
    subscribed: bool


def _weighted_table(weights: Sequence[int], size: int) -> tuple[int, ...]:
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


def _draws(bits: Callable[[int], int], width: int, n: int) -> memoryview:
    """
    ``n`` unsigned random integers of ``width`` bits (16 or 64) from one call.
    """
    size = width // 8
    raw = bits(width * n).to_bytes(size * n, "little")
    return memoryview(raw).cast("H" if width == 16 else "Q")


def _weighted_pick(mix: Sequence[tuple[str, int]], fraction: float) -> str:
    total = sum(w for _, w in mix)
    acc = 0.0
    for name, weight in mix:
        acc += weight / total
        if fraction < acc:
            return name
    return mix[-1][0]
