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
from typing import Any, Final

from .delivery import Attempt
from .wire import count_families


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
        self.add_bucket(bucket_us(latency_s))

    def add_bucket(self, b: int) -> None:
        """Record one latency already bucketed by :func:`bucket_us`."""
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

    def mean(self) -> float:
        """The mean latency in seconds (of the buckets); 0 when empty."""
        if not self.total:
            return 0.0
        return sum(b * n for b, n in self.counts.items()) / self.total / 1_000_000

    def merge(self, other: LatencyHistogram) -> None:
        """Add another histogram's counts to this one."""
        self.counts.update(other.counts)
        self.total += other.total
        self.max_us = max(self.max_us, other.max_us)

    def to_json(self) -> dict[str, Any]:
        """Bucket counts (microseconds, 3 significant digits), for reports."""
        return {
            "unit": "us",
            "significant_digits": 3,
            "counts": {str(b): n for b, n in sorted(self.counts.items())},
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> LatencyHistogram:
        """The histogram :meth:`to_json` wrote (to merge saved runs)."""
        h = cls()
        for bucket, n in doc.get("counts", {}).items():
            h.counts[int(bucket)] += int(n)
        h.total = sum(h.counts.values())
        h.max_us = max(h.counts, default=0)
        return h


#: A scheduled first attempt that starts this much after its moment is late.
LATE_AFTER_S: Final = 0.01


@dataclass
class SecondStats:
    """
    One wall-clock second of a run: what was sent, what failed, how fast, and
    the most requests in flight and events waiting for a slot (sampled).
    """

    requests: int = 0
    events: int = 0
    errors: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    in_flight: int = 0
    backlog: int = 0

    def merge(self, other: SecondStats) -> None:
        """Add another run's same second (runs side by side: gauges add up)."""
        self.requests += other.requests
        self.events += other.events
        self.errors += other.errors
        self.latency.merge(other.latency)
        self.in_flight += other.in_flight
        self.backlog += other.backlog

    def to_json(self, t: int) -> dict[str, Any]:
        """This second as a report's series item."""
        return {
            "t": t,
            "requests": self.requests,
            "events": self.events,
            "errors": self.errors,
            "in_flight": self.in_flight,
            "backlog": self.backlog,
            "p50_ms": round(self.latency.percentile(50) * 1000, 3),
            "p99_ms": round(self.latency.percentile(99) * 1000, 3),
            "latency": self.latency.to_json(),
        }

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> SecondStats:
        """The second :meth:`to_json` wrote."""
        return cls(
            int(item["requests"]),
            int(item["events"]),
            int(item["errors"]),
            LatencyHistogram.from_json(item.get("latency", {})),
            int(item.get("in_flight", 0)),
            int(item.get("backlog", 0)),
        )


@dataclass
class Breakdown:
    """
    Requests, events, errors and latency of one slice of a run (one app).
    """

    requests: int = 0
    events: int = 0
    errors: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)

    def merge(self, other: Breakdown) -> None:
        """Add another run's figures for the same slice."""
        self.requests += other.requests
        self.events += other.events
        self.errors += other.errors
        self.latency.merge(other.latency)

    def to_json(self) -> dict[str, Any]:
        """For reports."""
        return {
            "requests": self.requests,
            "events": self.events,
            "errors": self.errors,
            "latency": self.latency.to_json(),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Breakdown:
        """The slice :meth:`to_json` wrote."""
        return cls(
            int(doc.get("requests", 0)),
            int(doc.get("events", 0)),
            int(doc.get("errors", 0)),
            LatencyHistogram.from_json(doc.get("latency", {})),
        )


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
    #: Open-model and paced runs: latency from each first attempt's scheduled
    #: moment (coordinated omission corrected), and sends that started late.
    intended: Percentiles | None = None
    scheduled_sends: int = 0
    late_sends: int = 0
    dropped_sends: int = 0
    peak_backlog: int = 0
    drain_s: float | None = None

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
        #: occurredAt to 2xx of each delivered batch's oldest event.
        self.event_age = LatencyHistogram()
        #: Per wall-clock second (epoch), so runs from several processes align.
        self.series: dict[int, SecondStats] = {}
        #: Events sent per subscription family.
        self.family_events: Counter[str] = Counter()
        #: Latency by attemptNumber and by outcome (200, 503, timeout …).
        self.latency_by_attempt: dict[int, LatencyHistogram] = {}
        self.latency_by_outcome: dict[str, LatencyHistogram] = {}
        #: Per app id: several apps in one run.
        self.by_app: dict[int, Breakdown] = {}
        #: From the scheduled moment, for batches that had one (first attempts).
        self.intended_latency = LatencyHistogram()
        #: How late scheduled first attempts started.
        self.send_lag = LatencyHistogram()
        self.scheduled_sends = 0
        self.late_sends = 0
        #: Scheduled sends a bounded run never started (set by the caller).
        self.dropped_sends = 0
        self.first_start: float | None = None
        self.last_end: float | None = None

    def add(self, attempt: Attempt) -> None:
        """Record one attempt. Runs per request: keep it cheap."""
        batch = attempt.batch
        n = len(batch)
        self.requests += 1
        self.events_sent += n
        self.bytes_out += attempt.bytes_out
        b = bucket_us(attempt.latency_s)
        self.latency.add_bucket(b)
        outcome = attempt.outcome
        self.outcomes[outcome] += 1
        self.by_attempt[attempt.attempt_number] += 1
        by = self.latency_by_outcome.get(outcome)
        if by is None:
            by = self.latency_by_outcome[outcome] = LatencyHistogram()
        by.add_bucket(b)
        ba = self.latency_by_attempt.get(attempt.attempt_number)
        if ba is None:
            ba = self.latency_by_attempt[attempt.attempt_number] = LatencyHistogram()
        ba.add_bucket(b)
        end = attempt.started_at + attempt.latency_s
        sec = int(attempt.started_at)
        second = self.series.get(sec)
        if second is None:
            second = self.series[sec] = SecondStats()
        second.requests += 1
        second.events += n
        second.latency.add_bucket(b)
        family_events = self.family_events
        for family, count in batch.families or count_families(batch.meta):
            family_events[family] += count
        app = self.by_app.get(batch.app_id)
        if app is None:
            app = self.by_app[batch.app_id] = Breakdown()
        app.requests += 1
        app.events += n
        app.latency.add_bucket(b)
        if batch.due is not None and attempt.attempt_number == 0:
            # Coordinated omission: a send that waited for a slot waited on the
            # receiver, so that wait is latency too (wrk2, vegeta).
            self.scheduled_sends += 1
            lag = attempt.started_at - batch.due
            if lag > LATE_AFTER_S:
                self.late_sends += 1
            self.send_lag.add(max(0.0, lag))
            self.intended_latency.add(max(0.0, end - batch.due))
        if attempt.ok:
            self.ok_requests += 1
            # occurredAt to acknowledgement: the lag a HubSpot user feels
            # (custom action executions carry no occurredAt: 0).
            oldest = min(batch.occurred_at)
            if oldest > 0:
                age = end - oldest / 1000
                self.event_age.add(max(0.0, age))
                if age > self.max_event_age_s:
                    self.max_event_age_s = age
        else:
            second.errors += 1
            app.errors += 1
        if self.first_start is None or attempt.started_at < self.first_start:
            self.first_start = attempt.started_at
        if self.last_end is None or end > self.last_end:
            self.last_end = end

    def gauge(self, t: float, in_flight: int, backlog: int) -> None:
        """
        A sample of requests in flight and events waiting for a slot at epoch
        ``t``; each second keeps its highest.
        """
        sec = int(t)
        second = self.series.get(sec)
        if second is None:
            second = self.series[sec] = SecondStats()
        second.in_flight = max(second.in_flight, in_flight)
        second.backlog = max(second.backlog, backlog)

    @property
    def peak_backlog(self) -> int:
        """The most events that waited for a slot in any second."""
        return max((s.backlog for s in self.series.values()), default=0)

    @property
    def drain_s(self) -> float | None:
        """
        Seconds from the backlog's last peak to the first second it was empty
        again (None: it never emptied, or there was none). Per-second resolution.
        """
        peak = self.peak_backlog
        if not peak:
            return None
        seconds = sorted(self.series.items())
        last_peak = max(t for t, s in seconds if s.backlog == peak)
        for t, s in seconds:
            if t > last_peak and s.backlog == 0:
                return float(t - last_peak)
        return None

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
        self.event_age.merge(other.event_age)
        for sec, data in other.series.items():
            self.series.setdefault(sec, SecondStats()).merge(data)
        self.family_events.update(other.family_events)
        for k, hist in other.latency_by_attempt.items():
            self.latency_by_attempt.setdefault(k, LatencyHistogram()).merge(hist)
        for o, hist in other.latency_by_outcome.items():
            self.latency_by_outcome.setdefault(o, LatencyHistogram()).merge(hist)
        for app_id, part in other.by_app.items():
            self.by_app.setdefault(app_id, Breakdown()).merge(part)
        self.intended_latency.merge(other.intended_latency)
        self.send_lag.merge(other.send_lag)
        self.scheduled_sends += other.scheduled_sends
        self.late_sends += other.late_sends
        self.dropped_sends += other.dropped_sends
        starts = [t for t in (self.first_start, other.first_start) if t is not None]
        ends = [t for t in (self.last_end, other.last_end) if t is not None]
        self.first_start = min(starts) if starts else None
        self.last_end = max(ends) if ends else None

    def to_json(self) -> dict[str, Any]:
        """
        Everything needed to merge and re-render this run later: counters,
        histograms and the per-second series.
        """
        return {
            "requests": self.requests,
            "ok_requests": self.ok_requests,
            "events_sent": self.events_sent,
            "bytes_out": self.bytes_out,
            "outcomes": dict(self.outcomes),
            "by_attempt": {str(k): v for k, v in sorted(self.by_attempt.items())},
            "first_start": self.first_start,
            "last_end": self.last_end,
            "max_event_age_s": self.max_event_age_s,
            "latency": self.latency.to_json(),
            "event_age": self.event_age.to_json(),
            "family_events": dict(self.family_events),
            "latency_by_attempt": {
                str(k): h.to_json() for k, h in sorted(self.latency_by_attempt.items())
            },
            "latency_by_outcome": {
                o: h.to_json() for o, h in sorted(self.latency_by_outcome.items())
            },
            "by_app": {str(k): b.to_json() for k, b in sorted(self.by_app.items())},
            "scheduled_sends": self.scheduled_sends,
            "late_sends": self.late_sends,
            "dropped_sends": self.dropped_sends,
            "intended_latency": self.intended_latency.to_json(),
            "send_lag": self.send_lag.to_json(),
            "series": [s.to_json(sec) for sec, s in sorted(self.series.items())],
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Stats:
        """The Stats :meth:`to_json` wrote."""
        s = cls()
        s.requests = int(doc.get("requests", 0))
        s.ok_requests = int(doc.get("ok_requests", 0))
        s.events_sent = int(doc.get("events_sent", 0))
        s.bytes_out = int(doc.get("bytes_out", 0))
        s.outcomes.update({k: int(v) for k, v in doc.get("outcomes", {}).items()})
        s.by_attempt.update(
            {int(k): int(v) for k, v in doc.get("by_attempt", {}).items()}
        )
        s.first_start = doc.get("first_start")
        s.last_end = doc.get("last_end")
        s.max_event_age_s = float(doc.get("max_event_age_s", 0.0))
        s.latency = LatencyHistogram.from_json(doc.get("latency", {}))
        s.event_age = LatencyHistogram.from_json(doc.get("event_age", {}))
        s.family_events.update(doc.get("family_events", {}))
        s.latency_by_attempt = {
            int(k): LatencyHistogram.from_json(h)
            for k, h in doc.get("latency_by_attempt", {}).items()
        }
        s.latency_by_outcome = {
            o: LatencyHistogram.from_json(h)
            for o, h in doc.get("latency_by_outcome", {}).items()
        }
        s.by_app = {
            int(k): Breakdown.from_json(b) for k, b in doc.get("by_app", {}).items()
        }
        s.scheduled_sends = int(doc.get("scheduled_sends", 0))
        s.late_sends = int(doc.get("late_sends", 0))
        s.dropped_sends = int(doc.get("dropped_sends", 0))
        s.intended_latency = LatencyHistogram.from_json(doc.get("intended_latency", {}))
        s.send_lag = LatencyHistogram.from_json(doc.get("send_lag", {}))
        for item in doc.get("series", []):
            s.series[int(item["t"])] = SecondStats.from_json(item)
        return s

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
            latency=_percentiles(h),
            outcomes=dict(self.outcomes),
            by_attempt=dict(sorted(self.by_attempt.items())),
            bytes_out=self.bytes_out,
            max_event_age_s=self.max_event_age_s,
            intended=_percentiles(self.intended_latency)
            if self.intended_latency.total
            else None,
            scheduled_sends=self.scheduled_sends,
            late_sends=self.late_sends,
            dropped_sends=self.dropped_sends,
            peak_backlog=self.peak_backlog,
            drain_s=self.drain_s,
        )


def _percentiles(h: LatencyHistogram) -> Percentiles:
    return Percentiles(
        h.percentile(50), h.percentile(90), h.percentile(99), h.max_us / 1e6
    )


@dataclass(frozen=True, slots=True)
class Comparison:
    """
    One metric of two runs. ``regressed``: worse than the tolerance allows.
    """

    metric: str
    base: float
    new: float
    higher_is_better: bool
    regressed: bool

    @property
    def change(self) -> float:
        """Relative change, new over base (0 when base is 0)."""
        return (self.new - self.base) / self.base if self.base else 0.0


def compare(base: Stats, new: Stats, tolerance: float = 0.10) -> list[Comparison]:
    """
    Latency percentiles, error rate and throughput of two runs; a metric has
    regressed when it is worse by more than ``tolerance`` (relative), or when
    errors appear where there were none.
    """
    b, n = base.summary(), new.summary()
    rows = [
        ("p50_ms", b.latency.p50 * 1000, n.latency.p50 * 1000, False),
        ("p90_ms", b.latency.p90 * 1000, n.latency.p90 * 1000, False),
        ("p99_ms", b.latency.p99 * 1000, n.latency.p99 * 1000, False),
        ("error_rate", 1 - b.success_ratio, 1 - n.success_ratio, False),
        ("requests_per_s", b.requests_per_s, n.requests_per_s, True),
        ("events_per_s", b.events_per_s, n.events_per_s, True),
    ]
    out = []
    for metric, old, now, higher_better in rows:
        if old == 0:
            regressed = now > 0 and not higher_better
        elif higher_better:
            regressed = now < old * (1 - tolerance)
        else:
            regressed = now > old * (1 + tolerance)
        out.append(Comparison(metric, old, now, higher_better, regressed))
    return out
