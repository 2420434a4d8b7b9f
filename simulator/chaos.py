"""
HubSpot's delivery chaos as knobs: what at-least-once, unordered delivery
does to a stream of events, applied between the event source and batching.

Each knob models a statement of HubSpot's (spec §1, §2):

========== ==================================================================
duplicates "Duplicates possible; eventId not guaranteed to be unique": an
           event already sent comes again, byte for byte, a few requests later
reorder    "Ordering not guaranteed; use occurredAt": an event is held back
           and sent up to ``window`` requests later
split      events of one record "arrive in different batches and in any
           order": a request is cut short and the rest opens the next one
burst      a bulk import or workflow touches many records at once: every
           event of a request shares one occurredAt, so only eventId orders
           them
skew       occurredAt is when the change happened, not when it is sent: an
           event's occurredAt is moved up to ``skew`` seconds earlier
========== ==================================================================

:class:`ChaosSource` wraps a source and keeps its interface, so pacing,
batching, signing and delivery are unchanged. Seeded by the run's seed.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, fields
from typing import Final, Protocol

from .errors import UsageError
from .wire import EVENT_BOUNDARY, Meta, RenderedBlock

#: One event of a rendered block: (its bytes, eventId, occurredAt, meta).
Piece = tuple[bytes, int, int, Meta]
_BOUNDARY: Final = EVENT_BOUNDARY.encode()
_SALT: Final = 0x5EED_C4A0


@dataclass(frozen=True, slots=True)
class Chaos:
    """The knobs, all off by default. Shares are 0-1; skew is in seconds."""

    duplicates: float = 0.0
    reorder: float = 0.0
    split: float = 0.0
    burst: float = 0.0
    skew: float = 0.0
    #: How many later requests (of the same portal) a held-back or duplicated
    #: event may wait.
    window: int = 10

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self) if f.name != "window")

    @classmethod
    def parse(cls, text: str) -> Chaos:
        """``duplicates=0.05,reorder=0.3``: UsageError naming --chaos otherwise."""
        values: dict[str, float] = {}
        names = [f.name for f in fields(cls)]
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, eq, raw = part.partition("=")
            name = name.strip()
            if name not in names:
                raise UsageError(
                    f"--chaos: unknown knob {name!r}; use {', '.join(names)}"
                )
            if not eq:
                raise UsageError(f"--chaos: {name} needs a value, e.g. {name}=0.1")
            try:
                value = float(raw)
            except ValueError:
                raise UsageError(f"--chaos: {name}={raw} is not a number") from None
            low, high = _RANGES[name]
            if not low <= value <= high:
                raise UsageError(f"--chaos: {name} must be {low:g} to {high:g}")
            values[name] = value
        window = values.pop("window", 10)
        if window != int(window):
            raise UsageError("--chaos: window must be a whole number of requests")
        return cls(**values, window=int(window))

    def text(self) -> str:
        return ",".join(
            f"{f.name}={getattr(self, f.name):g}"
            for f in fields(self)
            if getattr(self, f.name) and (f.name != "window" or self.active)
        )


_RANGES: Final = {
    "duplicates": (0.0, 1.0),
    # At 1 nothing new would ever be sent: some events must go straight out.
    "reorder": (0.0, 0.9),
    "split": (0.0, 1.0),
    "burst": (0.0, 1.0),
    "skew": (0.0, 86_400.0),
    "window": (1.0, 1000.0),
}


def check(text: str) -> str | None:
    """The setting's validator: None when ``text`` parses."""
    try:
        Chaos.parse(text)
    except UsageError as exc:
        return str(exc).removeprefix("--chaos: ")
    return None


class _Source(Protocol):
    @property
    def app_id(self) -> int: ...
    @property
    def portal_ids(self) -> tuple[int, ...]: ...
    def render(self, count: int, portal: int | None = None) -> RenderedBlock: ...
    def set_time(self, now_ms: int) -> None: ...
    def prepare(self, batch_size: int = 100) -> None: ...


class ChaosSource:
    """
    A source whose blocks come out the way HubSpot's deliveries do. ``counts``
    says how many events each knob touched; ``held`` how many held-back events
    were still waiting when the run ended (generated, never sent).
    """

    def __init__(self, inner: _Source, chaos: Chaos, seed: int | None) -> None:
        self._inner = inner
        self.chaos = chaos
        self._rng = random.Random(None if seed is None else seed ^ _SALT)
        self._number = 0  # requests rendered so far
        #: Per portal: (release at request number, piece, is a duplicate copy).
        self._waiting: dict[int, list[tuple[int, Piece, bool]]] = {}
        self.counts: Counter[str] = Counter()

    @property
    def app_id(self) -> int:
        return self._inner.app_id

    @property
    def portal_ids(self) -> tuple[int, ...]:
        return self._inner.portal_ids

    def set_time(self, now_ms: int) -> None:
        self._inner.set_time(now_ms)

    def prepare(self, batch_size: int = 100) -> None:
        self._inner.prepare(batch_size)

    @property
    def held(self) -> int:
        """Held-back events still waiting (generated, not sent yet)."""
        return sum(1 for w in self._waiting.values() for _, _, dup in w if not dup)

    def render(self, count: int) -> RenderedBlock:
        """
        ``count`` events for one portal: those due first, then new ones, each
        new one duplicated, held back or moved as the knobs say. Always exactly
        ``count``, so runs and phases send the number of events they say.
        """
        chaos, rng = self.chaos, self._rng
        number = self._number
        self._number = number + 1
        # Due events go first, and only the room they leave is rendered anew:
        # so what waits stays bounded (about window x count x the shares).
        overdue = {
            portal: sum(1 for w in waiting if w[0] <= number)
            for portal, waiting in self._waiting.items()
        }
        portal = max(overdue, key=overdue.__getitem__, default=None)
        out: list[Piece] = []
        if portal is not None and overdue[portal]:
            waiting = self._waiting[portal]
            due = [w for w in waiting if w[0] <= number][:count]
            taken = {id(w) for w in due}
            waiting[:] = [w for w in waiting if id(w) not in taken]
            out = [piece for _, piece, _ in due]
        else:
            portal = None
        moved: list[Piece] = []
        while len(out) < count:
            block = self._inner.render(count - len(out), portal)
            portal = block.portal_id
            waiting = self._waiting.setdefault(portal, [])
            for piece in pieces(block):
                if chaos.skew and rng.random() < 0.5:
                    piece = _moved(piece, -int(rng.random() * chaos.skew * 1000))
                    self.counts["skewed"] += 1
                if chaos.duplicates and rng.random() < chaos.duplicates:
                    later = number + rng.randint(1, chaos.window)
                    waiting.append((later, piece, True))
                    self.counts["duplicates"] += 1
                if chaos.reorder and rng.random() < chaos.reorder:
                    later = number + rng.randint(1, chaos.window)
                    waiting.append((later, piece, False))
                    self.counts["reordered"] += 1
                else:
                    out.append(piece)
            if (
                chaos.split
                and len(out) > 1
                and not moved
                and rng.random() < chaos.split
            ):
                # The tail of this request opens the next one; new events
                # take its place, so one record's events straddle requests.
                cut = rng.randint(1, len(out) - 1)
                moved = out[cut:]
                del out[cut:]
                waiting[:0] = [(number + 1, p, False) for p in moved]
                self.counts["split"] += len(moved)
        assert portal is not None
        if len(out) > 1 and overdue.get(portal):
            rng.shuffle(out)
        if chaos.burst and len(out) > 1 and rng.random() < chaos.burst:
            at = out[0][2]
            out = [_moved(p, at - p[2]) for p in out]
            self.counts["burst"] += 1
        return RenderedBlock(
            portal,
            b",".join(p[0] for p in out),
            tuple(p[1] for p in out),
            tuple(p[2] for p in out),
            tuple(p[3] for p in out),
        )


def pieces(block: RenderedBlock) -> list[Piece]:
    """A rendered block's events, each as its own bytes."""
    chunks = block.body.split(_BOUNDARY)
    raw = [chunks[0]] + [b'{"eventId":' + c for c in chunks[1:]]
    return list(zip(raw, block.event_ids, block.occurred_at, block.meta, strict=True))


def _moved(piece: Piece, delta_ms: int) -> Piece:
    body, event_id, at, meta = piece
    if not delta_ms:
        return piece
    new = at + delta_ms
    body = body.replace(b'"occurredAt":%d,' % at, b'"occurredAt":%d,' % new, 1)
    return (body, event_id, new, meta)
