"""
``hubsim``: the command line. Flags become dataclasses; the library does the work.

One error funnel (httpie's): a :class:`SimulatorError` becomes one red line on
stderr and exit 2; Ctrl-C stops a run cleanly, flushes the report and exits
130. ``--traceback`` re-raises for debugging.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import (
    __version__,
    aio,
    bench,
    catalog,
    contract,
    dashboard,
    html_report,
    report,
    retry,
)
from .delivery import DEFAULT_MAX_IN_FLIGHT, MIN_HUBSPOT_IN_FLIGHT, DeliveryOptions
from .errors import SimulatorError, UsageError
from .faults import Faults
from .pacing import phase_events
from .receiver import (
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_MAX_BODY,
    MAX_BODY_LIMIT,
    ReceiverConfig,
    ReceiverServer,
)
from .recording import read_recording, replay_batch, select
from .result import ExitCode, RunResult, Verdict, merge_results, verdict
from .run import (
    PhaseHook,
    SendOptions,
    SendRun,
    app_phases,
    check_target_url,
    make_send_options,
    preflight,
    replay,
    scenario_options,
)
from .scenario import Phase, Scenario, ScenarioError, load_scenario
from .signing import (
    ClientSecret,
    SigningOptions,
    decode_v3_uri,
    sign_v1,
    sign_v2,
    sign_v3,
)
from .stats import Stats, compare
from .thresholds import Check, Threshold, evaluate, parse_rules

SECRET_ENV = "HUBSPOT_CLIENT_SECRET"
#: The scenario `hubsim demo` (and `make demo`) runs by default.
QUICKSTART = Path(__file__).resolve().parents[1] / "scenarios" / "quickstart.toml"
SEND_PROFILES = ("webhooks", "webhooks-legacy", "workflow", "none")


err_console = Console(stderr=True, highlight=False)


def fail(message: str, code: ExitCode = ExitCode.BAD_INPUT) -> NoReturn:
    """
    Print one red line and exit.
    """
    err_console.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    sys.exit(code)


class _Group(click.Group):
    """
    The error funnel: expected failures are one line, never a traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SimulatorError as exc:
            if ctx.meta.get("hubsim.traceback"):
                raise
            fail(str(exc), ExitCode(exc.exit_code))


def _set_traceback(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    ctx.meta["hubsim.traceback"] = value


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hubsim")
@click.option(
    "--traceback",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_set_traceback,
    help="Show Python tracebacks instead of one-line errors.",
)
def cli() -> None:
    """
    hubsim: HubSpot's webhook delivery, run locally.

    Generates realistic CRM events, batches and signs them exactly as HubSpot
    does, delivers them with HubSpot's concurrency limit and retries, and
    reports what your receiver did with them.
    """


def _secret(value: str | None) -> ClientSecret:
    return ClientSecret(value or "")


def _csv(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(v.strip() for raw in values for v in raw.split(",") if v.strip())


secret_option = click.option(
    "--secret",
    "-s",
    envvar=SECRET_ENV,
    show_envvar=True,
    metavar="SECRET",
    help="Your app's client secret (signs requests; never printed).",
)


allow_remote_option = click.option(
    "--allow-remote", is_flag=True, help="Allow a target that is not loopback."
)

# What a run writes, for send, run and bench alike.
report_option = click.option(
    "--report", "report_path", metavar="FILE.json", help="Write the run report as JSON."
)


def output_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--report, --html, --junit, --markdown: one set for every load command."""
    for option in reversed(
        (
            report_option,
            click.option(
                "--html",
                "html_path",
                metavar="FILE.html",
                help="Write a self-contained HTML report with charts (opens offline).",
            ),
            click.option(
                "--junit",
                "junit_path",
                metavar="FILE.xml",
                help="Thresholds (and delivery) as JUnit XML, for CI.",
            ),
            click.option(
                "--markdown",
                "markdown_path",
                metavar="FILE.md",
                help="Append a Markdown summary (e.g. $GITHUB_STEP_SUMMARY).",
            ),
        )
    ):
        f = option(f)
    return f


@dataclass(frozen=True, slots=True)
class Outputs:
    """Where a run's files go (None: not asked for)."""

    report_path: str | None = None
    html_path: str | None = None
    junit_path: str | None = None
    markdown_path: str | None = None
    ledger_path: str | None = None
    record_path: str | None = None


threshold_option = click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    metavar="EXPR",
    help="Pass/fail rule like 'p99_ms < 250' or 'error_rate <= 0.01' (repeatable; "
    "same metrics as a scenario's thresholds).",
)


def _thresholds(values: Sequence[str]) -> tuple[Threshold, ...]:
    return parse_rules(values, "--threshold")


ledger_option = click.option(
    "--ledger",
    "ledger_path",
    metavar="FILE.jsonl",
    help="Stream every attempt and every event's final outcome to this file.",
)
record_option = click.option(
    "--record",
    "record_path",
    metavar="FILE.jsonl",
    help="Record every request as sent (for hubsim replay).",
)


# ---------------------------------------------------------------------------
# send
# ---------------------------------------------------------------------------
@cli.command()
@click.argument("target_url")
@secret_option
@click.option(
    "--events", "-n", default=1000, show_default=True, help="Events to generate."
)
@click.option(
    "--types",
    "-t",
    multiple=True,
    metavar="LIST",
    help="Subscription types, families or globs, comma-separated: "
    "contact,deal.propertyChange,ticket.* (default: a realistic CRM mix).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["classic", "generic"]),
    default="classic",
    show_default=True,
    help="classic payloads, or generic object.* payloads with objectTypeId.",
)
@click.option(
    "--object-types",
    multiple=True,
    metavar="LIST",
    help="objectTypeIds for generic format, e.g. 0-1,0-3,2-123 "
    "(default: every standard one).",
)
@click.option(
    "--portals",
    default=1,
    show_default=True,
    help="HubSpot accounts to spread events over.",
)
@click.option("--app-id", type=int, help="appId in payloads (default: random, seeded).")
@click.option("--seed", type=int, help="Makes events and retry jitter reproducible.")
@click.option(
    "--start-time",
    type=int,
    metavar="MS",
    help="occurredAt base in epoch ms (default: now). "
    "With --seed, bodies repeat byte for byte.",
)
@click.option(
    "--batch-size",
    default=catalog.MAX_BATCH_SIZE,
    show_default=True,
    help="Events per request, at most 100 as HubSpot.",
)
@click.option(
    "--max-concurrent",
    default=DEFAULT_MAX_IN_FLIGHT,
    show_default=True,
    help="Requests in flight at most (HubSpot's maxConcurrentRequests).",
)
@click.option(
    "--timeout", type=float, help="Response timeout in seconds (profile default: 5)."
)
@click.option("--connect-timeout", type=float, help="Connect timeout in seconds.")
@click.option(
    "--retry-profile",
    type=click.Choice(SEND_PROFILES),
    default=retry.DEFAULT_PROFILE,
    show_default=True,
    help="webhooks: retry every failure up to 10 times over 24 h; webhooks-legacy: "
    "no retry on 400/401/403/404/405, 429 honours Retry-After; workflow: one CRM "
    "record per request, v2-signed, 4xx final but 429, retries from 1 min doubling "
    "to 8 h for 72 h; none: one attempt.",
)
@click.option("--max-attempts", type=int, help="Override the profile's attempt count.")
@click.option(
    "--retry-after-ms",
    is_flag=True,
    help="Read Retry-After as milliseconds (HubSpot's KB says so for workflows; "
    "default: seconds).",
)
@click.option(
    "--time-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Divide retry delays by this (1440 runs 24 h in a minute).",
)
@click.option(
    "--public-url",
    metavar="URL",
    help="Sign as if HubSpot called this URL (receiver behind a tunnel or proxy).",
)
@click.option(
    "--distinct",
    type=int,
    metavar="N",
    help="Render N different events, then re-send them with fresh eventIds and "
    "occurredAt (fast, for load tests; default: every event different).",
)
@click.option(
    "--escape-unicode",
    is_flag=True,
    help="Send non-ASCII as \\uXXXX escapes instead of raw UTF-8.",
)
@threshold_option
@output_options
@ledger_option
@record_option
@allow_remote_option
@click.option(
    "--no-preflight",
    is_flag=True,
    help="Do not check that the target accepts connections before starting.",
)
@click.option(
    "--quiet", "-q", is_flag=True, help="No live progress; print the summary only."
)
def send(
    target_url: str,
    secret: str | None,
    events: int,
    types: tuple[str, ...],
    fmt: str,
    object_types: tuple[str, ...],
    portals: int,
    app_id: int | None,
    seed: int | None,
    start_time: int | None,
    batch_size: int,
    max_concurrent: int,
    timeout: float | None,
    connect_timeout: float | None,
    retry_profile: str,
    max_attempts: int | None,
    retry_after_ms: bool,
    time_scale: float,
    public_url: str | None,
    distinct: int | None,
    escape_unicode: bool,
    thresholds: tuple[str, ...],
    report_path: str | None,
    html_path: str | None,
    junit_path: str | None,
    markdown_path: str | None,
    ledger_path: str | None,
    record_path: str | None,
    allow_remote: bool,
    no_preflight: bool,
    quiet: bool,
) -> None:
    """
    Deliver HubSpot-exact webhook batches to TARGET_URL.

    \b
    Example:
      hubsim send http://127.0.0.1:8080/webhooks --secret $SECRET --events 5000
    """
    options = build_send_options(
        target_url=target_url,
        secret=_secret(secret),
        events=events,
        types=_csv(types),
        fmt=fmt,
        object_types=_csv(object_types),
        portals=portals,
        app_id=app_id,
        seed=seed,
        start_time=start_time,
        batch_size=batch_size,
        max_concurrent=max_concurrent,
        timeout=timeout,
        connect_timeout=connect_timeout,
        retry_profile=retry_profile,
        max_attempts=max_attempts,
        retry_after_ms=retry_after_ms,
        time_scale=time_scale,
        public_url=public_url,
        distinct=distinct,
        escape_unicode=escape_unicode,
        allow_remote=allow_remote,
        preflight=not no_preflight,
        ledger_path=ledger_path,
        record_path=record_path,
    )
    rules = _thresholds(thresholds)
    console = Console(highlight=False)
    result = aio.run(run_with_progress(options, console, quiet))
    outputs = Outputs(
        report_path, html_path, junit_path, markdown_path, ledger_path, record_path
    )
    finish(result, console, outputs, evaluate(rules, result), "send")


def build_send_options(**settings: Any) -> SendOptions:
    """
    :func:`make_send_options`, warning about concurrency HubSpot would reject.
    """
    concurrency = settings.get("max_concurrent", DEFAULT_MAX_IN_FLIGHT)
    if concurrency < MIN_HUBSPOT_IN_FLIGHT:
        err_console.print(
            f"[yellow]warning:[/] HubSpot rejects maxConcurrentRequests of "
            f"{MIN_HUBSPOT_IN_FLIGHT - 1} or less; running with {concurrency} anyway",
            markup=True,
        )
    return make_send_options(**settings)


async def run_with_progress(
    options: SendOptions,
    console: Console,
    quiet: bool,
    phases: Sequence[Phase] = (),
    on_phase: PhaseHook | None = None,
) -> RunResult:
    """
    Execute one run with a live display (TTY), periodic lines (CI logs) or
    nothing. Ctrl-C / SIGTERM stop it cleanly; a second Ctrl-C aborts.
    """
    run = SendRun(options, phases=phases, on_phase=on_phase)
    merged, _ = await run_all([run], console, quiet)
    return merged


async def run_all(
    runs: Sequence[SendRun], console: Console, quiet: bool
) -> tuple[RunResult, list[RunResult]]:
    """
    Execute runs side by side (several apps) with one display and one stop:
    the merged result and each run's own.
    """
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def on_signal() -> None:
        if any(r.stopped for r in runs) and main is not None:
            main.cancel()
        else:
            err_console.print(
                "[yellow]stopping:[/] finishing in-flight requests…", markup=True
            )
            for r in runs:
                r.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, on_signal)
    try:
        for r in runs:
            await r.check_target()
        t0 = time.perf_counter()
        every = asyncio.gather(*(r.execute() for r in runs))
        if quiet:
            results = await every
        else:
            total = sum(r.options.events for r in runs)
            with dashboard.live(runs, total, console) as tick:
                while not every.done():
                    await asyncio.wait({every}, timeout=0.25)
                    tick()
                results = every.result()
        return merge_results(results, time.perf_counter() - t0), list(results)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)


def finish(
    result: RunResult,
    console: Console,
    outputs: Outputs,
    checks: Sequence[Check] = (),
    name: str = "run",
    extra: Mapping[str, Any] | None = None,
    delivery_counts: bool = True,
) -> None:
    """
    Print the summary and thresholds, write every report asked for, and exit
    with the run's verdict (the same one every report states).
    """
    console.print(report.render(result))
    judged = verdict(result, checks, delivery_counts)
    write_outputs(result, console, outputs, checks, name, judged, extra)
    if checks:
        mark = "[bold green]✔" if judged.passed else "[bold red]✘"
        why = "; ".join(judged.reasons) or f"{len(checks)} thresholds held"
        console.print(f"{mark} {judged.word}[/]: {why}", markup=True)
    if not judged.passed:
        sys.exit(judged.code)


def write_outputs(
    result: RunResult,
    console: Console,
    outputs: Outputs,
    checks: Sequence[Check],
    name: str,
    judged: Verdict,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """
    The thresholds table, then every report file asked for (``extra`` keys go
    into the JSON report, e.g. bench figures), each named as it is written.
    """
    if checks:
        console.print(report.render_checks(checks))
    written: list[tuple[str, str]] = []
    if outputs.report_path:
        report.write_json(result, outputs.report_path, checks, extra)
        written.append((outputs.report_path, "JSON report"))
    if outputs.html_path:
        html_report.write_html(result, outputs.html_path, f"hubsim {name}", checks)
        written.append((outputs.html_path, "HTML report"))
    if outputs.junit_path:
        xml = report.junit(result, checks, judged, name)
        Path(outputs.junit_path).write_text(xml, encoding="utf-8")
        written.append((outputs.junit_path, "JUnit XML"))
    if outputs.markdown_path:
        with open(outputs.markdown_path, "a", encoding="utf-8") as out:
            out.write(report.markdown(result, checks, judged, name))
        written.append((outputs.markdown_path, "Markdown summary, appended"))
    if outputs.ledger_path:
        written.append((outputs.ledger_path, "ledger"))
    if outputs.record_path:
        written.append((outputs.record_path, "recording"))
    for path, what in written:
        console.print(Text(f"wrote {path} ({what})", style="dim"), soft_wrap=True)


# ---------------------------------------------------------------------------
# receive
# ---------------------------------------------------------------------------
@cli.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on."
)
@click.option(
    "--port",
    "-p",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port, 1-65535 (0 picks a free one).",
)
@secret_option
@click.option(
    "--insecure", is_flag=True, help="Accept unsigned requests (no secret needed)."
)
@click.option(
    "--save", metavar="FILE.jsonl", help="Append every accepted event to this file."
)
@click.option(
    "--max-body",
    default=DEFAULT_MAX_BODY,
    show_default=True,
    type=click.IntRange(1, MAX_BODY_LIMIT),
    help=f"Answer 413 to bodies larger than this many bytes (1-{MAX_BODY_LIMIT:,}).",
)
@click.option(
    "--idle-timeout",
    default=DEFAULT_IDLE_TIMEOUT_S,
    show_default=True,
    type=click.FloatRange(0.1, 3600),
    metavar="SECONDS",
    help="Close connections idle, or with unfinished headers, this long (0.1-3600).",
)
@click.option(
    "--fail-rate", default=0.0, metavar="P", help="Fail this share of requests."
)
@click.option(
    "--fail-status", default=500, show_default=True, help="Status of injected failures."
)
@click.option("--latency", default=0.0, metavar="MS", help="Answer after this many ms.")
@click.option(
    "--jitter", default=0.0, metavar="MS", help="Vary --latency by up to ± this."
)
@click.option(
    "--hang-rate", default=0.0, metavar="P", help="Never answer this share (timeouts)."
)
@click.option(
    "--reset-rate", default=0.0, metavar="P", help="Drop the connection for this share."
)
@click.option(
    "--script",
    metavar="LIST",
    help="Statuses by attemptNumber, e.g. 500,503,200: attempts 0 and 1 fail.",
)
@click.option(
    "--retry-after", metavar="SECONDS", help="Send Retry-After with injected failures."
)
@click.option("--fault-seed", type=int, help="Makes injected faults reproducible.")
def receive(
    host: str,
    port: int,
    secret: str | None,
    insecure: bool,
    save: str | None,
    max_body: int,
    idle_timeout: float,
    fail_rate: float,
    fail_status: int,
    latency: float,
    jitter: float,
    hang_rate: float,
    reset_rate: float,
    script: str | None,
    retry_after: str | None,
    fault_seed: int | None,
) -> None:
    """
    Run the built-in receiver: verifies signatures, counts events, GET /stats.

    \b
    Misbehave on purpose to test retries, e.g.:
      hubsim receive --fail-rate 0.3 --reset-rate 0.05 --hang-rate 0.01
      hubsim receive --script 500,503,200 --retry-after 2
    """
    try:
        statuses = tuple(int(x) for x in _csv([script])) if script else ()
    except ValueError:
        raise UsageError(
            f"--script takes HTTP statuses like 500,503,200, not {script}"
        ) from None
    faults = Faults(
        fail_rate=fail_rate,
        fail_status=fail_status,
        latency_ms=latency,
        jitter_ms=jitter,
        hang_rate=hang_rate,
        reset_rate=reset_rate,
        script=statuses,
        retry_after=retry_after,
        seed=fault_seed,
    )
    config = ReceiverConfig(
        secret=None if insecure and not secret else _secret(secret),
        max_body_bytes=max_body,
        save_path=save,
        faults=faults,
        idle_timeout_s=idle_timeout,
    )
    aio.run(_receive(config, host, port))


async def _receive(config: ReceiverConfig, host: str, port: int) -> None:
    server = ReceiverServer(config, host, port)
    try:
        await server.start()
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    shown = f"[{host}]" if ":" in host else host
    # The first line is machine-read by `hubsim demo`; keep its shape.
    print(f"listening on http://{shown}:{server.port}/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.close()


# ---------------------------------------------------------------------------
# sign
# ---------------------------------------------------------------------------
@cli.command()
@secret_option
@click.option("--method", default="POST", show_default=True)
@click.option("--url", required=True, help="The full URL HubSpot called.")
@click.option(
    "--body", "body_path", required=True, metavar="FILE|-", help="Exact body bytes."
)
@click.option(
    "--timestamp", type=int, metavar="MS", help="v3 timestamp (default: now)."
)
def sign(
    secret: str | None, method: str, url: str, body_path: str, timestamp: int | None
) -> None:
    """
    Print the v1, v2 and v3 signatures of a request, to debug a receiver.
    """
    key = _secret(secret)
    if body_path == "-":
        body = sys.stdin.buffer.read()
    else:
        try:
            body = Path(body_path).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read body {body_path}: {exc.strerror}") from None
    ts = timestamp if timestamp is not None else int(time.time() * 1000)
    table = Table(show_header=False, box=None)
    table.add_row("body bytes", str(len(body)))
    table.add_row("v1", sign_v1(key, body))
    table.add_row("v2", sign_v2(key, method, url, body))
    table.add_row("v3", sign_v3(key, method, url, body, ts))
    table.add_row("timestamp", str(ts))
    table.add_row("v3 signs URI", decode_v3_uri(url))
    Console(highlight=False).print(table)


# ---------------------------------------------------------------------------
# types
# ---------------------------------------------------------------------------
@cli.command()
@click.option(
    "--generic", is_flag=True, help="List objectTypeIds for --format generic."
)
def types(generic: bool) -> None:
    """
    List the subscription types (or objectTypeIds) hubsim generates.
    """
    console = Console(highlight=False)
    if generic:
        table = Table("objectTypeId", "object", "generic webhooks")
        for o in catalog.OBJECT_TYPES:
            table.add_row(
                o.type_id, o.name, "yes" if o.generic_webhooks else "not listed"
            )
        table.add_row("2-<n>", "custom object", "private apps only")
        console.print(table)
        return
    table = Table("family", "subscription types")
    for family, actions in catalog.CLASSIC_FAMILIES.items():
        table.add_row(family, ", ".join(f"{family}.{a}" for a in actions))
    table.add_row("object", ", ".join(catalog.generic_types()) + "  (--format generic)")
    console.print(table)
    console.print(
        f"Not generated: {', '.join(catalog.UNGENERATED_TYPES)} "
        "(payload undocumented).",
        style="dim",
    )


# ---------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------
@cli.command()
@click.argument("scenario_path", metavar="[SCENARIO]", required=False)
def demo(scenario_path: str | None) -> None:
    """
    Start the built-in receiver on loopback (its own process), run the
    quickstart scenario against it, and check the receiver got every event.
    """
    path = Path(scenario_path) if scenario_path else QUICKSTART
    scenario = load_scenario(path)
    secret = str(uuid.uuid4())
    env = {**os.environ, SECRET_ENV: secret}
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "receive", "--port", "0"],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            fail(
                f"the receiver did not start: {line or 'no output'}",
                ExitCode.NOT_DELIVERED,
            )
        base = line.removeprefix("listening on ").rstrip("/")
        target = f"{base}/webhooks/hubspot"
        console = Console(highlight=False)
        total = sum(phase_events(p) for p in scenario.phases)
        console.print(f"[bold]{scenario.name}[/]: {scenario.description}")
        console.print(f"receiver {base} (own process) · {total:,} events → {target}")
        options = scenario_options(scenario, target, ClientSecret(secret))
        result = aio.run(run_with_progress(options, console, False, scenario.phases))
        console.print(report.render(result))
        checks = evaluate(scenario.thresholds, result)
        if checks:
            console.print(report.render_checks(checks))
        seen = aio.run(_fetch_stats(f"{base}/stats"))
        table = Table("receiver /stats", "value", "expected")
        rows = [
            ("distinct events", seen["distinct_events"], result.ledger.delivered),
            ("signature failures", seen["signature_failures"], 0),
            ("stale timestamps", seen["stale_timestamps"], 0),
            ("bad requests", seen["bad_requests"], 0),
        ]
        ok = result.all_delivered and all(c.ok for c in checks)
        for name, got, want in rows:
            mark = "✔" if got == want else "✘"
            ok = ok and got == want
            table.add_row(name, f"{got:,}", f"{mark} {want:,}")
        console.print(table)
        if not ok:
            fail(
                "the receiver's count does not match what was delivered",
                ExitCode.NOT_DELIVERED,
            )
        console.print(
            "[bold green]demo passed[/]: every event arrived once, "
            "signed and verified.",
            markup=True,
        )
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        if proc.poll() is None:
            proc.kill()


async def _fetch_stats(url: str) -> dict[str, Any]:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        data: dict[str, Any] = await resp.json()
        return data


def main() -> None:
    """
    Console-script entry point.
    """
    cli(prog_name="hubsim")


# ---------------------------------------------------------------------------
# run / validate
# ---------------------------------------------------------------------------
@cli.command("run")
@click.argument("scenario_path", metavar="SCENARIO")
@click.option(
    "--target", metavar="URL", help="Send here instead of the scenario's target."
)
@secret_option
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY.PATH=VALUE",
    help="Override a scenario key, e.g. --set phases[0].rate=500 (repeatable).",
)
@output_options
@ledger_option
@record_option
@click.option("--quiet", "-q", is_flag=True, help="No live progress.")
def run_command(
    scenario_path: str,
    target: str | None,
    secret: str | None,
    overrides: tuple[str, ...],
    report_path: str | None,
    html_path: str | None,
    junit_path: str | None,
    markdown_path: str | None,
    ledger_path: str | None,
    record_path: str | None,
    quiet: bool,
) -> None:
    """
    Run a scenario file; its thresholds decide the exit code.

    Without a target (here or in the file) the scenario runs against the
    built-in receiver, set up by its [receiver] table.
    """
    scenario = load_scenario(scenario_path, overrides)
    console = Console(highlight=False)
    result, checks = aio.run(
        _run_scenario(
            scenario,
            target,
            secret,
            {"ledger_path": ledger_path, "record_path": record_path},
            console,
            quiet,
        )
    )
    outputs = Outputs(
        report_path, html_path, junit_path, markdown_path, ledger_path, record_path
    )
    finish(result, console, outputs, checks, scenario.name)


async def _run_scenario(
    scenario: Scenario,
    target: str | None,
    secret: str | None,
    files: dict[str, str | None],
    console: Console,
    quiet: bool,
) -> tuple[RunResult, list[Check]]:
    url = target or scenario.target
    apps = scenario.apps or (scenario.app,)
    server: ReceiverServer | None = None
    if url is None:
        # Each app its own secret, as on HubSpot; the receiver knows them all.
        keys = [
            ClientSecret((secret if i == 0 else None) or a.secret or str(uuid.uuid4()))
            for i, a in enumerate(apps)
        ]
        config = ReceiverConfig(
            secret=keys[0], more_secrets=tuple(keys[1:]), faults=scenario.receiver
        )
        server = ReceiverServer(config)
        await server.start()
        url = f"http://127.0.0.1:{server.port}/webhooks/hubspot"
        console.print(f"[bold]{scenario.name}[/] → built-in receiver {url}")
    else:
        if any(p.receiver_down for p in scenario.phases):
            raise UsageError(
                "receiver_down phases need the built-in receiver: no target"
            )
        keys = [_secret(a.secret or secret) for a in apps]
        console.print(f"[bold]{scenario.name}[/] → {url}")

    async def on_phase(index: int, phase: Phase) -> None:
        if server is None:
            return
        if phase.receiver_down:
            await server.pause()
        else:
            await server.resume()
        if not quiet:
            state = "receiver DOWN" if phase.receiver_down else "receiver up"
            console.print(f"phase {index + 1}: {phase.name} ({state})", style="dim")

    try:
        runs = [
            SendRun(
                scenario_options(scenario, url, key, files if i == 0 else {}, i),
                phases=app_phases(scenario, app),
                on_phase=on_phase if i == 0 else None,
            )
            for i, (app, key) in enumerate(zip(apps, keys, strict=True))
        ]
        result, each = await run_all(runs, console, quiet)
    finally:
        if server is not None:
            await server.close()
    if len(apps) > 1:
        table = Table("app", "appId", "max in flight", "requests", "delivered", "p99")
        for app, run, r in zip(apps, runs, each, strict=True):
            table.add_row(
                app.name,
                str(r.app_id),
                str(run.options.delivery.max_in_flight),
                f"{r.summary.requests:,}",
                f"{r.ledger.delivered:,}",
                f"{r.summary.latency.p99 * 1000:,.1f} ms",
            )
        console.print(table)
    return result, evaluate(scenario.thresholds, result)


@cli.command()
@click.argument("paths", nargs=-1, required=True, metavar="SCENARIO...")
def validate(paths: tuple[str, ...]) -> None:
    """
    Check scenario files: every problem, with file, line and key.
    """
    console = Console(highlight=False)
    failed = False
    for path in paths:
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            failed = True
            for problem in exc.problems:
                err_console.print(f"[bold red]error:[/] {problem}", markup=True)
            continue
        total = sum(phase_events(p) for p in scenario.phases)
        console.print(
            f"ok  {path}: {scenario.name}, {_count(len(scenario.phases), 'phase')}, "
            f"{total:,} events, {_count(len(scenario.thresholds), 'threshold')}"
        )
    if failed:
        sys.exit(ExitCode.BAD_INPUT)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# ---------------------------------------------------------------------------
# replay
# ---------------------------------------------------------------------------
@cli.command("replay")
@click.argument("recording", metavar="FILE.jsonl")
@click.option("--target", required=True, metavar="URL", help="Where to send them.")
@secret_option
@click.option(
    "--speed", default=1.0, show_default=True, help="Replay this many times faster."
)
@click.option(
    "--keep-signatures",
    is_flag=True,
    help="Send the recorded headers unchanged (stale v3: tests replay protection).",
)
@click.option(
    "--public-url", metavar="URL", help="Re-sign as if HubSpot called this URL."
)
@click.option(
    "--types", "-t", multiple=True, metavar="LIST", help="Only requests with these."
)
@click.option("--limit", type=int, help="At most this many requests.")
@click.option("--dry-run", is_flag=True, help="Show what would be sent, send nothing.")
@click.option(
    "--max-concurrent",
    default=DEFAULT_MAX_IN_FLIGHT,
    show_default=True,
    help="In flight.",
)
@allow_remote_option
def replay_command(
    recording: str,
    target: str,
    secret: str | None,
    speed: float,
    keep_signatures: bool,
    public_url: str | None,
    types: tuple[str, ...],
    limit: int | None,
    dry_run: bool,
    max_concurrent: int,
    allow_remote: bool,
) -> None:
    """
    Send a recording again: same bodies, same order, recorded pacing.
    """
    requests = select(read_recording(recording), _csv(types), limit)
    console = Console(highlight=False)
    if dry_run:
        table = Table("t (s)", "batch", "attempt", "bytes", "types")
        for r in requests[:50]:
            kinds = ", ".join(sorted(r.subscription_types)) or "workflow record"
            table.add_row(
                f"{r.t / speed:.3f}",
                str(r.batch),
                str(r.attempt_number),
                f"{len(r.body):,}",
                kinds,
            )
        console.print(table)
        events = sum(len(replay_batch(r, 0)) for r in requests)
        console.print(
            f"{len(requests):,} requests, {events:,} events would go to {target}"
        )
        return
    key = None if keep_signatures else _secret(secret)
    result = aio.run(
        replay(
            requests,
            target,
            key,
            speed=speed,
            keep_signatures=keep_signatures,
            signing=SigningOptions(public_url=public_url),
            delivery=DeliveryOptions(max_in_flight=max_concurrent),
            allow_remote=allow_remote,
        )
    )
    console.print(report.render(result))
    if not result.all_delivered:
        sys.exit(ExitCode.NOT_DELIVERED)


# ---------------------------------------------------------------------------
# contract
# ---------------------------------------------------------------------------
@cli.command("contract")
@click.argument("url")
@secret_option
@click.option("--only", multiple=True, metavar="IDS", help="Run only these checks.")
@click.option("--skip", multiple=True, metavar="IDS", help="Skip these checks.")
@click.option("--public-url", metavar="URL", help="Sign as if HubSpot called this URL.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["classic", "generic"]),
    default="classic",
    show_default=True,
    help="Payload format for accepts-every-type and the rest.",
)
@click.option("--timeout", default=5.0, show_default=True, help="Seconds to wait.")
@click.option(
    "--reject-status",
    metavar="CODES",
    help="Demand these statuses for rejections, e.g. 401,403 (default: any 4xx).",
)
@click.option("--junit", "junit_path", metavar="FILE.xml", help="Write JUnit XML.")
@click.option(
    "--json", "json_path", metavar="FILE.json", help="Write the results as JSON."
)
@allow_remote_option
@click.option("--list", "list_checks", is_flag=True, help="List the checks and exit.")
def contract_command(
    url: str,
    secret: str | None,
    only: tuple[str, ...],
    skip: tuple[str, ...],
    public_url: str | None,
    fmt: str,
    timeout: float,
    reject_status: str | None,
    junit_path: str | None,
    json_path: str | None,
    allow_remote: bool,
    list_checks: bool,
) -> None:
    """
    Check a running receiver against HubSpot's contract; exit 0 when every
    required check passes.

    \b
    Example (in CI, after starting your receiver):
      hubsim contract http://127.0.0.1:3000/webhooks --junit contract.xml
    """
    console = Console(highlight=False)
    if list_checks:
        for check_id, statement in contract.statements().items():
            console.print(f"[bold]{check_id:<24}[/] {statement}", markup=True)
        return
    check_target_url(url, allow_remote)
    try:
        codes = (
            frozenset(int(c) for c in _csv([reject_status])) if reject_status else None
        )
    except ValueError:
        raise UsageError(
            f"--reject-status takes codes like 401,403, not {reject_status}"
        ) from None
    if timeout <= 0:
        raise UsageError("--timeout must be more than 0 seconds")
    options = contract.ContractOptions(
        url=url,
        secret=_secret(secret),
        public_url=public_url,
        format="generic" if fmt == "generic" else "classic",
        timeout_s=timeout,
        reject_statuses=codes or frozenset(),
        only=_csv(only),
        skip=_csv(skip),
    )

    async def go() -> list[contract.CheckResult]:
        await preflight(url)
        return await contract.run_contract(options)

    results = aio.run(go())
    table = Table("check", "", "what it saw", "verdict")
    for r in results:
        mark = (
            "[blue]ℹ[/]"
            if r.passed is None
            else "[green]✔[/]"
            if r.passed
            else "[red]✘[/]"
        )
        table.add_row(r.id, mark, r.saw, r.message)
    console.print(table)
    if junit_path:
        Path(junit_path).write_text(contract.junit_xml(results, url), encoding="utf-8")
    if json_path:
        doc = contract.to_json(results, url)
        Path(json_path).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    failed = [r for r in results if r.required and not r.passed]
    if failed:
        console.print(
            f"[bold red]✘ {len(failed)} of {len(results)} checks failed[/]: "
            + ", ".join(r.id for r in failed),
            markup=True,
        )
        sys.exit(ExitCode.NOT_DELIVERED)
    console.print(f"[bold green]✔ all {len(results)} checks passed[/]", markup=True)


# ---------------------------------------------------------------------------
# bench
# ---------------------------------------------------------------------------
@cli.command("bench")
@click.argument("target_url")
@secret_option
@click.option(
    "--model",
    type=click.Choice(["closed", "open"]),
    default="closed",
    show_default=True,
    help="closed: each slot sends again as soon as it is answered (HubSpot at its "
    "limit); open: batches start at --rate whatever the receiver does.",
)
@click.option(
    "--max-concurrent",
    type=int,
    help="Requests in flight at most (closed default 10, as HubSpot; open "
    f"default {bench.OPEN_MAX_IN_FLIGHT}).",
)
@click.option(
    "--rate",
    type=float,
    metavar="R",
    help="Open model: requests (full batches) per second; see --per.",
)
@click.option(
    "--per",
    type=click.Choice(["requests", "events"]),
    default="requests",
    show_default=True,
    help="Unit of --rate and of an open-model --ramp.",
)
@click.option(
    "--duration",
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="Stop starting requests after this long (each ramp step: STEP_SECONDS).",
)
@click.option("--requests", "max_requests", type=int, help="Send at most this many.")
@click.option(
    "--ramp",
    metavar="FROM:TO:STEP:STEP_SECONDS",
    help="Step the concurrency (closed) or rate (open) until --slo breaks.",
)
@click.option(
    "--slo",
    metavar="RULES",
    help="Service-level objective, e.g. 'p99<250ms,errors<1%' (default with "
    "--ramp: that one).",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    help="Processes generating load (when one core is not enough).",
)
@click.option(
    "--batch-size",
    default=catalog.MAX_BATCH_SIZE,
    show_default=True,
    help="Events per request.",
)
@click.option(
    "--timeout", default=5.0, show_default=True, help="Response timeout in seconds."
)
@click.option(
    "--distinct",
    default=20_000,
    show_default=True,
    metavar="N",
    help="Different events pre-rendered, then re-sent with fresh ids.",
)
@click.option("--seed", type=int, help="Makes events reproducible.")
@click.option("--types", "-t", multiple=True, metavar="LIST", help="As for send.")
@output_options
@allow_remote_option
@click.option("--no-preflight", is_flag=True, help="Skip the connection check.")
@click.option("--quiet", "-q", is_flag=True, help="No live display.")
def bench_command(
    target_url: str,
    secret: str | None,
    model: str,
    max_concurrent: int | None,
    rate: float | None,
    per: str,
    duration: float,
    max_requests: int | None,
    ramp: str | None,
    slo: str | None,
    workers: int,
    batch_size: int,
    timeout: float,
    distinct: int,
    seed: int | None,
    types: tuple[str, ...],
    report_path: str | None,
    html_path: str | None,
    junit_path: str | None,
    markdown_path: str | None,
    allow_remote: bool,
    no_preflight: bool,
    quiet: bool,
) -> None:
    """
    Measure how much TARGET_URL takes: requests/s and latency at HubSpot's 10
    in flight (closed), at a fixed rate (open), or up to the knee (--ramp).

    \b
    Examples:
      hubsim bench http://127.0.0.1:8080/hook -s $SECRET --duration 10
      hubsim bench URL -s $SECRET --model open --rate 200
      hubsim bench URL -s $SECRET --ramp 10:100:10:5 --slo 'p99<250ms,errors<1%'
    """
    check_target_url(target_url, allow_remote)
    factor = 1.0 if per == "requests" else 1.0 / batch_size
    steps = bench.Ramp.parse(ramp) if ramp else None
    objective = (
        bench.Slo.parse(slo or "p99<250ms,errors<1%") if (slo or steps) else None
    )
    if model == "open" and rate is None and steps is None:
        raise UsageError("--model open needs --rate (or --ramp)")
    if model == "closed" and rate is not None:
        raise UsageError("--rate is for --model open")
    opts = bench.BenchOptions(
        target_url=target_url,
        secret=_secret(secret),
        model="open" if model == "open" else "closed",
        concurrency=max_concurrent,
        rate=rate * factor if rate is not None else (0.0 if model == "open" else None),
        duration_s=duration,
        max_requests=max_requests,
        batch_size=batch_size,
        timeout_s=timeout,
        distinct=distinct,
        seed=seed,
        types=_csv(types),
        workers=workers,
        allow_remote=allow_remote,
    )
    if not no_preflight:
        aio.run(preflight(target_url, 3.0))
    console = Console(highlight=False)
    outputs = Outputs(report_path, html_path, junit_path, markdown_path)
    if steps is not None:
        assert objective is not None
        _bench_ramp(opts, steps, objective, factor, console, outputs)
        return
    live = None if quiet or workers > 1 else console
    if not quiet:
        what = f"{opts.slots} in flight" if model == "closed" else f"{rate:g} {per}/s"
        console.print(
            f"[bold]bench[/] {model} model, {what}, {duration:g} s, "
            f"{workers} worker{'s' * (workers > 1)}, {aio.loop_name()} → {target_url}"
        )
    m = bench.measure(opts, opts.slots, opts.rate, live)
    checks = objective.check(m.result) if objective else []
    console.print(report.render(m.result))
    console.print(_bench_table(m))
    for warning in m.warnings():
        err_console.print(f"[yellow]warning:[/] {warning}", markup=True)
    _finish_bench(m, checks, console, outputs, {"bench": m.to_json()})


def _bench_table(m: bench.Measurement) -> Table:
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


def _bench_ramp(
    opts: bench.BenchOptions,
    steps: bench.Ramp,
    objective: bench.Slo,
    factor: float,
    console: Console,
    outputs: Outputs,
) -> None:
    unit = "in flight" if opts.model == "closed" else "requests/s"
    console.print(
        f"[bold]ramp[/] {opts.model} model: {unit} "
        f"{steps.start:g}→{steps.stop:g} by {steps.step:g}, "
        f"{steps.step_s:g} s a step, until {objective} breaks"
    )

    def shown(step: bench.Step) -> float:
        """A step's value in the unit the user gave (--per)."""
        return step.value / factor if opts.model == "open" else step.value

    scaled = steps
    if opts.model == "open":
        scaled = bench.Ramp(
            steps.start * factor, steps.stop * factor, steps.step * factor, steps.step_s
        )

    def on_step(step: bench.Step) -> None:
        m = step.measurement
        mark = "[green]held[/]" if step.held else "[red]broke[/]"
        console.print(
            f"  {shown(step):>8g} "
            f"{unit}: {m.requests_per_s:>9,.1f} req/s  "
            + "  ".join(f"{c.threshold.metric} {c.measured:,.4g}" for c in step.checks)
            + f"  {mark}",
            markup=True,
        )

    done, knee = bench.ramp(opts, scaled, objective, on_step)
    table = Table(unit, "requests/s", "events/s", *(str(r) for r in objective.rules))
    for step in done:
        value = shown(step)
        table.add_row(
            f"{value:g}",
            f"{step.measurement.requests_per_s:,.1f}",
            f"{step.measurement.events_per_s:,.1f}",
            *(f"{c.measured:,.4g} {'✔' if c.ok else '✘'}" for c in step.checks),
        )
    console.print(table)
    last = done[-1]
    if knee is None:
        console.print(f"[bold red]✘ the first step already broke {objective}[/]")
    else:
        value = shown(knee)
        held_all = knee is last
        console.print(
            f"[bold green]knee: {value:g} {unit}[/] "
            f"({knee.measurement.requests_per_s:,.1f} requests/s held {objective})"
            + (" — every step held; raise TO to find the break" if held_all else "")
        )
    for warning in last.measurement.warnings():
        err_console.print(f"[yellow]warning:[/] {warning}", markup=True)
    reported = knee or last
    extra = {
        "bench": reported.measurement.to_json(),
        "ramp": {
            "unit": unit,
            "slo": str(objective),
            "knee": None
            if knee is None
            else shown(knee),
            "steps": [
                {
                    "value": shown(s),
                    "held": s.held,
                    **s.measurement.to_json(),
                    "slo": [
                        {"rule": str(c.threshold), "measured": round(c.measured, 6),
                         "ok": c.ok}
                        for c in s.checks
                    ],
                }
                for s in done
            ],
        },
    }  # fmt: skip
    _finish_bench(reported.measurement, reported.checks, console, outputs, extra)


def _finish_bench(
    m: bench.Measurement,
    checks: Sequence[Check],
    console: Console,
    outputs: Outputs,
    extra: dict[str, Any],
) -> None:
    # Only the SLO decides a bench (errors are what it measures), and a ramp
    # whose first step broke reports that step's failing checks.
    judged = verdict(m.result, checks, delivery_counts=False)
    write_outputs(m.result, console, outputs, checks, "bench", judged, extra)
    if not judged.passed:
        sys.exit(judged.code)


# ---------------------------------------------------------------------------
# report / compare
# ---------------------------------------------------------------------------
def _load_stats(path: str) -> Stats:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read report {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(doc, dict) or "stats" not in doc:
        version = doc.get("schema_version") if isinstance(doc, dict) else None
        raise UsageError(
            f"{path}: no histogram data (schema_version {version}); "
            "write reports with hubsim 0.1 --report"
        )
    return Stats.from_json(doc["stats"])


@cli.command("report")
@click.argument("paths", nargs=-1, required=True, metavar="RUN.json...")
@click.option(
    "--json", "json_path", metavar="FILE.json", help="Write the merged stats."
)
@click.option(
    "--html",
    "html_path",
    metavar="FILE.html",
    help="Write a self-contained HTML report with charts.",
)
def report_command(
    paths: tuple[str, ...], json_path: str | None, html_path: str | None
) -> None:
    """
    Re-render saved runs (--report files), merged into one when several:
    histograms add up, so percentiles are those of all requests together.
    """
    merged = Stats()
    for path in paths:
        merged.merge(_load_stats(path))
    title = paths[0] if len(paths) == 1 else f"{len(paths)} runs merged"
    Console(highlight=False).print(report.render_stats(merged, title))
    if json_path:
        doc = {"schema_version": report.SCHEMA_VERSION, "stats": merged.to_json()}
        Path(json_path).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    if html_path:
        page = html_report.to_html(merged, f"hubsim report: {title}")
        Path(html_path).write_text(page, encoding="utf-8")
    if html_path:
        page = html_report.to_html(merged, f"hubsim report: {title}")
        Path(html_path).write_text(page, encoding="utf-8")


@cli.command("compare")
@click.argument("base_path", metavar="BASE.json")
@click.argument("new_path", metavar="NEW.json")
@click.option(
    "--tolerance",
    default=0.10,
    show_default=True,
    help="Allowed relative worsening before a metric counts as regressed.",
)
def compare_command(base_path: str, new_path: str, tolerance: float) -> None:
    """
    Compare two saved runs; exit 1 when a metric regressed beyond the tolerance.
    """
    if tolerance < 0:
        raise UsageError("--tolerance cannot be negative")
    rows = compare(_load_stats(base_path), _load_stats(new_path), tolerance)
    console = Console(highlight=False)
    console.print(report.render_comparison(rows, tolerance))
    regressed = [r.metric for r in rows if r.regressed]
    if regressed:
        console.print(f"[bold red]✘ regressed: {', '.join(regressed)}[/]", markup=True)
        sys.exit(ExitCode.NOT_DELIVERED)
    console.print("[bold green]✔ no regression[/]", markup=True)
