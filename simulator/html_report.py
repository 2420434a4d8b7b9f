"""
The ``--html`` report: one self-contained file (inline CSS and SVG, no script,
no fetch) with the summary, charts over time, the latency percentile spectrum
and breakdown tables. Renders from :class:`Stats`, so a saved JSON report
re-renders the same page (``hubsim report RUN.json --html``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path

from . import __version__
from .charts import spectrum_chart, time_chart
from .ledger import Ledger
from .report import extra_rows
from .result import RunResult
from .stats import LatencyHistogram, Stats
from .thresholds import Check

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;
 color:#1d2733;background:#f6f8fa}
main{max-width:1500px;margin:0 auto;padding:20px 28px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 10px}
.sub{color:#5b6b7b;margin-bottom:16px}
.ok{color:#11783b;font-weight:600} .bad{color:#b3261e;font-weight:600}
table{border-collapse:collapse;background:#fff;margin:0 0 10px;min-width:340px}
th,td{padding:5px 12px;border-bottom:1px solid #e3e8ee;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
th{background:#eef2f6;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:14px}
.card{background:#fff;border:1px solid #e3e8ee;border-radius:6px;padding:8px}
.tables{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
svg{width:100%;height:auto}
svg .t{font-weight:600;font-size:13px} svg .g{stroke:#e3e8ee}
svg .yl{text-anchor:end;font-size:11px;fill:#5b6b7b}
svg .xl{text-anchor:middle;font-size:11px;fill:#5b6b7b}
svg .yt{text-anchor:middle;font-size:11px;fill:#5b6b7b} svg .lg{font-size:11px}
details{margin-top:8px} summary{cursor:pointer;font-weight:600}
"""


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def _table(
    head: Sequence[str], rows: Iterable[Sequence[object]], numeric_from: int = 1
) -> str:
    def cell(tag: str, i: int, v: object) -> str:
        cls = ' class="n"' if i >= numeric_from else ""
        return f"<{tag}{cls}>{escape(str(v))}</{tag}>"

    out = ["<table>"]
    if any(head):
        out += ["<tr>", *(cell("th", i, h) for i, h in enumerate(head)), "</tr>"]
    for row in rows:
        out += ["<tr>", *(cell("td", i, v) for i, v in enumerate(row)), "</tr>"]
    out.append("</table>")
    return "".join(out)


def _percentile_row(label: str, h: LatencyHistogram) -> list[object]:
    return [
        label,
        f"{h.total:,}",
        *(_ms(h.percentile(p)) for p in (50, 90, 99, 99.9)),
        _ms(h.max_us / 1e6),
    ]


def _summary(stats: Stats, ledger: Ledger | None) -> str:
    s = stats.summary()
    rows: list[tuple[str, str]] = []
    if ledger is not None:
        rows += [
            ("events generated", f"{ledger.generated:,}"),
            ("delivered", f"{ledger.delivered:,}"),
            ("gave up", f"{ledger.gave_up:,}"),
            ("pending", f"{ledger.pending_count:,}"),
        ]
    rows += [
        ("requests", f"{s.requests:,} ({s.requests_per_s:,.1f}/s)"),
        ("events sent", f"{s.events_sent:,} ({s.events_per_s:,.1f}/s)"),
        ("answered 2xx", f"{s.success_ratio:.2%}"),
        ("duration", f"{s.duration_s:,.2f} s"),
        (
            "latency",
            f"p50 {_ms(s.latency.p50)} · p90 {_ms(s.latency.p90)} · "
            f"p99 {_ms(s.latency.p99)} · max {_ms(s.latency.max)}",
        ),
    ]
    rows += extra_rows(s, ledger)
    age = stats.event_age
    if age.total:
        rows.append(
            (
                "event age at 2xx",
                f"p50 {age.percentile(50):,.2f} s · p99 {age.percentile(99):,.2f} s"
                f" · max {s.max_event_age_s:,.2f} s",
            )
        )
    return _table(("", ""), rows, numeric_from=2)


def _charts(stats: Stats) -> list[str]:
    series = stats.series
    # Latency exists only in seconds that had requests: an idle second is a
    # gap, not 0 ms.
    busy = {t: x for t, x in series.items() if x.latency.total}
    p = {
        "p50": {t: x.latency.percentile(50) * 1000 for t, x in busy.items()},
        "p99": {t: x.latency.percentile(99) * 1000 for t, x in busy.items()},
    }
    spectra = {"request latency": stats.latency}
    if stats.intended_latency.total:
        spectra["from scheduled moment"] = stats.intended_latency
    outcomes = {o for o, _ in stats.outcomes.items() if not o.startswith("2")}
    errors = {"failed requests": {t: float(x.errors) for t, x in series.items()}}
    if not outcomes:
        errors = {"failed requests (none)": {t: 0.0 for t in series}}
    return [
        time_chart("Latency over time", p, "ms"),
        spectrum_chart("Latency by percentile", spectra),
        time_chart(
            "Throughput",
            {"requests/s": {t: float(x.requests) for t, x in series.items()}},
            "requests/s",
        ),
        time_chart(
            "Events sent",
            {"events/s": {t: float(x.events) for t, x in series.items()}},
            "events/s",
        ),
        time_chart("Errors over time", errors, "requests/s"),
        time_chart(
            "Requests in flight",
            {"in flight (max)": {t: float(x.in_flight) for t, x in series.items()}},
            "requests",
        ),
        time_chart(
            "Backlog",
            {"events waiting (max)": {t: float(x.backlog) for t, x in series.items()}},
            "events",
        ),
    ]


def _breakdowns(stats: Stats) -> list[str]:
    head = ("", "requests", "p50", "p90", "p99", "p99.9", "max")
    out = [
        "<div><h3>By answer</h3>"
        + _table(
            head,
            (
                _percentile_row(o, h)
                for o, h in sorted(stats.latency_by_outcome.items())
            ),
        )
        + "</div>",
        "<div><h3>By attempt number</h3>"
        + _table(
            head,
            (
                _percentile_row(str(k), h)
                for k, h in sorted(stats.latency_by_attempt.items())
            ),
        )
        + "</div>",
        "<div><h3>By subscription family</h3>"
        + _table(("family", "events"), stats.family_events.most_common())
        + "</div>",
    ]
    if stats.by_app:
        out.append(
            "<div><h3>By app</h3>"
            + _table(
                ("app", "requests", "events", "errors", "p50", "p99"),
                (
                    (
                        app,
                        f"{b.requests:,}",
                        f"{b.events:,}",
                        f"{b.errors:,}",
                        _ms(b.latency.percentile(50)),
                        _ms(b.latency.percentile(99)),
                    )
                    for app, b in sorted(stats.by_app.items())
                ),
            )
            + "</div>"
        )
    return out


def _per_second(stats: Stats) -> str:
    t0 = min(stats.series, default=0)
    rows = (
        (
            f"+{t - t0}",
            f"{x.requests:,}",
            f"{x.events:,}",
            f"{x.errors:,}",
            x.in_flight,
            f"{x.backlog:,}",
            _ms(x.latency.percentile(50)),
            _ms(x.latency.percentile(99)),
        )
        for t, x in sorted(stats.series.items())
    )
    head = ("second", "requests", "events", "errors", "in flight", "waiting", "p50")
    table = _table((*head, "p99"), rows)
    return f"<details><summary>Every second</summary>{table}</details>"


def to_html(
    stats: Stats,
    title: str,
    *,
    target_url: str = "",
    ledger: Ledger | None = None,
    checks: Sequence[Check] = (),
    notes: Sequence[str] = (),
) -> str:
    """The whole page; ``notes`` are sentences shown under the title."""
    started = (
        dt.datetime.fromtimestamp(stats.first_start, dt.UTC).strftime(
            "%Y-%m-%d %H:%M:%S UTC"
        )
        if stats.first_start
        else "no requests"
    )
    sub = f"{started} · hubsim {__version__}"
    if target_url:
        sub = f"{escape(target_url)} · " + sub
    verdict = ""
    if ledger is not None or checks:
        passed = all(c.ok for c in checks) and (
            ledger is None or (ledger.balanced and ledger.delivered == ledger.generated)
        )
        verdict = (
            '<span class="ok">✔ passed</span>'
            if passed
            else '<span class="bad">✘ failed</span>'
        )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{escape(title)} {verdict}</h1><div class='sub'>{sub}</div>",
        *(f"<p class='note'>{escape(n)}</p>" for n in notes),
        "<h2>Summary</h2>",
        _summary(stats, ledger),
    ]
    if checks:
        parts += [
            "<h2>Thresholds</h2>",
            _table(
                ("threshold", "measured", ""),
                (
                    (str(c.threshold), f"{c.measured:,.4g}", "pass" if c.ok else "FAIL")
                    for c in checks
                ),
            ),
        ]
    parts += ["<h2>Over time</h2><div class='grid'>"]
    parts += [f"<div class='card'>{svg}</div>" for svg in _charts(stats)]
    parts += ["</div><h2>Breakdowns</h2><div class='tables'>"]
    parts += _breakdowns(stats)
    parts += ["</div>", _per_second(stats), "</main></body></html>"]
    return "\n".join(parts) + "\n"


def write_html(
    result: RunResult,
    path: str | Path,
    title: str,
    checks: Sequence[Check] = (),
    notes: Sequence[str] = (),
) -> None:
    """Write the report of a finished run."""
    stats = result.stats or Stats()
    page = to_html(
        stats,
        title,
        target_url=result.target_url,
        ledger=result.ledger,
        checks=checks,
        notes=notes,
    )
    Path(path).write_text(page, encoding="utf-8")
