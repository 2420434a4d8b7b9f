"""
The composer: source → stream → signer → engine → stats and ledger, for one
run or several at once, with Ctrl-C handling and an optional live view.
The CLI calls the synchronous :func:`execute` (scenario files:
:mod:`simulator.scenario_run`); library users can await
:meth:`SendRun.execute`::

    options = SendOptions("http://127.0.0.1:8080/hook", ClientSecret("..."))
    result = await SendRun(options).execute()
    print(result.ledger.delivered)
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Final, Protocol

from . import aio, crm_state, retry
from .batching import Batch
from .chaos import ChaosSource
from .clock import Clock, SystemClock
from .crm_state import StateBuilder
from .delivery import Attempt, DeliveryEngine, DeliveryOptions, HeaderSource
from .errors import SecretError, UsageError
from .ledger import BatchRecord, Ledger, LedgerFile, Sink
from .pacing import Phase
from .recording import (
    PacedReplay,
    RecordedHeaders,
    RecordedRequest,
    Recorder,
    signing_of,
)
from .result import RunResult, merge_results
from .settings import SendOptions
from .signing import UNSIGNED, ClientSecret, Signer, SigningOptions
from .source import EventSource
from .stats import LATE_AFTER_S, Stats
from .streams import BatchStream, CountedStream, OpenStream, PacedStream, PhaseHook
from .target import Target, check_target_url, is_loopback, preflight
from .workflow import WorkflowSource

__all__ = [
    "ReplayRun",
    "RunResult",
    "SendOptions",
    "SendRun",
    "View",
    "check_target_url",
    "execute",
    "is_loopback",
    "preflight",
    "replay",
]

#: How often a run samples requests in flight and the backlog.
SAMPLE_EVERY_S: Final = 0.25


class _Sampled:
    """What every run shares: stats, a ledger, an engine, a stop."""

    stats: Stats
    ledger: Ledger
    engine: DeliveryEngine
    clock: Clock
    started_at: float | None
    _stopped: bool

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stopped

    def stop(self) -> None:
        """Stop generating; in-flight requests finish; the rest becomes pending."""
        self._stopped = True
        self.engine.stop()

    async def _sample(self) -> None:
        # Real sleeps, not the run's clock: a ManualClock must not advance.
        stats, engine, clock = self.stats, self.engine, self.clock
        while True:
            stats.gauge(clock.time(), engine.take_peak_in_flight(), self.backlog_events)
            await asyncio.sleep(SAMPLE_EVERY_S)

    def _last_sample(self) -> None:
        # A run shorter than a sampling period would otherwise show an
        # in-flight peak of 0: the peak since the last sample, at the end.
        self.stats.gauge(
            self.clock.time(), self.engine.take_peak_in_flight(), self.backlog_events
        )

    @property
    def backlog_events(self) -> int:
        """Events due to be sent that wait for a free slot."""
        raise NotImplementedError


class SendRun(_Sampled):
    """
    One app's run: build, deliver, account. Stoppable from outside.
    """

    def __init__(
        self,
        options: SendOptions,
        clock: Clock | None = None,
        sink: Sink | None = None,
        phases: Sequence[Phase] = (),
        on_phase: PhaseHook | None = None,
    ) -> None:
        if options.workflow is not None and (
            options.chaos.active or options.state_path
        ):
            raise UsageError(
                "--chaos and --state-out are for Webhooks API events, not "
                "workflow webhooks"
            )
        self.target = Target.parse(options.target_url).check_allowed(
            options.allow_remote
        )
        self.options = options
        self.clock = clock or SystemClock()
        self.source: EventSource | WorkflowSource | ChaosSource
        if options.workflow is not None:
            self.source = WorkflowSource(options.source, options.workflow)
        elif options.chaos.active:
            self.source = ChaosSource(
                EventSource(options.source), options.chaos, options.source.seed
            )
        else:
            self.source = EventSource(options.source)
        #: The CRM state delivered events imply (--state-out).
        self.state = StateBuilder() if options.state_path else None
        self.stats = Stats()
        self._file = LedgerFile(options.ledger_path) if options.ledger_path else None
        self.ledger = Ledger(self._sink(sink))
        method = options.signing.method
        api_key = options.signing.api_key
        self._recorder = (
            Recorder(
                options.record_path,
                method=method,
                hidden=(api_key[0],) if api_key is not None else (),
            )
            if options.record_path
            else None
        )
        self.engine = DeliveryEngine(
            self.target,
            Signer(options.secret, self.target, options.signing),
            options.delivery,
            self.clock,
            on_request=self._recorder,
            method=method,
            hidden_query=options.hidden_query,
        )
        self.source.prepare(options.batch_size)
        self.phases = tuple(phases)
        self.on_phase = on_phase
        self._stopped = False
        self._checked = not options.preflight
        self.started_at: float | None = None
        self._stream: BatchStream | None = None
        #: The --duration end (monotonic) and the timer that enforces it.
        self._until: float | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._grace_checks = round(LATE_AFTER_S / 0.001)
        self._expired = False
        #: The scenario phase under way (-1 before the first, or without phases).
        self.current_phase = -1

    @property
    def backlog_events(self) -> int:
        """Events due to be sent that wait for a free slot (retries included)."""
        queued = self._stream.backlog_events if self._stream is not None else 0
        return queued + self.engine.fed_events + self.engine.due_retry_events

    async def check_target(self) -> None:
        """
        Preflight once: TargetError now rather than a day of retries later.
        """
        if not self._checked:
            delivery = self.options.delivery
            await preflight(self.target.url, delivery.connect_timeout_s or 3.0)
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

    def _expire(self) -> None:
        """
        The run's --duration is up: a normal end, not an interruption. An
        open schedule that keeps up may still owe the batches due in its last
        milliseconds (timers fire up to a millisecond late): those start
        first, within a late send's margin, rather than count as never sent.
        """
        self._expired = True
        stream, until = self._stream, self._until
        if isinstance(stream, OpenStream) and until is not None:
            owed = stream.next_owed(until)
            catching_up = owed is not None and until - owed < LATE_AFTER_S
            pending = catching_up or self.engine.fed_events > 0
            # Checked every millisecond, for a late send's margin at most.
            if pending and self._grace_checks > 0:
                self._grace_checks -= 1
                loop = asyncio.get_running_loop()
                self._deadline = loop.call_later(0.001, self._expire)
                return
        self.stop()

    def _make_stream(self) -> BatchStream:
        opts = self.options
        size = 1 if opts.workflow else opts.batch_size
        if self.phases:
            return PacedStream(self, self.phases, size)
        if opts.rate is not None:
            return OpenStream(self, opts.rate, size, opts.events, opts.max_requests)
        return CountedStream(
            self.source,
            size,
            opts.events,
            self.ledger,
            opts.max_requests,
            timed=opts.duration_s is not None,
        )

    async def execute(
        self, on_attempt: Callable[[Attempt], None] | None = None
    ) -> RunResult:
        """
        Deliver ``options.events`` events and return the result.
        """
        opts = self.options
        await self.check_target()
        stream = self._stream = self._make_stream()
        stats, ledger, file, state = self.stats, self.ledger, self._file, self.state

        def record(attempt: Attempt) -> None:
            stats.add(attempt)
            if file is not None:
                file.attempt(attempt)
            ledger.record_attempt(attempt)
            if state is not None and attempt.final and attempt.ok:
                state.add_body(attempt.batch.first_body)
            if on_attempt is not None:
                on_attempt(attempt)

        # What exists now (the pre-rendered pool, tables, imports) lives for
        # the whole run: frozen, the collector stops re-scanning it, and a
        # mid-run full collection takes ~2 ms instead of ~20 ms (a burst of
        # late open-model sends). No collect first: that costs as much, and
        # garbage frozen now is freed after the run.
        gc.freeze()
        t0 = time.perf_counter()
        self.started_at = t0
        mono0 = self.clock.monotonic()
        sampler = asyncio.ensure_future(self._sample())
        if opts.duration_s is not None:
            self._until = mono0 + opts.duration_s
            self._deadline = asyncio.get_running_loop().call_later(
                opts.duration_s, self._expire
            )
        if isinstance(stream, OpenStream):
            # Due from the run's start to its end: --rate R --duration D owes
            # exactly R·D batches, and none due at the end itself is issued
            # early (the feeder hands batches over up to EARLY_S ahead).
            stream.start_at(mono0)
            if self._until is not None:
                stream.end_at(self._until)
        try:
            await self.engine.run(stream.batches(), record)
        finally:
            gc.unfreeze()  # a finished run's objects may be freed again
            sampler.cancel()
            self._last_sample()
            stream.close()
            if self._deadline is not None:
                self._deadline.cancel()
            until = self.clock.monotonic()
            if self._expired and self._until is not None:
                until = self._until
            stats.dropped_sends = stream.dropped(until)
            for batch, attempts in self.engine.unfinished:
                ledger.pending(batch, attempts)
            if file is not None:
                file.close()
            if self._recorder is not None:
                self._recorder.close()
            if state is not None and opts.state_path:
                crm_state.write(opts.state_path, state.records())
        return RunResult(
            summary=stats.summary(time.perf_counter() - t0),
            ledger=ledger,
            interrupted=self._stopped and not self._expired,
            app_id=self.source.app_id,
            portal_ids=self.source.portal_ids,
            target_url=self.target.url,
            stats=stats,
            unit="record" if opts.workflow is not None else "event",
            chaos=self._chaos_counts(),
        )

    def _chaos_counts(self) -> dict[str, int]:
        source = self.source
        if not isinstance(source, ChaosSource):
            return {}
        return {**source.counts, "held_back_at_end": source.held}


# ---------------------------------------------------------------------------
# Replay
# ---------------------------------------------------------------------------
class ReplayRun(_Sampled):
    """
    Recorded requests sent again, in order, at the recorded pacing / ``speed``.

    Re-signed for the target with fresh timestamps unless ``keep_signatures``
    (then the recorded headers go out unchanged). One attempt each: a replay
    re-sends what was recorded, retries included, and adds none of its own.
    """

    phases: tuple[Phase, ...] = ()
    current_phase = -1

    def __init__(
        self,
        requests: Sequence[RecordedRequest],
        target_url: str,
        secret: ClientSecret | None,
        *,
        speed: float = 1.0,
        keep_signatures: bool = False,
        signing: SigningOptions | None = None,
        delivery: DeliveryOptions | None = None,
        allow_remote: bool = False,
    ) -> None:
        if not requests:
            raise UsageError("the recording holds no requests to replay")
        self.target = Target.parse(target_url).check_allowed(allow_remote)
        methods = sorted({r.method for r in requests})
        if len(methods) > 1:
            raise UsageError(
                "the recording mixes POST and GET requests; record one kind per run"
            )
        # Re-signed as recorded (a workflow record as the workflow engine);
        # only the URL it claims comes from the caller.
        public_url = signing.public_url if signing is not None else None
        signing = replace(signing_of(requests[0]), public_url=public_url)
        headers: HeaderSource
        if keep_signatures:
            headers = RecordedHeaders(requests)
        else:
            if not signing.versions:
                secret = UNSIGNED  # recorded unsigned: nothing to re-sign
            if secret is None:
                raise SecretError("re-signing needs the client secret: pass --secret")
            headers = Signer(secret, self.target, signing)
        options = replace(
            delivery or DeliveryOptions(), retry=retry.PROFILES["none"].retry
        )
        self.clock = SystemClock()
        self.engine = DeliveryEngine(
            self.target, headers, options, self.clock, method=methods[0]
        )
        self.stats, self.ledger = Stats(), Ledger()
        self._batches = PacedReplay(requests, speed)
        self._stopped = False
        self.started_at = None

    @property
    def backlog_events(self) -> int:
        """Events of requests already due that no slot has taken."""
        return self.engine.fed_events

    async def execute(self) -> RunResult:
        """Send every request once (or until stopped) and return the result."""
        stats, ledger = self.stats, self.ledger

        async def counted() -> AsyncIterator[Batch]:
            async for batch in self._batches:
                ledger.generated_batch(batch)
                yield batch

        def record(attempt: Attempt) -> None:
            stats.add(attempt)
            ledger.record_attempt(attempt)

        await preflight(self.target.url)
        t0 = self.started_at = time.perf_counter()
        sampler = asyncio.ensure_future(self._sample())
        try:
            await self.engine.run(counted(), record)
        finally:
            sampler.cancel()
            self._last_sample()
        for batch, attempts in self.engine.unfinished:
            ledger.pending(batch, attempts)
        return RunResult(
            summary=stats.summary(time.perf_counter() - t0),
            ledger=ledger,
            interrupted=self._stopped,
            app_id=0,
            portal_ids=(),
            target_url=self.target.url,
            stats=stats,
        )


async def replay(
    requests: Sequence[RecordedRequest],
    target_url: str,
    secret: ClientSecret | None,
    *,
    speed: float = 1.0,
    keep_signatures: bool = False,
    delivery: DeliveryOptions | None = None,
) -> RunResult:
    """:class:`ReplayRun` for library callers: ``await replay(requests, url, key)``."""
    run = ReplayRun(
        requests,
        target_url,
        secret,
        speed=speed,
        keep_signatures=keep_signatures,
        delivery=delivery,
    )
    return await run.execute()


# ---------------------------------------------------------------------------
# Several runs at once, with signals and a live view
# ---------------------------------------------------------------------------
class Live(Protocol):
    """What a run needs to show: stats, ledger, engine and gauges."""

    stats: Stats
    ledger: Ledger
    engine: DeliveryEngine
    started_at: float | None
    phases: tuple[Phase, ...]
    current_phase: int

    @property
    def backlog_events(self) -> int: ...
    @property
    def stopped(self) -> bool: ...
    def stop(self) -> None: ...


class Runnable(Live, Protocol):
    """A run :func:`execute` can drive."""

    async def execute(self) -> RunResult: ...


class View(Protocol):
    """A live view of running sends (the dashboard, or plain lines, or none)."""

    def start(self, runs: Sequence[Live], total: int | None) -> None:
        """The runs are about to start; ``total`` events (None: bounded by time)."""

    def tick(self) -> None:
        """A few times a second while they run."""

    def note(self, text: str) -> None:
        """Something worth a line: a phase began, a stop was asked for."""

    def stop(self) -> None:
        """They are over."""


@dataclass(frozen=True, slots=True)
class Completed:
    """Several runs' results, merged and each."""

    merged: RunResult
    each: tuple[RunResult, ...]


def execute(
    runs: Sequence[Runnable], view: View | None = None, total: int | None = None
) -> Completed:
    """
    Run side by side (several apps) with one view and one stop: Ctrl-C or
    SIGTERM stops them cleanly (in-flight requests finish, the rest is
    pending), a second Ctrl-C aborts. Blocks until they are over.
    """
    return aio.run(execute_async(runs, view, total))


async def execute_async(
    runs: Sequence[Runnable], view: View | None, total: int | None
) -> Completed:
    """:func:`execute` inside a running event loop."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def on_signal() -> None:
        if any(r.stopped for r in runs) and main is not None:
            main.cancel()
            return
        if view is not None:
            view.note("stopping: finishing in-flight requests…")
        for r in runs:
            r.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, on_signal)
    try:
        for r in runs:
            if isinstance(r, SendRun):
                await r.check_target()
        t0 = time.perf_counter()
        every = asyncio.gather(*(r.execute() for r in runs))
        if view is not None:
            view.start(runs, total)
            try:
                while not every.done():
                    await asyncio.wait({every}, timeout=0.25)
                    view.tick()
            finally:
                view.stop()
        results = await every
        return Completed(
            merge_results(results, time.perf_counter() - t0), tuple(results)
        )
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
