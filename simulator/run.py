"""
The library entry point: compose source → batcher → signer → engine → stats and
ledger for one ``send`` run. The CLI is a thin layer over :class:`SendRun`.

::

    options = SendOptions("http://127.0.0.1:8080/hook", ClientSecret("..."))
    result = await SendRun(options).execute()
    print(result.ledger.delivered)
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field, replace
from typing import Final

from . import retry
from .batching import Batch
from .catalog import MAX_BATCH_SIZE
from .clock import Clock, SystemClock
from .delivery import (
    DEFAULT_MAX_IN_FLIGHT,
    Attempt,
    DeliveryEngine,
    DeliveryOptions,
    HeaderSource,
)
from .errors import SecretError, UsageError
from .ledger import BatchRecord, Ledger, LedgerFile, Sink
from .pacing import Planned, phase_duration, phase_events, plan
from .recording import PacedReplay, RecordedHeaders, RecordedRequest, Recorder
from .result import RunResult
from .scenario import App, Phase, Scenario
from .signing import ClientSecret, Signer, SigningOptions
from .source import EventConfig, EventSource
from .stats import Stats
from .target import Target, check_target_url, is_loopback, preflight
from .wire import RenderedBlock
from .workflow import WorkflowSource

__all__ = [
    "RunResult",
    "SendOptions",
    "SendRun",
    "check_target_url",
    "is_loopback",
    "preflight",
]

#: How often a run samples requests in flight and the backlog.
SAMPLE_EVERY_S: Final = 0.25


@dataclass(frozen=True, slots=True)
class SendOptions:
    """
    Everything one ``send`` run needs. Flags map onto these fields one to one.
    """

    target_url: str
    secret: ClientSecret
    events: int = 1000
    source: EventConfig = field(default_factory=EventConfig)
    batch_size: int = MAX_BATCH_SIZE
    delivery: DeliveryOptions = field(default_factory=DeliveryOptions)
    signing: SigningOptions = field(default_factory=SigningOptions)
    allow_remote: bool = False
    preflight: bool = True
    ledger_path: str | None = None
    record_path: str | None = None
    workflow: bool = False
    #: Stop starting requests after this many seconds (in-flight ones finish).
    duration_s: float | None = None
    #: Open model: start a full batch this many times a second, whatever the
    #: receiver does (None: closed model, each slot sends as soon as it is free).
    rate: float | None = None
    #: Send at most this many first attempts (requests, with no retries).
    max_requests: int | None = None

    def __post_init__(self) -> None:
        if self.events < 1:
            raise UsageError("--events must be at least 1")
        if self.duration_s is not None and self.duration_s <= 0:
            raise UsageError("--duration must be more than 0 seconds")
        if self.rate is not None and self.rate <= 0:
            raise UsageError("--rate must be more than 0")
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise UsageError(f"--batch-size must be between 1 and {MAX_BATCH_SIZE}")


class _BatchStream:
    """
    Lazily renders batches from the event source, counting them into the ledger.
    """

    def __init__(
        self,
        source: EventSource | WorkflowSource,
        batch_size: int,
        total: int,
        ledger: Ledger,
    ):
        self._source = source
        self._batch_size = batch_size
        self._remaining = total
        self._ledger = ledger
        self._seq = 0
        #: A request bound (bench --requests): a recycled block may hold fewer
        #: events than asked for, so events alone would not bound requests.
        self.max_batches: int | None = None

    @property
    def backlog_events(self) -> int:
        """Events not sent yet: all of them wait for a free slot."""
        return self._remaining

    def close(self) -> None:
        """Nothing to release."""

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        if self._remaining <= 0 or self._seq == self.max_batches:
            raise StopIteration
        block = self._source.render(min(self._batch_size, self._remaining))
        self._remaining -= len(block)
        self._seq += 1
        return _issue(self._seq, self._source.app_id, block, self._ledger)


#: Awaited when a scenario phase begins: (index, phase).
PhaseHook = Callable[[int, Phase], Awaitable[None]]


def _issue(
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


def _issue_scheduled(
    run: SendRun, seq: int, events: int, at: float, due: bool
) -> Batch:
    """
    ``events`` events that occurred at epoch ``at`` as batch ``seq``; with
    ``due``, the batch was scheduled for ``at`` (latency counts from it).
    """
    run.source.set_time(int(at * 1000))
    block = run.source.render(events)
    return _issue(seq, run.source.app_id, block, run.ledger, at if due else None)


class _PacedStream:
    """
    Batches on a scenario's plan, as an open model: a scheduler releases each
    planned batch at its moment into a queue whether or not a slot is free, and
    workers take them from it. What waits in the queue is the backlog; a paced
    batch carries its moment (``Batch.due``) and its events occurred then, so
    latency and event age count the wait (no coordinated omission).
    """

    def __init__(
        self,
        run: SendRun,
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
                while not run.stopped and (wait := due - clock.monotonic()) > 0:
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
        return _issue_scheduled(run, self._seq, item.events, due, paced)


class _OpenStream:
    """
    Full batches at a fixed rate, the open model: batch i is due at
    start + i / rate. A slot takes the next due batch; when every slot is busy
    at that moment the send starts late, and latency is also measured from the
    due moment (``Batch.due``), as wrk2 does. Due batches a bounded run never
    started are counted as dropped, never silently skipped.
    """

    def __init__(self, run: SendRun, rate: float, batch_size: int, total: int):
        self._run = run
        self._interval = 1.0 / rate
        self._size = batch_size
        self._remaining = total
        self._lock = asyncio.Lock()
        self._start: float | None = None
        self._next = 0
        self._seq = 0
        self.max_batches: int | None = None

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
        due = int((until - self._start) / self._interval) + 1
        if self.max_batches is not None:
            due = min(due, self.max_batches)
        return max(0, min(due - self._next, -(-self._remaining // self._size)))

    def close(self) -> None:
        """Nothing to release."""

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self

    async def __anext__(self) -> Batch:
        run, clock = self._run, self._run.clock
        # One slot at a time waits for the next moment; the others queue here,
        # so a moment that finds every slot busy is simply taken late.
        async with self._lock:
            if self._remaining <= 0 or run.stopped or self._next == self.max_batches:
                raise StopAsyncIteration
            if self._start is None:
                self._start = clock.monotonic()
            due = self._start + self._next * self._interval
            while not run.stopped and (wait := due - clock.monotonic()) > 0:
                await clock.sleep(min(wait, 0.05))
            if run.stopped:
                raise StopAsyncIteration
            self._next += 1
            n = min(self._size, self._remaining)
            self._remaining -= n
        self._seq += 1
        wall_due = clock.time() - (clock.monotonic() - due)
        return _issue_scheduled(run, self._seq, n, wall_due, True)


class SendRun:
    """
    One run of ``hubsim send``: build, deliver, account. Stoppable from outside.
    """

    def __init__(
        self,
        options: SendOptions,
        clock: Clock | None = None,
        sink: Sink | None = None,
        phases: Sequence[Phase] = (),
        on_phase: PhaseHook | None = None,
    ) -> None:
        self.target = Target.parse(options.target_url).check_allowed(
            options.allow_remote
        )
        if options.signing.public_url:
            Target.parse(options.signing.public_url, "--public-url")
        self.options = options
        self.clock = clock or SystemClock()
        self.source: EventSource | WorkflowSource
        if options.workflow:
            self.source = WorkflowSource(options.source)
        else:
            self.source = EventSource(options.source)
        self.source.prepare(options.batch_size)
        self.stats = Stats()
        self._file = LedgerFile(options.ledger_path) if options.ledger_path else None
        self.ledger = Ledger(self._sink(sink))
        self._recorder = Recorder(options.record_path) if options.record_path else None
        self.engine = DeliveryEngine(
            self.target,
            Signer(options.secret, self.target, options.signing),
            options.delivery,
            self.clock,
            on_request=self._recorder,
        )
        self.phases = tuple(phases)
        self.on_phase = on_phase
        self._stopped = False
        self._checked = not options.preflight
        self.started_at: float | None = None
        self._stream: _BatchStream | _PacedStream | _OpenStream | None = None
        self._expired = False
        #: The scenario phase under way (-1 before the first, or without phases).
        self.current_phase = -1

    @property
    def backlog_events(self) -> int:
        """Events due to be sent that wait for a free slot (retries included)."""
        stream = self._stream
        queued = stream.backlog_events if stream is not None else 0
        if isinstance(stream, _BatchStream) and self.options.duration_s is not None:
            queued = 0  # bounded by time, not count: nothing is due, so none waits
        return queued + self.engine.fed_events + self.engine.due_retry_events

    async def check_target(self) -> None:
        """
        Preflight once: TargetError now rather than a day of retries later.
        """
        if not self._checked:
            delivery = self.options.delivery
            await preflight(self.options.target_url, delivery.connect_timeout_s or 3.0)
            self._checked = True

    def _sink(self, sink: Sink | None) -> Sink | None:
        file = self._file
        if file is None:
            return sink

        def both(record: BatchRecord) -> None:
            file.settle(record)
            if sink is not None:
                sink(record)

        return both

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stopped

    def _expire(self) -> None:
        """The run's --duration is up: a normal end, not an interruption."""
        self._expired = True
        self.stop()

    def stop(self) -> None:
        """
        Stop generating; in-flight requests finish; the rest becomes pending.
        """
        self._stopped = True
        self.engine.stop()

    async def execute(
        self, on_attempt: Callable[[Attempt], None] | None = None
    ) -> RunResult:
        """
        Deliver ``options.events`` events and return the result.
        """
        opts = self.options
        await self.check_target()
        size = 1 if opts.workflow else opts.batch_size
        stream: _BatchStream | _PacedStream | _OpenStream
        if self.phases:
            stream = _PacedStream(self, self.phases, size)
        elif opts.rate is not None:
            stream = _OpenStream(self, opts.rate, size, opts.events)
        else:
            stream = _BatchStream(self.source, size, opts.events, self.ledger)
        if not isinstance(stream, _PacedStream):
            stream.max_batches = opts.max_requests
        self._stream = stream
        stats, ledger = self.stats, self.ledger

        file = self._file
        engine, clock = self.engine, self.clock

        async def sample() -> None:
            # Real sleeps, not the run's clock: a ManualClock must not advance.
            while True:
                stats.gauge(
                    clock.time(), engine.take_peak_in_flight(), self.backlog_events
                )
                await asyncio.sleep(SAMPLE_EVERY_S)

        def record(attempt: Attempt) -> None:
            stats.add(attempt)
            if file is not None:
                file.attempt(attempt)
            ledger.record_attempt(attempt)
            if on_attempt is not None:
                on_attempt(attempt)

        t0 = time.perf_counter()
        self.started_at = t0
        mono0 = self.clock.monotonic()
        sampler = asyncio.ensure_future(sample())
        deadline = None
        if opts.duration_s is not None:
            deadline = asyncio.get_running_loop().call_later(
                opts.duration_s, self._expire
            )
        try:
            await self.engine.run(stream, record)
        finally:
            sampler.cancel()
            stream.close()
            if deadline is not None:
                deadline.cancel()
            if isinstance(stream, _OpenStream):
                stats.dropped_sends = stream.dropped(
                    mono0 + (opts.duration_s or 0.0)
                    if self._expired
                    else self.clock.monotonic()
                )
            for batch, attempts in self.engine.unfinished:
                ledger.pending(batch, attempts)
            if file is not None:
                file.close()
            if self._recorder is not None:
                self._recorder.close()
        elapsed = time.perf_counter() - t0
        return RunResult(
            summary=stats.summary(elapsed),
            ledger=ledger,
            interrupted=self._stopped and not self._expired,
            app_id=self.source.app_id,
            portal_ids=self.source.portal_ids,
            target_url=self.target.url,
            stats=stats,
        )


def make_send_options(
    *,
    target_url: str,
    secret: ClientSecret,
    events: int = 1000,
    types: tuple[str, ...] = (),
    fmt: str = "classic",
    object_types: tuple[str, ...] = (),
    portals: int = 1,
    app_id: int | None = None,
    seed: int | None = None,
    start_time: int | None = None,
    batch_size: int = MAX_BATCH_SIZE,
    max_concurrent: int = DEFAULT_MAX_IN_FLIGHT,
    timeout: float | None = None,
    connect_timeout: float | None = None,
    retry_profile: str = retry.DEFAULT_PROFILE,
    max_attempts: int | None = None,
    retry_after_ms: bool = False,
    time_scale: float = 1.0,
    public_url: str | None = None,
    distinct: int | None = None,
    escape_unicode: bool = False,
    allow_remote: bool = False,
    preflight: bool = True,
    ledger_path: str | None = None,
    record_path: str | None = None,
    duration_s: float | None = None,
    rate: float | None = None,
    max_requests: int | None = None,
) -> SendOptions:
    """
    :class:`SendOptions` from flat settings (CLI flags or a scenario's keys),
    resolving the retry profile's defaults.
    """
    prof = retry.profile(retry_profile)
    if object_types and fmt != "generic":
        raise UsageError("--object-types needs --format generic")
    source = EventConfig(
        format="generic" if fmt == "generic" else "classic",
        object_type_ids=object_types,
        portals=portals,
        app_id=app_id,
        seed=seed,
        start_ms=start_time if start_time is not None else int(time.time() * 1000),
        escape_unicode=escape_unicode,
        distinct=distinct,
    )
    if types:
        source = replace(source, types=types)
    delivery = DeliveryOptions(
        max_in_flight=max_concurrent,
        timeout_s=timeout if timeout is not None else prof.timeout_s,
        connect_timeout_s=connect_timeout or prof.connect_timeout_s,
        retry=retry.with_retry_after_unit(
            retry.with_max_attempts(prof.retry, max_attempts),
            0.001 if retry_after_ms else 1.0,
        ),
        time_scale=time_scale,
        seed=seed,
    )
    workflow = not prof.batched
    signing = SigningOptions(
        versions=prof.signature_versions,
        public_url=public_url,
        workflow_headers=workflow,
    )
    return SendOptions(
        target_url=target_url,
        secret=secret,
        events=events,
        source=source,
        batch_size=batch_size,
        delivery=delivery,
        signing=signing,
        allow_remote=allow_remote,
        preflight=preflight,
        ledger_path=ledger_path,
        record_path=record_path,
        workflow=workflow,
        duration_s=duration_s,
        rate=rate,
        max_requests=max_requests,
    )


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------
def app_phases(scenario: Scenario, app: App) -> tuple[Phase, ...]:
    """
    The scenario's phases scaled to ``app``'s share of the traffic (its weight
    over all apps' weights): events, rates and bursts alike.
    """
    apps = scenario.apps or (scenario.app,)
    share = app.weight / sum(a.weight for a in apps)
    if share == 1.0:
        return scenario.phases

    def scaled(n: float | None) -> float | None:
        return None if n is None else n * share

    def counted(n: int | None) -> int | None:
        return None if n is None else max(1, round(n * share))

    return tuple(
        replace(
            p,
            events=counted(p.events),
            rate=scaled(p.rate),
            rate_to=scaled(p.rate_to),
            burst_events=counted(p.burst_events),
        )
        for p in scenario.phases
    )


def scenario_options(
    scenario: Scenario,
    target: str,
    secret: ClientSecret,
    overrides: Mapping[str, object] | None = None,
    app_index: int = 0,
) -> SendOptions:
    """
    The :class:`SendOptions` a scenario describes for one of its apps.
    """
    types = scenario.types or tuple(scenario.mix)
    apps = scenario.apps or (scenario.app,)
    app = apps[app_index]
    seed = None if scenario.seed is None else scenario.seed + app_index
    settings: dict[str, object] = {
        "target_url": target,
        "secret": secret,
        "events": sum(phase_events(p) for p in app_phases(scenario, app)),
        "types": types,
        "fmt": app.format or scenario.format,
        "object_types": scenario.object_types,
        "portals": app.portals or scenario.portals,
        "app_id": app.app_id,
        "seed": seed,
        "batch_size": scenario.batch_size,
        "max_concurrent": app.max_concurrent_requests,
        "timeout": scenario.timeout_s,
        "retry_profile": scenario.retry_profile,
        "max_attempts": scenario.max_attempts,
        "time_scale": scenario.time_scale,
        "public_url": scenario.public_url,
        "distinct": scenario.distinct,
        "escape_unicode": scenario.escape_unicode,
        **(overrides or {}),
    }
    options = make_send_options(**settings)  # type: ignore[arg-type]
    source = options.source
    if scenario.mix:
        source = replace(source, weights=tuple(scenario.mix.items()))
    if scenario.properties:
        source = replace(source, properties=tuple(scenario.properties.items()))
    return replace(options, source=source)


# ---------------------------------------------------------------------------
# Replay
# ---------------------------------------------------------------------------
async def replay(
    requests: Sequence[RecordedRequest],
    target_url: str,
    secret: ClientSecret | None,
    *,
    speed: float = 1.0,
    keep_signatures: bool = False,
    signing: SigningOptions | None = None,
    delivery: DeliveryOptions | None = None,
    allow_remote: bool = False,
    on_attempt: Callable[[Attempt], None] | None = None,
) -> RunResult:
    """
    Send recorded requests again, in order, at the recorded pacing / ``speed``.

    Re-signed for ``target_url`` with fresh timestamps unless ``keep_signatures``
    (then the recorded headers go out unchanged). One attempt each: a replay
    re-sends what was recorded, retries included, and adds none of its own.
    """
    target = Target.parse(target_url).check_allowed(allow_remote)
    headers: HeaderSource
    if keep_signatures:
        headers = RecordedHeaders(requests)
    else:
        if secret is None:
            raise SecretError("re-signing needs the client secret: pass --secret")
        headers = Signer(secret, target, signing or SigningOptions())
    options = delivery or DeliveryOptions()
    options = replace(options, retry=retry.PROFILES["none"].retry)
    engine = DeliveryEngine(target, headers, options)
    stats, ledger = Stats(), Ledger()
    batches = PacedReplay(requests, speed)

    async def counted() -> AsyncIterator[Batch]:
        async for batch in batches:
            ledger.generated_batch(batch)
            yield batch

    def record(attempt: Attempt) -> None:
        stats.add(attempt)
        ledger.record_attempt(attempt)
        if on_attempt is not None:
            on_attempt(attempt)

    await preflight(target.url)
    t0 = time.perf_counter()
    await engine.run(counted(), record)
    for batch, attempts in engine.unfinished:
        ledger.pending(batch, attempts)
    return RunResult(
        summary=stats.summary(time.perf_counter() - t0),
        ledger=ledger,
        interrupted=False,
        app_id=0,
        portal_ids=(),
        target_url=target.url,
        stats=stats,
    )
