"""
Reports: a finished run as a rich table for people and a JSON document for
machines. Rendering only; every figure comes from :class:`Summary` and the
:class:`Ledger` (vegeta's reporters compute nothing either).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from .ledger import Ledger
from .result import RunResult, Verdict, undelivered
from .stats import Comparison, Percentiles, Stats, Summary
from .thresholds import Check

#: 2: adds "stats" (histograms, series, breakdowns) so runs merge and compare.
SCHEMA_VERSION: Final = 2


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def to_json(result: RunResult) -> dict[str, Any]:
    """
    The ``--report`` document (``schema_version`` 2). No secrets, by design: the
    run result never holds one.
    """
    doc = _summary_json(result)
    if result.stats is not None:
        doc["stats"] = result.stats.to_json()
    return doc


def _summary_json(result: RunResult) -> dict[str, Any]:
    s, ledger = result.summary, result.ledger
    return {
        "schema_version": SCHEMA_VERSION,
        "target_url": result.target_url,
        "app_id": result.app_id,
        "portal_ids": list(result.portal_ids),
        "interrupted": result.interrupted,
        "events": ledger_json(ledger),
        "requests": {
            "total": s.requests,
            "ok": s.ok_requests,
            "success_ratio": round(s.success_ratio, 6),
            "outcomes": dict(s.outcomes),
            "by_attempt": {str(k): v for k, v in s.by_attempt.items()},
            "bytes_out": s.bytes_out,
        },
        "chaos": dict(result.chaos),
        "duration_s": round(s.duration_s, 6),
        "max_event_age_s": round(s.max_event_age_s, 6),
        "requests_per_second": round(s.requests_per_s, 3),
        "events_per_second": round(s.events_per_s, 3),
        "latency_ms": {
            "p50": round(s.latency.p50 * 1000, 3),
            "p90": round(s.latency.p90 * 1000, 3),
            "p99": round(s.latency.p99 * 1000, 3),
            "max": round(s.latency.max * 1000, 3),
        },
    }


def write_json(
    result: RunResult,
    path: str | Path,
    checks: Sequence[Check] = (),
    extra: Mapping[str, Any] | None = None,
) -> None:
    """
    Write :func:`to_json` (and threshold results, if any, and ``extra`` keys
    such as bench figures) to ``path``.
    """
    doc = to_json(result)
    doc.update(extra or {})
    if checks:
        doc["thresholds"] = [
            {
                "threshold": str(c.threshold),
                "measured": round(c.measured, 6),
                "ok": c.ok,
            }
            for c in checks
        ]
    Path(path).write_text(dumps(doc), encoding="utf-8")


def dumps(doc: Mapping[str, Any]) -> str:
    """A JSON document as hubsim writes them: indented, one trailing newline."""
    return json.dumps(doc, indent=2) + "\n"


def render_checks(checks: Sequence[Check]) -> RenderableType:
    """
    The thresholds table: what was asked, what was measured, pass or fail.
    """
    table = Table("threshold", "measured", "")
    for c in checks:
        mark = "[green]✔ pass[/]" if c.ok else "[red]✘ FAIL[/]"
        table.add_row(str(c.threshold), f"{c.measured:,.4g}", mark)
    return table


def render(result: RunResult) -> RenderableType:
    """
    The end-of-run summary a person reads.
    """
    s, ledger = result.summary, result.ledger
    unit = result.unit
    events = Table(
        title=f"{unit.capitalize()}s", show_header=False, box=None, padding=(0, 2)
    )
    events.add_column(style="bold")
    events.add_column(justify="right")
    events.add_row("generated", f"{ledger.generated:,}")
    events.add_row("delivered", f"{ledger.delivered:,}")
    if len(ledger.delivered_on_attempt) > 1:
        by = " · ".join(
            f"{k}: {n:,}" for k, n in sorted(ledger.delivered_on_attempt.items())
        )
        events.add_row("  by attempt", by)
    gave_up = f"{ledger.gave_up:,}"
    if ledger.gave_up_errors:
        gave_up += (
            "  ("
            + ", ".join(f"{k}: {v:,}" for k, v in ledger.gave_up_errors.items())
            + ")"
        )
    events.add_row("gave up", gave_up)
    events.add_row("pending", f"{ledger.pending_count:,}")
    if result.chaos:
        events.add_row(
            "chaos",
            ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in result.chaos.items()),
        )

    reqs = Table(title="Requests", show_header=False, box=None, padding=(0, 2))
    reqs.add_column(style="bold")
    reqs.add_column(justify="right")
    reqs.add_row("sent", f"{s.requests:,}  ({s.requests_per_s:,.0f}/s)")
    if unit == "event":  # otherwise one per request: the line would repeat "sent"
        reqs.add_row("events sent", f"{s.events_sent:,}  ({s.events_per_s:,.0f}/s)")
    outcomes = ", ".join(f"{k}: {v:,}" for k, v in sorted(s.outcomes.items()))
    reqs.add_row("answers", outcomes or "-")
    reqs.add_row(
        "latency",
        f"p50 {_ms(s.latency.p50)}  p90 {_ms(s.latency.p90)}  "
        f"p99 {_ms(s.latency.p99)}  max {_ms(s.latency.max)}",
    )
    for label, value in extra_rows(s, ledger):
        reqs.add_row(label, value)
    reqs.add_row("duration", f"{s.duration_s:,.2f} s")
    apps = _apps_table(result.stats)

    if not ledger.balanced:
        verdict = _mismatch(ledger)
    elif result.all_delivered:
        verdict = Text(
            f"✔ all {ledger.generated:,} {unit}s delivered", style="bold green"
        )
    else:
        verdict = Text(
            f"✘ {ledger.generated - ledger.delivered:,} of {ledger.generated:,} "
            f"{unit}s not delivered",
            style="bold red",
        )
    invariant = _invariant(ledger)
    if result.outcomes:
        # A custom action run: its executions table (tables.executions) says
        # how each ended; only the requests are summed up here.
        return Group(reqs, Text(""), _action_verdict(result))
    parts: list[RenderableType] = [events, Text(""), reqs, Text("")]
    if apps is not None:
        parts += [apps, Text("")]
    return Group(*parts, invariant, verdict)


def _action_verdict(result: RunResult) -> Text:
    o = result.outcomes
    total = sum(o.values())
    good = o.get("succeeded", 0) + o.get("completed", 0)
    if good == total:
        return Text(f"✔ all {total:,} executions succeeded or completed", "bold green")
    return Text(
        f"✘ {total - good:,} of {total:,} executions did not succeed "
        f"({undelivered(result)})",
        "bold red",
    )


def _percentiles(p: Percentiles) -> str:
    return f"p50 {_ms(p.p50)}  p90 {_ms(p.p90)}  p99 {_ms(p.p99)}  max {_ms(p.max)}"


def extra_rows(s: Summary, ledger: Ledger | None) -> list[tuple[str, str]]:
    """
    Summary rows only some runs have (scheduled sends, backlog, retries), for
    the terminal and the HTML report alike.
    """
    rows = []
    if s.intended is not None:
        rows.append(("latency from schedule", _percentiles(s.intended)))
        late = f"{s.late_sends:,} of {s.scheduled_sends:,} scheduled sends"
        if s.dropped_sends:
            late += f", {s.dropped_sends:,} never sent"
        rows.append(("late", late))
    if s.peak_backlog:
        drained = f", drained in {s.drain_s:,.0f} s" if s.drain_s is not None else ""
        rows.append(("backlog", f"peak {s.peak_backlog:,} events waiting{drained}"))
    if ledger is not None and ledger.delivered and len(ledger.delivered_on_attempt) > 1:
        retries = sum(k * n for k, n in ledger.delivered_on_attempt.items())
        rows.append(
            ("retries", f"{retries / ledger.delivered:.2f} per delivered event")
        )
    return rows


def _apps_table(stats: Stats | None) -> RenderableType | None:
    """Per-app figures when a run had several apps."""
    if stats is None or len(stats.by_app) < 2:
        return None
    table = Table("app", "requests", "events", "errors", "p50", "p99", title="By app")
    for app_id, part in sorted(stats.by_app.items()):
        table.add_row(
            str(app_id),
            f"{part.requests:,}",
            f"{part.events:,}",
            f"{part.errors:,}",
            _ms(part.latency.percentile(50)),
            _ms(part.latency.percentile(99)),
        )
    return table


def ledger_json(ledger: Ledger) -> dict[str, Any]:
    """A report's ``events`` section: the ledger's counts and its invariant."""
    return {
        "generated": ledger.generated,
        "delivered": ledger.delivered,
        "gave_up": ledger.gave_up,
        "pending": ledger.pending_count,
        "invariant_holds": ledger.balanced,
        "delivered_on_attempt": {
            str(k): v for k, v in sorted(ledger.delivered_on_attempt.items())
        },
        "gave_up_last_error": dict(ledger.gave_up_errors),
    }


def render_accounts(ledger: Ledger) -> RenderableType:
    """Merged ledgers: the invariant line, and a mismatch said plainly."""
    if not ledger.balanced:
        return Group(_invariant(ledger), _mismatch(ledger))
    return _invariant(ledger)


def _invariant(ledger: Ledger) -> Text:
    return Text(
        f"generated {ledger.generated:,} = delivered {ledger.delivered:,} + gave up "
        f"{ledger.gave_up:,} + pending {ledger.pending_count:,}",
        style="dim",
    )


def _mismatch(ledger: Ledger) -> Text:
    settled = ledger.delivered + ledger.gave_up + ledger.pending_count
    return Text(
        f"LEDGER MISMATCH: generated {ledger.generated:,} != delivered + gave up + "
        f"pending ({settled:,})",
        style="bold red",
    )


def render_stats(stats: Stats, title: str) -> RenderableType:
    """
    Saved runs, merged: latency, event age, outcomes, families, per second.
    """
    s = stats.summary()
    head = Table(title=title, show_header=False, box=None, padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("requests", f"{s.requests:,}  ({s.requests_per_s:,.0f}/s)")
    head.add_row("events", f"{s.events_sent:,}  ({s.events_per_s:,.0f}/s)")
    head.add_row(
        "latency",
        f"p50 {_ms(s.latency.p50)}  p90 {_ms(s.latency.p90)}  "
        f"p99 {_ms(s.latency.p99)}  max {_ms(s.latency.max)}",
    )
    age = stats.event_age
    head.add_row(
        "event age",
        f"p50 {age.percentile(50):,.2f} s  p99 {age.percentile(99):,.2f} s  "
        f"max {s.max_event_age_s:,.2f} s",
    )
    head.add_row(
        "answers", ", ".join(f"{k}: {v:,}" for k, v in sorted(s.outcomes.items()))
    )
    head.add_row(
        "families",
        ", ".join(f"{k}: {v:,}" for k, v in stats.family_events.most_common()),
    )
    if s.intended is not None:
        head.add_row("from schedule", _percentiles(s.intended))
        head.add_row("late sends", f"{s.late_sends:,} of {s.scheduled_sends:,}")
    head.add_row(
        "by attempt",
        ", ".join(
            f"{k}: {h.total:,} (p99 {_ms(h.percentile(99))})"
            for k, h in sorted(stats.latency_by_attempt.items())
        ),
    )
    series = Table(
        "second", "requests", "events", "errors", "in flight", "waiting", "p50",
        "p99", title="per second",
    )  # fmt: skip
    t0 = min(stats.series, default=0)
    for sec, data in sorted(stats.series.items()):
        series.add_row(
            f"+{sec - t0}",
            f"{data.requests:,}",
            f"{data.events:,}",
            f"{data.errors:,}",
            f"{data.in_flight:,}",
            f"{data.backlog:,}",
            _ms(data.latency.percentile(50)),
            _ms(data.latency.percentile(99)),
        )
    apps = _apps_table(stats)
    return Group(head, Text(""), *([apps, Text("")] if apps else []), series)


def render_comparison(rows: Sequence[Comparison], tolerance: float) -> RenderableType:
    """
    Two runs side by side; regressions beyond the tolerance marked.
    """
    table = Table("metric", "base", "new", "change", f"(tolerance {tolerance:.0%})")
    for r in rows:
        mark = "[red]✘ regressed[/]" if r.regressed else "[green]✔[/]"
        table.add_row(r.metric, _figure(r.base), _figure(r.new), _change(r), mark)
    return table


def _figure(x: float) -> str:
    """``85,930``, ``12.35``, ``0.1111``: never ``8.593e+04``."""
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:,.2f}"
    return f"{x:.4f}"


def _change(r: Comparison) -> str:
    """The relative change; from zero there is none, so the difference."""
    if r.base == 0:
        return "no change" if r.new == 0 else f"new: from 0 to {_figure(r.new)}"
    return f"{r.change:+.1%}"


@dataclass(frozen=True, slots=True)
class _Case:
    classname: str
    name: str
    failed: str | None = None
    skipped: str | None = None
    seconds: float = 0.0


def junit(
    result: RunResult, checks: Sequence[Check], verdict: Verdict, name: str
) -> str:
    """
    The run as JUnit XML, one testcase per thing that can decide its exit
    code: not interrupted, the ledger balanced, every event delivered
    (skipped when thresholds decide instead), and each threshold. The suite
    fails exactly when the run exits non-zero.
    """
    from xml.etree import ElementTree as ET

    ledger, duration = result.ledger, result.summary.duration_s
    missing = ledger.generated - ledger.delivered
    not_delivered = (
        f"{missing:,} of {ledger.generated:,} events not delivered "
        f"({undelivered(result)})"
    )
    delivered = "every generated event was delivered"
    cases = [
        _Case(
            "hubsim.run",
            "the run finished (not interrupted)",
            "stopped by a signal: in-flight requests finished, the rest pending"
            if result.interrupted
            else None,
        ),
        _Case(
            "hubsim.ledger",
            "every generated event is delivered, given up or pending",
            None
            if ledger.balanced
            else f"generated {ledger.generated:,} != delivered {ledger.delivered:,}"
            f" + gave up {ledger.gave_up:,} + pending {ledger.pending_count:,}",
        ),
        # The delivery case carries the run's real duration.
        _Case("hubsim.delivery", delivered, seconds=duration)
        if not missing
        else _Case("hubsim.delivery", delivered, not_delivered, seconds=duration)
        if verdict.delivery_decides
        else _Case(
            "hubsim.delivery",
            delivered,
            skipped=f"{not_delivered}; thresholds decide this run",
            seconds=duration,
        ),
    ]
    cases += [
        _Case(
            "hubsim.thresholds",
            str(c.threshold),
            None if c.ok else f"{c.threshold} did not hold: measured {c.measured:.6g}",
        )
        for c in checks
    ]
    suite = ET.Element(
        "testsuite", name=f"hubsim {name}", tests=str(len(cases)),
        failures=str(sum(c.failed is not None for c in cases)), errors="0",
        skipped=str(sum(c.skipped is not None for c in cases)), time=f"{duration:.3f}",
    )  # fmt: skip
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="verdict", value=verdict.word)
    ET.SubElement(props, "property", name="exit_code", value=str(int(verdict.code)))
    for c in cases:
        el = ET.SubElement(
            suite, "testcase", classname=c.classname, name=c.name,
            time=f"{c.seconds:.3f}",
        )  # fmt: skip
        if c.failed is not None:
            failure = ET.SubElement(el, "failure", message=c.failed, type="hubsim")
            failure.text = c.failed
        elif c.skipped is not None:
            ET.SubElement(el, "skipped", message=c.skipped)
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(
        suite, encoding="unicode"
    )


def markdown(
    result: RunResult, checks: Sequence[Check], verdict: Verdict, name: str
) -> str:
    """
    A short Markdown summary, e.g. for a CI job summary ($GITHUB_STEP_SUMMARY);
    it says passed exactly when the run exits 0.
    """
    s, ledger = result.summary, result.ledger
    mark = {"passed": "✅", "failed": "❌", "interrupted": "⏹"}[verdict.word]
    answers = ", ".join(f"{k}: {v:,}" for k, v in sorted(s.outcomes.items()))
    lines = [
        f"### hubsim: {name} {mark} {verdict.word}",
        "",
    ]
    lines += [f"- {reason}" for reason in verdict.reasons]
    if verdict.reasons:
        lines.append("")
    lines += [
        "| | |",
        "|---|---|",
        f"| events | {ledger.generated:,} generated, {ledger.delivered:,} delivered, "
        f"{ledger.gave_up:,} gave up, {ledger.pending_count:,} pending |",
        f"| requests | {s.requests:,} ({s.requests_per_s:,.0f}/s) |",
        f"| latency | p50 {_ms(s.latency.p50)}, p90 {_ms(s.latency.p90)}, "
        f"p99 {_ms(s.latency.p99)}, max {_ms(s.latency.max)} |",
        f"| answers | {answers or '-'} |",
        f"| max event age | {s.max_event_age_s:,.2f} s |",
        f"| duration | {s.duration_s:,.2f} s |",
    ]
    if checks:
        lines += ["", "| threshold | measured | |", "|---|---|---|"]
        lines += [
            f"| `{c.threshold}` | {c.measured:,.4g} | {'✅' if c.ok else '❌'} |"
            for c in checks
        ]
    return "\n".join(lines) + "\n"
