"""
The delivery engine: POSTs batches with at most ``max_in_flight`` requests in
flight, retries failures on the profile's schedule, and reports every attempt.

Like vegeta's attacker it turns wire outcomes into data (:class:`Attempt`),
never exceptions. Retries wait in a heap and never block new batches; they
share the same in-flight limit, as HubSpot's ``maxConcurrentRequests`` does.
It does not generate, count or render anything.
"""

from __future__ import annotations

import asyncio
import heapq
import random
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

import aiohttp
from yarl import URL

from . import transport
from .batching import Batch
from .clock import Clock, SystemClock
from .errors import UsageError
from .retry import RetryPolicy
from .signing import ClientSecret
from .target import Target, with_query
from .transport import classify

__all__ = [
    "DEFAULT_MAX_IN_FLIGHT",
    "Attempt",
    "DeliveryEngine",
    "DeliveryOptions",
    "HeaderSource",
    "classify",
]

#: HubSpot's default ``maxConcurrentRequests`` (spec §1.1).
DEFAULT_MAX_IN_FLIGHT: Final = 10
#: HubSpot rejects ``maxConcurrentRequests`` of five or less (§1.1, §10 Q4).
MIN_HUBSPOT_IN_FLIGHT: Final = 6
DEFAULT_TIMEOUT_S: Final = 5.0


@dataclass(frozen=True, slots=True)
class DeliveryOptions:
    """
    How the engine delivers: concurrency, timeouts, retries and time compression.

    ``time_scale`` divides every retry delay and ``Retry-After`` (not timeouts), so
    ``time_scale=1440`` runs HubSpot's 24-hour schedule in a minute.
    """

    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    timeout_s: float = DEFAULT_TIMEOUT_S
    connect_timeout_s: float | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    time_scale: float = 1.0
    seed: int | None = None
    #: Keep each answer's body in its Attempt (custom actions read their
    #: outputFields from it); webhook runs drop it unread.
    keep_response: bool = False

    def __post_init__(self) -> None:
        if self.max_in_flight < 1:
            raise UsageError("--max-concurrent must be at least 1")
        if self.timeout_s <= 0:
            raise UsageError("--timeout must be more than 0 seconds")
        if self.connect_timeout_s is not None and self.connect_timeout_s <= 0:
            raise UsageError("--connect-timeout must be more than 0 seconds")
        if self.time_scale <= 0:
            raise UsageError("--time-scale must be more than 0")


# Not frozen (3x cheaper to build, once per request); never mutated.
@dataclass(slots=True)
class Attempt:
    """
    One HTTP request for one batch: what was sent and what came back.

    ``error`` names a wire failure (``timeout``, ``connect_error``, ``reset``,
    ``dns_error``, ``tls_error``, ``client_error``); ``status`` is None then.
    ``final`` is True when the batch will not be sent again after this attempt.
    """

    batch: Batch
    attempt_number: int
    started_at: float
    latency_s: float
    status: int | None
    error: str | None
    bytes_out: int
    final: bool
    #: The answer's body, when the engine keeps them (keep_response).
    response: bytes = b""

    @property
    def ok(self) -> bool:
        """
        True for a 2xx answer: HubSpot counts any 2xx as delivered.
        """
        return self.status is not None and 200 <= self.status < 300

    @property
    def outcome(self) -> str:
        """
        A short label for tables: ``200``, ``503``, ``timeout`` …
        """
        if self.error is not None or self.status is None:
            return self.error or "no_answer"
        return _STATUS_LABELS.get(self.status) or str(self.status)


_STATUS_LABELS: Final = {code: str(code) for code in range(100, 600)}


AttemptCallback = Callable[[Attempt], None]
#: Told of every request just before it is sent (url, batch, attempt, body,
#: headers), e.g. to record it.
RequestHook = Callable[[str, Batch, int, bytes, Mapping[str, str]], None]


class HeaderSource(Protocol):
    """
    What the engine needs to sign: a :class:`~simulator.signing.Signer`, or the
    recorded headers of a replay.
    """

    def headers(
        self, body: bytes, timestamp_ms: int, query: str = ""
    ) -> dict[str, str]:
        """Every header of one attempt (``query``: what it adds to the URL)."""
        ...


class DeliveryEngine:
    """
    Delivers batches from an iterator to one URL.

    >>> engine = DeliveryEngine("http://127.0.0.1:8080/hook", signer)   # doctest: +SKIP
    >>> await engine.run(iter(batches), on_attempt=stats.add)           # doctest: +SKIP

    Batches are pulled lazily, so generation never runs ahead of delivery. A
    plain iterator is pulled by whichever slot is free; an asynchronous one (a
    paced schedule, a replay) by one feeder task only, since an async
    generator cannot be advanced by two slots at once. Due retries come
    before new batches. ``stop()`` ends the run after in-flight requests
    finish; what was not delivered or given up is then in :attr:`unfinished`.
    """

    def __init__(
        self,
        url: str | Target,
        signer: HeaderSource,
        options: DeliveryOptions = DeliveryOptions(),
        clock: Clock | None = None,
        on_request: RequestHook | None = None,
        method: str = "POST",
        hidden_query: ClientSecret | None = None,
    ) -> None:
        self.target = url if isinstance(url, Target) else Target.parse(url)
        self._method = method.upper()
        self.url = self.target.url
        self._wire = self.target.wire
        # An API key in the query (a workflow webhook's "API key" auth): on the
        # wire only, never in the URL hooks, records and reports see.
        self._hidden_query = hidden_query
        if hidden_query is not None:
            self._wire = URL(with_query(self.url, hidden_query.reveal()), encoded=True)
        self.signer = signer
        self.options = options
        self.clock: Clock = clock or SystemClock()
        self.on_request = on_request
        self._rng = random.Random(options.seed)
        #: (due, tie, attempt number, batch): retries waiting for their moment.
        self._retries: list[tuple[float, int, int, Batch]] = []
        #: Work a slot may take now: due retries, then fed batches.
        self._due: deque[tuple[Batch, int]] = deque()
        self._fed: deque[Batch] = deque()
        self._source: Iterator[Batch] | None = None
        self._feeding = False
        self._in_flight = 0
        self._peak_in_flight = 0
        self._stopping = False
        #: Idle slots, each waiting to be handed work (woken one at a time).
        self._idle: deque[asyncio.Future[None]] = deque()
        self._space = asyncio.Event()
        self._timer_wake = asyncio.Event()
        self._tie = 0
        self.unfinished: list[tuple[Batch, int]] = []

    # -- live figures, for dashboards ---------------------------------------
    @property
    def in_flight(self) -> int:
        """Requests on the wire now."""
        return self._in_flight

    def take_peak_in_flight(self) -> int:
        """
        The most requests in flight since the last call (samples miss the
        short peaks of a fast receiver; this does not).
        """
        peak, self._peak_in_flight = self._peak_in_flight, self._in_flight
        return peak

    @property
    def waiting_retries(self) -> int:
        """Batches waiting for their next attempt."""
        return len(self._retries) + len(self._due)

    @property
    def due_retry_events(self) -> int:
        """Events in retries that are due and wait for a free slot."""
        now = self.clock.monotonic()
        waiting = sum(len(b) for due, _, _, b in self._retries if due <= now)
        return waiting + sum(len(b) for b, _ in self._due)

    @property
    def fed_events(self) -> int:
        """Events of batches already pulled from an async source, not yet sent."""
        return sum(len(b) for b in self._fed)

    @property
    def next_retry_in(self) -> float | None:
        """Seconds until the earliest waiting retry is due, if any."""
        if self._due:
            return 0.0
        if not self._retries:
            return None
        return max(0.0, self._retries[0][0] - self.clock.monotonic())

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stopping

    def stop(self) -> None:
        """
        Take no new work; finish what is in flight; leave the rest unfinished.
        """
        self._stopping = True
        self._wake_all()
        self._timer_wake.set()
        self._space.set()

    async def run(
        self,
        batches: Iterator[Batch] | AsyncIterator[Batch],
        on_attempt: AttemptCallback,
    ) -> None:
        """
        Deliver every batch (with retries) or until :meth:`stop`.
        """
        opts = self.options
        helpers: list[asyncio.Task[None]] = [asyncio.ensure_future(self._timer())]
        if isinstance(batches, AsyncIterator):
            self._feeding = True
            helpers.append(asyncio.ensure_future(self._feed(batches)))
        else:
            self._source = batches
        async with transport.session(
            opts.max_in_flight, opts.timeout_s, opts.connect_timeout_s
        ) as session:
            workers = [
                asyncio.ensure_future(self._worker(session, on_attempt))
                for _ in range(opts.max_in_flight)
            ]
            try:
                await asyncio.gather(*workers)
            finally:
                for task in (*workers, *helpers):
                    task.cancel()
                await asyncio.gather(*helpers, return_exceptions=True)
        self.unfinished.extend(self._due)
        self.unfinished.extend((b, 0) for b in self._fed)
        self.unfinished.extend((b, n) for _, _, n, b in sorted(self._retries))
        self._due.clear()
        self._fed.clear()
        self._retries.clear()

    # -- internals ------------------------------------------------------------
    def _wake_one(self) -> None:
        idle = self._idle
        while idle:
            waiter = idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _wake_all(self) -> None:
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.done():
                waiter.set_result(None)

    async def _worker(
        self, session: aiohttp.ClientSession, on_attempt: AttemptCallback
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            job = self._take()
            if job is None:
                if self._finished():
                    self._wake_all()  # let idle peers see that the run is over
                    return
                waiter = loop.create_future()
                self._idle.append(waiter)
                await waiter
                continue
            batch, number = job
            self._in_flight += 1
            if self._in_flight > self._peak_in_flight:
                self._peak_in_flight = self._in_flight
            try:
                attempt, retry_after = await self._send(session, batch, number)
            finally:
                self._in_flight -= 1
            if not attempt.final:
                self._schedule(batch, number + 1, retry_after)
            on_attempt(attempt)
            if self._in_flight == 0 and self._finished():
                self._wake_all()

    def _take(self) -> tuple[Batch, int] | None:
        """Work for a free slot now: a due retry, a fed batch, or the next one."""
        if self._stopping:
            return None
        if self._due:
            return self._due.popleft()
        if self._fed:
            batch = self._fed.popleft()
            self._space.set()
            return batch, 0
        source = self._source
        if source is not None:
            fresh = next(source, None)
            if fresh is not None:
                if self._halted():  # the source itself may have stopped the run
                    self.unfinished.append((fresh, 0))
                    return None
                return fresh, 0
            self._source = None
        return None

    def _halted(self) -> bool:
        """Whether stop() was called; a call, so a check after an await stands."""
        return self._stopping

    def _finished(self) -> bool:
        """Nothing left to send or to wait for (or stopping)."""
        if self._stopping:
            return True
        return (
            self._source is None
            and not self._feeding
            and not self._fed
            and not self._due
            and not self._retries
            and self._in_flight == 0
        )

    async def _feed(self, batches: AsyncIterator[Batch]) -> None:
        """
        Pull an async source, at most a slot's worth per slot ahead, handing
        each batch to a slot. Not just one ahead: when a schedule runs behind,
        every due batch is pulled in one turn of the loop instead of one per
        turn, so the feeder never becomes what limits the rate.
        """
        ahead = max(1, self.options.max_in_flight)
        try:
            while not self._stopping:
                while len(self._fed) >= ahead and not self.stopping:
                    self._space.clear()
                    await self._space.wait()
                if self.stopping:
                    break
                try:
                    batch = await anext(batches)
                except StopAsyncIteration:
                    break
                if self._halted():
                    # Pulled as a stop came in: it counts, as unfinished.
                    self.unfinished.append((batch, 0))
                    break
                self._fed.append(batch)
                self._wake_one()
        finally:
            self._feeding = False
            self._wake_all()

    async def _timer(self) -> None:
        """
        Move retries to the due queue at their moment. The only task that
        sleeps on the clock for retries: with a ManualClock every sleeper would
        advance time.
        """
        clock, retries = self.clock, self._retries
        while not self._stopping:
            now = clock.monotonic()
            while retries and retries[0][0] <= now:
                _, _, number, batch = heapq.heappop(retries)
                self._due.append((batch, number))
                self._wake_one()
            self._timer_wake.clear()
            if not retries:
                await self._timer_wake.wait()
                continue
            sleeper = asyncio.ensure_future(clock.sleep(retries[0][0] - now))
            waker = asyncio.ensure_future(self._timer_wake.wait())
            try:
                await asyncio.wait(
                    {sleeper, waker}, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                sleeper.cancel()
                waker.cancel()

    def _schedule(self, batch: Batch, number: int, retry_after: float | None) -> None:
        policy = self.options.retry
        delay = (
            retry_after
            if retry_after is not None
            else policy.delay_before(number, self._rng)
        )
        due = self.clock.monotonic() + delay / self.options.time_scale
        self._tie += 1
        heapq.heappush(self._retries, (due, self._tie, number, batch))
        if self._retries[0][1] == self._tie:
            self._timer_wake.set()  # earlier than what the timer sleeps for

    async def _send(
        self, session: aiohttp.ClientSession, batch: Batch, number: int
    ) -> tuple[Attempt, float | None]:
        clock = self.clock
        body = batch.body(number)
        started = clock.time()
        # A fresh timestamp and fresh signatures on every attempt: a retry with
        # the first attempt's v3 timestamp would fail the 5-minute check (§4).
        url, wire = self.url, self._wire
        if batch.query:
            headers = self.signer.headers(body, int(started * 1000), batch.query)
            url = with_query(url, batch.query)
            secret = self._hidden_query
            wire = URL(
                with_query(url, secret.reveal()) if secret else url, encoded=True
            )
        else:
            headers = self.signer.headers(body, int(started * 1000))
        if self.on_request is not None:
            self.on_request(url, batch, number, body, headers)
        answer = await transport.send(
            session,
            wire,
            body,
            headers,
            self._method,
            keep_body=self.options.keep_response,
            now=clock.monotonic,
        )
        status = answer.status
        policy = self.options.retry
        final = (
            answer.ok
            or number + 1 >= policy.max_attempts
            or not policy.is_retryable(status, answer.error)
        )
        retry_after = (
            policy.retry_after_s(answer.retry_after) if status == 429 else None
        )
        attempt = Attempt(
            batch, number, started, answer.latency_s, status, answer.error,
            len(body), final, answer.body,
        )  # fmt: skip
        return attempt, retry_after
