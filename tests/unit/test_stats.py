"""Stats: bucketed latency percentiles agree with exact ones within 0.5 %."""

from __future__ import annotations

import math
import random

import pytest

from simulator.batching import Batch
from simulator.delivery import Attempt
from simulator.events import EventConfig, EventSource
from simulator.stats import LatencyHistogram, Stats, bucket_us


def _exact(values, p):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


class TestHistogram:
    @pytest.mark.parametrize("p", [50, 90, 99, 99.9])
    def test_percentiles_match_exact(self, p):
        """Percentiles are within 0.5 % of the exact value."""

        rng = random.Random(3)
        values = [rng.lognormvariate(-4, 1) for _ in range(20000)]
        h = LatencyHistogram()
        for v in values:
            h.add(v)
        assert h.percentile(p) == pytest.approx(_exact(values, p), rel=0.005, abs=1e-6)

    def test_bounded_buckets(self):
        """A million distinct latencies need at most a few thousand buckets."""

        h = LatencyHistogram()
        for i in range(1, 1_000_000, 7):
            h.add(i / 1_000_000)
        assert len(h.counts) < 5000

    def test_merge_equals_whole(self):
        """Two halves merged give the whole run's percentiles."""

        rng = random.Random(9)
        values = [rng.random() for _ in range(5000)]
        whole, a, b = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
        for i, v in enumerate(values):
            whole.add(v)
            (a if i % 2 else b).add(v)
        a.merge(b)
        assert [whole.percentile(p) for p in (50, 99)] == [
            a.percentile(p) for p in (50, 99)
        ]

    def test_mean(self):
        """The mean of what was added (to the buckets' three digits); 0 when empty."""

        h = LatencyHistogram()
        assert 0.0 == h.mean()
        for v in (0.010, 0.020, 0.030):
            h.add(v)
        assert pytest.approx(0.020) == h.mean()

    def test_bucket_three_digits(self):
        """Rounding keeps three significant digits."""

        assert 123_000 == bucket_us(0.1234)
        assert 999 == bucket_us(0.000999)


class TestStats:
    def test_summary_counts(self):
        """Summary counts requests, events, outcomes and attempts."""

        batch = Batch.of(
            1, 1, tuple(EventSource(EventConfig(seed=1, start_ms=1)).take(10))
        )
        s = Stats()
        s.add(Attempt(batch, 0, 100.0, 0.01, 500, None, 100, False))
        s.add(Attempt(batch, 1, 101.0, 0.02, 200, None, 100, True))
        s.add(Attempt(batch, 0, 101.5, 0.5, None, "timeout", 100, False))
        summary = s.summary()
        assert 3 == summary.requests
        assert 30 == summary.events_sent
        assert {"500": 1, "200": 1, "timeout": 1} == dict(summary.outcomes)
        assert {0: 2, 1: 1} == dict(summary.by_attempt)
        assert summary.success_ratio == pytest.approx(1 / 3)
        assert summary.duration_s == pytest.approx(2.0)


def _attempts(n, seed=1, status=200, latency_scale=1.0):
    import random as _random

    rng = _random.Random(seed)
    batch = Batch.of(1, 1, tuple(EventSource(EventConfig(seed=1, start_ms=1)).take(10)))
    return [
        Attempt(batch, 0, 1000.0 + i / 10, rng.lognormvariate(-4, 1) * latency_scale,
                status, None, 100, True)
        for i in range(n)
    ]  # fmt: skip


class TestSavedStats:
    def test_round_trip(self):
        """to_json then from_json keeps counts, percentiles, series and families."""

        s = Stats()
        for a in _attempts(500):
            s.add(a)
        back = Stats.from_json(s.to_json())
        assert s.summary().latency == back.summary().latency
        assert s.family_events == back.family_events
        assert sorted(s.series) == sorted(back.series)
        assert s.event_age.counts == back.event_age.counts

    def test_merged_halves_equal_the_whole(self):
        """Two halves saved and merged give exactly the whole run's percentiles."""

        attempts = _attempts(2000)
        whole, first, second = Stats(), Stats(), Stats()
        for i, a in enumerate(attempts):
            whole.add(a)
            (first if i < 1000 else second).add(a)
        merged = Stats.from_json(first.to_json())
        merged.merge(Stats.from_json(second.to_json()))
        assert whole.summary().latency == merged.summary().latency
        assert whole.requests == merged.requests
        assert {k: v.requests for k, v in whole.series.items()} == {
            k: v.requests for k, v in merged.series.items()
        }

    def test_compare_flags_regressions(self):
        """Doubled latency regresses p50/p99; the same run does not."""

        from simulator.stats import compare

        base, slow = Stats(), Stats()
        for a in _attempts(500):
            base.add(a)
        for a in _attempts(500, latency_scale=2.0):
            slow.add(a)
        assert not any(r.regressed for r in compare(base, base))
        regressed = {r.metric for r in compare(base, slow) if r.regressed}
        assert {"p50_ms", "p90_ms", "p99_ms"} <= regressed

    def test_comparison_shows_figures_plainly(self):
        """0 → 0.1111 is a new error rate, not +0.0%; no 8.593e+04."""

        import io

        from rich.console import Console

        from simulator.report import render_comparison
        from simulator.stats import Comparison

        rows = [
            Comparison("error_rate", 0.0, 0.1111, False, True),
            Comparison("events_per_s", 85_930.4, 91_002.0, True, False),
        ]
        out = io.StringIO()
        Console(file=out, width=120).print(render_comparison(rows, 0.1))
        text = out.getvalue()
        assert "new: from 0 to 0.1111" in text
        assert "+0.0%" not in text
        assert "85,930" in text
        assert "e+04" not in text


def _batch(app_id=1, due=None):
    from dataclasses import replace

    batch = Batch.of(1, app_id, tuple(EventSource(EventConfig(seed=1)).take(10)))
    return replace(batch, due=due)


class TestCoordinatedOmission:
    def test_latency_from_the_scheduled_moment(self):
        """A send that started 1 s late has ~1 s more intended latency, and is late."""

        s = Stats()
        s.add(Attempt(_batch(due=100.0), 0, 100.001, 0.02, 200, None, 10, True))
        s.add(Attempt(_batch(due=100.0), 0, 101.0, 0.02, 200, None, 10, True))
        summary = s.summary()
        assert summary.intended is not None
        assert summary.intended.max == pytest.approx(1.02, rel=0.005)
        assert summary.latency.max == pytest.approx(0.02, rel=0.005)
        assert (2, 1) == (summary.scheduled_sends, summary.late_sends)

    def test_retries_and_unscheduled_batches_are_not_counted(self):
        """Only first attempts of scheduled batches feed intended latency."""

        s = Stats()
        s.add(Attempt(_batch(due=100.0), 1, 160.0, 0.02, 200, None, 10, True))
        s.add(Attempt(_batch(), 0, 100.0, 0.02, 200, None, 10, True))
        assert s.summary().intended is None
        assert 0 == s.scheduled_sends


class TestBreakdowns:
    def test_by_app(self):
        """Requests, events, errors and latency are kept per app and merge."""

        a, b = Stats(), Stats()
        a.add(Attempt(_batch(app_id=7), 0, 100.0, 0.01, 200, None, 10, True))
        a.add(Attempt(_batch(app_id=7), 0, 100.0, 0.03, 503, None, 10, False))
        b.add(Attempt(_batch(app_id=8), 0, 100.0, 0.02, 200, None, 10, True))
        a.merge(Stats.from_json(b.to_json()))
        back = Stats.from_json(a.to_json())
        assert {7: (2, 20, 1), 8: (1, 10, 0)} == {
            k: (v.requests, v.events, v.errors) for k, v in back.by_app.items()
        }
        assert back.by_app[7].latency.percentile(100) == pytest.approx(0.03)

    def test_gauges_keep_each_seconds_highest(self):
        """In-flight and backlog samples keep the per-second maximum."""

        s = Stats()
        s.gauge(100.1, 3, 500)
        s.gauge(100.9, 10, 200)
        s.gauge(101.2, 2, 0)
        assert (10, 500) == (s.series[100].in_flight, s.series[100].backlog)
        assert 500 == s.peak_backlog
        assert 1.0 == s.drain_s
        back = Stats.from_json(s.to_json())
        assert back.series[100].backlog == 500

    def test_drain_time_none_when_never_empty(self):
        """A backlog that never emptied has no drain time."""

        s = Stats()
        s.gauge(100.0, 1, 10)
        s.gauge(101.0, 1, 20)
        assert s.drain_s is None
