"""
Batching: group events into HubSpot-sized requests, one portal per batch.

A :class:`Batch` holds its first attempt's body; a retry's body is that with
``attemptNumber`` replaced, so a retry re-sends exactly the same events and only
``attemptNumber`` changes (spec §10 Q3). Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .catalog import MAX_BATCH_SIZE
from .errors import UsageError
from .wire import FIRST_ATTEMPT, Meta, RenderedBlock, WebhookEvent


# Not frozen (3x cheaper to build, once per batch); never mutated.
@dataclass(slots=True)
class Batch:
    """
    Up to 100 events for one portal: the unit HubSpot POSTs and retries.

    It keeps the body pre-split at the attemptNumber slots plus each event's id,
    occurredAt and type, not event objects: that is all delivery, the ledger
    and stats need, and ``events`` rebuilds the rest on demand.
    """

    seq: int
    app_id: int
    portal_id: int
    first_body: bytes
    event_ids: tuple[int, ...]
    occurred_at: tuple[int, ...]
    meta: tuple[Meta, ...]
    #: Events per subscription family when the source knew them already
    #: (recycled blocks); empty otherwise, and stats count them from meta.
    families: tuple[tuple[str, int], ...] = ()
    #: Epoch seconds the first attempt was scheduled for (paced and open-model
    #: runs); stats measure latency from it too, so a late send is not hidden.
    due: float | None = None
    #: Query parameters this request adds to the target URL (a workflow GET),
    #: percent-encoded; signed and sent as part of the URL.
    query: str = ""

    @classmethod
    def from_block(
        cls, seq: int, app_id: int, block: RenderedBlock, due: float | None = None
    ) -> Batch:
        """
        The batch for a block the event source rendered (the fast path).
        """
        return cls(
            seq,
            app_id,
            block.portal_id,
            b"[" + block.body + b"]" if block.array else block.body,
            block.event_ids,
            block.occurred_at,
            block.meta,
            block.families,
            due,
            block.query,
        )

    @classmethod
    def of(cls, seq: int, app_id: int, events: tuple[WebhookEvent, ...]) -> Batch:
        """
        A batch of given events (all of one portal), rendered once.
        """
        block = RenderedBlock(
            events[0].portal_id,
            ",".join([e.to_json(0) for e in events]).encode(),
            tuple(e.event_id for e in events),
            tuple(e.occurred_at for e in events),
            tuple((e.subscription_type, e.object_type_id) for e in events),
        )
        return cls.from_block(seq, app_id, block)

    def __len__(self) -> int:
        return len(self.event_ids)

    def body(self, attempt_number: int) -> bytes:
        """
        The exact bytes sent on attempt ``attempt_number`` (0 = first try).
        """
        if attempt_number == 0:
            return self.first_body
        # Only the attempt number changes on a retry (§10 Q3); every other byte,
        # eventId and occurredAt included, is the first attempt's.
        return self.first_body.replace(
            FIRST_ATTEMPT, b'"attemptNumber":%d,' % attempt_number
        )

    @property
    def events(self) -> list[WebhookEvent]:
        """
        The events, rebuilt from the body (for inspection and recording).
        """
        body = self.first_body[1:-1]
        block = RenderedBlock(
            self.portal_id, body, self.event_ids, self.occurred_at, self.meta
        )
        return block.events()


class Batcher:
    """
    Collects events per portal and hands out full batches as they fill.

    ``flush()`` returns the partial ones; a run calls it when generation ends or
    stops, so no generated event is left outside a batch.
    """

    def __init__(self, app_id: int, max_size: int = MAX_BATCH_SIZE) -> None:
        if not 1 <= max_size <= MAX_BATCH_SIZE:
            raise UsageError(f"--batch-size must be between 1 and {MAX_BATCH_SIZE}")
        self.app_id = app_id
        self.max_size = max_size
        self._buffers: dict[int, list[WebhookEvent]] = {}
        self._seq = 0

    def add_many(self, events: Iterable[WebhookEvent]) -> list[Batch]:
        """
        Add events; return the batches that became full, in fill order.
        """
        full: list[Batch] = []
        buffers = self._buffers
        size = self.max_size
        for event in events:
            buf = buffers.get(event.portal_id)
            if buf is None:
                buf = buffers[event.portal_id] = []
            buf.append(event)
            if len(buf) == size:
                full.append(self._make(buf))
                buf.clear()
        return full

    def flush(self) -> list[Batch]:
        """
        The partial batches still buffered, emptied.
        """
        out = [self._make(buf) for buf in self._buffers.values() if buf]
        self._buffers.clear()
        return out

    @property
    def buffered(self) -> int:
        """
        Events waiting in partial batches.
        """
        return sum(len(b) for b in self._buffers.values())

    def _make(self, buf: list[WebhookEvent]) -> Batch:
        self._seq += 1
        return Batch.of(self._seq, self.app_id, tuple(buf))


def batches(
    events: Iterable[WebhookEvent], app_id: int, max_size: int = MAX_BATCH_SIZE
) -> Iterator[Batch]:
    """
    All events in batches of at most ``max_size``, one portal per batch.
    """
    batcher = Batcher(app_id, max_size)
    chunk: list[WebhookEvent] = []
    for event in events:
        chunk.append(event)
        if len(chunk) >= 1024:
            yield from batcher.add_many(chunk)
            chunk.clear()
    yield from batcher.add_many(chunk)
    yield from batcher.flush()
