"""The live dashboard's figures: rolling rates and percentiles, failures, backlog."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from simulator.batching import Batch
from simulator.dashboard import figures_table, live_figures
from simulator.delivery import Attempt
from simulator.events import EventConfig, EventSource
from simulator.run import SendRun
from simulator.settings import SendSettings
from simulator.signing import ClientSecret


def _run():
    settings = SendSettings(events=500, preflight=False)
    return SendRun(settings.to_options("http://127.0.0.1:9/hook", ClientSecret("k")))


def _batch():
    return Batch.of(1, 1, tuple(EventSource(EventConfig(seed=1)).take(10)))


def test_rolling_window_leaves_out_the_current_second():
    """Rates and percentiles cover whole seconds before now, not the partial one."""

    run = _run()
    for sec in (100, 101):
        for i in range(10):
            run.stats.add(Attempt(_batch(), 0, sec + i / 10, 0.010, 204, None, 1, True))
    run.stats.add(Attempt(_batch(), 0, 102.1, 0.9, 503, None, 1, False))
    f = live_figures([run], 500, now=102.5)
    assert f.requests_per_s == pytest.approx(10)
    assert f.events_per_s == pytest.approx(100)
    assert f.p99_ms == pytest.approx(10, rel=0.01)
    assert {"503": 1} == f.failed
    assert "failed 503 1" in f.line()


def test_start_up_does_not_understate_the_rate():
    """The first window counts from the first request, not from a whole second."""

    run = _run()
    for i in range(4):  # 10 requests/s, starting at 101.6
        run.stats.add(Attempt(_batch(), 0, 101.6 + i / 10, 0.010, 204, None, 1, True))
    f = live_figures([run], 500, now=102.0)
    assert f.requests_per_s == pytest.approx(10)


def test_plain_line_without_a_total_and_with_an_estimate():
    """No '/0' when there is no total; the time left when there is one."""

    run = _run()
    for i in range(10):
        run.stats.add(Attempt(_batch(), 0, 100 + i / 10, 0.010, 204, None, 1, True))
    untimed = live_figures([run], 0, now=101.0).line()
    timed = live_figures([run], 1100, now=101.0).line()
    assert untimed.startswith("delivered 0 ·")
    assert "/0" not in untimed
    assert "delivered 0/1,100 (~11 s left)" in timed


def test_renders_without_a_terminal():
    """The figures render as text (what a terminal's dashboard shows)."""

    run = _run()
    out = io.StringIO()
    Console(file=out, width=100).print(figures_table(live_figures([run], 500, 1.0)))
    assert "in flight" in out.getvalue()
    assert "no failed requests" in out.getvalue()


def test_workflow_and_action_runs_name_their_items():
    """The live figures say records or executions, not events, for those runs."""

    run = _run()
    run.stats.add(Attempt(_batch(), 0, 100.5, 0.010, 204, None, 1, True))
    records = live_figures([run], 10, now=101.0, unit="records")
    assert " records/s · " in records.line()
    assert "events" not in records.line()
    out = io.StringIO()
    table = figures_table(live_figures([run], 10, 101.0, unit="executions"))
    Console(file=out, width=100).print(table)
    assert "executions/s" in out.getvalue()
    assert "executions waiting" in out.getvalue()
