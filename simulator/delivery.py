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
import errno
import heapq
import random
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

import aiohttp

from .batching import Batch
from .clock import Clock, SystemClock
from .errors import UsageError
from .retry import RetryPolicy

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

    def __post_init__(self) -> None:
        if self.max_in_flight < 1:
            raise UsageError("--max-concurrent must be at least 1")
        if self.timeout_s <= 0:
            raise UsageError("--timeout must be more than 0 seconds")
        if self.connect_timeout_s is not None and self.connect_timeout_s <= 0:
            raise UsageError("--connect-timeout must be more than 0 seconds")
        if self.time_scale <= 0:
            raise UsageError("--time-scale must be more than 0")


@dataclass(frozen=True, slots=True)
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


def classify(exc: BaseException) -> str:
    """
    The error kind of an exception raised while sending one request.
    """
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "dns_error"
    if isinstance(
        exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError
    ):
        return "tls_error"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect_error"
    if isinstance(
        exc,
        aiohttp.ServerDisconnectedError
        | aiohttp.ClientConnectionResetError
        | aiohttp.ClientPayloadError,
    ):
        return "reset"
    if isinstance(exc, aiohttp.ClientOSError):
        return (
            "reset" if exc.errno in (errno.ECONNRESET, errno.EPIPE) else "connect_error"
        )
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "reset"
    return "client_error"


AttemptCallback = Callable[[Attempt], None]
#: Told of every request just before it is sent (url, batch, attempt, body,
#: headers), e.g. to record it.
RequestHook = Callable[[str, Batch, int, bytes, Mapping[str, str]], None]


class HeaderSource(Protocol):
    """
    What the engine needs to sign: a :class:`~simulator.signing.Signer`, or the
    recorded headers of a replay.
    """

    def headers(self, body: bytes, timestamp_ms: int) -> dict[str, str]:
        """Every header of one attempt."""
        ...


class DeliveryEngine:
    """
    Delivers batches from an iterator to one URL.

    >>> engine = DeliveryEngine("http://127.0.0.1:8080/hook", signer)   # doctest: +SKIP
    >>> await engine.run(iter(batches), on_attempt=stats.add)           # doctest: +SKIP

    Batches are pulled lazily, so generation never runs ahead of delivery.
    ``stop()`` ends the run after in-flight requests finish; what was not
    delivered or given up is then in :attr:`unfinished`.
    """

    def __init__(
        self,
        url: str,
        signer: HeaderSource,
        options: DeliveryOptions = DeliveryOptions(),
        clock: Clock | None = None,
        on_request: RequestHook | None = None,
    ) -> None:
        self.url = url
        self.signer = signer
        self.options = options
        self.clock: Clock = clock or SystemClock()
        self.on_request = on_request
        self._rng = random.Random(options.seed)
        self._retries: list[tuple[float, int, int, Batch]] = []
        self._source: Iterator[Batch] | AsyncIterator[Batch] | None = None
        self._in_flight = 0
        self._peak_in_flight = 0
        self._stopping = False
        self._wake = asyncio.Event()
        self._timer_owner = False
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
        return len(self._retries)

    @property
    def due_retry_events(self) -> int:
        """Events in retries that are due and wait for a free slot."""
        now = self.clock.monotonic()
        return sum(len(b) for due, _, _, b in self._retries if due <= now)

    @property
    def next_retry_in(self) -> float | None:
        """Seconds until the earliest waiting retry is due, if any."""
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
        self._wake.set()

    async def run(
        self,
        batches: Iterator[Batch] | AsyncIterator[Batch],
        on_attempt: AttemptCallback,
    ) -> None:
        """
        Deliver every batch (with retries) or until :meth:`stop`.
        """
        self._source = batches
        opts = self.options
        timeout = aiohttp.ClientTimeout(
            total=opts.timeout_s,
            sock_connect=opts.connect_timeout_s,
        )
        connector = aiohttp.TCPConnector(limit=opts.max_in_flight, ssl=True)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, auto_decompress=True
        ) as session:
            workers = [
                asyncio.create_task(self._worker(session, on_attempt))
                for _ in range(opts.max_in_flight)
            ]
            try:
                await asyncio.gather(*workers)
            finally:
                for w in workers:
                    w.cancel()
        self.unfinished.extend((b, n) for _, _, n, b in sorted(self._retries))
        self._retries.clear()

    # -- internals ------------------------------------------------------------
    async def _worker(
        self, session: aiohttp.ClientSession, on_attempt: AttemptCallback
    ) -> None:
        while True:
            job = await self._next_job()
            if job is None:
                return
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
            self._wake.set()

    async def _next_job(self) -> tuple[Batch, int] | None:
        clock = self.clock
        while True:
            if self._stopping:
                return None
            now = clock.monotonic()
            retries = self._retries
            if retries and retries[0][0] <= now:
                _, _, number, due_batch = heapq.heappop(retries)
                return due_batch, number
            if self._source is not None:
                fresh = await self._pull(self._source)
                if fresh is not None:
                    if self.stopping:  # may have changed while we awaited
                        # Pulled as a stop came in: it counts, as unfinished.
                        self.unfinished.append((fresh, 0))
                        return None
                    return fresh, 0
                self._source = None
                continue
            if not retries and self._in_flight == 0:
                self._wake.set()  # let idle peers see that the run is over
                return None
            self._wake.clear()
            await self._idle(retries[0][0] - now if retries else None)

    @staticmethod
    async def _pull(source: Iterator[Batch] | AsyncIterator[Batch]) -> Batch | None:
        """The next batch of a plain or async source (a paced one waits)."""
        if isinstance(source, AsyncIterator):
            try:
                return await anext(source)
            except StopAsyncIteration:
                return None
        return next(source, None)

    async def _idle(self, until_due: float | None) -> None:
        # Only one idle worker sleeps on the clock; the rest wait for a wake-up.
        # With a ManualClock every sleeper would advance time, so this matters.
        if until_due is None or self._timer_owner:
            await self._wake.wait()
            return
        self._timer_owner = True
        waiter = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self.clock.sleep(until_due))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()
            self._timer_owner = False
            self._wake.set()

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

    async def _send(
        self, session: aiohttp.ClientSession, batch: Batch, number: int
    ) -> tuple[Attempt, float | None]:
        clock = self.clock
        body = batch.body(number)
        started = clock.time()
        # A fresh timestamp and fresh signatures on every attempt: a retry with
        # the first attempt's v3 timestamp would fail the 5-minute check (§4).
        headers = self.signer.headers(body, int(started * 1000))
        if self.on_request is not None:
            self.on_request(self.url, batch, number, body, headers)
        status: int | None = None
        error: str | None = None
        retry_after_header: str | None = None
        t0 = clock.monotonic()
        try:
            async with session.post(
                self.url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                status = resp.status
                retry_after_header = resp.headers.get("Retry-After")
                await resp.read()  # drain, so the connection can be reused
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            error = classify(exc)
        latency = clock.monotonic() - t0
        ok = status is not None and 200 <= status < 300
        policy = self.options.retry
        final = (
            ok
            or number + 1 >= policy.max_attempts
            or not policy.is_retryable(status, error)
        )
        retry_after = (
            policy.retry_after_s(retry_after_header) if status == 429 else None
        )
        attempt = Attempt(
            batch, number, started, latency, status, error, len(body), final
        )
        return attempt, retry_after
