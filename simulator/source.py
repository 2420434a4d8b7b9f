"""
The event source: a seeded, endless stream of HubSpot webhook events.

Faker runs only while value pools are built, once per process
(:mod:`simulator.pools`). Each kind of event owns pools of templates (its JSON
with %-slots for what must be fresh per event, :mod:`simulator.wire`); per
event the source only picks a template with bits it drew in bulk
(:mod:`simulator.emitters`) and appends the slot values, and a block of up to
100 events for one portal is rendered by a single bytes % (see
:meth:`EventSource.render`). That keeps generation well above any receiver's
speed.

This module does not batch, sign or send anything.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from . import catalog
from .catalog import Format
from .emitters import LATER_MARK, EmitterMixin
from .errors import UsageError
from .mix import kinds, reweighted, weighted_pick, weighted_table
from .pools import encoded, value_pools
from .wire import (
    ID_MARK,
    PORTAL_SLOT_B,
    TIME_MARK,
    Meta,
    Recyclable,
    RenderedBlock,
    WebhookEvent,
)

_KIND_TABLE_BITS: Final = 16
_BLOCK: Final = 1024  # random draws per refill
#: Records per object type and portal at most (the draw's OBJECT field).
MAX_OBJECTS: Final = 4096


@dataclass(frozen=True, slots=True)
class EventConfig:
    """
    What to generate. ``types`` takes names, families and globs (``deal.*``).

    ``distinct`` caps how many different events are rendered: after that many,
    the source re-sends its first blocks with fresh eventIds and occurredAt, so
    a long load test costs two bytes.replace per batch (:meth:`EventSource.render`).

    In ``generic`` format, CRM types are sent as ``object.*`` with an
    ``objectTypeId``; types HubSpot only offers classically (``conversation.*``,
    ``contact.privacyDeletion``) stay classic, as a real app would subscribe them.
    """

    types: tuple[str, ...] = catalog.DEFAULT_TYPES
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
    #: Records of each object type per portal that events are about.
    objects: int = 1000
    #: occurredAt of the first ``spread_events`` events rises evenly over the
    #: ``spread_ms`` before ``start_ms``, so a portal's day unfolds over
    #: minutes, not in a second; paced runs (set_time) follow the clock instead.
    spread_ms: int = 0
    spread_events: int = 0

    def __post_init__(self) -> None:
        if self.portals < 1 or self.portals > 1024:
            raise UsageError("--portals must be between 1 and 1024")
        if self.format not in ("classic", "generic"):
            raise UsageError(f"--format must be classic or generic, not {self.format}")
        if self.distinct is not None and self.distinct < 1:
            raise UsageError("--distinct must be at least 1")
        if not 1 <= self.objects <= MAX_OBJECTS:
            raise UsageError(f"--objects must be between 1 and {MAX_OBJECTS}")


class EventSource(EmitterMixin):
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
        self._values = {k: encoded(v, config.escape_unicode) for k, v in plain.items()}
        # HubSpot's ids are 9-10 digits and stay below 2**32 (§7); this start
        # leaves room for over a billion events.
        self._event_ids = itertools.count(rng.randrange(500_000_000, 3_000_000_000))
        self._position = 0  # events rendered so far
        self._blocks = 0
        # Per portal: events that wait for a later block of that portal (a
        # compound change's surplus, a deferred privacy companion).
        self._waiting: dict[int, list[tuple[int, bytes, tuple[Any, ...], Meta]]] = {}
        self._taken: list[WebhookEvent] = []
        self._recycled: list[Recyclable] = []
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
        self._occurred_base = config.start_ms
        self._spread = config.spread_ms > 0 and config.spread_events > 0
        self._object_ids: dict[str, list[int]] = {}
        self._recent: dict[str, list[int]] = {}
        self._deleted: dict[str, list[int]] = {}
        self._next_new_id = rng.randrange(100_000_000_000, 400_000_000_000)
        self._subscription_ids: dict[tuple[str, str, str], int] = {}
        subscribed = kinds(config)
        # What the app subscribes to decides companions (a GDPR delete's
        # deletion), even for types the mix gives no weight of their own.
        selected = {(k.subscription_type, k.object_type_id) for k in subscribed}
        self.kinds = (
            reweighted(subscribed, config.weights) if config.weights else subscribed
        )
        emitters = [self._emitter(k, selected) for k in self.kinds]
        table = weighted_table([k.weight for k in self.kinds], 1 << _KIND_TABLE_BITS)
        self._emitter_table = [emitters[i] for i in table]

    # -- public -------------------------------------------------------------
    def render(self, count: int, portal: int | None = None) -> RenderedBlock:
        """
        The next ``count`` events (1-100) for one portal, rendered: ``portal``,
        or one picked at random.

        With ``distinct`` set, blocks past that many events are earlier blocks
        re-stamped: same payloads, fresh eventIds and occurredAt.
        """
        if not 1 <= count <= catalog.MAX_BATCH_SIZE:
            raise UsageError(f"a block holds 1 to {catalog.MAX_BATCH_SIZE} events")
        limit = self.config.distinct
        if portal is not None:
            return self._render_fresh(count, portal)
        if limit is not None and self._position >= limit and self._recycled:
            entry = self._recycled[self._recycle_at % len(self._recycled)]
            # A pooled block may be a little short (a companion moved on); any
            # that fits is a valid batch. A run's last, smaller block is fresh.
            if len(entry.millis) <= count:
                self._recycle_at += 1
                return self._restamp(entry)
        block = self._render_fresh(count)
        if limit is not None and self._position - len(block) < limit:
            self._recycled.append(Recyclable.of(block))
        return block

    def set_time(self, now_ms: int) -> None:
        """
        Events rendered from now on occurred 0.3-1.5 s before ``now_ms`` (§7):
        paced runs call this so event age means what HubSpot users feel.
        """
        self._spread = False
        self._move_to(now_ms, 10)

    def _move_to(self, now_ms: int, threshold_ms: int) -> None:
        if abs(now_ms - self._base_ms) >= threshold_ms:
            # The emitters' times follow when a fresh block is next rendered:
            # a recycled one (an open model's every batch) does not need them.
            self._base_ms = now_ms

    def prepare(self, batch_size: int = catalog.MAX_BATCH_SIZE) -> None:
        """
        With ``distinct`` set, render the distinct pool now, before any sending,
        so a load test runs at full speed from its first request.
        """
        limit = self.config.distinct
        while limit is not None and self._position < limit:
            self.render(min(batch_size, limit - self._position))

    def _restamp(self, entry: Recyclable) -> RenderedBlock:
        """
        A recycled block with fresh eventIds and occurredAt, in two
        bytes.replace: the block takes ids k*100 to k*100+99, and its events
        occurred in the second before the last whole second before now (1 ms
        to 2 s earlier), each at its own millisecond.
        """
        n = len(entry.millis)
        self._position += n
        block = -(-next(self._event_ids) // 100)
        self._event_ids = itertools.count(block * 100 + 100)
        # At least 1: a prefix "0" or "-1" before the three digits is no
        # number (only toy clocks near the epoch get here).
        second = max(1, self._base_ms // 1000 - 1)
        base = second * 1000
        body = entry.template.replace(ID_MARK, b"%d" % block).replace(
            TIME_MARK, b"%d" % second
        )
        return RenderedBlock(
            entry.portal_id,
            body,
            tuple(range(block * 100, block * 100 + n)),
            tuple([base + ms for ms in entry.millis]),
            entry.meta,
            families=entry.families,
        )

    def _render_fresh(self, count: int, portal: int | None = None) -> RenderedBlock:
        if self._spread:
            config = self.config
            done = min(self._position, config.spread_events)
            # Moved in steps of at least a second: a long run re-bases rarely.
            self._move_to(
                config.start_ms
                - config.spread_ms
                + config.spread_ms * done // config.spread_events,
                1000,
            )
        if self._occurred_base != self._base_ms:
            self._occurred_base = base = self._base_ms
            self._occurred[:] = [base - lag for lag in self._lags]
        bits = self._bits
        drawn = self.portal_ids[bits(16) % len(self.portal_ids)]
        portal = drawn if portal is None else portal
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
        body = body.replace(PORTAL_SLOT_B, str(portal).encode())
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
        Move events marked :data:`~simulator.emitters.LATER_MARK` to one of
        this portal's next blocks.
        """
        marked = [i for i, a in enumerate(args) if len(a) == 4 and a[3] is LATER_MARK]
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
            source = weighted_pick(catalog.CHANGE_SOURCE_MIX, i / 1024)
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

    def _ids_for(self, type_id: str) -> list[int]:
        """
        The portal's population of one object type (thread ids for "thread"):
        ``objects`` records that exist before the run; creations replace them
        one by one, so the population stays bounded.
        """
        ids = self._object_ids.get(type_id)
        if ids is None:
            rng = self._rng
            n = self.config.objects
            if type_id == "thread":
                ids = [rng.randrange(10**9, 10**10) for _ in range(n)]
            else:
                # Records created since ~2021 have 10-12 digit ids; older ones 7-9.
                ids = [
                    rng.randrange(10**7, 10**9)
                    if rng.random() < 0.15
                    else rng.randrange(10**9, 10**12)
                    for _ in range(n)
                ]
            self._object_ids[type_id] = ids
        return ids

    def _recent_for(self, type_id: str) -> list[int]:
        """The 16 newest records of a type (at first, the population's first)."""
        recent = self._recent.get(type_id)
        if recent is None:
            recent = self._recent[type_id] = self._ids_for(type_id)[:16] * (
                16 // min(16, self.config.objects) + 1
            )
            del recent[16:]
        return recent

    def _deleted_for(self, type_id: str) -> list[int]:
        """16 recently deleted records of a type, that a restore brings back."""
        gone = self._deleted.get(type_id)
        if gone is None:
            rng = self._rng
            gone = self._deleted[type_id] = [
                rng.randrange(10**9, 10**12) for _ in range(16)
            ]
        return gone

    def _replacement(self, object_id: int) -> int:
        """A record that takes a retired one's place in the population."""
        # Derived, not drawn, so the random stream is the same with or without
        # deletions; the multiplier keeps replacements 10-12 digits and distinct.
        return 10**9 + (object_id * 2_654_435_761 + 97) % (9 * 10**11)

    def _subscription_id(self, stype: str, type_id: str, prop: str = "") -> int:
        key = (stype, type_id, prop)
        sid = self._subscription_ids.get(key)
        if sid is None:
            sid = self._rng.randrange(100, 9_999_999)
            self._subscription_ids[key] = sid
        return sid


def _draws(bits: Callable[[int], int], width: int, n: int) -> memoryview:
    """
    ``n`` unsigned random integers of ``width`` bits (16 or 64) from one call.
    """
    size = width // 8
    raw = bits(width * n).to_bytes(size * n, "little")
    return memoryview(raw).cast("H" if width == 16 else "Q")
