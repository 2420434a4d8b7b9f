"""Delivery against real servers on 127.0.0.1: batching, signing, concurrency, retries."""

from __future__ import annotations

import asyncio
import gc
import itertools
import time
from collections import defaultdict

import pytest
from hubspot.utils.signature import Signature

from simulator.clock import ManualClock
from simulator.delivery import DeliveryOptions
from simulator.events import EventConfig
from simulator.retry import PROFILES, RetryPolicy
from simulator.run import SendOptions, SendRun
from simulator.signing import SigningOptions

from ..conftest import SECRET
from ..schema import problems

START = 1_767_225_600_000


def _options(url, secret, events=1000, delivery=None, **source):
    source.setdefault("seed", 7)
    source.setdefault("start_ms", int(time.time() * 1000))
    return SendOptions(
        target_url=url,
        secret=secret,
        events=events,
        source=EventConfig(**source),
        delivery=delivery or DeliveryOptions(seed=7),
    )


def _sdk_valid(cap, url) -> bool:
    h = {k.lower(): v for k, v in cap.headers.items()}
    body = cap.body.decode()
    v1 = Signature.is_valid(
        h["x-hubspot-signature"], SECRET, body, signature_version="v1"
    )
    v3 = Signature.is_valid(
        h["x-hubspot-signature-v3"],
        SECRET,
        body,
        http_uri=url,
        signature_version="v3",
        timestamp=h["x-hubspot-request-timestamp"],
    )
    return v1 and v3


class TestSend:
    async def test_thousand_events_signed_and_batched(self, capture_factory, secret):
        """1,000 seeded events arrive once each, ≤100 per request, SDK-valid v1 and v3."""

        async with capture_factory() as (cap, base):
            url = base + "?tenant=acme"
            result = await SendRun(_options(url, secret)).execute()
        ids = [e["eventId"] for r in cap.requests for e in r.events]
        assert 1000 == len(ids) == len(set(ids))
        assert all(len(r.events) <= 100 for r in cap.requests)
        assert all(_sdk_valid(r, url) for r in cap.requests)
        assert result.all_delivered
        assert 1000 == result.ledger.delivered

    async def test_heap_frozen_only_while_running(self, capture_factory, secret):
        """The run freezes the heap for the collector and unfreezes it at the end."""

        seen: list[int] = []
        async with capture_factory() as (_, url):
            run = SendRun(_options(url, secret, events=200))
            result = await run.execute(lambda _: seen.append(gc.get_freeze_count()))
        assert result.all_delivered
        assert all(count > 0 for count in seen)
        assert 0 == gc.get_freeze_count()

    async def test_short_run_records_its_in_flight_peak(self, capture_factory, secret):
        """A run shorter than the sampling period still shows requests in flight."""

        async with capture_factory(hold_s=0.01) as (_, url):
            result = await SendRun(_options(url, secret, events=300)).execute()
        assert max(x.in_flight for x in result.stats.series.values()) >= 1

    async def test_headers_as_hubspot(self, capture_factory, secret):
        """Each request carries §1.2's headers, timestamp taken at send time."""

        async with capture_factory() as (cap, url):
            before = int(time.time() * 1000)
            await SendRun(_options(url, secret, events=100)).execute()
            after = int(time.time() * 1000)
        h = {k.lower(): v for k, v in cap.requests[0].headers.items()}
        assert "application/json" == h["content-type"]
        assert "v1" == h["x-hubspot-signature-version"]
        assert "10000" == h["x-hubspot-timeout-millis"]
        assert h["user-agent"].startswith("HubSpot Connect 2.0")
        assert before <= int(h["x-hubspot-request-timestamp"]) <= after
        assert 64 == len(h["x-hubspot-signature"])
        assert 44 == len(h["x-hubspot-signature-v3"])

    async def test_at_most_ten_in_flight(self, capture_factory, secret):
        """With each request held 50 ms, exactly 10 are in flight at the peak."""

        async with capture_factory(hold_s=0.05) as (cap, url):
            await SendRun(_options(url, secret, events=3000, portals=1)).execute()
        assert 10 == cap.peak_in_flight

    async def test_max_concurrent_option(self, capture_factory, secret):
        """--max-concurrent 6 caps in-flight requests at 6."""

        async with capture_factory(hold_s=0.03) as (cap, url):
            opts = _options(
                url, secret, events=2000, delivery=DeliveryOptions(max_in_flight=6)
            )
            await SendRun(opts).execute()
        assert 6 == cap.peak_in_flight

    @pytest.mark.parametrize(
        ("fmt", "types"),
        [
            (
                "classic",
                (
                    "contact",
                    "company",
                    "deal",
                    "ticket",
                    "product",
                    "line_item",
                    "conversation",
                ),
            ),
            ("generic", ("object.*", "conversation", "contact.privacyDeletion")),
        ],
    )
    async def test_payloads_on_the_wire_conform(
        self, capture_factory, secret, fmt, types
    ):
        """What arrives has only spec fields and types, for every family and format."""

        async with capture_factory() as (cap, url):
            await SendRun(
                _options(url, secret, events=3000, types=types, format=fmt)
            ).execute()
        bad = [p for r in cap.requests for e in r.events for p in problems(e)]
        assert [] == bad[:5]

    async def test_public_url_signing(self, capture_factory, secret):
        """--public-url: v3 validates against the public URL, Host is rewritten."""

        public = "https://hooks.example.com/hubspot?tenant=acme"
        async with capture_factory() as (cap, url):
            opts = _options(url, secret, events=50)
            opts = SendOptions(
                **{
                    **{f: getattr(opts, f) for f in opts.__dataclass_fields__},
                    "signing": SigningOptions(public_url=public),
                }
            )
            await SendRun(opts).execute()
        r = cap.requests[0]
        assert _sdk_valid(r, public)
        assert "hooks.example.com" == r.headers["Host"]
        assert "https" == r.headers["X-Forwarded-Proto"]


class TestRetries:
    async def test_500_until_attempt_2(self, capture_factory, secret):
        """500 while attemptNumber < 2: every event seen at 0, 1, 2; all delivered."""

        def script(cap):
            return 500 if cap.events[0]["attemptNumber"] < 2 else 200

        delivery = DeliveryOptions(time_scale=100_000, seed=7)
        async with capture_factory(script=script) as (cap, url):
            result = await SendRun(
                _options(url, secret, events=500, delivery=delivery)
            ).execute()
        seen: dict[int, list[int]] = defaultdict(list)
        for r in cap.requests:
            assert _sdk_valid(r, url)
            for e in r.events:
                seen[e["eventId"]].append(e["attemptNumber"])
        assert 500 == len(seen)
        assert all([0, 1, 2] == sorted(v) for v in seen.values())
        assert 500 == result.ledger.delivered
        assert {2: 500} == dict(result.ledger.delivered_on_attempt)

    async def test_retry_keeps_everything_but_attempt_and_signatures(
        self, capture_factory, secret
    ):
        """A retried batch is the same events; only attemptNumber, timestamp, signatures change."""

        script = lambda cap: 503 if cap.events[0]["attemptNumber"] == 0 else 200  # noqa: E731
        delivery = DeliveryOptions(time_scale=100_000)
        async with capture_factory(script=script) as (cap, url):
            await SendRun(
                _options(url, secret, events=100, portals=1, delivery=delivery)
            ).execute()
        first, second = cap.requests
        retried = second.events
        assert {1} == {e.pop("attemptNumber") for e in retried}
        original = first.events
        assert {0} == {e.pop("attemptNumber") for e in original}
        assert original == retried
        assert (
            first.headers["X-HubSpot-Signature"]
            != second.headers["X-HubSpot-Signature"]
        )

    async def test_timeout_then_success(self, capture_factory, secret):
        """A hung first attempt ends as timeout after --timeout; the retry succeeds."""

        hang = lambda cap: cap.events[0]["attemptNumber"] == 0  # noqa: E731
        delivery = DeliveryOptions(timeout_s=0.3, time_scale=100_000)
        async with capture_factory(hang=hang) as (_, url):
            run = SendRun(
                _options(url, secret, events=100, portals=1, delivery=delivery)
            )
            t0 = time.perf_counter()
            result = await run.execute()
            elapsed = time.perf_counter() - t0
        assert {"timeout": 1, "200": 1} == dict(result.summary.outcomes)
        assert 0.3 <= elapsed < 3
        assert result.all_delivered

    async def test_legacy_404_is_final(self, capture_factory, secret):
        """webhooks-legacy gives up on a 404 after one attempt."""

        delivery = DeliveryOptions(retry=PROFILES["webhooks-legacy"].retry)
        async with capture_factory(script=lambda _: 404) as (cap, url):
            result = await SendRun(
                _options(url, secret, events=100, portals=1, delivery=delivery)
            ).execute()
        assert 1 == len(cap.requests)
        assert 100 == result.ledger.gave_up
        assert {"404": 100} == dict(result.ledger.gave_up_errors)

    async def test_legacy_429_retry_after(self, capture_factory, secret):
        """429 + Retry-After: 2 at time scale 10 waits at least 0.2 s."""

        def script(cap):
            if cap.events[0]["attemptNumber"] == 0:
                return 429, {"Retry-After": "2"}
            return 200

        delivery = DeliveryOptions(
            retry=PROFILES["webhooks-legacy"].retry, time_scale=10
        )
        async with capture_factory(script=script) as (cap, url):
            await SendRun(
                _options(url, secret, events=100, portals=1, delivery=delivery)
            ).execute()
        gap = cap.requests[1].received_at - cap.requests[0].received_at
        assert 0.2 <= gap < 2

    async def test_full_schedule_on_manual_clock(self, capture_factory, secret):
        """Against a server that always fails, 11 attempts span ≤24 h of manual time."""

        clock = ManualClock()
        delivery = DeliveryOptions(seed=3)
        async with capture_factory(script=lambda _: 500) as (cap, url):
            run = SendRun(
                _options(url, secret, events=100, portals=1, delivery=delivery),
                clock=clock,
            )
            attempts = []
            result = await asyncio.wait_for(run.execute(on_attempt=attempts.append), 20)
        assert list(range(11)) == [a.attempt_number for a in attempts]
        assert 11 == len(cap.requests)
        assert 100 == result.ledger.gave_up
        span = attempts[-1].started_at - attempts[0].started_at
        assert 3600 < span <= 86_400
        gaps = [b.started_at - a.started_at for a, b in itertools.pairwise(attempts)]
        policy = RetryPolicy()
        assert all(g <= 84.47 * 2**k for k, g in enumerate(gaps))
        assert policy.max_attempts == len(attempts)


class TestFailures:
    async def test_connection_refused_is_data(self, secret, unused_tcp_port):
        """A closed port gives connect_error attempts, not exceptions."""

        url = f"http://127.0.0.1:{unused_tcp_port}/hook"
        opts = _options(
            url,
            secret,
            events=50,
            portals=1,
            delivery=DeliveryOptions(retry=PROFILES["none"].retry),
        )
        opts = SendOptions(
            **{
                **{f: getattr(opts, f) for f in opts.__dataclass_fields__},
                "preflight": False,
            }
        )
        result = await SendRun(opts).execute()
        assert {"connect_error": 50} == dict(result.ledger.gave_up_errors)
        assert result.ledger.balanced

    async def test_stop_leaves_pending_and_balances(self, capture_factory, secret):
        """Stopping mid-run: in-flight finish, the rest is pending, nothing lost."""

        delivery = DeliveryOptions(time_scale=1.0)
        async with capture_factory(hold_s=0.02, script=lambda _: 500) as (_, url):
            run = SendRun(_options(url, secret, events=5000, delivery=delivery))
            task = asyncio.ensure_future(run.execute())
            await asyncio.sleep(0.2)
            run.stop()
            result = await asyncio.wait_for(task, 10)
        ledger = result.ledger
        assert result.interrupted
        assert ledger.balanced
        assert ledger.pending_count > 0
        assert ledger.generated <= 5000


class TestDistinctDelivery:
    async def test_exact_count_and_unique_ids(self, capture_factory, secret):
        """--distinct: exactly N events arrive, each eventId once, all SDK-valid."""

        async with capture_factory() as (cap, url):
            opts = _options(url, secret, events=2550, distinct=500, portals=2)
            result = await SendRun(opts).execute()
        ids = [e["eventId"] for r in cap.requests for e in r.events]
        assert 2550 == len(ids) == len(set(ids))
        assert all(_sdk_valid(r, url) for r in cap.requests)
        assert result.all_delivered
