"""Fault injection in the built-in receiver, driven by hubsim's own sender."""

from __future__ import annotations

import time
from collections import defaultdict

import pytest

from simulator.delivery import DeliveryOptions
from simulator.errors import UsageError
from simulator.events import EventConfig
from simulator.receiver import STATS_KEY, Faults, ReceiverConfig, create_app
from simulator.retry import PROFILES
from simulator.run import SendOptions, SendRun

from ..conftest import serve_app


def _send(url, secret, events=300, **delivery):
    delivery.setdefault("time_scale", 100_000)
    return SendRun(
        SendOptions(
            url,
            secret,
            events=events,
            source=EventConfig(seed=3, start_ms=int(time.time() * 1000)),
            delivery=DeliveryOptions(**delivery),
        )
    )


async def _with_faults(secret, faults, **send):
    app = create_app(ReceiverConfig(secret=secret, faults=faults))
    async with serve_app(app) as server:
        result = await _send(str(server.make_url("/hook")), secret, **send).execute()
    return result, app[STATS_KEY]


class TestFaults:
    async def test_script_by_attempt(self, secret):
        """--script 500,503,200: attempts 0 and 1 fail, attempt 2 is accepted."""

        result, stats = await _with_faults(secret, Faults(script=(500, 503, 200)))
        assert {"500": 3, "503": 3, "204": 3} == dict(result.summary.outcomes)
        assert {2: 300} == dict(result.ledger.delivered_on_attempt)
        assert 300 == len(stats.seen)

    async def test_retry_after_sent_with_failures(self, secret):
        """Injected 429s carry Retry-After, which webhooks-legacy honours."""

        faults = Faults(script=(429, 200), retry_after=1)
        retry = PROFILES["webhooks-legacy"].retry
        t0 = time.perf_counter()
        result, _ = await _with_faults(
            secret, faults, events=100, retry=retry, time_scale=10
        )
        assert time.perf_counter() - t0 >= 0.1
        assert result.all_delivered

    async def test_resets_are_classified(self, secret):
        """Dropped connections show as reset and are retried."""

        faults = Faults(reset_rate=0.5, seed=1)
        result, stats = await _with_faults(secret, faults)
        assert result.summary.outcomes.get("reset", 0) >= stats.resets > 0
        assert result.all_delivered

    async def test_hangs_time_out(self, secret):
        """A hang ends as a timeout after the sender's timeout; the retry succeeds."""

        faults = Faults(hang_rate=0.3, seed=2)
        result, stats = await _with_faults(secret, faults, timeout_s=0.3)
        # Every hang times out; a slow machine may time out more requests than
        # that, never fewer.
        assert result.summary.outcomes.get("timeout", 0) >= stats.hangs > 0
        assert result.all_delivered

    async def test_fail_rate_status(self, secret):
        """--fail-rate with --fail-status answers that status to about that share."""

        faults = Faults(fail_rate=0.5, fail_status=503, seed=4)
        result, stats = await _with_faults(secret, faults, events=2000)
        assert stats.injected_failures == result.summary.outcomes["503"] > 5
        assert result.all_delivered

    async def test_latency(self, secret):
        """--latency delays every answer by at least that much."""

        result, _ = await _with_faults(secret, Faults(latency_ms=50), events=100)
        assert result.summary.latency.p50 >= 0.05

    async def test_every_event_accepted_at_least_once(self, secret):
        """Mixed faults: the receiver's distinct count equals what was delivered."""

        faults = Faults(fail_rate=0.3, reset_rate=0.05, hang_rate=0.01, seed=9)
        result, stats = await _with_faults(secret, faults, events=3000, timeout_s=0.3)
        assert result.ledger.balanced
        assert result.ledger.delivered == len(stats.seen) == 3000
        by_event: dict[int, int] = defaultdict(int)
        for i in stats.seen:
            by_event[i] += 1
        assert all(v == 1 for v in by_event.values())

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"fail_rate": 1.5},
            {"hang_rate": -0.1},
            {"fail_status": 99},
            {"script": (700,)},
        ],
    )
    def test_bad_fault_values(self, kwargs):
        """Out-of-range rates and non-HTTP statuses are usage errors."""

        with pytest.raises(UsageError):
            Faults(**kwargs)


class TestRestart:
    async def test_receiver_restarted_mid_run(self, secret, unused_tcp_port):
        """Receiver down for a while, then back on the same port: all delivered."""

        import asyncio

        from aiohttp import web

        app_stats: list[object] = []

        async def start():
            app = create_app(ReceiverConfig(secret=secret, faults=Faults(latency_ms=5)))
            app_stats.append(app[STATS_KEY])
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
            return runner

        async def until(condition, what):
            for _ in range(2000):  # 20 s at most
                if condition():
                    return
                await asyncio.sleep(0.01)
            raise AssertionError(f"timed out waiting for {what}")

        runner = await start()
        url = f"http://127.0.0.1:{unused_tcp_port}/hook"
        run = _send(url, secret, events=20_000, time_scale=2_000, timeout_s=1)
        task = asyncio.ensure_future(run.execute())
        # Down once the run is under way (not after a guessed time), back up
        # once it has met the outage: both happen by construction.
        await until(lambda: app_stats[0].requests >= 10, "the first requests")
        await runner.cleanup()
        await until(
            lambda: run.stats.outcomes.get("connect_error", 0) > 0,
            "a refused connection",
        )
        runner = await start()
        try:
            result = await asyncio.wait_for(task, 60)
        finally:
            await runner.cleanup()
        assert result.all_delivered
        assert result.summary.outcomes.get("connect_error", 0) > 0
