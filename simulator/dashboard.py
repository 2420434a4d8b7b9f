"""
The live view of running sends: a rich dashboard on a terminal, a plain line
every few seconds in CI logs. It reads figures the runs keep anyway (stats,
ledger, engine gauges) and computes nothing the report would not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from rich.console import Console, Group, RenderableType
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from .ledger import Ledger
from .stats import LatencyHistogram, Stats

#: Rolling latency percentiles cover this many whole seconds.
ROLLING_S: Final = 5
#: In a non-TTY, one plain line this often.
PLAIN_EVERY_S: Final = 2.0


@dataclass(frozen=True, slots=True)
class LiveFigures:
    """
    What the dashboard shows at one moment, summed over the runs (apps).
    """

    settled: int
    total: int
    elapsed_s: float
    requests_per_s: float
    events_per_s: float
    p50_ms: float
    p99_ms: float
    in_flight: int
    backlog: int
    failed: dict[str, int]
    retries_waiting: int
    next_retry_s: float | None
    phase: str
    #: What one item is: ``events``, workflow ``records``, action ``executions``.
    unit: str = "events"

    def line(self) -> str:
        """One plain line, for CI logs."""
        done = f"{self.settled:,}/{self.total:,}" if self.total else f"{self.settled:,}"
        text = (
            f"delivered {done}{self._left()} · "
            f"{self.events_per_s:,.0f} {self.unit}/s · "
            f"{self.requests_per_s:,.0f} req/s · "
            f"p50 {self.p50_ms:,.1f} ms · p99 {self.p99_ms:,.1f} ms · "
            f"in flight {self.in_flight} · backlog {self.backlog:,}"
        )
        if self.failed:
            text += " · failed " + ", ".join(
                f"{k} {v:,}" for k, v in sorted(self.failed.items())
            )
        if self.retries_waiting:
            text += f" · {self.retries_waiting} batches wait to retry"
        if self.phase:
            text += f" · {self.phase}"
        return text

    def _left(self) -> str:
        """`` (~12 s left)`` at the current rate, when there is a total."""
        if not self.total or self.events_per_s <= 0 or self.settled >= self.total:
            return ""
        return (
            f" (~{duration_text((self.total - self.settled) / self.events_per_s)} left)"
        )


def duration_text(seconds: float) -> str:
    """``42 s``, ``3 min 20 s``, ``2 h 5 min``."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


class Gauges(Protocol):
    """The engine's live gauges the dashboard reads."""

    @property
    def in_flight(self) -> int: ...
    @property
    def waiting_retries(self) -> int: ...
    @property
    def next_retry_in(self) -> float | None: ...


class LiveRun(Protocol):
    """What the dashboard reads of a running send (a SendRun, a ReplayRun)."""

    @property
    def stats(self) -> Stats: ...
    @property
    def ledger(self) -> Ledger: ...
    @property
    def engine(self) -> Gauges: ...
    @property
    def started_at(self) -> float | None: ...
    @property
    def phases(self) -> tuple[Any, ...]: ...
    @property
    def current_phase(self) -> int: ...
    @property
    def backlog_events(self) -> int: ...


def live_figures(
    runs: Sequence[LiveRun], total: int, now: float, unit: str = "events"
) -> LiveFigures:
    """
    The runs' figures at epoch ``now``: rates and percentiles over the last
    :data:`ROLLING_S` whole seconds (the current, partial one left out).
    """
    current = int(now)
    window = range(current - ROLLING_S, current)
    rolling = LatencyHistogram()
    requests = events = 0
    failed: dict[str, int] = {}
    started = [r.started_at for r in runs if r.started_at is not None]
    elapsed = time.perf_counter() - min(started) if started else 0.0
    for r in runs:
        stats = r.stats
        for sec in window:
            second = stats.series.get(sec)
            if second is not None:
                requests += second.requests
                events += second.events
                rolling.merge(second.latency)
        for outcome, n in stats.outcomes.items():
            if not outcome.startswith("2"):
                failed[outcome] = failed.get(outcome, 0) + n
    # The seconds the window really covers: not the start-up before the first
    # request, nor the part of its first second before it (rates would read low).
    firsts = [r.stats.first_start for r in runs if r.stats.first_start]
    start = max(float(current - ROLLING_S), min(firsts)) if firsts else current - 1.0
    seconds = max(current - start, 0.25)
    nexts = [r.engine.next_retry_in for r in runs]
    phase = ""
    for r in runs:
        if r.phases and r.current_phase >= 0:
            phase = (
                f"phase {r.current_phase + 1}/{len(r.phases)} "
                f"{r.phases[r.current_phase].name}"
            )
    return LiveFigures(
        settled=sum(r.ledger.delivered + r.ledger.gave_up for r in runs),
        total=total,
        elapsed_s=elapsed,
        requests_per_s=requests / seconds,
        events_per_s=events / seconds,
        p50_ms=rolling.percentile(50) * 1000,
        p99_ms=rolling.percentile(99) * 1000,
        in_flight=sum(r.engine.in_flight for r in runs),
        backlog=sum(r.backlog_events for r in runs),
        failed=failed,
        retries_waiting=sum(r.engine.waiting_retries for r in runs),
        next_retry_s=min((n for n in nexts if n is not None), default=None),
        phase=phase,
        unit=unit,
    )


def figures_table(f: LiveFigures) -> RenderableType:
    """The dashboard's figures under the progress bar: three short lines."""

    def row(*pairs: tuple[str, str]) -> str:
        return "  ·  ".join(f"[bold]{value}[/] {label}" for value, label in pairs)

    retry = "none"
    if f.retries_waiting:
        retry = f"{f.retries_waiting:,} batches"
        if f.next_retry_s is not None:
            retry += f" (next in {f.next_retry_s:,.0f} s)"
    lines = [
        row(
            (f"{f.events_per_s:,.0f}", f"{f.unit}/s"),
            (f"{f.requests_per_s:,.0f}", "req/s"),
            (f"{f.p50_ms:,.1f} ms", "p50"),
            (f"{f.p99_ms:,.1f} ms", f"p99 (last {ROLLING_S} s)"),
        ),
        row(
            (str(f.in_flight), "in flight"),
            (f"{f.backlog:,}", f"{f.unit} waiting"),
            (retry, "to retry"),
        )
        + (f"  ·  {f.phase}" if f.phase else ""),
    ]
    if f.failed:
        failed = ", ".join(f"{k} × {v:,}" for k, v in sorted(f.failed.items()))
        lines.append(f"[red]failed requests:[/] {failed}")
    else:
        lines.append("[green]no failed requests[/]")
    return Group(*(Text.from_markup(line) for line in lines))


class _Dashboard(Progress):
    """A progress bar with the figures table under it (rich's own pattern)."""

    def __init__(
        self, figures: Callable[[], LiveFigures], console: Console, by_time: bool
    ):
        self._figures = figures  # before super(): it renders once already
        super().__init__(
            TextColumn("[bold]measuring" if by_time else "[bold]delivering"),
            BarColumn(),
            TimeElapsedColumn()
            if by_time
            else TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
            TimeElapsedColumn(),
            TextColumn("") if by_time else TimeRemainingColumn(),
            console=console,
        )

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        yield figures_table(self._figures())


class Dashboard:
    """
    The live view of running sends (:class:`simulator.run.View`): on a
    terminal a progress bar with the figures under it, refreshed a few times a
    second; elsewhere (CI logs) one plain line every :data:`PLAIN_EVERY_S`
    seconds. Progress is events settled out of the total, or seconds out of
    ``duration_s`` for a run bounded by time. ``quiet`` shows notes only.
    """

    def __init__(
        self,
        console: Console,
        quiet: bool = False,
        duration_s: float | None = None,
        unit: str = "events",
    ) -> None:
        self.console = console
        self.quiet = quiet
        self.duration_s = duration_s
        self.unit = unit
        self._runs: Sequence[LiveRun] = ()
        self._total = 0
        self._progress: _Dashboard | None = None
        self._task: TaskID | None = None
        self._t0 = time.perf_counter()
        self._last = time.monotonic()

    def _figures(self) -> LiveFigures:
        return live_figures(self._runs, self._total, time.time(), self.unit)

    def start(self, runs: Sequence[LiveRun], total: int | None) -> None:
        """Show ``runs``, out of ``total`` events (None: bounded by time)."""
        self._runs, self._total = runs, total or 0
        self._t0, self._last = time.perf_counter(), time.monotonic()
        if self.quiet or not self.console.is_terminal:
            return
        by_time = total is None
        self._progress = _Dashboard(self._figures, self.console, by_time)
        self._task = self._progress.add_task(
            "delivering", total=self.duration_s if by_time else total
        )
        self._progress.start()

    def tick(self) -> None:
        """Refresh (terminal) or print a line when one is due (CI logs)."""
        if self.quiet:
            return
        if self._progress is not None and self._task is not None:
            done: float
            if self._total:
                done = sum(r.ledger.delivered + r.ledger.gave_up for r in self._runs)
            else:
                done = min(time.perf_counter() - self._t0, self.duration_s or 0.0)
            self._progress.update(self._task, completed=done)
            return
        now = time.monotonic()
        if now - self._last >= PLAIN_EVERY_S:
            self._last = now
            self.console.print(self._figures().line(), highlight=False, soft_wrap=True)

    def note(self, text: str) -> None:
        """One line about what happens (a phase begins, a stop was asked for)."""
        printer = self._progress.console if self._progress is not None else self.console
        printer.print(Text(text, style="dim"), soft_wrap=True)

    def stop(self) -> None:
        """The runs are over: a last refresh, then the bar goes."""
        if self._progress is not None:
            self.tick()
            self._progress.stop()
            self._progress = None
