"""
The event source: a seeded, endless stream of HubSpot webhook events.

Faker runs only while value pools are built, once per process. Each kind of
event owns pools of templates (its JSON with %-slots for what must be fresh per
event); per event the source only picks a template with bits it drew in bulk
and appends the slot values, and a block of up to 100 events for one portal is
rendered by a single bytes % (see :meth:`EventSource.render`). That keeps
generation well above any receiver's speed.

This module does not batch, sign or send anything.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
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

    ``distinct`` caps how many different events are rendered: after that many,
    the source re-sends its first blocks with fresh eventIds and occurredAt, so
    a long load test costs one bytes % per batch (see :meth:`EventSource.render`).

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
    escape_unicode: bool = False
    portal_ids: tuple[int, ...] = field(default=())
    distinct: int | None = None
    #: (type, family or glob, weight): overrides the realistic default mix.
    weights: tuple[tuple[str, float], ...] = ()
    #: (family or objectTypeId, property names): which properties change.
    properties: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self) -> None:
        if self.portals < 1 or self.portals > 1024:
            raise UsageError("--portals must be between 1 and 1024")
        if self.format not in ("classic", "generic"):
            raise UsageError(f"--format must be classic or generic, not {self.format}")
        if self.distinct is not None and self.distinct < 1:
            raise UsageError("--distinct must be at least 1")


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
    weight: float


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
                if any(p.strip().startswith("object") for p in config.types):
                    raise UsageError(f"{stype} is a generic type: add --format generic")
                continue  # a glob like *.merge: classic runs take classic types
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


def _reweighted(
    kinds: list[_Kind], weights: tuple[tuple[str, float], ...]
) -> list[_Kind]:
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
#
# Each kind owns pools of templates: the event's JSON with %-slots for what
# must be fresh per event (eventId, occurredAt, and record or message ids), the
# portal as _PORTAL_SLOT, and literal % escaped. An emitter only picks a
# template and appends its slot values; a whole block of events is then
# rendered by one C-level `%`. That halves the per-event cost compared with
# formatting each event, and keeps every value as varied as before.
# ---------------------------------------------------------------------------
_PORTAL_SLOT: Final = "\x02"
_HEAD: Final = (
    '{"eventId":%%d,"subscriptionId":%d,"portalId":\x02,"appId":%d,'
    '"occurredAt":%%d,"subscriptionType":"%s","attemptNumber":0'
)
#: How attemptNumber reads in a first attempt. Unescaped, this byte sequence
#: cannot occur inside a JSON string, so a retry body is one replace() away.
FIRST_ATTEMPT: Final = b'"attemptNumber":0,'
#: Where one event object ends and the next begins in a rendered block. A raw
#: `{"eventId":` cannot occur inside a JSON string (its quote would be escaped).
_EVENT_BOUNDARY: Final = ',{"eventId":'

Meta = tuple[str, str]  # (subscriptionType, objectTypeId or "")
Emitter = Callable[[list[bytes], list[tuple[Any, ...]], list[Meta], int], None]
_PORTAL_SLOT_B: Final = _PORTAL_SLOT.encode()


def count_families(meta: Sequence[Meta]) -> tuple[tuple[str, int], ...]:
    """Events per family ("contact", "object" …) in a block's meta."""
    families: dict[str, int] = {}
    for (stype, _), n in Counter(meta).items():
        family = stype.partition(".")[0]
        families[family] = families.get(family, 0) + n
    return tuple(families.items())


def _encode_all(texts: Iterable[str]) -> tuple[bytes, ...]:
    """Templates as UTF-8: blocks are rendered and sent as bytes, never re-encoded."""
    return tuple(t.encode() for t in texts)


def _lit(text: str) -> str:
    """A literal for a %-template."""
    return text.replace("%", "%%")


@dataclass(frozen=True, slots=True)
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

    def __len__(self) -> int:
        return len(self.event_ids)

    def events(self) -> list[WebhookEvent]:
        """
        The block as :class:`WebhookEvent` objects (for inspection, not speed).
        """
        slotted = self.body.replace(FIRST_ATTEMPT, b'"attemptNumber":\x00,')
        pieces = slotted.decode().split(_EVENT_BOUNDARY)
        jsons = [pieces[0]] + ['{"eventId":' + p for p in pieces[1:]]
        return [
            WebhookEvent(eid, self.portal_id, stype, otid, t, j)
            for eid, t, (stype, otid), j in zip(
                self.event_ids, self.occurred_at, self.meta, jsons, strict=True
            )
        ]


class EventSource:
    """
    An endless, seeded stream of events for one app, rendered a block at a time.

    ``render(n)`` gives the next block of up to ``n`` events for one portal (the
    fast path batches are built from); ``take(n)`` gives events one by one, from
    blocks of 100. With the same config and seed both are reproducible byte for
    byte.

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
        self._position = 0  # events rendered so far
        self._blocks = 0
        # Per portal: events that wait for a later block of that portal (a
        # compound change's surplus, a deferred privacy companion).
        self._waiting: dict[int, list[tuple[int, bytes, tuple[Any, ...], Meta]]] = {}
        self._taken: list[WebhookEvent] = []
        self._recycled: list[_Recyclable] = []
        self._recycle_at = 0
        self._kinds = memoryview(b"").cast("H")
        self._xs = memoryview(b"").cast("Q")
        self._pos = _BLOCK
        self._user_ids = tuple(rng.randrange(10_000_000, 99_999_999) for _ in range(64))
        self._source_pool = self._build_source_pool()
        self._user_sources = tuple(
            f'"USER","sourceId":"userId:{u}"' for u in self._user_ids
        )
        self._lags = tuple(rng.randrange(300, 1500) for _ in range(1024))
        # occurredAt per draw; moved by set_time().
        self._base_ms = config.start_ms
        self._occurred = [config.start_ms - lag for lag in self._lags]
        self._object_ids: dict[str, tuple[int, ...]] = {}
        self._next_new_id = rng.randrange(100_000_000_000, 400_000_000_000)
        self._subscription_ids: dict[tuple[str, str, str], int] = {}
        subscribed = _kinds(config)
        # What the app subscribes to decides companions (a GDPR delete's
        # deletion), even for types the mix gives no weight of their own.
        selected = {(k.subscription_type, k.object_type_id) for k in subscribed}
        self.kinds = (
            _reweighted(subscribed, config.weights) if config.weights else subscribed
        )
        emitters = [self._emitter(k, selected) for k in self.kinds]
        table = _weighted_table([k.weight for k in self.kinds], 1 << _KIND_TABLE_BITS)
        self._emitter_table = [emitters[i] for i in table]

    # -- public -------------------------------------------------------------
    def render(self, count: int) -> RenderedBlock:
        """
        The next ``count`` events (1-100) for one portal, rendered.

        With ``distinct`` set, blocks past that many events are earlier blocks
        re-stamped: same payloads, fresh eventIds and occurredAt.
        """
        if not 1 <= count <= catalog.MAX_BATCH_SIZE:
            raise UsageError(f"a block holds 1 to {catalog.MAX_BATCH_SIZE} events")
        limit = self.config.distinct
        if limit is not None and self._position >= limit and self._recycled:
            entry = self._recycled[self._recycle_at % len(self._recycled)]
            # A pooled block may be a little short (a companion moved on); any
            # that fits is a valid batch. A run's last, smaller block is fresh.
            if len(entry.times) <= count:
                self._recycle_at += 1
                return self._restamp(entry)
        block = self._render_fresh(count)
        if limit is not None and self._position - len(block) < limit:
            self._recycled.append(_Recyclable.of(block, self._base_ms))
        return block

    def set_time(self, now_ms: int) -> None:
        """
        Events rendered from now on occurred 0.3-1.5 s before ``now_ms`` (§7):
        paced runs call this so event age means what HubSpot users feel.
        """
        if abs(now_ms - self._base_ms) >= 10:
            self._base_ms = now_ms
            self._occurred[:] = [now_ms - lag for lag in self._lags]

    def prepare(self, batch_size: int = catalog.MAX_BATCH_SIZE) -> None:
        """
        With ``distinct`` set, render the distinct pool now, before any sending,
        so a load test runs at full speed from its first request.
        """
        limit = self.config.distinct
        while limit is not None and self._position < limit:
            self.render(min(batch_size, limit - self._position))

    def _restamp(self, entry: _Recyclable) -> RenderedBlock:
        """
        A recycled block with fresh eventIds and occurredAt: one bytes %.
        """
        ids = tuple(itertools.islice(self._event_ids, len(entry.times)))
        shift = self._base_ms - entry.base_ms
        times = tuple([t + shift for t in entry.times]) if shift else entry.times
        body = entry.template % tuple(
            itertools.chain.from_iterable(zip(ids, times, strict=True))
        )
        self._position += len(ids)
        return RenderedBlock(
            entry.portal_id, body, ids, times, entry.meta, families=entry.families
        )

    def _render_fresh(self, count: int) -> RenderedBlock:
        bits = self._bits
        portal = self.portal_ids[bits(16) % len(self.portal_ids)]
        block_no = self._blocks
        self._blocks = block_no + 1
        tmpls: list[bytes] = []
        args: list[tuple[Any, ...]] = []
        meta: list[Meta] = []
        waiting = self._waiting.setdefault(portal, [])
        if waiting:
            due = [w for w in waiting if w[0] <= block_no][:count]
            for w in due:
                waiting.remove(w)
                tmpls.append(w[1])
                args.append(w[2])
                meta.append(w[3])
        emitters = self._emitter_table
        kinds, xs, pos = self._kinds, self._xs, self._pos
        # Each emitter adds at least one event, so `need` draws at most fill the
        # block; the loop body is the only per-event work.
        while (need := count - len(tmpls)) > 0:
            if pos == _BLOCK:
                self._refill()
                kinds, xs, pos = self._kinds, self._xs, 0
            end = min(pos + need, _BLOCK)
            for k, x in zip(kinds[pos:end], xs[pos:end], strict=True):
                emitters[k](tmpls, args, meta, x)
            pos = end
        self._pos = pos
        self._defer_companions(block_no, waiting, tmpls, args, meta)
        if len(tmpls) > count:
            # A compound change overshot: the rest opens this portal's next block.
            waiting[:0] = [
                (block_no, t, a, m)
                for t, a, m in zip(
                    tmpls[count:], args[count:], meta[count:], strict=True
                )
            ]
            del tmpls[count:], args[count:], meta[count:]
        body = b",".join(tmpls) % tuple(itertools.chain.from_iterable(args))
        body = body.replace(_PORTAL_SLOT_B, str(portal).encode())
        self._position += len(tmpls)
        return RenderedBlock(
            portal,
            body,
            tuple([a[0] for a in args]),
            tuple([a[1] for a in args]),
            tuple(meta),
        )

    def take(self, count: int) -> list[WebhookEvent]:
        """
        The next ``count`` events, one by one (from blocks of 100).
        """
        out = self._taken[:count]
        del self._taken[:count]
        while len(out) < count:
            events = self.render(catalog.MAX_BATCH_SIZE).events()
            need = count - len(out)
            out.extend(events[:need])
            self._taken.extend(events[need:])
        return out

    def __iter__(self) -> Iterator[WebhookEvent]:
        while True:
            yield from self.take(1000)

    # -- internals ------------------------------------------------------------
    def _refill(self) -> None:
        """
        Draw the next block of random numbers, in one C call each.
        """
        self._kinds = _draws(self._bits, 16, _BLOCK)
        self._xs = _draws(self._bits, 64, _BLOCK)

    @staticmethod
    def _defer_companions(
        block_no: int,
        waiting: list[tuple[int, bytes, tuple[Any, ...], Meta]],
        tmpls: list[bytes],
        args: list[tuple[Any, ...]],
        meta: list[Meta],
    ) -> None:
        """
        Move events marked :data:`_LATER` to one of this portal's next blocks.
        """
        marked = [i for i, a in enumerate(args) if len(a) == 4 and a[3] is _LATER]
        for i in reversed(marked):
            eid, t, oid, _ = args[i]
            waiting.append((block_no + oid % 3, tmpls[i], (eid, t, oid), meta[i]))
            del tmpls[i], args[i], meta[i]

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

    def _subscription_id(self, stype: str, type_id: str, prop: str = "") -> int:
        key = (stype, type_id, prop)
        sid = self._subscription_ids.get(key)
        if sid is None:
            sid = self._rng.randrange(100, 9_999_999)
            self._subscription_ids[key] = sid
        return sid

    def _head(self, stype: str, sid: int) -> str:
        return _HEAD % (sid, self.app_id, stype)

    def _emitter(self, kind: _Kind, selected: set[tuple[str, str]]) -> Emitter:
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

    def _property_emitter(self, kind: _Kind) -> Emitter:
        stype, otid = kind.subscription_type, kind.object_type_id
        conv = kind.family == "conversation"
        specs = (
            catalog.CONVERSATION_PROPERTIES
            if conv
            else catalog.properties_for(kind.crm_type_id)
        )
        specs = self._chosen_properties(kind, specs)
        rows = self._property_rows(stype, otid, specs)
        rng = self._rng
        sources = ('"CONVERSATIONS"',) if conv else self._source_pool
        type_field = f',"objectTypeId":"{otid}"' if kind.generic else ""
        # Each propertyChange subscription names one property (§2), so the
        # subscriptionId travels with the property inside the template.
        templates = []
        for _ in range(1024):
            sid, name, values = rows[rng.getrandbits(8)]
            value = values[rng.getrandbits(_POOL_BITS)]
            source = sources[rng.getrandbits(10) % len(sources)]
            templates.append(
                self._head(stype, sid)
                + ',"objectId":%d'
                + type_field
                + _lit(
                    f',"propertyName":"{name}","propertyValue":{value},"changeSource":{source}}}'
                )
            )
        pool = tuple(t.encode() for t in templates)
        ids = self._ids_for("thread" if conv else kind.crm_type_id)
        occurred = self._occurred
        next_id = self._event_ids.__next__
        m: Meta = (stype, otid)

        def emit_property(
            tmpls: list[bytes], args: list[tuple[Any, ...]], meta: list[Meta], x: int
        ) -> None:
            tmpls.append(pool[x & 1023])
            args.append((next_id(), occurred[(x >> 20) & 1023], ids[(x >> 30) & 4095]))
            meta.append(m)

        return emit_property

    def _chosen_properties(
        self, kind: _Kind, specs: tuple[PropertySpec, ...]
    ) -> tuple[PropertySpec, ...]:
        """
        The scenario's property choice for this object, if it made one. A name
        the catalog does not know (a custom property) gets text values.
        """
        for key, names in self.config.properties:
            if key in (kind.family, kind.crm_type_id):
                known = {s.name: s for s in specs}
                return tuple(known.get(n) or PropertySpec(n, "sentence") for n in names)
        return specs

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
    ) -> Emitter:
        stype, otid, action = kind.subscription_type, kind.object_type_id, kind.action
        conv = kind.family == "conversation"
        type_field = f',"objectTypeId":"{otid}"' if kind.generic else ""
        flag = _CHANGE_FLAG.get(action, "")
        sources = ('"CONVERSATIONS"',) if conv else self._source_pool
        head = self._head(stype, self._subscription_id(stype, otid)) + ',"objectId":%d'
        pool = tuple(
            (head + type_field + _lit(f'{flag},"changeSource":{s}}}')).encode()
            for s in sources
        )
        n_pool = len(pool)
        ids = self._ids_for("thread" if conv else kind.crm_type_id)
        fresh = action == "creation"
        occurred = self._occurred
        next_id = self._event_ids.__next__
        m: Meta = (stype, otid)
        # A GDPR delete also deletes the contact (§2): the app gets that too if it
        # subscribes to contact deletions, classic or generic.
        companion = stype == "contact.privacyDeletion" and (
            ("contact.deletion", "") in selected
            or ("object.deletion", "0-1") in selected
        )
        del_generic = ("contact.deletion", "") not in selected
        del_type = "object.deletion" if del_generic else "contact.deletion"
        del_otid = "0-1" if del_generic else ""
        del_head = self._head(del_type, self._subscription_id(del_type, del_otid))
        del_pool = _encode_all(
            del_head
            + ',"objectId":%d'
            + (',"objectTypeId":"0-1"' if del_generic else "")
            + _lit(f'{_CHANGE_FLAG["deletion"]},"changeSource":{s}}}')
            for s in sources
        )
        del_meta: Meta = (del_type, del_otid)

        def emit_lifecycle(
            tmpls: list[bytes], args: list[tuple[Any, ...]], meta: list[Meta], x: int
        ) -> None:
            t = occurred[(x >> 20) & 1023]
            if fresh:
                oid = self._next_new_id
                self._next_new_id = oid + 1 + ((x >> 30) & 15)
            else:
                oid = ids[(x >> 30) & 4095]
            tmpls.append(pool[(x & 1023) % n_pool])
            args.append((next_id(), t, oid))
            meta.append(m)
            if companion:
                # Same objectId, in either order; three times in four the second
                # waits for a later batch of the portal (§2).
                privacy = (tmpls.pop(), args.pop(), meta.pop())
                deletion = (
                    del_pool[(x & 1023) % n_pool],
                    (next_id(), t, oid),
                    del_meta,
                )
                first, second = (
                    (privacy, deletion) if (x >> 52) & 1 else (deletion, privacy)
                )
                if (x >> 53) & 3:
                    second = (second[0], (*second[1], _LATER), second[2])
                for tmpl, arg, kind_meta in (first, second):
                    tmpls.append(tmpl)
                    args.append(arg)
                    meta.append(kind_meta)

        return emit_lifecycle

    def _merge_emitter(self, kind: _Kind) -> Emitter:
        stype, otid = kind.subscription_type, kind.object_type_id
        type_field = f',"objectTypeId":"{otid}"' if kind.generic else ""
        head = self._head(stype, self._subscription_id(stype, otid))
        pool = _encode_all(
            head
            + ',"objectId":%d'
            + type_field
            + ',"primaryObjectId":%d,"mergedObjectIds":[%s],"newObjectId":%d,'
            '"numberOfPropertiesMoved":%d,"changeSource":' + _lit(s) + "}"
            for s in self._source_pool
        )
        ids = self._ids_for(kind.crm_type_id)
        occurred = self._occurred
        next_id = self._event_ids.__next__
        bits = self._bits
        m: Meta = (stype, otid)

        def emit_merge(
            tmpls: list[bytes], args: list[tuple[Any, ...]], meta: list[Meta], x: int
        ) -> None:
            primary = ids[(x >> 30) & 4095]
            merged = [ids[(x >> 42) & 4095]]
            if (x >> 54) & 7 == 0:
                merged.append(ids[bits(12)])
            merged = [i for i in merged if i != primary] or [primary + 1]
            # Usually the winner keeps its id; sometimes the merge makes a new one.
            new_id = primary if (x >> 57) & 7 else primary + 7 + bits(10)
            tmpls.append(pool[x & 1023])
            args.append(
                (
                    next_id(),
                    occurred[(x >> 20) & 1023],
                    new_id,
                    primary,
                    ",".join(map(str, merged)).encode(),
                    new_id,
                    bits(5),
                )
            )
            meta.append(m)

        return emit_merge

    def _message_emitter(self, kind: _Kind) -> Emitter:
        stype, otid = kind.subscription_type, kind.object_type_id
        head = self._head(stype, self._subscription_id(stype, otid))
        # newMessage carries no changeSource (§2.2, observed).
        templates = _encode_all(
            head + ',"objectId":%d,"messageId":"%032x","messageType":"' + t + '",'
            '"changeFlag":"NEW_MESSAGE"}'
            for t in (
                "COMMENT",
                "MESSAGE",
                "MESSAGE",
                "MESSAGE",
                "MESSAGE",
                "MESSAGE",
                "MESSAGE",
                "MESSAGE",
            )
        )
        ids = self._ids_for("thread")
        occurred = self._occurred
        next_id = self._event_ids.__next__
        bits = self._bits
        m: Meta = (stype, otid)

        def emit_message(
            tmpls: list[bytes], args: list[tuple[Any, ...]], meta: list[Meta], x: int
        ) -> None:
            tmpls.append(templates[(x >> 30) & 7])
            args.append(
                (
                    next_id(),
                    occurred[(x >> 20) & 1023],
                    ids[(x >> 33) & 4095],
                    bits(128),
                )
            )
            meta.append(m)

        return emit_message

    def _association_emitter(
        self, kind: _Kind, selected: set[tuple[str, str]]
    ) -> Emitter:
        generic = kind.generic
        assocs = _associations_from(kind.crm_type_id, generic)
        to_ids = {a.name: self._ids_for(a.to_type) for a in assocs}
        own_ids = self._ids_for(kind.crm_type_id)
        occurred = self._occurred
        next_id = self._event_ids.__next__
        users = tuple(u.encode() for u in self._user_sources)

        def side(assoc: AssociationType) -> _Side:
            if generic:
                stype, otid = "object.associationChange", assoc.from_type
            else:
                stype, otid = f"{assoc.family}.associationChange", ""
            head = self._head(stype, self._subscription_id(stype, otid))
            templates = {}
            for primary in (False, True):
                for removed in ("false", "true"):
                    if generic:
                        type_id = assoc.primary_type_id if primary else assoc.type_id
                        tail = (
                            f',"associationCategory":"HUBSPOT_DEFINED",'
                            f'"associationTypeId":{type_id},"fromObjectId":%d,'
                            f'"fromObjectTypeId":"{assoc.from_type}","toObjectId":%d,'
                            f'"toObjectTypeId":"{assoc.to_type}",'
                            f'"associationRemoved":{removed},"changeSource":%s}}'
                        )
                    else:
                        flag = "true" if primary else "false"
                        tail = (
                            f',"associationType":"{assoc.name}","fromObjectId":%d,'
                            f'"toObjectId":%d,"associationRemoved":{removed},'
                            f'"isPrimaryAssociation":{flag},"changeSource":%s}}'
                        )
                    templates[(primary, removed)] = (head + tail).encode()
            return _Side(templates, (stype, otid), (stype, otid) in selected)

        sides = {a.name: side(a) for a in assocs}
        inverses = {
            a.name: catalog.inverse_association(a)
            for a in assocs
            if a.from_type != a.to_type
        }
        for inv in inverses.values():
            sides.setdefault(inv.name, side(inv))

        def emit_association(
            tmpls: list[bytes], args: list[tuple[Any, ...]], meta: list[Meta], x: int
        ) -> None:
            assoc = assocs[(x & 1023) % len(assocs)]
            t = occurred[(x >> 20) & 1023]
            from_id = own_ids[(x >> 30) & 4095]
            to_id = to_ids[assoc.name][(x >> 42) & 4095]
            removed = "true" if (x >> 54) & 3 == 0 else "false"
            source = users[(x >> 56) & 63]
            primary = assoc.primary_type_id is not None and (x >> 62) == 0
            links = [(assoc, from_id, to_id)]
            inverse = inverses.get(assoc.name)
            if inverse is not None and sides[inverse.name].subscribed:
                # HubSpot reports a link to both sides' subscriptions.
                links.append((inverse, to_id, from_id))
            for a, f, to in links:
                s = sides[a.name]
                for p in (True, False) if primary and a.primary_type_id else (False,):
                    # A primary association also creates the unlabelled one (§2).
                    tmpls.append(s.templates[(p, removed)])
                    args.append((next_id(), t, f, to, source))
                    meta.append(s.meta)

        return emit_association


@dataclass(frozen=True, slots=True)
class _Recyclable:
    """
    A rendered block turned back into a template with eventId and occurredAt
    slots, so it can be sent again as new events.
    """

    template: bytes
    portal_id: int
    times: tuple[int, ...]
    meta: tuple[Meta, ...]
    base_ms: int
    families: tuple[tuple[str, int], ...]

    @classmethod
    def of(cls, block: RenderedBlock, base_ms: int) -> _Recyclable:
        chunks = block.body.split(b'{"eventId":')[1:]
        parts: list[bytes] = []
        for chunk, eid, t in zip(
            chunks, block.event_ids, block.occurred_at, strict=True
        ):
            rest = chunk[len(str(eid)) :]
            at = rest.index(b'"occurredAt":') + 13
            tail = rest[at + len(str(t)) :]
            parts.append(
                b'{"eventId":%d'
                + rest[:at].replace(b"%", b"%%")
                + b"%d"
                + tail.replace(b"%", b"%%")
            )
        return cls(
            b"".join(parts),
            block.portal_id,
            block.occurred_at,
            block.meta,
            base_ms,
            count_families(block.meta),
        )


#: Marks a companion event to be moved to a later block of its portal.
_LATER: Final = object()

_CHANGE_FLAG: Final = {
    "creation": ',"changeFlag":"CREATED"',
    "deletion": ',"changeFlag":"DELETED"',
}


class _Side(NamedTuple):
    """
    One side of an association: its templates, meta and whether it is subscribed.
    """

    templates: dict[tuple[bool, str], bytes]
    meta: Meta
    subscribed: bool


def _weighted_table(weights: Sequence[float], size: int) -> tuple[int, ...]:
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
