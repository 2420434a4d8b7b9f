"""
Batch streams: where a run's batches come from, in the order and at the
moments they are due. Every stream renders lazily from the run's source and
counts each batch into the ledger as it is issued, so the ledger always knows
what was generated.

- :class:`CountedStream`: as fast as slots free up (closed model), a plain
  iterator;
- :class:`PacedStream`: a scenario's phases, released on schedule into a
  queue (an open model with a backlog);
- :class:`OpenStream`: full batches at a fixed rate (bench's open model).

Each satisfies :class:`BatchStream`; the run needs nothing else of them.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Protocol

from .batching import Batch
from .clock import Clock
from .ledger import Ledger
from .pacing import Phase, Planned, phase_duration, plan
from .wire import RenderedBlock

#: A batch due this soon goes now. Event loop timers have millisecond
#: resolution (libuv rounds down), so a shorter sleep returns at once and the
#: wait becomes a busy loop that takes the CPU from the requests in flight.
EARLY_S = 0.001

#: Awaited when a scenario phase begins: (index, phase).
PhaseHook = Callable[[int, Phase], Awaitable[None]]


class Source(Protocol):
    """What a stream renders from: an event, workflow or execution source."""

    @property
    def app_id(self) -> int: ...

    def render(self, count: int) -> RenderedBlock:
        """The next block of up to ``count`` items for one portal."""
        ...

    def set_time(self, now_ms: int) -> None:
        """Items rendered from now on occurred just before ``now_ms``."""
        ...


class RunState(Protocol):
    """What a stream needs of the run it feeds."""

    clock: Clock
    ledger: Ledger
    current_phase: int

    @property
    def source(self) -> Source: ...
    @property
    def on_phase(self) -> PhaseHook | None: ...
    @property
    def stopped(self) -> bool: ...


class BatchStream(Protocol):
    """What a run needs of a stream."""

    @property
    def backlog_events(self) -> int:
        """Events due to be sent that no slot has taken yet."""
        ...

    def batches(self) -> Iterator[Batch] | AsyncIterator[Batch]:
        """The batches, for the delivery engine."""
        ...

    def dropped(self, until: float) -> int:
        """Due batches never started before monotonic ``until`` (schedules)."""
        ...

    def close(self) -> None:
        """Stop releasing batches (the run is over)."""
        ...


def issue(
    seq: int,
    app_id: int,
    block: RenderedBlock,
    ledger: Ledger,
    due: float | None = None,
) -> Batch:
    """A rendered block as batch ``seq``, counted into the ledger as generated."""
    batch = Batch.from_block(seq, app_id, block, due)
    ledger.generated_batch(batch)
    return batch


def issue_scheduled(
    run: RunState, seq: int, events: int, at: float, due: bool
) -> Batch:
    """
    ``events`` events that occurred at epoch ``at`` as batch ``seq``; with
    ``due``, the batch was scheduled for ``at`` (latency counts from it).
    """
    run.source.set_time(int(at * 1000))
    block = run.source.render(events)
    return issue(seq, run.source.app_id, block, run.ledger, at if due else None)


class CountedStream:
    """
    ``total`` events as fast as slots take them, in batches of ``batch_size``;
    at most ``max_batches`` requests when given (bench --requests). A recycled
    block may hold fewer events than asked for, so events alone would not
    bound requests.
    """

    def __init__(
        self,
        source: Source,
        batch_size: int,
        total: int,
        ledger: Ledger,
        max_batches: int | None = None,
        timed: bool = False,
    ) -> None:
        self._source = source
        self._batch_size = batch_size
        self._remaining = total
        self._ledger = ledger
        self._seq = 0
        self._max = max_batches
        #: Bounded by time, not count: nothing is due, so nothing waits.
        self._timed = timed

    @property
    def backlog_events(self) -> int:
        """Events not sent yet: all of them wait for a free slot."""
        return 0 if self._timed else self._remaining

    def batches(self) -> Iterator[Batch]:
        """Itself: a plain iterator, pulled inline by whichever slot is free."""
        return self

    def dropped(self, until: float) -> int:
        """Nothing is scheduled, so nothing is dropped."""
        return 0

    def close(self) -> None:
        """Nothing to release."""

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        if self._remaining <= 0 or self._seq == self._max:
            raise StopIteration
        block = self._source.render(min(self._batch_size, self._remaining))
        self._remaining -= len(block)
        self._seq += 1
        return issue(self._seq, self._source.app_id, block, self._ledger)


class PacedStream:
    """
    Batches on a scenario's plan, as an open model: a scheduler releases each
    planned batch at its moment into a queue whether or not a slot is free, and
    workers take them from it. What waits in the queue is the backlog; a paced
    batch carries its moment (``Batch.due``) and its events occurred then, so
    latency and event age count the wait (no coordinated omission).
    """

    def __init__(
        self,
        run: RunState,
        phases: Sequence[Phase],
        batch_size: int,
    ) -> None:
        self._run = run
        self._phases = phases
        self._plan = plan(phases, batch_size)
        #: (planned batch, its moment in epoch seconds, paced?)
        self._queue: deque[tuple[Planned, float, bool]] = deque()
        self._queued_events = 0
        self._ready = asyncio.Event()
        self._drained = asyncio.Event()
        self._done = False
        self._scheduler: asyncio.Task[None] | None = None
        self._seq = 0

    @property
    def backlog_events(self) -> int:
        """Events released by the schedule that no slot has taken yet."""
        return self._queued_events

    def dropped(self, until: float) -> int:
        """A scenario's schedule never drops: late batches wait in the queue."""
        return 0

    def close(self) -> None:
        """Stop releasing batches (the run is over)."""
        if self._scheduler is not None:
            self._scheduler.cancel()

    async def _schedule(self) -> None:
        run, clock = self._run, self._run.clock
        phase, announced = -1, -1
        base, next_base = clock.monotonic(), None
        try:
            for item in self._plan:
                if item.phase != phase:
                    # A paced phase starts when the one before was planned to
                    # end, even if delivery is behind (it then catches up); after
                    # an unpaced phase, when its last batch was taken.
                    while next_base is None and self._queue and not run.stopped:
                        self._drained.clear()
                        await self._drained.wait()
                    base = next_base if next_base is not None else clock.monotonic()
                    phase = item.phase
                    length = phase_duration(self._phases[phase])
                    next_base = None if length is None else base + length
                due = base + (item.at or 0.0)
                while not run.stopped and (wait := due - clock.monotonic()) > EARLY_S:
                    await clock.sleep(min(wait, 0.25))
                if run.stopped:
                    break
                if phase > announced:
                    # When the phase's first batch is due, not when planned:
                    # e.g. the built-in receiver goes down for an outage now.
                    announced = run.current_phase = phase
                    if run.on_phase is not None:
                        await run.on_phase(phase, self._phases[phase])
                wall_due = clock.time() - (clock.monotonic() - due)
                self._queue.append((item, wall_due, item.at is not None))
                self._queued_events += item.events
                self._ready.set()
        finally:
            self._done = True
            self._ready.set()

    def batches(self) -> AsyncIterator[Batch]:
        """Itself, an async iterator (the engine pulls it from one feeder)."""
        return self

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self

    async def __anext__(self) -> Batch:
        run = self._run
        if self._scheduler is None:
            self._scheduler = asyncio.ensure_future(self._schedule())
        while not self._queue:
            if self._done or run.stopped:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        item, due, paced = self._queue.popleft()
        self._queued_events -= item.events
        if not self._queue:
            self._drained.set()
        self._seq += 1
        return issue_scheduled(run, self._seq, item.events, due, paced)


class OpenStream:
    """
    Full batches at a fixed rate, the open model: batch i is due at
    start + i / rate. A slot takes the next due batch; when every slot is busy
    at that moment the send starts late, and latency is also measured from the
    due moment (``Batch.due``), as wrk2 does. Due batches a bounded run never
    started are counted as dropped, never silently skipped.
    """

    def __init__(
        self,
        run: RunState,
        rate: float,
        batch_size: int,
        total: int,
        max_batches: int | None = None,
    ) -> None:
        self._run = run
        self._interval = 1.0 / rate
        self._size = batch_size
        self._remaining = total
        self._start: float | None = None
        self._next = 0
        self._seq = 0
        self.max_batches = max_batches
        #: Monotonic end of the run, once it is known: nothing due later is issued.
        self._until: float | None = None

    @property
    def backlog_events(self) -> int:
        """Events of batches already due that no slot has taken yet."""
        if self._start is None:
            return 0
        due = int((self._run.clock.monotonic() - self._start) / self._interval) + 1
        return max(0, min(due - self._next, self._remaining // self._size)) * self._size

    def dropped(self, until: float) -> int:
        """Batches due before monotonic ``until`` that were never started."""
        if self._start is None:
            return 0
        # Batch i is due at start + i * interval: those with a moment strictly
        # before ``until`` (one due at the deadline itself was never owed).
        due = math.ceil((until - self._start) / self._interval - 1e-9)
        if self.max_batches is not None:
            due = min(due, self.max_batches)
        return max(0, min(due - self._next, -(-self._remaining // self._size)))

    def start_at(self, start: float) -> None:
        """
        Batch 0 is due at monotonic ``start`` (the run's start), not when the
        feeder first pulls, a moment later: then ``--rate R --duration D``
        owes exactly R·D batches.
        """
        if self._start is None:
            self._start = start

    def end_at(self, until: float) -> None:
        """Issue nothing due at or after monotonic ``until`` (the run's end)."""
        self._until = until

    def next_owed(self, until: float) -> float | None:
        """
        When the next batch not yet issued was due, if that was before
        monotonic ``until`` (and the run still owes it); None otherwise.
        """
        if self.dropped(until) == 0 or self._start is None:
            return None
        return self._start + self._next * self._interval

    def close(self) -> None:
        """Nothing to release."""

    def batches(self) -> AsyncIterator[Batch]:
        """Itself, an async iterator (the engine pulls it from one feeder)."""
        return self

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self

    async def __anext__(self) -> Batch:
        # Pulled by the engine's one feeder task (an async iterator cannot be
        # advanced by two at once), which hands each batch to a free slot: a
        # moment that finds every slot busy is simply taken late.
        run, clock = self._run, self._run.clock
        if self._remaining <= 0 or run.stopped or self._next == self.max_batches:
            raise StopAsyncIteration
        if self._start is None:
            self._start = clock.monotonic()
        due = self._start + self._next * self._interval
        if self._until is not None and due >= self._until:
            raise StopAsyncIteration  # not owed: no need to wait for it
        while not run.stopped and (wait := due - clock.monotonic()) > EARLY_S:
            await clock.sleep(min(wait, 0.05))
        if run.stopped:
            raise StopAsyncIteration
        self._next += 1
        n = min(self._size, self._remaining)
        self._remaining -= n
        self._seq += 1
        wall_due = clock.time() - (clock.monotonic() - due)
        return issue_scheduled(run, self._seq, n, wall_due, True)
