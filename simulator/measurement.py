"""
One bench measurement: a run's figures over all its workers, hubsim's own
CPU, and what a reader must know before trusting them (hubsim near its CPU
limit, a schedule not kept, slots past HubSpot's in-flight limit).
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass, field
from typing import Any, Final

from . import aio
from .result import RunResult
from .stats import Stats

#: hubsim's own CPU share (of the cores its processes had) above which the
#: generator, not the receiver, may have been the limit.
GENERATOR_BOUND_SHARE: Final = 0.85
#: Share of open-model sends that may start late before the run says so.
LATE_WARN_SHARE: Final = 0.05


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
    #: Open model with its default slots: HubSpot's in-flight limit to hold
    #: the receiver's figures against, since the slots went past it.
    hubspot_slots: int | None = None

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

    @property
    def hubspot_carries(self) -> float | None:
        """
        The requests/s HubSpot's in-flight limit would carry at this
        receiver's mean latency (Little's law), when that is below the rate
        asked: the open model's spare slots kept up where HubSpot could not.
        """
        slots, rate, mean = self.hubspot_slots, self.rate, self.stats.latency.mean()
        if slots is None or rate is None or mean <= 0:
            return None
        carried = slots / mean
        return carried if carried < rate else None

    def warnings(self) -> list[str]:
        """What a reader must know before trusting the figures."""
        out = []
        carried = self.hubspot_carries
        if carried is not None and self.rate is not None:
            mean_ms = self.stats.latency.mean() * 1000
            out.append(
                f"HubSpot sends an app at most {self.hubspot_slots} requests at once "
                f"unless it sets maxConcurrentRequests; at this receiver's mean "
                f"latency ({mean_ms:,.1f} ms) that carries about {carried:,.0f} "
                f"requests/s, below the {self.rate:,.0f}/s asked, so HubSpot would "
                f"fall behind (--max-concurrent {self.hubspot_slots} measures it so)"
            )
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
            "hubspot_would_carry_requests_per_second": (
                None if self.hubspot_carries is None else round(self.hubspot_carries, 1)
            ),
            "warnings": self.warnings(),
        }
