"""
Statistics over attempts: counts, rates and latency percentiles.

Latencies go into buckets rounded to three significant digits of a microsecond
(locust's idea): memory stays bounded whatever the run length, and percentiles
are within 0.5 % of exact. Pure: fed with :class:`Attempt` records, never I/O.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from .delivery import Attempt


def bucket_us(latency_s: float) -> int:
    """
    ``latency_s`` in microseconds, rounded to three significant digits.
    """
    us = max(0, round(latency_s * 1_000_000))
    if us < 1000:
        return us
    scale: int = 10 ** (int(math.log10(us)) - 2)
    return int(round(us / scale) * scale)


@dataclass
class LatencyHistogram:
    """
    Counts per latency bucket; mergeable, bounded in size.
    """

    counts: Counter[int] = field(default_factory=Counter)
    total: int = 0
    max_us: int = 0

    def add(self, latency_s: float) -> None:
        """Record one latency."""
        b = bucket_us(latency_s)
        self.counts[b] += 1
        self.total += 1
        if b > self.max_us:
            self.max_us = b

    def percentile(self, p: float) -> float:
        """The ``p``-th percentile (0-100) in seconds; 0 when empty."""
        if not self.total:
            return 0.0
        rank = max(1, math.ceil(p / 100 * self.total))
        seen = 0
        for b in sorted(self.counts):
            seen += self.counts[b]
            if seen >= rank:
                return b / 1_000_000
        return self.max_us / 1_000_000

    def merge(self, other: LatencyHistogram) -> None:
        """Add another histogram's counts to this one."""
        self.counts.update(other.counts)
        self.total += other.total
        self.max_us = max(self.max_us, other.max_us)


@dataclass(frozen=True, slots=True)
class Percentiles:
    """
    Latency percentiles in seconds.
    """

    p50: float
    p90: float
    p99: float
    max: float


@dataclass(frozen=True, slots=True)
class Summary:
    """
    What a run measured; everything a report renders, nothing it must compute.
    """

    requests: int
    events_sent: int
    duration_s: float
    requests_per_s: float
    events_per_s: float
    ok_requests: int
    latency: Percentiles
    outcomes: Mapping[str, int]
    by_attempt: Mapping[int, int]
    bytes_out: int
    max_event_age_s: float = 0.0

    @property
    def success_ratio(self) -> float:
        """Share of requests answered 2xx."""
        return self.ok_requests / self.requests if self.requests else 0.0


class Stats:
    """
    Accumulates attempts; ``summary()`` can be called at any time.
    """

    def __init__(self) -> None:
        self.latency = LatencyHistogram()
        self.requests = 0
        self.ok_requests = 0
        self.events_sent = 0
        self.bytes_out = 0
        self.outcomes: Counter[str] = Counter()
        self.by_attempt: Counter[int] = Counter()
        self.max_event_age_s = 0.0
        self.first_start: float | None = None
        self.last_end: float | None = None

    def add(self, attempt: Attempt) -> None:
        """Record one attempt."""
        self.requests += 1
        self.events_sent += len(attempt.batch)
        self.bytes_out += attempt.bytes_out
        self.latency.add(attempt.latency_s)
        self.outcomes[attempt.outcome] += 1
        self.by_attempt[attempt.attempt_number] += 1
        end = attempt.started_at + attempt.latency_s
        if attempt.ok:
            self.ok_requests += 1
            # occurredAt to acknowledgement: the lag a HubSpot user feels.
            age = end - min(attempt.batch.occurred_at) / 1000
            if age > self.max_event_age_s:
                self.max_event_age_s = age
        if self.first_start is None or attempt.started_at < self.first_start:
            self.first_start = attempt.started_at
        if self.last_end is None or end > self.last_end:
            self.last_end = end

    def merge(self, other: Stats) -> None:
        """
        Add another run's figures (several apps measured as one run).
        """
        self.latency.merge(other.latency)
        self.requests += other.requests
        self.ok_requests += other.ok_requests
        self.events_sent += other.events_sent
        self.bytes_out += other.bytes_out
        self.outcomes.update(other.outcomes)
        self.by_attempt.update(other.by_attempt)
        self.max_event_age_s = max(self.max_event_age_s, other.max_event_age_s)
        starts = [t for t in (self.first_start, other.first_start) if t is not None]
        ends = [t for t in (self.last_end, other.last_end) if t is not None]
        self.first_start = min(starts) if starts else None
        self.last_end = max(ends) if ends else None

    def summary(self, duration_s: float | None = None) -> Summary:
        """
        The figures so far. ``duration_s`` defaults to first send to last answer.
        """
        if duration_s is None:
            if self.first_start is None or self.last_end is None:
                duration_s = 0.0
            else:
                duration_s = self.last_end - self.first_start
        rate = (lambda n: n / duration_s) if duration_s > 0 else (lambda n: 0.0)
        h = self.latency
        return Summary(
            requests=self.requests,
            events_sent=self.events_sent,
            duration_s=duration_s,
            requests_per_s=rate(self.requests),
            events_per_s=rate(self.events_sent),
            ok_requests=self.ok_requests,
            latency=Percentiles(
                h.percentile(50), h.percentile(90), h.percentile(99), h.max_us / 1e6
            ),
            outcomes=dict(self.outcomes),
            by_attempt=dict(sorted(self.by_attempt.items())),
            bytes_out=self.bytes_out,
            max_event_age_s=self.max_event_age_s,
        )
