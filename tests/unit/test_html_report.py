"""The HTML report: self-contained (no script, no fetch), every chart present."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace

import pytest

from simulator.batching import Batch
from simulator.charts import nice_ticks, spectrum_points
from simulator.delivery import Attempt
from simulator.events import EventConfig, EventSource
from simulator.html_report import to_html
from simulator.stats import LatencyHistogram, Stats


def _stats() -> Stats:
    batch = Batch.of(1, 7, tuple(EventSource(EventConfig(seed=1)).take(10)))
    s = Stats()
    for i in range(300):
        status = 503 if i % 17 == 0 else 204
        due = replace(batch, due=1000.0 + i / 100)
        s.add(Attempt(due, 0, 1000.0 + i / 100 + 0.002, 0.01 + i / 10000, status,
                      None, 100, status == 204))  # fmt: skip
        s.gauge(1000.0 + i / 100, i % 10, 300 - i)
    return s


def test_self_contained():
    """No script, no external reference: the page opens offline."""

    page = to_html(_stats(), "hubsim test")
    assert "<script" not in page
    assert not re.search(r"\b(src|href)\s*=", page)
    assert "url(" not in page
    assert "@import" not in page
    assert page.count("<svg") == page.count("</svg>") == 7


def test_has_every_section():
    """Summary, schedule latency, charts and breakdown tables are all there."""

    page = to_html(_stats(), "hubsim test")
    for text in (
        "Latency over time",
        "Latency by percentile",
        "Throughput",
        "Errors over time",
        "Requests in flight",
        "Backlog",
        "latency from schedule",
        "By answer",
        "By attempt number",
        "By subscription family",
        "By app",
    ):
        assert text in page, text


def test_empty_run_renders():
    """A run without requests still renders (charts say 'no data')."""

    page = to_html(Stats(), "empty")
    assert "no data" in page


def test_nice_ticks():
    """Ticks are round numbers covering the maximum."""

    assert [0, 20, 40, 60, 80, 100] == nice_ticks(93)
    assert nice_ticks(0) == [0.0, 1.0]


def test_spectrum_is_monotonic():
    """The spectrum's percentile axis and latencies only go up."""

    h = LatencyHistogram()
    for v in range(1, 1000):
        h.add(v / 1000)
    points = spectrum_points(h)
    assert points == sorted(points)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt install chromium)")
def test_renders_in_headless_chromium_without_network(tmp_path):
    """
    Headless Chromium with every host unresolvable and no proxy renders the
    page with no console message, and the charts are in its DOM.
    """

    path = tmp_path / "r.html"
    path.write_text(to_html(_stats(), "hubsim test"), encoding="utf-8")
    assert CHROMIUM is not None
    proc = subprocess.run(
        [
            CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--no-first-run",
            "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
            "--enable-logging=stderr", "--v=0", "--dump-dom", path.as_uri(),
        ],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert 0 == proc.returncode, proc.stderr[-2000:]
    assert "Latency by percentile" in proc.stdout
    assert proc.stdout.count("<polyline") >= 7
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console


def test_gaps_are_gaps_not_zeros():
    """A second without requests has no latency point; gaps break the line."""

    from simulator.charts import time_chart

    svg = time_chart("t", {"p50": {100: 5.0, 101: 6.0, 110: 7.0}}, "ms")
    assert (1, 1) == (svg.count("<polyline"), svg.count("<circle"))
    html = to_html(_idle_gap_stats(), "gap")
    latency = html.split('class="t">Latency over time</text>')[1].split("</svg>")[0]
    # p50 and p99, two one-second stretches each: a dot each, not a line.
    assert (0, 4) == (latency.count("<polyline"), latency.count("<circle"))


def test_a_single_point_is_drawn():
    """A one-second run's series is a visible dot (a one-point polyline is not)."""

    from simulator.charts import time_chart

    svg = time_chart("t", {"p50": {100: 5.0}}, "ms")
    assert 0 == svg.count("<polyline")
    assert 1 == svg.count('<circle cx="')


def _idle_gap_stats():
    """Requests in seconds 100 and 105 only, gauges sampled in between."""
    from simulator.batching import Batch
    from simulator.delivery import Attempt
    from simulator.events import EventConfig, EventSource
    from simulator.stats import Stats

    stats = Stats()
    batch = Batch.of(1, 1, tuple(EventSource(EventConfig(seed=1)).take(5)))
    for t in (100.2, 105.2):
        stats.add(Attempt(batch, 0, t, 0.01, 204, None, 10, True))
    for t in range(101, 105):
        stats.gauge(t + 0.5, 0, 0)
    return stats
