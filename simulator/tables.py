"""
Tables for the commands that are not a run report: bench figures and ramp
steps, apps side by side, signatures, the type catalog, contract results, a
replay's dry run, the demo's cross-check. Rendering only, like
:mod:`simulator.report`: every figure comes in computed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from . import catalog
from .result import RunResult

if TYPE_CHECKING:
    from .bench import Step
    from .contract import CheckResult
    from .diagnosis import Diagnosis
    from .measurement import Measurement
    from .recording import RecordedRequest
    from .trigger import Exchange


def bench_figures(m: Measurement) -> RenderableType:
    """One measurement's rates, window, CPU share and event loop."""
    table = Table(title="Bench", show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("requests/s", f"{m.requests_per_s:,.1f}")
    table.add_row("events/s", f"{m.events_per_s:,.1f}")
    table.add_row("window", f"{m.elapsed_s:,.2f} s")
    table.add_row(
        "hubsim CPU", f"{m.cpu_share:.0%} of {m.workers} core{'s' * (m.workers > 1)}"
    )
    table.add_row("event loop", m.loop)
    return table


def ramp_step(step: Step, shown: float, unit: str) -> Text:
    """One line per ramp step as it finishes."""
    m = step.measurement
    held = Text("held", style="green") if step.held else Text("broke", style="red")
    line = Text(f"  {shown:>8g} {unit}: {m.requests_per_s:>9,.1f} req/s  ")
    line.append(
        "  ".join(f"{c.threshold.metric} {c.measured:,.4g}" for c in step.checks)
    )
    line.append("  ")
    return line + held


def ramp_steps(
    steps: Sequence[tuple[float, Step]], unit: str, rules: Sequence[str]
) -> RenderableType:
    """Every ramp step: its value, rates and each SLO rule's measurement."""
    table = Table(unit, "requests/s", "events/s", *rules)
    for value, step in steps:
        table.add_row(
            f"{value:g}",
            f"{step.measurement.requests_per_s:,.1f}",
            f"{step.measurement.events_per_s:,.1f}",
            *(f"{c.measured:,.4g} {'✔' if c.ok else '✘'}" for c in step.checks),
        )
    return table


def apps(rows: Iterable[tuple[str, int, RunResult]]) -> RenderableType:
    """Apps side by side: (name, in-flight limit, result) each."""
    table = Table("app", "appId", "max in flight", "requests", "delivered", "p99")
    for name, limit, r in rows:
        table.add_row(
            name,
            str(r.app_id),
            str(limit),
            f"{r.summary.requests:,}",
            f"{r.ledger.delivered:,}",
            f"{r.summary.latency.p99 * 1000:,.1f} ms",
        )
    return table


def signatures(rows: Sequence[tuple[str, str]]) -> RenderableType:
    """``hubsim sign``: label, value."""
    table = Table(show_header=False, box=None)
    for label, value in rows:
        table.add_row(label, Text(value))
    return table


def type_catalog(generic: bool) -> RenderableType:
    """Every subscription type (or objectTypeId) hubsim generates."""
    if generic:
        table = Table("objectTypeId", "object", "generic webhooks")
        for o in catalog.OBJECT_TYPES:
            table.add_row(
                o.type_id, o.name, "yes" if o.generic_webhooks else "not listed"
            )
        table.add_row("2-<n>", "custom object", "private apps only")
        return table
    table = Table("family", "subscription types")
    for family, actions in catalog.CLASSIC_FAMILIES.items():
        table.add_row(family, ", ".join(f"{family}.{a}" for a in actions))
    table.add_row("object", ", ".join(catalog.generic_types()) + "  (--format generic)")
    return table


def type_lines(generic: bool) -> list[str]:
    """The same catalog as plain lines, for a pipe."""
    if generic:
        return [
            f"{o.type_id}\t{o.name}\t{'yes' if o.generic_webhooks else 'not listed'}"
            for o in catalog.OBJECT_TYPES
        ]
    return [*catalog.classic_types(), *catalog.generic_types()]


def contract_results(results: Sequence[CheckResult]) -> RenderableType:
    """One row per contract check: id, mark, what it saw, the verdict."""
    table = Table("check", "", "what it saw", "verdict")
    for r in results:
        mark = (
            Text("ℹ", style="blue")
            if r.passed is None
            else Text("✔", style="green")
            if r.passed
            else Text("✘", style="red")
        )
        table.add_row(Text(r.id), mark, Text(r.saw), Text(r.message))
    return table


def diagnosis(found: Diagnosis) -> RenderableType:
    """The diagnosis under the contract table: cause, evidence, fix, signed string."""
    lines = [Text("Diagnosis: ", style="bold") + Text(found.cause or "no cause found")]
    lines += [Text(f"  evidence: {e}") for e in found.evidence]
    if found.fix:
        lines.append(Text(f"  fix: {found.fix}"))
    if found.signed:
        lines.append(Text(f"  v3 signed: {found.signed}", style="dim"))
    if found.reproduce:
        lines.append(Text(f"  reproduce: {found.reproduce}", style="dim"))
    return Group(*lines)


def exchange(ex: Exchange) -> RenderableType:
    """One request and its response, as ``hubsim trigger`` prints them."""
    lines = [Text(f"→ {ex.method} {ex.url}", style="bold")]
    lines += [Text(f"  {k}: {v}") for k, v in ex.headers.items()]
    lines += [Text(""), _body(ex.body, "sent compact"), Text("")]
    answer = ex.answer
    if answer.status is None:
        lines.append(Text(f"← no answer: {answer.error}", style="bold red"))
        return Group(*lines)
    try:
        reason = HTTPStatus(answer.status).phrase
    except ValueError:
        reason = ""
    style = "bold green" if answer.ok else "bold red"
    lines.append(
        Text(
            f"← {answer.status} {reason} in {answer.latency_s * 1000:,.1f} ms",
            style=style,
        )
    )
    lines += [Text(f"  {k}: {v}") for k, v in ex.response_headers.items()]
    if answer.body:
        lines += [Text(""), _body(answer.body, "received")]
    return Group(*lines)


def _body(body: bytes, how: str) -> Text:
    """A body for reading: JSON indented (saying it was not sent so), or text."""
    if not body:
        return Text("  (no body)", style="dim")
    try:
        pretty = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return Text(body.decode("utf-8", "replace"))
    return Text(pretty) + Text(
        f"\n  (shown indented; {how}, {len(body):,} bytes)", style="dim"
    )


def dry_run(requests: Sequence[RecordedRequest], speed: float) -> RenderableType:
    """The first 50 requests a replay would send."""
    table = Table("t (s)", "batch", "attempt", "bytes", "types")
    for r in requests[:50]:
        kinds = ", ".join(sorted(r.subscription_types)) or "workflow record"
        table.add_row(
            f"{r.t / speed:.3f}",
            str(r.batch),
            str(r.attempt_number),
            f"{len(r.body):,}",
            Text(kinds),
        )
    return table


def cross_check(rows: Sequence[tuple[str, int, int]]) -> RenderableType:
    """The demo's /stats check: what the receiver saw against what was sent."""
    table = Table("receiver /stats", "value", "expected")
    for name, got, want in rows:
        mark = "✔" if got == want else "✘"
        table.add_row(name, f"{got:,}", f"{mark} {want:,}")
    return table


def key_values(rows: Mapping[str, str]) -> RenderableType:
    """A plain two-column list."""
    table = Table(show_header=False, box=None)
    for k, v in rows.items():
        table.add_row(Text(k), Text(v))
    return table


def executions(section: Mapping[str, object]) -> RenderableType:
    """Custom action executions by outcome, completion delays, callbacks."""
    outcomes = section["outcomes"]
    delay = section["completion_delay_ms"]
    callbacks = section["callbacks"]
    assert isinstance(outcomes, dict)
    assert isinstance(delay, dict)
    assert isinstance(callbacks, dict)
    table = Table(title="Executions", show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(justify="right")
    for name, n in outcomes.items():
        table.add_row(name.replace("_", " "), f"{n:,}")
    if outcomes.get("completed"):
        table.add_row(
            "completion delay",
            f"p50 {delay['p50']:,.1f} ms  p99 {delay['p99']:,.1f} ms  "
            f"max {delay['max']:,.1f} ms",
        )
    if callbacks:
        table.add_row(
            "callbacks", ", ".join(f"{k}: {v:,}" for k, v in sorted(callbacks.items()))
        )
    if section.get("invalid_output_fields"):
        table.add_row("invalid outputFields", f"{section['invalid_output_fields']:,}")
    return table


def options_pages(fetched: object) -> RenderableType:
    """Each options-fetch page: what was asked, what came back."""
    from .options_fetch import Fetched

    assert isinstance(fetched, Fetched)
    table = Table("page", "q", "after", "status", "options")
    for i, page in enumerate(fetched.pages, 1):
        table.add_row(
            str(i),
            Text(str(page.get("q") or "")),
            Text(str(page.get("after") or "")),
            str(page.get("status")),
            str(page.get("options", "-")),
        )
    return table
