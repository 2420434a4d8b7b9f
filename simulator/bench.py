"""
``hubsim bench``: how much a receiver takes, measured the way HubSpot loads it.

Closed model (default): ``concurrency`` slots each send the next full batch as
soon as their last answer arrived, HubSpot's own behaviour at its in-flight
limit; the receiver sets the pace. Open model: full batches start at a fixed
rate whatever the receiver does; latency is measured from each batch's due
moment as well as from its actual start, and sends that started late or never
are counted. A ramp steps the concurrency or rate until a service-level
objective breaks, and reports the knee.

Each measurement is an ordinary :class:`~simulator.run.SendRun` (one attempt
per batch, pre-rendered events, full batches, bounded by time and count), so
its report has the same schema as any other run. ``workers`` > 1 runs the
load in that many processes and merges their histograms.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import multiprocessing
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

from rich.console import Console

from . import aio, dashboard
from .errors import UsageError
from .ledger import Ledger
from .result import RunResult
from .run import SendOptions, SendRun, make_send_options
from .signing import ClientSecret
from .stats import Stats
from .thresholds import Check, Threshold, evaluate, parse_rules

Model = Literal["closed", "open"]
#: Open-model slots when --max-concurrent is not given: enough that the
#: schedule, not a slot limit, decides when batches start.
OPEN_MAX_IN_FLIGHT: Final = 1000
#: hubsim's own CPU share (of the cores its processes had) above which the
#: generator, not the receiver, may have been the limit.
GENERATOR_BOUND_SHARE: Final = 0.85
#: Share of open-model sends that may start late before the run says so.
LATE_WARN_SHARE: Final = 0.05


# ---------------------------------------------------------------------------
# Service-level objectives and ramps (pure)
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Slo:
    """
    A comma-separated set of rules in the threshold language
    (:mod:`simulator.thresholds`), ``p99<250ms,errors<1%``. In the open model
    latency is measured from each batch's due moment, so a backed-up schedule
    counts.
    """

    rules: tuple[Threshold, ...]

    @classmethod
    def parse(cls, text: str) -> Slo:
        """UsageError naming the bad rule otherwise."""
        rules = parse_rules([text], "--slo")
        if not rules:
            raise UsageError("--slo: give at least one rule, like 'p99<250ms'")
        return cls(rules)

    def check(self, result: RunResult) -> list[Check]:
        """Each rule with what ``result`` measured (latency from schedule)."""
        return evaluate(self.rules, result, from_schedule=True)

    def __str__(self) -> str:
        return ", ".join(str(r) for r in self.rules)


@dataclass(frozen=True, slots=True)
class Ramp:
    """``FROM:TO:STEP:STEP_SECONDS``: concurrency (closed) or rate (open) steps."""

    start: float
    stop: float
    step: float
    step_s: float

    @classmethod
    def parse(cls, text: str) -> Ramp:
        """UsageError saying what is wrong otherwise."""
        parts = text.split(":")
        try:
            start, stop, step, seconds = (float(p) for p in parts)
        except ValueError:
            raise UsageError(
                f"--ramp: {text!r} is not FROM:TO:STEP:STEP_SECONDS, e.g. 10:100:10:5"
            ) from None
        if min(start, step, seconds) <= 0 or stop < start:
            raise UsageError(
                "--ramp: FROM, STEP and STEP_SECONDS must be more than 0 and TO "
                "at least FROM"
            )
        return cls(start, stop, step, seconds)

    def values(self) -> list[float]:
        """Every step's value, FROM to TO inclusive."""
        n = math.floor((self.stop - self.start) / self.step + 1e-9)
        return [self.start + i * self.step for i in range(n + 1)]


# ---------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BenchOptions:
    """
    What ``hubsim bench`` measures. ``rate`` is in requests/s (full batches);
    ``max_requests`` and ``duration_s`` bound every measurement.
    """

    target_url: str
    secret: ClientSecret
    model: Model = "closed"
    concurrency: int | None = None
    rate: float | None = None
    duration_s: float = 10.0
    max_requests: int | None = None
    batch_size: int = 100
    timeout_s: float = 5.0
    distinct: int = 20_000
    seed: int | None = None
    types: tuple[str, ...] = ()
    workers: int = 1
    allow_remote: bool = False

    def __post_init__(self) -> None:
        if self.model == "open" and self.rate is None:
            raise UsageError("--model open needs --rate (requests/s)")
        if self.model == "closed" and self.rate is not None:
            raise UsageError("--rate is for --model open")
        if self.duration_s <= 0:
            raise UsageError("--duration must be more than 0 seconds")
        if self.max_requests is not None and self.max_requests < 1:
            raise UsageError("--requests must be at least 1")
        if self.workers < 1:
            raise UsageError("--workers must be at least 1")
        if self.concurrency is not None and self.concurrency < self.workers:
            raise UsageError("--max-concurrent must be at least --workers")

    @property
    def slots(self) -> int:
        """Requests in flight at most, over all workers."""
        if self.concurrency is not None:
            return self.concurrency
        return OPEN_MAX_IN_FLIGHT if self.model == "open" else 10


@dataclass(frozen=True, slots=True)
class Measurement:
    """
    One bench run (or ramp step): figures over all workers, hubsim's own CPU.
    """

    result: RunResult
    elapsed_s: float
    cpu_s: float
    workers: int
    concurrency: int
    rate: float | None
    loop: str = field(default_factory=aio.loop_name)

    @property
    def stats(self) -> Stats:
        """The merged statistics."""
        assert self.result.stats is not None
        return self.result.stats

    @property
    def requests_per_s(self) -> float:
        """Answers per second over the measured window."""
        return self.stats.requests / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def events_per_s(self) -> float:
        """Events sent per second over the measured window."""
        return self.stats.events_sent / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def cpu_share(self) -> float:
        """hubsim's CPU time over the cores its processes had (0 to 1)."""
        if not self.elapsed_s:
            return 0.0
        return self.cpu_s / (self.elapsed_s * self.workers)

    @property
    def generator_bound(self) -> bool:
        """True when hubsim itself was near its CPU limit."""
        return self.cpu_share >= GENERATOR_BOUND_SHARE

    @property
    def late_share(self) -> float:
        """Open model: share of scheduled sends that started late or never."""
        s = self.stats
        scheduled = s.scheduled_sends + s.dropped_sends
        return (s.late_sends + s.dropped_sends) / scheduled if scheduled else 0.0

    def warnings(self) -> list[str]:
        """What a reader must know before trusting the figures."""
        out = []
        if self.generator_bound:
            hint = (
                f"try --workers {self.workers + 1}"
                if self.workers < (multiprocessing.cpu_count() or 1)
                else "run hubsim on another machine, or use hubsim[locust]"
            )
            out.append(
                f"hubsim used {self.cpu_share:.0%} of its CPU: the generator, not "
                f"the receiver, may have been the limit ({hint})"
            )
        if self.rate is not None and self.late_share > LATE_WARN_SHARE:
            s = self.stats
            out.append(
                f"the schedule was not kept: {s.late_sends:,} of "
                f"{s.scheduled_sends + s.dropped_sends:,} sends started late and "
                f"{s.dropped_sends:,} never started (every slot was busy; latency "
                "'from schedule' counts the wait)"
            )
        return out

    def to_json(self) -> dict[str, Any]:
        """The bench-specific part of a report."""
        return {
            "model": "open" if self.rate is not None else "closed",
            "concurrency": self.concurrency,
            "rate_requests_per_second": self.rate,
            "workers": self.workers,
            "event_loop": self.loop,
            "measured_window_s": round(self.elapsed_s, 6),
            "requests_per_second": round(self.requests_per_s, 3),
            "events_per_second": round(self.events_per_s, 3),
            "hubsim_cpu_seconds": round(self.cpu_s, 3),
            "hubsim_cpu_share": round(self.cpu_share, 4),
            "generator_bound": self.generator_bound,
            "late_sends": self.stats.late_sends,
            "dropped_sends": self.stats.dropped_sends,
            "warnings": self.warnings(),
        }


def _send_options(
    opts: BenchOptions, concurrency: int, rate: float | None, index: int
) -> SendOptions:
    requests = opts.max_requests
    if requests is None:
        # Enough for the whole duration at any plausible speed; --duration ends it.
        requests = math.ceil(rate * opts.duration_s) + 1 if rate else 10**9
    return make_send_options(
        target_url=opts.target_url,
        secret=opts.secret,
        events=requests * opts.batch_size,
        types=opts.types,
        seed=None if opts.seed is None else opts.seed + index,
        batch_size=opts.batch_size,
        max_concurrent=concurrency,
        timeout=opts.timeout_s,
        retry_profile="none",
        distinct=opts.distinct,
        allow_remote=opts.allow_remote,
        preflight=False,
        duration_s=opts.duration_s,
        rate=rate,
        max_requests=opts.max_requests,
    )


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


async def _run_one(
    options: SendOptions, start_at: float | None, console: Console | None = None
) -> dict[str, Any]:
    """One process's share: a SendRun, timed, with its own CPU use."""
    if start_at is not None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
    run = SendRun(options)
    # Ctrl-C / SIGTERM end the measurement early (in-flight requests finish)
    # so the reports are still written, as for send and run.
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, run.stop)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    if console is None:
        result = await run.execute()
    else:
        task = asyncio.ensure_future(run.execute())
        with dashboard.live([run], None, console, options.duration_s) as tick:
            while not task.done():
                await asyncio.wait({task}, timeout=0.25)
                tick()
        result = task.result()
    elapsed = time.perf_counter() - t0
    stats = result.stats or Stats()
    return {
        "stats": stats.to_json(),
        "ledger": result.ledger.to_json(),
        "elapsed_s": elapsed,
        "cpu_s": time.process_time() - cpu0,
        "app_id": result.app_id,
        "interrupted": result.interrupted,
        "portal_ids": list(result.portal_ids),
    }


def _worker(options: SendOptions, start_at: float) -> dict[str, Any]:
    """Entry point of a worker process."""
    return aio.run(_run_one(options, start_at))


def _combine(
    parts: Sequence[dict[str, Any]], opts: BenchOptions
) -> tuple[RunResult, float]:
    stats, ledger = Stats(), Ledger()
    for part in parts:
        stats.merge(Stats.from_json(part["stats"]))
        ledger.merge(Ledger.from_json(part["ledger"]))
    elapsed = max(p["elapsed_s"] for p in parts)
    result = RunResult(
        summary=stats.summary(elapsed),
        ledger=ledger,
        interrupted=any(p["interrupted"] for p in parts),
        app_id=parts[0]["app_id"],
        portal_ids=tuple(p for part in parts for p in part["portal_ids"]),
        target_url=opts.target_url,
        stats=stats,
    )
    return result, elapsed


def measure(
    opts: BenchOptions,
    concurrency: int,
    rate: float | None = None,
    console: Console | None = None,
) -> Measurement:
    """
    One measurement at ``concurrency`` slots (and ``rate`` requests/s in the
    open model), in ``opts.workers`` processes. Blocks until it is over; with a
    ``console`` and one worker, shows the live dashboard meanwhile.
    """
    workers = opts.workers
    if workers == 1:
        options = _send_options(opts, concurrency, rate, 0)
        parts = [aio.run(_run_one(options, None, console))]
        cpu_s = parts[0]["cpu_s"]
    else:
        slots = _split(concurrency, workers)
        rates = [None if rate is None else rate / workers] * workers
        limits = (
            _split(opts.max_requests, workers)
            if opts.max_requests
            else [None] * workers
        )
        options_k = [
            _send_options(
                replace(opts, max_requests=limits[i] or None), slots[i], rates[i], i
            )
            for i in range(workers)
        ]
        # Spawned, not forked: each worker starts its own clean event loop.
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as ex:
            # Started together once every process is up (spawning takes ~1 s).
            start_at = time.time() + 1.5
            futures = [ex.submit(_worker, o, start_at) for o in options_k]
            # A terminal's Ctrl-C reaches the workers, which stop and report;
            # the parent waits for their figures instead of dying first.
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                parts = [f.result() for f in futures]
            finally:
                signal.signal(signal.SIGINT, previous)
        # The run's own CPU, not the processes' start-up and imports.
        cpu_s = sum(p["cpu_s"] for p in parts)
    result, elapsed = _combine(parts, opts)
    return Measurement(result, elapsed, cpu_s, workers, concurrency, rate)


@dataclass(frozen=True, slots=True)
class Step:
    """One ramp step: its setting, its measurement, and the SLO's verdict."""

    value: float
    measurement: Measurement
    checks: list[Check]

    @property
    def held(self) -> bool:
        """Every SLO rule held at this step."""
        return all(c.ok for c in self.checks)


def ramp(
    opts: BenchOptions,
    steps: Ramp,
    slo: Slo,
    on_step: Callable[[Step], None] | None = None,
) -> tuple[list[Step], Step | None]:
    """
    Measure each step until the SLO breaks: every step run, and the knee (the
    highest step that held; None when the first step already broke).
    """
    done: list[Step] = []
    knee: Step | None = None
    step_opts = replace(opts, duration_s=steps.step_s)
    for value in steps.values():
        if opts.model == "open":
            m = measure(step_opts, opts.slots, value)
        else:
            m = measure(step_opts, max(opts.workers, round(value)))
        step = Step(value, m, slo.check(m.result))
        done.append(step)
        if on_step is not None:
            on_step(step)
        if not step.held:
            break
        knee = step
    return done, knee
