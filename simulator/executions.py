"""
Custom action executions, run as HubSpot's workflow engine runs them (spec
``hubspot-app-calls.md`` §1.3): signed execution requests to the app's
``actionUrl``, retries, blocking, callbacks and expiry, and an account of
every execution.

Every execution ends in exactly one state:

- ``succeeded``: a 2xx without a state, or with ``SUCCESS``;
- ``failed``: ``FAIL_CONTINUE``, or a final 4xx (not 429);
- ``completed``: ``BLOCK`` (or ``ASYNC``), then a callback to the local
  callbacks API (:mod:`simulator.callbacks`) in time; its delay is measured;
- ``expired``: blocked, and ``hs_expiration_duration`` (default a week,
  divided by ``time_scale``) passed with no callback;
- ``gave_up``: 5xx, 429 or timeouts until the 3-day retry window closed;
- ``pending``: the run was stopped first.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from aiohttp import web

from . import retry
from .actions import (
    DEFAULT,
    Definition,
    ExecutionSource,
    State,
    check_outputs,
    read_reply,
)
from .batching import Batch
from .callbacks import Registry, create_app
from .clock import Clock, SystemClock
from .declarations import setting, validate
from .delivery import Attempt, DeliveryEngine, DeliveryOptions
from .errors import UsageError
from .ledger import Ledger, LedgerFile
from .ledger import Outcome as EventOutcome
from .result import RunResult
from .settings import MAX_EVENTS, MAX_IN_FLIGHT, MAX_RATE
from .signing import ClientSecret, SignatureVersion, Signer, SigningOptions
from .stats import LatencyHistogram, Stats
from .streams import BatchStream, CountedStream, OpenStream
from .target import Target, preflight

SAMPLE_EVERY_S: Final = 0.25


class Outcome(enum.Enum):
    """The one final state of an execution."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    COMPLETED = "completed"
    EXPIRED = "expired"
    GAVE_UP = "gave_up"
    PENDING = "pending"


#: Which outcomes count as the execution having done its job.
GOOD: Final = frozenset({Outcome.SUCCEEDED, Outcome.COMPLETED})


@dataclass(frozen=True, slots=True)
class ActionOptions:
    """What ``hubsim action`` runs; every number declared with its range."""

    target_url: str = ""
    secret: ClientSecret | None = None
    #: The action's definition (default: the built-in "Send a message").
    definition: Definition = DEFAULT
    executions: int = setting(
        100, "--executions", "executions", "int", "Executions to run.",
        low=1, high=MAX_EVENTS, short="-n",
    )  # fmt: skip
    portals: int = setting(
        1, "--portals", "portals", "int", "HubSpot accounts running the workflows.",
        low=1, high=1024,
    )  # fmt: skip
    max_concurrent: int = setting(
        10, "--max-concurrent", "max_concurrent", "int",
        "Execution requests in flight at most (HubSpot documents no limit; 10, "
        "as for webhooks).", low=1, high=MAX_IN_FLIGHT,
    )  # fmt: skip
    rate: float | None = setting(
        None, "--rate", "rate", "float",
        "Executions started per second (default: as fast as answered).",
        low=0.001, high=MAX_RATE,
    )  # fmt: skip
    seed: int | None = setting(
        None, "--seed", "seed", "int", "Makes executions reproducible.",
        low=0, high=2**64 - 1,
    )  # fmt: skip
    time_scale: float = setting(
        1.0, "--time-scale", "time_scale", "float",
        "Divide retry delays and expiry by this (3600: a week's expiry in under "
        "3 minutes).", low=1, high=10_000_000,
    )  # fmt: skip
    timeout_s: float = setting(
        30.0, "--timeout", "timeout_s", "float",
        "Response timeout in seconds (undocumented for actions; 30 s, as for "
        "workflow webhooks).", low=0.01, high=600, metavar="SECONDS",
    )  # fmt: skip
    signatures: tuple[str, ...] = setting(
        ("v2", "v3"), "--signatures", "signatures", "list",
        "Signature versions to send: v2 (the docs), v3 (sent too, per the "
        "changelog), or both (default).", metavar="LIST",
    )  # fmt: skip
    async_means: str = setting(
        "block", "--async-means", "async_means", "choice",
        "What hs_execution_state ASYNC does (undocumented): block, as BLOCK, or "
        "success.", choices=("block", "success"),
    )  # fmt: skip
    retry_after_unit: str = setting(
        "s", "--retry-after-unit", "retry_after_unit", "choice",
        "How to read a 429's Retry-After: s or ms (unstated for actions; "
        "seconds, as HTTP says).", choices=("s", "ms"),
    )  # fmt: skip
    timeouts_final: bool = setting(
        False, "--timeouts-final", "timeouts_final", "bool",
        "Do not retry timed-out executions (undocumented; default: retried like "
        "a 5xx).",
    )  # fmt: skip
    require_typed_outputs: bool = setting(
        False, "--require-typed-outputs", "require_typed_outputs", "bool",
        "Refuse callbacks without typedOutputs (the current docs require it; the "
        "v4 spec, and hubsim by default, do not).",
    )  # fmt: skip
    api_port: int = setting(
        0, "--api-port", "api_port", "int",
        "Port of the local HubSpot callbacks API (0 picks a free one).",
        low=0, high=65535,
    )  # fmt: skip
    allow_remote: bool = False
    ledger_path: str | None = None
    api_token: str | None = None
    statuses: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate(self)
        bad = [v for v in self.signatures if v not in ("v2", "v3")]
        if bad or not self.signatures:
            shown = bad[0] if bad else "(none)"
            raise UsageError(f"--signatures: {shown} is not v2 or v3")

    def delivery(self) -> DeliveryOptions:
        """The engine's options: the action profile, with these overrides."""
        prof = retry.profile("action")
        policy = replace(
            prof.retry,
            retry_timeouts=not self.timeouts_final,
            retry_after_unit_s=0.001 if self.retry_after_unit == "ms" else 1.0,
        )
        return DeliveryOptions(
            max_in_flight=self.max_concurrent,
            timeout_s=self.timeout_s,
            connect_timeout_s=prof.connect_timeout_s,
            retry=policy,
            time_scale=self.time_scale,
            seed=self.seed,
            keep_response=True,
        )


@dataclass
class ExecutionCounts:
    """Executions by outcome, completion delays, and what the app sent back."""

    outcomes: Counter[str] = field(default_factory=Counter)
    completion: LatencyHistogram = field(default_factory=LatencyHistogram)
    invalid_outputs: int = 0
    states: Counter[str] = field(default_factory=Counter)

    def to_json(self, calls: Mapping[str, int]) -> dict[str, Any]:
        """The ``actions`` section of a report."""
        h = self.completion
        return {
            "outcomes": {o.value: self.outcomes.get(o.value, 0) for o in Outcome},
            "completion_delay_ms": {
                "p50": round(h.percentile(50) * 1000, 3),
                "p90": round(h.percentile(90) * 1000, 3),
                "p99": round(h.percentile(99) * 1000, 3),
                "max": round(h.max_us / 1000, 3),
                "histogram": h.to_json(),
            },
            "replies": dict(self.states),
            "invalid_output_fields": self.invalid_outputs,
            "callbacks": dict(calls),
        }


class ActionRun:
    """
    One ``hubsim action`` run: executions requested, answered, blocked, called
    back or expired, each accounted for once. Stoppable from outside.
    """

    phases: tuple[Any, ...] = ()
    current_phase = -1
    on_phase = None

    def __init__(self, options: ActionOptions, clock: Clock | None = None) -> None:
        if options.secret is None:
            raise UsageError("custom actions are signed: pass --secret")
        self.options = options
        self.target = Target.parse(options.target_url).check_allowed(
            options.allow_remote
        )
        self.clock = clock or SystemClock()
        self.source = ExecutionSource(options.definition, options.portals, options.seed)
        versions: tuple[SignatureVersion, ...] = tuple(
            "v2" if v == "v2" else "v3" for v in options.signatures
        )
        signing = SigningOptions(
            versions=versions,
            sender="automation",
            timeout_millis=round(options.timeout_s * 1000),
        )
        self.engine = DeliveryEngine(
            self.target,
            Signer(options.secret, self.target, signing),
            options.delivery(),
            self.clock,
            on_request=self._on_request,
        )
        self.stats = Stats()
        self.ledger = Ledger()
        self.counts = ExecutionCounts()
        self.registry = Registry(
            options.definition, self._completed, self.clock.monotonic
        )
        self._file = LedgerFile(options.ledger_path) if options.ledger_path else None
        self._attempts: dict[str, int] = {}
        self._blocked_at: dict[str, float] = {}
        self._settled = asyncio.Event()
        self._stopped = False
        self.started_at: float | None = None
        self.api_url: str | None = None

    # -- what the dashboard reads -------------------------------------------
    @property
    def backlog_events(self) -> int:
        """Executions due that wait for a free slot."""
        return self.engine.fed_events + self.engine.due_retry_events

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stopped

    @property
    def waiting(self) -> int:
        """Executions blocked, waiting for their callback."""
        return len(self._blocked_at)

    def stop(self) -> None:
        """Stop: in-flight requests finish; every other execution is pending."""
        self._stopped = True
        self.engine.stop()
        self._settled.set()

    # -- accounting -----------------------------------------------------------
    def _on_request(
        self,
        url: str,
        batch: Batch,
        attempt: int,
        body: bytes,
        headers: Mapping[str, str],
    ) -> None:
        self.registry.sent(self.source.callback_ids[batch.event_ids[0]])

    def _settle(self, callback_id: str, outcome: Outcome, **more: object) -> None:
        self.counts.outcomes[outcome.value] += 1
        good = EventOutcome.DELIVERED if outcome in GOOD else EventOutcome.GAVE_UP
        if outcome is Outcome.PENDING:
            good = EventOutcome.PENDING
        self.ledger.counts[good] += 1
        if self._file is not None:
            self._file.line(
                {
                    "type": "outcome",
                    "callbackId": callback_id,
                    "outcome": outcome.value,
                    "attempts": self._attempts.pop(callback_id, 0),
                    **more,
                }
            )
        if not self._blocked_at and self._engine_done:
            self._settled.set()

    _engine_done = False

    def _record(self, attempt: Attempt) -> None:
        self.stats.add(attempt)
        if self._file is not None:
            self._file.attempt(attempt)
        callback_id = self.source.callback_ids[attempt.batch.event_ids[0]]
        self._attempts[callback_id] = attempt.attempt_number + 1
        if not attempt.final:
            return
        del self.source.callback_ids[attempt.batch.event_ids[0]]
        if not attempt.ok:
            status = attempt.status
            final_4xx = status is not None and 400 <= status < 500 and status != 429
            self.registry.finished(callback_id)
            outcome = Outcome.FAILED if final_4xx else Outcome.GAVE_UP
            self._settle(callback_id, outcome, lastError=attempt.outcome)
            return
        means: State = "success" if self.options.async_means == "success" else "block"
        reply = read_reply(attempt.response, means)
        self.counts.states["ASYNC" if reply.was_async else reply.state.upper()] += 1
        if check_outputs(self.options.definition, reply.output_fields):
            self.counts.invalid_outputs += 1
        if reply.state == "success":
            self.registry.finished(callback_id)
            self._settle(callback_id, Outcome.SUCCEEDED)
        elif reply.state == "fail_continue":
            self.registry.finished(callback_id)
            self._settle(callback_id, Outcome.FAILED, lastError="FAIL_CONTINUE")
        else:
            now = self.clock.monotonic()
            deadline = now + reply.expires_s / self.options.time_scale
            self._blocked_at[callback_id] = now
            early = self.registry.block(callback_id, deadline)
            if early is not None:
                self._completed(callback_id, early, now)
            else:
                self._wake.set()

    def _completed(
        self, callback_id: str, outputs: Mapping[str, str], at: float
    ) -> None:
        blocked = self._blocked_at.pop(callback_id, at)
        delay = max(0.0, at - blocked)
        self.counts.completion.add(delay)
        state = str(outputs.get("hs_execution_state", "SUCCESS")).upper()
        self._settle(
            callback_id,
            Outcome.COMPLETED,
            completionDelayMs=round(delay * 1000, 3),
            state=state,
        )

    async def _expire(self) -> None:
        """Expire blocked executions at their deadlines (the only sleeper here)."""
        clock = self.clock
        while not self._stopped:
            self._wake.clear()
            blocked = self.registry.blocked
            if not blocked:
                await self._wake.wait()
                continue
            now = clock.monotonic()
            for callback_id, deadline in blocked:
                if deadline <= now:
                    self.registry.expire(callback_id)
                    self._blocked_at.pop(callback_id, None)
                    self._settle(callback_id, Outcome.EXPIRED)
            soonest = min((d for _, d in self.registry.blocked), default=None)
            if soonest is None:
                continue
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({waker}, timeout=min(soonest - now, 0.25))
            finally:
                waker.cancel()

    async def execute(self) -> RunResult:
        """Run every execution to its final state (or until stopped)."""
        self._wake = asyncio.Event()
        await preflight(self.target.url, 3.0)
        runner = web.AppRunner(
            create_app(
                self.registry,
                self.options.api_token,
                self.options.statuses,
                self.options.require_typed_outputs,
            ),
            access_log=None,
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.options.api_port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise UsageError(
                f"--api-port {self.options.api_port}: cannot listen: "
                f"{(exc.strerror or str(exc)).lower()}"
            ) from None
        self.api_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        opts = self.options
        stream: BatchStream = (
            OpenStream(self, opts.rate, 1, opts.executions)
            if opts.rate is not None
            else CountedStream(self.source, 1, opts.executions, self.ledger)
        )
        t0 = self.started_at = time.perf_counter()
        expirer = asyncio.ensure_future(self._expire())
        sampler = asyncio.ensure_future(self._sample())
        try:
            await self.engine.run(stream.batches(), self._record)
            self._engine_done = True
            if self._blocked_at and not self._stopped:
                self._settled.clear()
                await self._settled.wait()
        finally:
            expirer.cancel()
            sampler.cancel()
            self.stats.gauge(
                self.clock.time(),
                self.engine.take_peak_in_flight(),
                self.backlog_events,
            )
            stream.close()
            await runner.cleanup()
        for batch, attempts in self.engine.unfinished:
            cid = self.source.callback_ids.pop(batch.event_ids[0], "")
            self._attempts[cid] = attempts
            self._settle(cid, Outcome.PENDING)
        for cid in list(self._blocked_at):
            self._blocked_at.pop(cid)
            self._settle(cid, Outcome.PENDING, blocked=True)
        if self._file is not None:
            self._file.close()
        return RunResult(
            summary=self.stats.summary(time.perf_counter() - t0),
            ledger=self.ledger,
            interrupted=self._stopped,
            app_id=self.source.app_id,
            portal_ids=self.source.portal_ids,
            target_url=self.target.url,
            stats=self.stats,
            unit="execution",
            outcomes=dict(self.counts.outcomes),
        )

    async def _sample(self) -> None:
        while True:
            self.stats.gauge(
                self.clock.time(),
                self.engine.take_peak_in_flight(),
                self.backlog_events,
            )
            await asyncio.sleep(SAMPLE_EVERY_S)

    def report(self) -> dict[str, Any]:
        """The ``actions`` section of a report."""
        return self.counts.to_json(self.registry.calls)
