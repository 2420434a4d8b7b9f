"""
hubsim bench against real servers on 127.0.0.1: the closed and open models,
bounds, a knee found at the right step, several worker processes.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web
from click.testing import CliRunner

from simulator import bench
from simulator.cli import ExitCode, cli
from simulator.measurement import Measurement
from simulator.receiver import STATS_KEY, Faults, ReceiverConfig
from simulator.signing import ClientSecret

from ..conftest import SECRET, ThreadedReceiver


def _options(url: str, **kw) -> bench.BenchOptions:
    return bench.BenchOptions(url, ClientSecret(SECRET), distinct=2000, **kw)


@pytest.fixture
def slow_receiver():
    """The built-in receiver answering after 20 ms."""
    config = ReceiverConfig(secret=ClientSecret(SECRET), faults=Faults(latency_ms=20))
    with ThreadedReceiver(config) as r:
        yield r


class TestModels:
    """
    What holds by construction, never a rate inside a time window: a loaded
    CI machine can make any measured rate low (rate figures: make bench).
    """

    def test_closed_model_is_concurrency_over_latency(self, slow_receiver):
        """10 in flight at ≥20 ms each: never more than 10 / 0.02 s requests/s."""

        m = bench.measure(_options(slow_receiver.url, duration_s=1.0), 10)
        s = m.stats
        assert s.requests > 0
        assert s.ok_requests == s.requests
        # Each slot completes at most one request per 20 ms, plus the ten in
        # flight when the window closed.
        assert s.requests <= 10 * (m.elapsed_s / 0.020) + 10
        assert s.summary().latency.p50 >= 0.020
        assert m.result.ledger.balanced

    def test_open_model_accounts_for_every_due_send(self, slow_receiver):
        """
        200 requests/s for 1 s: every due batch was either started (on time or
        late) or counted as never started; nothing beyond the schedule.
        """

        opts = _options(slow_receiver.url, model="open", rate=200.0, duration_s=1.0)
        m = bench.measure(opts, opts.slots, 200.0)
        s = m.stats
        assert s.scheduled_sends == s.requests  # every first attempt had a moment
        assert s.late_sends <= s.scheduled_sends
        due = s.scheduled_sends + s.dropped_sends
        # The schedule starts with the run: exactly rate x duration were owed.
        assert 200 == due
        intended = s.summary().intended
        assert intended is not None
        assert intended.p50 >= s.summary().latency.p50 >= 0.020
        assert m.result.ledger.balanced

    def test_open_model_counts_late_and_dropped_sends(self, slow_receiver):
        """
        100 requests/s with one slot against a 20 ms receiver cannot be kept:
        at most one send per 20 ms starts, so most are late or never sent, and
        the run says the schedule was not kept.
        """

        opts = _options(
            slow_receiver.url, model="open", rate=100.0, duration_s=1.0, concurrency=1
        )
        m = bench.measure(opts, 1, 100.0)
        s = m.stats
        assert s.late_sends + s.dropped_sends >= 50
        assert 80 <= s.scheduled_sends + s.dropped_sends <= 101
        assert any("schedule was not kept" in w for w in m.warnings())
        summary = s.summary()
        assert summary.intended is not None
        # From the due moment is never shorter than from the send.
        assert summary.intended.p99 >= summary.latency.p99

    def test_open_model_says_when_hubspot_could_not_carry_the_rate(self, slow_receiver):
        """
        1,000 requests/s at >= 20 ms each needs 20 in flight: the open model's
        default slots keep up, but HubSpot's 10 would carry at most 500/s, and
        the run says so. At 100/s (10 would carry it at up to 100 ms each,
        five times the receiver's latency) and with --max-concurrent given it
        does not.
        """

        def warned(m: Measurement) -> bool:
            return any("HubSpot sends an app at most 10" in w for w in m.warnings())

        opts = _options(slow_receiver.url, model="open", rate=1000.0, duration_s=0.5)
        m = bench.measure(opts, opts.slots, 1000.0)
        assert m.hubspot_carries is not None
        assert m.hubspot_carries <= 10 / 0.020
        assert warned(m)
        report = m.to_json()["hubspot_would_carry_requests_per_second"]
        assert round(m.hubspot_carries, 1) == report
        slow = _options(slow_receiver.url, model="open", rate=100.0, duration_s=0.5)
        assert not warned(bench.measure(slow, slow.slots, 100.0))
        chosen = _options(
            slow_receiver.url, model="open", rate=1000.0, duration_s=0.5,
            concurrency=50,
        )  # fmt: skip
        assert not warned(bench.measure(chosen, 50, 1000.0))

    def test_requests_bound(self, slow_receiver):
        """--requests N sends exactly N requests."""

        m = bench.measure(_options(slow_receiver.url, max_requests=37), 10)
        assert 37 == m.stats.requests
        assert m.result.ledger.balanced

    def test_duration_bound(self, slow_receiver):
        """A 1 s run stops starting requests at 1 s; in-flight ones finish in time."""

        opts = _options(slow_receiver.url, duration_s=1.0)
        m = bench.measure(opts, 10)
        # No request starts after the deadline, and each ends within --timeout.
        assert m.elapsed_s < opts.duration_s + opts.timeout_s
        assert m.result.ledger.balanced
        assert not m.result.interrupted


def _knee_app(limit: int):
    """
    A receiver that is fast (1 ms) up to ``limit`` requests at once and slow
    (1.5 s) for any request that arrives above it. In a closed model above the
    limit every slot's next request arrives above it, so the step is slow
    through and through: p99 ≥ 1.5 s against a 300 ms SLO, and ≈1 ms below it
    (a 5x margin either side).
    """
    key = web.AppKey("in_flight", list)

    async def handle(request: web.Request) -> web.Response:
        box = request.app[key]
        box[0] += 1
        try:
            await request.read()
            await asyncio.sleep(0.001 if box[0] <= limit else 1.5)
        finally:
            box[0] -= 1
        return web.Response(status=204)

    def factory() -> web.Application:
        app = web.Application()
        app[key] = [0]
        app.router.add_post("/hook", handle)
        return app

    return factory


class TestRamp:
    def test_knee_at_the_right_step(self):
        """Slow beyond 8 concurrent requests: ramping 4, 8, 12 finds the knee at 8."""

        with ThreadedReceiver(app_factory=_knee_app(8)) as server:
            steps, knee = bench.ramp(
                _options(server.url),
                bench.Ramp(4, 16, 4, 1.0),
                bench.Slo.parse("p99<300ms,errors<1%"),
            )
        assert knee is not None
        assert 8 == knee.value
        assert [4, 8, 12] == [s.value for s in steps]
        assert not steps[-1].held

    def test_cli_ramp_report(self, tmp_path):
        """The CLI prints the knee and saves every step in the report."""

        report = tmp_path / "r.json"
        with ThreadedReceiver(app_factory=_knee_app(8)) as server:
            result = CliRunner().invoke(
                cli,
                ["bench", server.url, "-s", SECRET, "--ramp", "4:12:4:1",
                 "--slo", "p99<300ms", "--report", str(report)],
            )  # fmt: skip
        assert ExitCode.OK == result.exit_code, result.output
        assert "knee: 8 in flight" in result.output
        doc = json.loads(report.read_text())
        assert 8 == doc["ramp"]["knee"]
        assert [True, True, False] == [s["held"] for s in doc["ramp"]["steps"]]
        assert doc["bench"]["requests_per_second"] > 0


class TestCli:
    def test_report_has_bench_figures(self, slow_receiver, tmp_path):
        """--report carries requests_per_second, events_per_second and CPU use."""

        report = tmp_path / "r.json"
        result = CliRunner().invoke(
            cli,
            ["bench", slow_receiver.url, "-s", SECRET, "--duration", "1", "-q",
             "--report", str(report)],
        )  # fmt: skip
        assert ExitCode.OK == result.exit_code, result.output
        doc = json.loads(report.read_text())
        assert 2 == doc["schema_version"]
        assert doc["requests_per_second"] > 0
        assert doc["bench"]["events_per_second"] == pytest.approx(
            doc["bench"]["requests_per_second"] * 100, rel=0.01
        )
        assert 0 < doc["bench"]["hubsim_cpu_share"] < 1.5
        assert SECRET not in report.read_text()

    def test_html_report_carries_the_warnings(self, slow_receiver, tmp_path):
        """What the terminal warned about is in the HTML report too."""

        page = tmp_path / "b.html"
        result = CliRunner().invoke(
            cli,
            ["bench", slow_receiver.url, "-s", SECRET, "--model", "open",
             "--rate", "1000", "--duration", "0.5", "-q", "--html", str(page)],
        )  # fmt: skip
        assert ExitCode.OK == result.exit_code, result.output
        assert "HubSpot sends an app at most 10 requests at once" in result.output
        assert "HubSpot sends an app at most 10 requests at once" in page.read_text()

    def test_two_workers_merge(self, slow_receiver, tmp_path):
        """--workers 2: two processes, one merged result of exactly --requests."""

        report = tmp_path / "r.json"
        result = CliRunner().invoke(
            cli,
            ["bench", slow_receiver.url, "-s", SECRET, "--workers", "2",
             "--requests", "200", "-q", "--report", str(report)],
        )  # fmt: skip
        assert ExitCode.OK == result.exit_code, result.output
        doc = json.loads(report.read_text())
        assert 200 == doc["requests"]["total"]
        assert 2 == doc["bench"]["workers"]
        assert doc["events"]["invariant_holds"]

    @pytest.mark.parametrize(
        ("args", "words"),
        [
            (["--model", "open"], "needs --rate"),
            (["--rate", "5"], "--rate is for --model open"),
            (["--ramp", "10:5:1:1"], "TO at least FROM"),
            (["--slo", "p99<fast"], "is not `metric op number`"),
            (["--duration", "0"], "--duration: must be 0.1 to 604,800"),
            (["--workers", "0"], "--workers: must be 1 to 64"),
        ],
    )
    def test_bad_flags_are_one_line(self, args, words):
        """Bad flag values give one line and exit 2, before any load."""

        result = CliRunner().invoke(
            cli, ["bench", "http://127.0.0.1:9/hook", "-s", SECRET, *args]
        )
        assert ExitCode.BAD_INPUT == result.exit_code, result.output
        assert words in result.output
        assert 1 == len([x for x in result.output.splitlines() if x.strip()])


class TestSlo:
    def test_parse(self):
        """Latency in ms or s, errors in percent."""

        slo = bench.Slo.parse("p99<250ms, p50<=1s,errors<1%")
        assert ["p99_ms < 250", "p50_ms <= 1000", "error_rate < 0.01"] == [
            str(r) for r in slo.rules
        ]

    def test_ramp_values(self):
        """FROM to TO inclusive."""

        assert [10, 20, 30] == bench.Ramp.parse("10:30:10:5").values()


class TestInterrupt:
    def test_ctrl_c_writes_the_report(self, slow_receiver, tmp_path):
        """SIGINT mid-bench: exit 130, the report written, nothing lost."""

        import os
        import signal
        import subprocess
        import sys
        import time

        report = tmp_path / "r.json"
        proc = subprocess.Popen(
            [sys.executable, "-m", "simulator", "bench", slow_receiver.url,
             "--duration", "30", "-q", "--report", str(report)],
            env={**os.environ, "HUBSPOT_CLIENT_SECRET": SECRET},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        # Signal once the run is under way (its first request arrived), not
        # after a guessed start-up time.
        stats = slow_receiver.app[STATS_KEY]
        deadline = time.monotonic() + 60
        while stats.requests == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stats.requests > 0, "bench never started"
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert ExitCode.INTERRUPTED == proc.returncode, out + err
        doc = json.loads(report.read_text())
        assert doc["interrupted"]
        assert doc["events"]["invariant_holds"]
        assert doc["requests"]["total"] > 0


class TestCalibration:
    def test_a_slow_receiver_is_far_below_hubsims_ceiling(self):
        """Against a 100 ms receiver (≤ 100 requests/s), the figure is the receiver's."""

        from simulator import calibration

        config = ReceiverConfig(
            secret=ClientSecret(SECRET), faults=Faults(latency_ms=100)
        )
        with ThreadedReceiver(config) as slow:
            opts = _options(slow.url, duration_s=1.0, calibrate=True)
            ceiling = calibration.calibrate(opts)
            m = bench.measure(opts, opts.slots)
        assert m.requests_per_s <= 10 / 0.100 * 1.5
        judged = ceiling.beside(m.requests_per_s)
        assert not judged.limited_by_hubsim
        assert "the figure is your receiver's" in judged.sentence()
        assert judged.to_json()["ceiling_requests_per_s"] > 0

    def test_the_open_model_also_checks_hubsims_own_schedule(self):
        """
        With --model open --rate, calibration also runs that rate against the
        null sink and says how much of it hubsim alone started late (the
        verdict on that share is the pure test below: a CI hiccup may delay
        one of 20 sends, so it is not asserted here).
        """

        from simulator import calibration

        with ThreadedReceiver(ReceiverConfig(secret=ClientSecret(SECRET))) as rx:
            opts = _options(
                rx.url, duration_s=1.0, calibrate=True, model="open", rate=20.0
            )
            judged = calibration.calibrate(opts).beside(20.0)
        assert 20.0 == judged.rate
        assert judged.late_share_alone is not None
        assert 0.0 <= judged.late_share_alone <= 1.0
        assert "at 20 requests/s hubsim alone started" in judged.sentence()
        assert round(judged.late_share_alone, 4) == judged.to_json()["late_share_alone"]

    @pytest.mark.parametrize(
        ("late", "limited", "words"),
        [
            (0.0, False, "are its own"),
            (0.05, False, "are its own"),
            (0.2, True, "partly hubsim's own; lower --rate"),
        ],
    )
    def test_an_open_schedule_hubsim_cannot_keep_says_so(self, late, limited, words):
        """Over 5 % late against the null sink, the sentence blames hubsim's share."""

        from simulator.calibration import Calibration

        judged = Calibration(100.0, 10, 1, rate=90.0, late_share_alone=late)
        assert limited == judged.schedule_limited_by_hubsim
        assert words in judged.beside(50.0).sentence()

    @pytest.mark.parametrize(
        ("measured", "limited", "words"),
        [
            (30.0, False, "well below"),
            (79.0, False, "most likely your receiver's"),
            (80.0, True, "may be hubsim's"),
            (120.0, True, "may be hubsim's"),
        ],
    )
    def test_near_the_ceiling_says_so(self, measured, limited, words):
        """At 80 % of hubsim's ceiling or more, the sentence warns it may be hubsim's."""

        from simulator.calibration import Calibration

        judged = Calibration(100.0, 10, 1).beside(measured)
        assert limited == judged.limited_by_hubsim
        assert words in judged.sentence()
