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
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from . import aio
from .declarations import setting, validate
from .errors import UsageError
from .ledger import Ledger
from .measurement import Measurement
from .result import RunResult
from .run import SendRun, View
from .settings import (
    HUBSPOT_IN_FLIGHT,
    MAX_DURATION_S,
    MAX_EVENTS,
    MAX_IN_FLIGHT,
    MAX_RATE,
    Bounds,
    SendOptions,
    SendSettings,
)
from .signing import ClientSecret
from .stats import Stats
from .thresholds import Check, Threshold, evaluate, parse_rules

Model = Literal["closed", "open"]
#: Open-model slots when --max-concurrent is not given: enough that the
#: schedule, not a slot limit, decides when batches start (100 in flight
#: carries 2,500 requests/s to a receiver answering in 40 ms), and few enough
#: that hubsim's own loop stays cheap. With 1,000, a schedule that fell a
#: little behind opened hundreds of connections and sent half the closed
#: model's rate; a send waiting for a slot is counted late, never hidden.
OPEN_MAX_IN_FLIGHT: Final = 100
MAX_RAMP_VALUE: Final = 1_000_000.0
MAX_STEP_S: Final = 3600.0
MAX_STEPS: Final = 100
MAX_WORKERS: Final = 64


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
        if not all(math.isfinite(x) for x in (start, stop, step, seconds)):
            raise UsageError("--ramp: every part must be a finite number")
        if min(start, step, seconds) <= 0 or stop < start:
            raise UsageError(
                "--ramp: FROM, STEP and STEP_SECONDS must be more than 0 and TO "
                "at least FROM"
            )
        if stop > MAX_RAMP_VALUE or seconds > MAX_STEP_S:
            raise UsageError(
                f"--ramp: TO is at most {MAX_RAMP_VALUE:,.0f} and STEP_SECONDS at "
                f"most {MAX_STEP_S:,.0f}"
            )
        if (stop - start) / step + 1 > MAX_STEPS:
            raise UsageError(f"--ramp: at most {MAX_STEPS} steps; take a larger STEP")
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

    target_url: str = ""
    secret: ClientSecret | None = None
    model: Model = setting(
        "closed", "--model", None, "choice",
        "closed: each slot sends again as soon as it is answered (HubSpot at its "
        "limit); open: batches start at --rate whatever the receiver does.",
        choices=("closed", "open"),
    )  # fmt: skip
    calibrate: bool = setting(
        False, "--calibrate", None, "bool",
        "First measure hubsim's own ceiling against a null sink on this "
        "machine, and say whether the receiver's figure is near it.",
    )  # fmt: skip
    concurrency: int | None = setting(
        None, "--max-concurrent", None, "int",
        f"Requests in flight at most (closed default 10, as HubSpot; open default "
        f"{OPEN_MAX_IN_FLIGHT}).",
        low=1, high=MAX_IN_FLIGHT,
    )  # fmt: skip
    rate: float | None = setting(
        None, "--rate", None, "float",
        "Open model: requests (full batches) per second; see --per.",
        low=0.001, high=MAX_RATE, metavar="R",
    )  # fmt: skip
    duration_s: float = setting(
        10.0, "--duration", None, "float",
        "Stop starting requests after this long (each ramp step: STEP_SECONDS).",
        low=0.1, high=MAX_DURATION_S, metavar="SECONDS",
    )  # fmt: skip
    max_requests: int | None = setting(
        None, "--requests", None, "int", "Send at most this many requests.",
        low=1, high=MAX_EVENTS,
    )  # fmt: skip
    batch_size: int = setting(
        100, "--batch-size", None, "int", "Events per request.", low=1, high=100
    )
    timeout_s: float = setting(
        5.0, "--timeout", None, "float", "Response timeout in seconds.",
        low=0.01, high=600, metavar="SECONDS",
    )  # fmt: skip
    distinct: int = setting(
        20_000, "--distinct", None, "int",
        "Different events pre-rendered, then re-sent with fresh ids.",
        low=1, high=1_000_000, metavar="N",
    )  # fmt: skip
    seed: int | None = setting(
        None, "--seed", None, "int", "Makes events reproducible.", low=0,
        high=2**64 - 1,
    )  # fmt: skip
    types: tuple[str, ...] = setting(
        (), "--types", None, "list", "As for send.", short="-t", metavar="LIST"
    )
    workers: int = setting(
        1, "--workers", None, "int",
        f"Processes generating load, when one core is not enough (1-{MAX_WORKERS}).",
        low=1, high=MAX_WORKERS,
    )  # fmt: skip
    allow_remote: bool = False

    def __post_init__(self) -> None:
        validate(self)
        if self.model == "closed" and self.rate is not None:
            raise UsageError("--rate is for --model open")
        if self.concurrency is not None and self.concurrency < self.workers:
            raise UsageError("--max-concurrent must be at least --workers")

    def aimed(
        self,
        target_url: str,
        secret: ClientSecret,
        allow_remote: bool = False,
        ramped: bool = False,
    ) -> BenchOptions:
        """Pointed at a target; the open model needs a rate (or a ramp)."""
        if self.model == "open" and self.rate is None and not ramped:
            raise UsageError("--model open needs --rate (or --ramp)")
        return replace(
            self, target_url=target_url, secret=secret, allow_remote=allow_remote
        )

    @property
    def slots(self) -> int:
        """Requests in flight at most, over all workers."""
        if self.concurrency is not None:
            return self.concurrency
        return OPEN_MAX_IN_FLIGHT if self.model == "open" else HUBSPOT_IN_FLIGHT


def _send_options(
    opts: BenchOptions, concurrency: int, rate: float | None, index: int
) -> SendOptions:
    requests = opts.max_requests
    if requests is None:
        # Enough for the whole duration at any plausible speed; --duration ends it.
        requests = math.ceil(rate * opts.duration_s) + 1 if rate else MAX_EVENTS // 100
    if opts.secret is None:
        raise UsageError("bench needs the client secret: pass --secret")
    settings = SendSettings(
        events=min(requests * opts.batch_size, MAX_EVENTS),
        types=opts.types,
        seed=None if opts.seed is None else opts.seed + index,
        batch_size=opts.batch_size,
        max_concurrent=concurrency,
        timeout=opts.timeout_s,
        retry_profile="none",
        distinct=opts.distinct,
        preflight=False,
        spread=0.0,  # a load test's events just happened: age is delivery delay
    )
    bounds = Bounds(opts.duration_s, rate, opts.max_requests)
    return settings.to_options(
        opts.target_url, opts.secret, allow_remote=opts.allow_remote, bounds=bounds
    )


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


async def _run_one(
    options: SendOptions, start_at: float | None, view: View | None = None
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
    if view is None:
        result = await run.execute()
    else:
        task = asyncio.ensure_future(run.execute())
        view.start([run], None)
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=0.25)
                view.tick()
        finally:
            view.stop()
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
    view: View | None = None,
) -> Measurement:
    """
    One measurement at ``concurrency`` slots (and ``rate`` requests/s in the
    open model), in ``opts.workers`` processes. Blocks until it is over; with a
    ``view`` and one worker, shows it meanwhile.
    """
    workers = opts.workers
    if workers == 1:
        options = _send_options(opts, concurrency, rate, 0)
        parts = [aio.run(_run_one(options, None, view))]
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
    hubspot = (
        HUBSPOT_IN_FLIGHT if rate is not None and opts.concurrency is None else None
    )
    return Measurement(
        result, elapsed, cpu_s, workers, concurrency, rate, hubspot_slots=hubspot
    )


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


@dataclass(frozen=True, slots=True)
class RampResult:
    """Every ramp step in the user's unit, the knee, and the report section."""

    unit: str
    slo: Slo
    #: (the step's value in the user's unit, the step)
    steps: tuple[tuple[float, Step], ...]
    knee: tuple[float, Step] | None

    @property
    def reported(self) -> Step:
        """The step a report describes: the knee, or the last one run."""
        return self.knee[1] if self.knee is not None else self.steps[-1][1]

    def to_json(self) -> dict[str, Any]:
        """The ``ramp`` section of a report (docs/report-schema.md)."""
        return {
            "unit": self.unit,
            "slo": str(self.slo),
            "knee": None if self.knee is None else self.knee[0],
            "steps": [
                {
                    "value": value,
                    "held": step.held,
                    **step.measurement.to_json(),
                    "slo": [
                        {
                            "rule": str(c.threshold),
                            "measured": round(c.measured, 6),
                            "ok": c.ok,
                        }
                        for c in step.checks
                    ],
                }
                for value, step in self.steps
            ],
        }


def ramp_in_units(
    opts: BenchOptions,
    steps: Ramp,
    slo: Slo,
    per_batch: float,
    on_step: Callable[[float, Step], None] | None = None,
) -> RampResult:
    """
    :func:`ramp` with the open model's rates in the user's unit (requests or
    events per second: ``per_batch`` events per request, 1 for requests).
    """
    unit = "in flight" if opts.model == "closed" else "requests/s"
    factor = 1.0 / per_batch
    scaled = steps
    if opts.model == "open":
        scaled = Ramp(
            steps.start * factor, steps.stop * factor, steps.step * factor,
            steps.step_s,
        )  # fmt: skip

    def shown(step: Step) -> float:
        return step.value / factor if opts.model == "open" else step.value

    def told(step: Step) -> None:
        if on_step is not None:
            on_step(shown(step), step)

    done, knee = ramp(opts, scaled, slo, told)
    return RampResult(
        unit,
        slo,
        tuple((shown(s), s) for s in done),
        None if knee is None else (shown(knee), knee),
    )
